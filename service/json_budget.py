"""A bound on how many JSON values a request body may hold, checked on its raw bytes.

Parsing costs time and memory per value, not per byte: a 3 MB body of a million
empty objects takes pydantic-core seconds and hundreds of megabytes to parse and
refuse, even when the field that holds them has a length limit (the whole document
is parsed before any field is validated), and unknown fields are parsed too. No
request this server accepts needs more than a few thousand values, so a body with
more than MAX_JSON_VALUES is refused before it is parsed.

Every value after the first in an array or object follows a comma outside any
string, so commas + 1 bound the count (nesting without commas is bounded by the
parser's depth limit, which fails fast). Counting a byte is one C loop over the
buffer, and a body shorter than the bound needs no count at all. Commas inside
strings only overcount: when the rough count is over the bound, a body that has
more strings than the bound is refused on its quotes alone (no copy), and only
otherwise are strings blanked out for an exact count.
"""

from __future__ import annotations

import re

from service.errors import APIError

MAX_JSON_VALUES = 65_536

_STRING = re.compile(rb'"[^"]*"')


def _too_many() -> APIError:
    return APIError(
        413,
        f"request body holds more than {MAX_JSON_VALUES} JSON values",
        code="request_too_large",
    )


def check_json_budget(raw: bytes) -> None:
    """Raise a 413 if `raw` (JSON or not) could hold more than MAX_JSON_VALUES values."""
    if len(raw) <= MAX_JSON_VALUES or raw.count(b",") < MAX_JSON_VALUES:
        return
    # At least this many quotes delimit strings (an escaped quote delimits nothing).
    if raw.count(b'"') - raw.count(b'\\"') > 2 * MAX_JSON_VALUES:
        raise _too_many()
    # Escapes out first, so that every quote left delimits a string.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    if _STRING.sub(b'""', unescaped).count(b",") >= MAX_JSON_VALUES:
        raise _too_many()
