SELECT name, COUNT(*) AS n FROM users WHERE age > 21 AND city = 'Paris' GROUP BY name ORDER BY n DESC LIMIT 10;
