"""A bound on how many JSON values a request body may hold, checked on its raw bytes.

Parsing costs time and memory per value, not per byte: a 3 MB body of a million
empty objects takes pydantic-core seconds and hundreds of megabytes to parse and
refuse, even when the field that holds them has a length limit (the whole document
is parsed before any field is validated), and unknown fields are parsed too. No
request this server accepts needs more than a few thousand values, so a body with
more than MAX_JSON_VALUES is refused before it is parsed.

Every value after the first in an array or object follows a comma outside any
string, so separators + containers + 1 bound the count. Counting bytes is fast
(C loops over the buffer); commas inside strings can only overcount, and only when
that rough count is over the bound are strings blanked out for an exact one. A
body with more strings than the bound is refused on its quote count alone, so
blanking never runs over millions of tiny strings.
"""

from __future__ import annotations

import re

from service.errors import APIError

MAX_JSON_VALUES = 65_536

_STRING = re.compile(rb'"[^"]*"')


def _structure(raw: bytes) -> int:
    return raw.count(b",") + raw.count(b"[") + raw.count(b"{") + 1


def _too_many() -> APIError:
    return APIError(
        413,
        f"request body holds more than {MAX_JSON_VALUES} JSON values",
        code="request_too_large",
    )


def check_json_budget(raw: bytes) -> None:
    """Raise a 413 if `raw` (JSON or not) could hold more than MAX_JSON_VALUES values."""
    if _structure(raw) <= MAX_JSON_VALUES:
        return
    # Escapes first (same length no longer matters), so every quote left delimits.
    unescaped = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    if unescaped.count(b'"') > 2 * MAX_JSON_VALUES:
        raise _too_many()
    if _structure(_STRING.sub(b'""', unescaped)) > MAX_JSON_VALUES:
        raise _too_many()
