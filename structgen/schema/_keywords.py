"""The JSON Schema keywords the compiler knows, by family, and how count-valued keywords are read.

Annotations carry no assertion; the assertion keywords are the generic ones plus those that
constrain one type. Conditional keywords are rewritten to anyOf (see ``_combinators``); in-place
applicators evaluate the instance itself, which matters to unevaluated* (see ``_merge``).
"""

from __future__ import annotations

from structgen._errors import SchemaError

ANNOTATIONS = frozenset(
    {
        "$schema", "$id", "id", "$anchor", "$dynamicAnchor", "$defs", "definitions", "$comment", "$vocabulary",
        "title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
        "contentMediaType", "contentEncoding", "contentSchema",
    }
)
TYPE_KEYWORDS = {
    "string": {"minLength", "maxLength", "pattern", "format"},
    "number": {"minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "multipleOf"},
    "array": {"items", "prefixItems", "additionalItems", "minItems", "maxItems", "uniqueItems", "contains",
              "minContains", "maxContains", "unevaluatedItems"},
    "object": {"properties", "required", "additionalProperties", "patternProperties", "propertyNames",
               "minProperties", "maxProperties", "dependentRequired", "dependentSchemas", "dependencies",
               "unevaluatedProperties"},
}
TYPE_KEYWORDS["integer"] = TYPE_KEYWORDS["number"]
GENERIC = {"type", "enum", "const", "$ref", "allOf", "anyOf", "oneOf", "not", "if", "then", "else", "$dynamicRef",
           "$recursiveRef", "$recursiveAnchor"}
ASSERTIONS = frozenset().union(GENERIC, *TYPE_KEYWORDS.values())
ALL_TYPES = ("null", "boolean", "object", "array", "string", "integer", "number")
CONDITIONAL_KEYWORDS = ("if", "then", "else", "dependentRequired", "dependentSchemas", "dependencies")
# unevaluated* of the schema being compiled, as a marker scoped to it (see _scope_unevaluated)
UNEVALUATED = {"unevaluatedProperties": "__unevaluatedProperties", "unevaluatedItems": "__unevaluatedItems"}
IN_PLACE = ("allOf", "anyOf", "oneOf", "not", "if", "then", "else", "dependentSchemas", "dependencies", "$ref",
            "$dynamicRef", "$recursiveRef")


def _count(schema: dict, keyword: str, pointer: str, default):
    value = schema.get(keyword, default)
    if value is None:
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise SchemaError(f"{pointer}/{keyword}: must be a non-negative integer, got {value!r}")
    return value
