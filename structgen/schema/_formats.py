"""String ``format`` values as anchored ECMA patterns (what the generated text must look like)."""

from __future__ import annotations

_YEAR = r"([1-9]\d{3}|0[1-9]\d{2}|00[1-9]\d|000[1-9])"  # Python's date has no year 0
_LEAP_YEAR = r"(\d\d(0[48]|[2468][048]|[13579][26])|([2468][048]|[13579][26]|0[48])00)"
_DATE = (
    rf"({_YEAR}-((0[13578]|1[02])-(0[1-9]|[12]\d|3[01])|(0[469]|11)-(0[1-9]|[12]\d|30)|02-(0[1-9]|1\d|2[0-8]))"
    rf"|{_LEAP_YEAR}-02-29)"
)
_CLOCK = r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d"
_TIME = _CLOCK + r"(\.\d{1,6})?(Z|z|[+-]([01]\d|2[0-3]):[0-5]\d)"
_OCTET = r"(25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
_H16 = r"[0-9a-fA-F]{1,4}"
# alphanumeric runs joined by single hyphens, at most 62 characters: IDNA rejects "--" in places
_LABEL = r"[A-Za-z0-9]{1,20}(-[A-Za-z0-9]{1,20}){0,2}"
_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_EMAIL = rf"{_ATOM}(\.{_ATOM})*@{_LABEL}(\.{_LABEL})*"
# RFC 3986, without IP literals: pchar = unreserved / pct-encoded / sub-delims / ":" / "@"
_PCHAR = r"([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"
_SEGMENT_NC = r"([A-Za-z0-9._~!$&'()*+,;=@-]|%[0-9A-Fa-f]{2})"  # no ":" (a relative path's first segment)
_TAIL = rf"(\?({_PCHAR}|[/?])*)?(#({_PCHAR}|[/?])*)?"  # query, fragment
# the host may be empty (file:///C:/x) and hold sub-delims (a reg-name, RFC 3986 3.2.2)
_REG_NAME = r"([A-Za-z0-9._~!$&'()*+,;=-]|%[0-9A-Fa-f]{2})*"
_AUTHORITY = rf"(([A-Za-z0-9._~!$&'()*+,;=:-]|%[0-9A-Fa-f]{{2}})*@)?{_REG_NAME}(:\d{{1,5}})?"
_URI = (rf"[A-Za-z][A-Za-z0-9+.-]*:(//{_AUTHORITY}(/{_PCHAR}*)*|/?{_PCHAR}+(/{_PCHAR}*)*){_TAIL}")
_RELATIVE_REF = rf"(//{_AUTHORITY}(/{_PCHAR}*)*|/({_PCHAR}+(/{_PCHAR}*)*)?|{_SEGMENT_NC}+(/{_PCHAR}*)*|){_TAIL}"

FORMATS: dict[str, str] = {
    # Each pattern is a sound subset of its format: every match passes jsonschema's format checker
    # (days per month and leap years included; no leap second; URIs by RFC 3986 without IP literals).
    "date": _DATE,
    # jsonschema's FormatChecker() (what JSONSchemaBench validates with) reads "time" as HH:MM:SS
    "time": _CLOCK,
    "date-time": _DATE + "[Tt]" + _TIME,
    "duration": r"P(\d+W|(\d+Y(\d+M)?(\d+D)?|\d+M(\d+D)?|\d+D)(T(\d+H(\d+M)?(\d+S)?|\d+M(\d+S)?|\d+S))?"
    r"|T(\d+H(\d+M)?(\d+S)?|\d+M(\d+S)?|\d+S))",
    "email": _EMAIL,
    "hostname": _LABEL + r"(\." + _LABEL + ")*",
    "ipv4": rf"{_OCTET}\.{_OCTET}\.{_OCTET}\.{_OCTET}",
    "ipv6": rf"({_H16}:){{7}}{_H16}",  # the full form only: a sound subset
    "uuid": r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "uri": _URI,
    "iri": _URI,
    "uri-template": _URI,
    "uri-reference": rf"{_URI}|{_RELATIVE_REF}",
    "iri-reference": rf"{_URI}|{_RELATIVE_REF}",
    "idn-email": _EMAIL,
    "idn-hostname": _LABEL + r"(\." + _LABEL + ")*",
    "json-pointer": r"(/([^~/]|~[01])*)*",
    "relative-json-pointer": r"(0|[1-9]\d*)(#|(/([^~/]|~[01])*)*)",
}

# Formats jsonschema can check that structgen does not generate: a schema using one is unsupported.
# Any other format name is an annotation (validators ignore it), reported as such.
UNSUPPORTED_FORMATS = frozenset({"regex", "color"})
