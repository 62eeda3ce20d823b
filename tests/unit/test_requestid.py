"""The request id: which ids are taken as given, and that every log line written meanwhile carries it."""

from __future__ import annotations

import io
import json
import logging

from shared.logs import JsonFormatter
from shared.requestid import RequestIdFilter, accept, bound, from_event_header


def test_a_usable_id_is_kept_and_anything_else_replaced():
    assert accept("county-7f3a:42/b@c+d=e.f_g") == "county-7f3a:42/b@c+d=e.f_g"
    assert accept("x" * 128) == "x" * 128
    for unusable in (None, "", "x" * 129, "has space", "semi;colon", "中文", "a\nb"):
        made = accept(unusable)
        assert made != unusable and len(made) == 32 and made.isalnum()
    assert accept(None) != accept(None)


def test_an_event_header_is_checked_like_the_http_one():
    assert from_event_header(b"abc-1") == "abc-1"
    assert from_event_header(None) is None and from_event_header(b"") is None
    assert from_event_header(b"bad value") is None and from_event_header("中".encode()) is None


def test_every_line_written_while_bound_carries_the_id():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter("test"))
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("test.requestid")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        with bound("req-1"):
            logger.info("inside")
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
    inside, outside = (json.loads(line) for line in stream.getvalue().splitlines())
    assert inside["request_id"] == "req-1" and inside["msg"] == "inside"
    assert "request_id" not in outside
