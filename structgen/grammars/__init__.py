"""Grammars that ship with structgen: ``structgen.compile_grammar("json", vocab)``.

json (RFC 8259), arithmetic, sql (a SELECT subset), python_expr (Python expressions), csv (RFC 4180).
"""
