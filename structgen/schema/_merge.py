"""The conjunction of two schemas as one schema (allOf, and branches taken with their siblings).

Keywords combine exactly where they can (bounds tighten, ``required`` unites, properties and
positional items meet each other side's rule for them); two values of a keyword that do not
combine are reported, the first one enforced. The unevaluated* keywords of a part merged in are
lowered against that part alone (``_lower_unevaluated``); those of the schema being compiled ride
along as scoped markers (see ``_references``).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from structgen._errors import SchemaError
from structgen.schema import _json_text as jt
from structgen.schema._keywords import ANNOTATIONS, ASSERTIONS, CONDITIONAL_KEYWORDS, IN_PLACE, UNEVALUATED

if TYPE_CHECKING:
    from structgen.schema._compiler import SchemaCompiler


def _merge_members(a: dict, b: dict, pointer: str, compiler: SchemaCompiler) -> tuple[dict, Any]:
    """properties/additionalProperties of a & b: each key meets the other side's rule for it."""
    pa, pb = a.get("properties") or {}, b.get("properties") or {}
    xa, xb = a.get("additionalProperties", True), b.get("additionalProperties", True)
    patterns_a = compiler._patterns(a, pointer) if a.get("patternProperties") else []
    patterns_b = compiler._patterns(b, pointer) if b.get("patternProperties") else []

    def rule(name: str, props: dict, patterns: list, additional: Any) -> Any:
        # a name one side does not list meets that side's matching patterns, else its additionalProperties
        if name in props:
            return props[name]
        matched = [sub for dfa, sub in patterns if dfa.matches(jt.key_bytes(name)[1:-1])]
        return {"allOf": matched} if matched else additional

    merged = {}
    for name in [*pa, *(n for n in pb if n not in pa)]:
        left = rule(name, pa, patterns_a, xa)
        right = rule(name, pb, patterns_b, xb)
        merged[name] = merge_schemas(left, right, f"{pointer}/properties/{name}", compiler)
    return merged, merge_schemas(xa, xb, f"{pointer}/additionalProperties", compiler)


def _elements(schema: dict) -> tuple[list, Any]:
    items = schema.get("items")
    if isinstance(items, list):
        return list(items), schema.get("additionalItems", True)
    return list(schema.get("prefixItems") or []), True if items is None else items


def _merge_elements(a: dict, b: dict, pointer: str, compiler: SchemaCompiler) -> tuple[list, Any]:
    """Positional items of a & b: position k meets both sides' rule for k."""
    (pa, ra), (pb, rb) = _elements(a), _elements(b)
    prefix = [merge_schemas(pa[k] if k < len(pa) else ra, pb[k] if k < len(pb) else rb, f"{pointer}/items/{k}",
                            compiler) for k in range(max(len(pa), len(pb)))]
    return prefix, merge_schemas(ra, rb, f"{pointer}/items", compiler)


def _lower_unevaluated(schema: dict, pointer: str, compiler: SchemaCompiler) -> dict:
    """A part's own unevaluated* as additionalProperties / items: exact where the part is flat."""
    if "unevaluatedProperties" not in schema and "unevaluatedItems" not in schema:
        return schema
    out = dict(schema)
    for keyword in UNEVALUATED:
        value = out.pop(keyword, True)
        if value is True or value == {}:
            continue
        applicators = [k for k in IN_PLACE if k in out]
        if applicators or (keyword == "unevaluatedItems" and "contains" in out):
            compiler.report(pointer, keyword, "not enforced in a subschema combined with others when it has its "
                            f"own {', '.join(applicators) or 'contains'}")
        elif keyword == "unevaluatedProperties":
            out.setdefault("additionalProperties", value)
        elif isinstance(out.get("items"), list):
            out.setdefault("additionalItems", value)
        else:
            out.setdefault("items", value)
    return out


def merge_schemas(a: Any, b: Any, pointer: str, compiler: SchemaCompiler) -> Any:
    """The conjunction of two schemas as one schema, where keywords combine exactly."""
    compiler.check_deadline()
    if a is True or a == {}:
        return b
    if b is True or b == {}:
        return a
    if a is False or b is False:
        return False
    if not isinstance(a, dict) or not isinstance(b, dict):
        raise SchemaError(f"{pointer}: a schema must be an object or a boolean")
    a, b = _lower_unevaluated(a, pointer, compiler), _lower_unevaluated(b, pointer, compiler)
    if any(k in a for k in CONDITIONAL_KEYWORDS) and any(k in b for k in CONDITIONAL_KEYWORDS):
        b = compiler._desugar(b, pointer)  # two if/then/else (or dependencies): as anyOf, they combine
    out = dict(a)
    object_keys = ("properties", "additionalProperties", "patternProperties")
    if any(k in a for k in object_keys) and any(k in b for k in object_keys):
        pa, pb = a.get("patternProperties") or {}, b.get("patternProperties") or {}
        if pa or pb:
            # patterns combine exactly when the other side leaves other keys open: a key matching a
            # pattern of one side only must meet that side's pattern and nothing of the other
            if (pa and b.get("additionalProperties", True) is not True) or \
                    (pb and a.get("additionalProperties", True) is not True):
                compiler.report(pointer, "patternProperties", "allOf with patternProperties and "
                                "additionalProperties is not combined exactly")
            patterns = dict(pa)
            for pattern, sub in pb.items():
                patterns[pattern] = merge_schemas(patterns[pattern], sub, f"{pointer}/patternProperties", compiler) \
                    if pattern in patterns else sub
            out["patternProperties"] = patterns
        out["properties"], out["additionalProperties"] = _merge_members(a, b, pointer, compiler)
        b = {k: v for k, v in b.items() if k not in object_keys}
        out = {k: v for k, v in out.items() if v is not True or k != "additionalProperties"}
    array_keys = ("prefixItems", "items", "additionalItems")
    if any(k in a for k in array_keys) and any(k in b for k in array_keys):
        out.pop("items", None), out.pop("additionalItems", None), out.pop("prefixItems", None)
        prefix, rest = _merge_elements(a, b, pointer, compiler)
        out["prefixItems"] = prefix
        if rest is not True:  # an explicit `items: true` would evaluate every item (unevaluatedItems)
            out["items"] = rest
        b = {k: v for k, v in b.items() if k not in array_keys}
    for key, value in b.items():
        if key in ANNOTATIONS or key not in out:
            out.setdefault(key, value)
            continue
        mine = out[key]
        if mine == value:
            continue
        if key == "type":
            x = {mine} if isinstance(mine, str) else set(mine)
            y = {value} if isinstance(value, str) else set(value)
            if "number" in x:
                x.add("integer")
            if "number" in y:
                y.add("integer")
            both = x & y
            out[key] = sorted(both) if both else "__none__"
            if not both:
                return False
        elif key == "required":
            out[key] = list(dict.fromkeys([*mine, *value]))
        elif key == "properties":
            merged = dict(mine)
            for name, sub in value.items():
                merged[name] = merge_schemas(merged[name], sub, f"{pointer}/properties/{name}", compiler) \
                    if name in merged else sub
            out[key] = merged
        elif key in ("minimum", "minLength", "minItems", "minProperties", "exclusiveMinimum") and \
                not isinstance(mine, bool) and not isinstance(value, bool):
            out[key] = max(mine, value)
        elif key in ("maximum", "maxLength", "maxItems", "maxProperties", "exclusiveMaximum") and \
                not isinstance(mine, bool) and not isinstance(value, bool):
            out[key] = min(mine, value)
        elif key == "enum":
            out[key] = [v for v in mine if v in value]
        elif key in ("additionalProperties", "items", "propertyNames") and isinstance(mine, (dict, bool)) and \
                isinstance(value, (dict, bool)):
            out[key] = merge_schemas(mine, value, f"{pointer}/{key}", compiler)
        elif key == "allOf":
            out[key] = [*mine, *value]
        elif key in UNEVALUATED.values():
            out[key] = merge_schemas(mine, value, pointer, compiler)
        elif key == "not":  # (not A) and (not B) = not (A or B)
            out[key] = {"anyOf": [mine, value]}
        elif key == "multipleOf" and isinstance(mine, int) and isinstance(value, int) and \
                not isinstance(mine, bool) and not isinstance(value, bool) and mine > 0 and value > 0:
            out[key] = math.lcm(mine, value)
        elif key in ("anyOf", "oneOf"):
            # (A1 | A2) & (B1 | B2) = (A1 & (B1 | B2)) | (A2 & (B1 | B2)): nest, don't loop
            out[key] = [merge_schemas(branch, {key: value}, f"{pointer}/{key}", compiler) for branch in mine]
        elif key in ASSERTIONS:
            compiler.report(pointer, key, f"allOf combines two different {key!r} values; only the first is enforced")
        # any other keyword is not JSON Schema: validators ignore it, and so may we
    return out
