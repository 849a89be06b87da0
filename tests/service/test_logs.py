"""Log formats: JSON lines carry the request id and structured fields."""

from __future__ import annotations

import json
import logging

from service.logs import JsonFormatter, RequestIdFilter, request_id_var


def format_record(message: str, **extra: object) -> dict[str, object]:
    record = logging.LogRecord("service.test", logging.WARNING, __file__, 1, message, (), None)
    for key, value in extra.items():
        setattr(record, key, value)
    RequestIdFilter().filter(record)
    return dict(json.loads(JsonFormatter().format(record)))


def test_json_line_has_level_logger_message_and_request_id() -> None:
    token = request_id_var.set("req-42")
    try:
        entry = format_record("hello %s")
    finally:
        request_id_var.reset(token)
    assert entry["level"] == "warning"
    assert entry["logger"] == "service.test"
    assert entry["message"] == "hello %s"
    assert entry["request_id"] == "req-42"
    assert str(entry["ts"]).endswith("Z")


def test_extra_fields_become_keys_and_records_outside_requests_say_so() -> None:
    entry = format_record("done", status=200, path="/generate")
    assert (entry["status"], entry["path"]) == (200, "/generate")
    assert entry["request_id"] == "-"
