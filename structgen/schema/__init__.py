"""JSON Schema and pydantic models → constraints."""

from structgen.schema._compile import compile_json_schema, schema_report
from structgen.schema._compiler import SchemaIssue, SchemaOptions

__all__ = ["SchemaIssue", "SchemaOptions", "compile_json_schema", "schema_report"]
