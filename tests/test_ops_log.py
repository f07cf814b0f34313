"""POST /api/ops/log and GET /api/ops/logs: the operation log, written and read back.

Every test logs under its own unique `source` (and order ids), so rows written by other
tests in the shared session Worker never show up in what it reads back.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

import pytest

from helpers import assert_error, fields_of

TS = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")
LEVELS = ["debug", "info", "warn", "error", "critical"]
DETAILS_LIMIT = 16 * 1024


def unique(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def log(worker, **body) -> int:
    """Posts one entry; returns its id."""
    reply = worker.post("/api/ops/log", body)
    assert reply.status == 200, reply.text
    assert set(reply.body) == {"ok", "id"}, reply.body
    assert reply.body["ok"] is True
    assert type(reply.body["id"]) is int, reply.body
    return reply.body["id"]


def read(worker, **params):
    query = urlencode(params)
    return worker.get("/api/ops/logs" + (f"?{query}" if query else ""))


def read_ok(worker, **params) -> dict:
    reply = read(worker, **params)
    assert reply.status == 200, reply.text
    assert set(reply.body) == {"logs", "next_cursor"}, reply.body
    assert reply.body["next_cursor"] is None or isinstance(reply.body["next_cursor"], str)
    return reply.body


def ids(page: dict) -> list[int]:
    return [entry["id"] for entry in page["logs"]]


def row(worker, log_id: int) -> dict:
    rows = worker.query("SELECT * FROM operation_logs WHERE id = ?", (log_id,))
    assert len(rows) == 1, f"no operation_logs row {log_id}"
    return rows[0]


def log_count(worker) -> int:
    return worker.query("SELECT COUNT(*) AS n FROM operation_logs")[0]["n"]


def shifted(ts: str, seconds: int) -> str:
    when = datetime.strptime(ts, "%Y-%m-%d %H:%M:%S") + timedelta(seconds=seconds)
    return when.strftime("%Y-%m-%d %H:%M:%S")


# ----- writing and reading one entry ------------------------------------------------------


def test_round_trip(worker):
    source, order_id = unique("factory-init"), unique("ORD")
    details = {"file": "worker/agents/agent.ts", "attempt": 2, "ok": False,
               "nested": {"list": [1, "two", None]}, "text": "naïve ✓ \"quoted\""}
    log_id = log(worker, source=source, operation="inject_placeholder", level="warn",
                 order_id=order_id, task_uuid="ABC123", details=details)

    stored = row(worker, log_id)
    assert stored["source"] == source
    assert stored["operation"] == "inject_placeholder"
    assert stored["level"] == "warn"
    assert stored["order_id"] == order_id
    assert stored["task_uuid"] == "ABC123"
    assert json.loads(stored["details"]) == details
    assert TS.fullmatch(stored["ts"]), stored["ts"]

    page = read_ok(worker, source=source)
    assert page["next_cursor"] is None
    assert page["logs"] == [{
        "id": log_id, "ts": stored["ts"], "source": source, "order_id": order_id,
        "task_uuid": "ABC123", "operation": "inject_placeholder", "level": "warn",
        "details": details,
    }]


def test_defaults(worker):
    source = unique("agent")
    minimal = log(worker, source=source, operation="fetch_tasks")
    explicit_nulls = log(worker, source=source, operation="file_read", order_id=None,
                         task_uuid=None, details=None)
    assert explicit_nulls > minimal

    for log_id in (minimal, explicit_nulls):
        stored = row(worker, log_id)
        assert stored["level"] == "info"
        assert stored["order_id"] is None and stored["task_uuid"] is None
        assert json.loads(stored["details"]) == {}

    page = read_ok(worker, source=source)
    assert ids(page) == [explicit_nulls, minimal]
    for entry in page["logs"]:
        assert entry["level"] == "info"
        assert entry["details"] == {}
        assert entry["order_id"] is None and entry["task_uuid"] is None
        assert TS.fullmatch(entry["ts"])


def test_longest_accepted_values(worker):
    source = "s" * 63 + uuid.uuid4().hex[:1]
    log_id = log(worker, source=source, operation="o" * 128, order_id="x" * 64, task_uuid="t" * 64)
    stored = row(worker, log_id)
    assert stored["source"] == source and len(stored["operation"]) == 128
    assert stored["order_id"] == "x" * 64 and stored["task_uuid"] == "t" * 64


# ----- filters ------------------------------------------------------------------------------


def test_filters_by_order_task_and_source(worker):
    source, other_source = unique("factory"), unique("agent")
    order_a, order_b = unique("ORD-a"), unique("ORD-b")
    a1 = log(worker, source=source, operation="op", order_id=order_a, task_uuid="TASKA1")
    a2 = log(worker, source=source, operation="op", order_id=order_a, task_uuid="TASKA2")
    b1 = log(worker, source=source, operation="op", order_id=order_b, task_uuid="TASKA1")
    other = log(worker, source=other_source, operation="op", order_id=order_a, task_uuid="TASKA2")

    assert ids(read_ok(worker, order_id=order_a)) == [other, a2, a1]
    assert ids(read_ok(worker, order_id=order_b)) == [b1]
    assert ids(read_ok(worker, source=source)) == [b1, a2, a1]
    assert ids(read_ok(worker, source=other_source)) == [other]
    # Filters combine with AND.
    assert ids(read_ok(worker, order_id=order_a, task_uuid="TASKA2")) == [other, a2]
    assert ids(read_ok(worker, source=source, task_uuid="TASKA1")) == [b1, a1]
    assert ids(read_ok(worker, source=source, order_id=order_a, task_uuid="TASKA2")) == [a2]
    assert read_ok(worker, order_id=unique("ORD-none"))["logs"] == []
    assert read_ok(worker, source=source, order_id=order_b, task_uuid="TASKA2")["logs"] == []


def test_level_is_a_minimum_severity(worker):
    source = unique("levels")
    by_level = {level: log(worker, source=source, operation=f"op_{level}", level=level)
                for level in LEVELS}

    def levels(min_level: str | None) -> list[str]:
        params = {"source": source}
        if min_level:
            params["level"] = min_level
        page = read_ok(worker, **params)
        assert ids(page) == sorted(ids(page), reverse=True)
        return [entry["level"] for entry in page["logs"]]

    assert levels(None) == ["critical", "error", "warn", "info", "debug"]
    assert levels("debug") == ["critical", "error", "warn", "info", "debug"]
    assert levels("info") == ["critical", "error", "warn", "info"]
    assert levels("warn") == ["critical", "error", "warn"]
    assert levels("error") == ["critical", "error"]
    assert levels("critical") == ["critical"]
    page = read_ok(worker, source=source, level="error")
    assert ids(page) == [by_level["critical"], by_level["error"]]


def test_since_keeps_entries_at_or_after_the_time(worker):
    source = unique("since")
    log_id = log(worker, source=source, operation="op")
    ts = row(worker, log_id)["ts"]
    iso = ts.replace(" ", "T")

    for since in (ts, iso + "Z", iso + "+00:00", "2000-01-01T00:00:00Z", "2000-01-01 00:00:00",
                  shifted(ts, -60)):
        assert ids(read_ok(worker, source=source, since=since)) == [log_id], since
    later = shifted(ts, 1)
    for since in (later, later.replace(" ", "T") + "Z", later.replace(" ", "T") + "+00:00",
                  "2999-01-01T00:00:00Z", "2999-01-01 00:00:00"):
        page = read_ok(worker, source=source, since=since)
        assert page["logs"] == [] and page["next_cursor"] is None, since


# ----- paging -------------------------------------------------------------------------------


def test_paging_yields_every_row_once_newest_first(worker):
    source = unique("paging")
    written = [log(worker, source=source, operation=f"op_{i}", details={"i": i}) for i in range(7)]
    expected = sorted(written, reverse=True)

    # Exactly `limit` rows left: that page is the last one.
    whole = read_ok(worker, source=source, limit=7)
    assert ids(whole) == expected and whole["next_cursor"] is None

    first = read_ok(worker, source=source, limit=3)
    assert ids(first) == expected[:3]
    assert first["next_cursor"]
    # A row logged while paging is newer than every cursor: it neither shifts nor repeats rows.
    newcomer = log(worker, source=source, operation="op_late")
    second = read_ok(worker, source=source, limit=3, cursor=first["next_cursor"])
    assert ids(second) == expected[3:6]
    assert second["next_cursor"]
    third = read_ok(worker, source=source, limit=3, cursor=second["next_cursor"])
    assert ids(third) == expected[6:]
    assert third["next_cursor"] is None
    assert [e["details"] for e in first["logs"] + second["logs"] + third["logs"]] == \
        [{"i": i} for i in range(6, -1, -1)]

    # Paging again from the start sees the newcomer first, then the same seven.
    seen, cursor = [], None
    while True:
        params = {"source": source, "limit": 3}
        if cursor:
            params["cursor"] = cursor
        page = read_ok(worker, **params)
        assert 1 <= len(page["logs"]) <= 3
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [newcomer] + expected


def test_cursor_pages_respect_filters(worker):
    source, order_id = unique("paging-filter"), unique("ORD")
    wanted = []
    for i in range(5):
        wanted.append(log(worker, source=source, operation="op", order_id=order_id, level="error"))
        log(worker, source=source, operation="op", order_id=order_id, level="debug")
    seen, cursor = [], None
    for _ in range(10):
        params = {"order_id": order_id, "level": "error", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = read_ok(worker, **params)
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(wanted, reverse=True)


def test_default_and_largest_limit(worker):
    source = unique("limit")
    written = [log(worker, source=source, operation="op") for _ in range(51)]
    default = read_ok(worker, source=source)
    assert ids(default) == sorted(written, reverse=True)[:50]
    assert default["next_cursor"] is not None
    rest = read_ok(worker, source=source, cursor=default["next_cursor"])
    assert ids(rest) == [min(written)] and rest["next_cursor"] is None
    largest = read_ok(worker, source=source, limit=200)
    assert ids(largest) == sorted(written, reverse=True) and largest["next_cursor"] is None
    assert ids(read_ok(worker, source=source, limit=1)) == [max(written)]


# ----- rejections ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "params, field",
    [
        ({"limit": "0"}, "limit"),
        ({"limit": "201"}, "limit"),
        ({"limit": "-1"}, "limit"),
        ({"limit": "abc"}, "limit"),
        ({"limit": "1.5"}, "limit"),
        ({"level": "fatal"}, "level"),
        ({"level": "warning"}, "level"),
        ({"since": "yesterday"}, "since"),
        ({"since": "2026-11-24"}, "since"),
        ({"since": "2026-13-01 00:00:00"}, "since"),
        ({"since": "2026-11-24T20:00:00+02:00"}, "since"),
        ({"since": "24/11/2026 20:00:00"}, "since"),
        ({"since": "1764014400"}, "since"),
    ],
)
def test_invalid_queries_are_422(worker, params, field):
    reply = read(worker, source="anything", **params)
    assert_error(reply, 422, "validation_failed")
    assert field in fields_of(reply), reply.body


BASE = {"source": "test-validation", "operation": "op"}


def without(key: str) -> dict:
    return {k: v for k, v in BASE.items() if k != key}


@pytest.mark.parametrize(
    "body, field",
    [
        (without("source"), "source"),
        ({**BASE, "source": ""}, "source"),
        ({**BASE, "source": "s" * 65}, "source"),
        ({**BASE, "source": 5}, "source"),
        ({**BASE, "source": None}, "source"),
        (without("operation"), "operation"),
        ({**BASE, "operation": ""}, "operation"),
        ({**BASE, "operation": "o" * 129}, "operation"),
        ({**BASE, "operation": ["op"]}, "operation"),
        ({**BASE, "level": "fatal"}, "level"),
        ({**BASE, "level": ""}, "level"),
        ({**BASE, "level": 3}, "level"),
        ({**BASE, "order_id": "x" * 65}, "order_id"),
        ({**BASE, "order_id": 12}, "order_id"),
        ({**BASE, "task_uuid": "t" * 65}, "task_uuid"),
        ({**BASE, "task_uuid": True}, "task_uuid"),
        ({**BASE, "details": [1, 2]}, "details"),
        ({**BASE, "details": "text"}, "details"),
        ({**BASE, "details": 5}, "details"),
        ([BASE], "body"),
    ],
)
def test_invalid_entries_are_422_and_not_written(worker, body, field):
    before = log_count(worker)
    reply = worker.post("/api/ops/log", body)
    assert_error(reply, 422, "validation_failed")
    assert field in fields_of(reply), reply.body
    assert log_count(worker) == before


def test_details_are_limited_to_16_kib(worker):
    source = unique("size")
    # Compact JSON of {"x": "a" * n} is n + 8 bytes: exactly the limit is fine, one more is not.
    at_limit = {"x": "a" * (DETAILS_LIMIT - 8)}
    assert len(json.dumps(at_limit, separators=(",", ":"))) == DETAILS_LIMIT
    log_id = log(worker, source=source, operation="big", details=at_limit)
    assert json.loads(row(worker, log_id)["details"]) == at_limit

    before = log_count(worker)
    for details in ({"x": "a" * (DETAILS_LIMIT - 7)}, {"x": "a" * (64 * 1024)}):
        reply = worker.post("/api/ops/log", {"source": source, "operation": "big", "details": details})
        assert reply.status in (413, 422), reply.text
        assert_error(reply, reply.status, "validation_failed" if reply.status == 422 else "payload_too_large")
        if reply.status == 422:
            assert "details" in fields_of(reply)
    assert log_count(worker) == before
    assert ids(read_ok(worker, source=source)) == [log_id]


def test_not_json_and_wrong_content_type(worker):
    before = log_count(worker)
    bad_json = worker.post("/api/ops/log", raw=b'{"source": "x", "operation": ',
                           headers={"content-type": "application/json"})
    assert_error(bad_json, 400, "invalid_json")
    text = worker.post("/api/ops/log", raw=json.dumps(BASE).encode(),
                       headers={"content-type": "text/plain"})
    assert_error(text, 415, "unsupported_media_type")
    form = worker.post("/api/ops/log", raw=b"source=x&operation=y",
                       headers={"content-type": "application/x-www-form-urlencoded"})
    assert_error(form, 415, "unsupported_media_type")
    assert log_count(worker) == before


def test_log_routes_need_the_token(worker):
    source = unique("auth")
    before = log_count(worker)
    assert_error(worker.post("/api/ops/log", {"source": source, "operation": "op"}, token=None),
                 401, "unauthorized")
    assert_error(worker.post("/api/ops/log", {"source": source, "operation": "op"}, token="wrong"),
                 401, "unauthorized")
    assert log_count(worker) == before
    log(worker, source=source, operation="op")
    assert_error(worker.get(f"/api/ops/logs?source={source}", token=None), 401, "unauthorized")
