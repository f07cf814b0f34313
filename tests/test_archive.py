"""The bounded operation log: rows past OPS_LOG_RETENTION_DAYS move to the local R2 bucket
(binding ARCHIVE) as gzipped JSON Lines, are read back through GET /api/ops/archive, and leave
D1 only once their object is written and checked.

Rows are aged by rewriting `ts` in the D1 file (worker.execute): the API never lets a client
set `ts`, and waiting 30 days is not a test. Each test module gets its own Workers, so aging
rows never touches the session Worker the other tests share.
"""

from __future__ import annotations

import gzip
import json
import uuid

import pytest

from harness import TEST_TOKEN, WorkerProcess
from helpers import assert_error, fields_of

COLUMNS = ["id", "ts", "source", "order_id", "task_uuid", "operation", "level", "details"]


@pytest.fixture(scope="module")
def archiving():
    with WorkerProcess({"API_TOKEN": TEST_TOKEN, "OPS_LOG_RETENTION_DAYS": "30"},
                       name="archive") as proc:
        yield proc


@pytest.fixture(scope="module")
def bucketless():
    with WorkerProcess({"API_TOKEN": TEST_TOKEN}, name="no-bucket", archive=False) as proc:
        yield proc


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def log(worker, source: str, n: int, **extra) -> list[int]:
    ids = []
    for i in range(n):
        body = {"source": source, "operation": f"step-{i}", "level": "info",
                "details": {"i": i, "text": "é\n\"quoted\"", "f": 1.5}, **extra}
        reply = worker.post("/api/ops/log", body)
        assert reply.status == 200, reply.text
        ids.append(reply.body["id"])
    return ids


def age(worker, up_to_id: int, ts: str, where: str = "1") -> None:
    """Dates every row up to `up_to_id` (matching `where`) back to `ts`: archival takes the
    oldest rows in id order, so the aged rows must be a prefix of the log."""
    worker.execute(f"UPDATE operation_logs SET ts = '{ts}' WHERE id <= {up_to_id} AND ({where})")


def d1_rows(worker, sql: str = "1", params: tuple = ()) -> list[dict]:
    return worker.query(
        f"SELECT {', '.join(COLUMNS)} FROM operation_logs WHERE {sql} ORDER BY id", params)


def archived(worker, day: str, source: str, limit: int = 1000) -> list[dict]:
    """Every archived row of (day, source), following the API's cursor."""
    rows, cursor = [], None
    while True:
        query = f"/api/ops/archive?day={day}&source={source}&limit={limit}"
        reply = worker.get(query + (f"&cursor={cursor}" if cursor else ""))
        assert reply.status == 200, reply.text
        rows += reply.body["rows"]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return rows


def last_run(worker) -> dict:
    rows = worker.query("SELECT level, details FROM operation_logs "
                        "WHERE operation = 'scheduled_run' ORDER BY id DESC LIMIT 1")
    assert rows, "no scheduled_run row"
    return {"level": rows[0]["level"], **json.loads(rows[0]["details"])}


def test_rows_past_retention_move_to_r2_identical_and_leave_d1(archiving):
    w = archiving
    agent, factory = unique("agent"), unique("factory")
    agent_ids = log(w, agent, 5, order_id="ORD-abc123")
    factory_ids = log(w, factory, 3)
    age(w, max(agent_ids), "2020-01-02 03:04:05", f"source = '{agent}'")
    age(w, max(factory_ids), "2020-01-03 00:00:00", f"source = '{factory}'")
    recent = log(w, agent, 2)  # inside retention
    # Anything else the Worker logged before the aged rows is aged too, so they are a prefix.
    age(w, max(factory_ids), "2020-01-03 00:00:00", f"source NOT IN ('{agent}', '{factory}')")
    before = {r["id"]: r for r in d1_rows(w, "id <= ?", (max(factory_ids),))}

    assert w.run_scheduled().status == 200
    run = last_run(w)
    assert run["level"] == "debug", run
    assert run["archive"]["failed"] == [], run
    assert run["archive"]["deleted"] == len(before), run

    # Gone from D1, exactly those; the rows inside retention stay.
    assert d1_rows(w, "id <= ?", (max(factory_ids),)) == []
    assert [r["id"] for r in d1_rows(w, f"source = '{agent}'")] == recent

    # Read back through the API: identical to what D1 held, column for column.
    assert archived(w, "2020-01-02", agent) == [before[i] for i in agent_ids]
    assert archived(w, "2020-01-03", factory) == [before[i] for i in factory_ids]

    # The day's listing names the object, its size and row count.
    reply = w.get("/api/ops/archive?day=2020-01-02")
    assert reply.status == 200, reply.text
    [obj] = [o for o in reply.body["objects"] if o["source"] == agent]
    assert obj["key"] == f"ops/2020-01-02/{agent}.jsonl.gz"
    assert obj["rows"] == 5 and obj["part"] == 1
    assert (obj["first_id"], obj["last_id"]) == (min(agent_ids), max(agent_ids))

    # And the object itself, read from the local R2 store on disk: gzip of JSON Lines.
    stored = w.r2_objects()[obj["key"]]
    assert obj["size"] == len(stored)
    lines = gzip.decompress(stored).decode().splitlines()
    assert [json.loads(line) for line in lines] == [before[i] for i in agent_ids]


def test_a_later_run_appends_to_the_days_object_and_pages(archiving):
    w = archiving
    source = unique("appender")
    first = log(w, source, 3)
    age(w, max(first), "2020-02-01 10:00:00")
    assert w.run_scheduled().status == 200
    key = f"ops/2020-02-01/{source}.jsonl.gz"
    first_object = gzip.decompress(w.r2_objects()[key]).decode()

    second = log(w, source, 4)
    age(w, max(second), "2020-02-01 11:00:00", f"source = '{source}'")
    age(w, max(second), "2020-02-02 00:00:00", f"source != '{source}'")
    expected = d1_rows(w, f"source = '{source}'")
    assert w.run_scheduled().status == 200
    assert last_run(w)["archive"]["failed"] == []

    merged = gzip.decompress(w.r2_objects()[key]).decode()
    assert merged.startswith(first_object), "earlier lines are kept verbatim"
    rows = archived(w, "2020-02-01", source, limit=2)  # four pages of two
    assert [r["id"] for r in rows] == first + second
    assert rows[3:] == expected
    assert d1_rows(w, f"source = '{source}'") == []


def test_an_object_with_conflicting_content_stops_its_rows_only(archiving):
    """A first run archived row X; a row X with other content then turns up in D1 (restored
    from a backup, say). The next run must not overwrite the object nor delete row X, and
    the run says so at level error; another source's rows in the same run still move."""
    w = archiving
    source, other = unique("conflict"), unique("bystander")
    [x] = log(w, source, 1)
    age(w, x, "2020-03-01 00:00:00")
    assert w.run_scheduled().status == 200
    key = f"ops/2020-03-01/{source}.jsonl.gz"
    object_before = w.r2_objects()[key]
    archived_before = archived(w, "2020-03-01", source)

    w.execute(
        "INSERT INTO operation_logs (id, ts, source, operation, level, details) "
        f"VALUES ({x}, '2020-03-01 00:00:00', '{source}', 'step-0', 'info', '{{\"other\":1}}')")
    y = log(w, other, 2)
    age(w, max(y), "2020-03-01 00:00:00", f"id != {x}")
    assert w.run_scheduled().status == 200

    run = last_run(w)
    assert run["level"] == "error", run
    [failure] = run["archive_error"]
    assert failure["source"] == source and "other content" in failure["error"], failure
    assert [r["id"] for r in d1_rows(w, "id = ?", (x,))] == [x], "the row stays in D1"
    assert w.r2_objects()[key] == object_before, "the object is not rewritten"
    assert archived(w, "2020-03-01", source) == archived_before
    assert d1_rows(w, f"source = '{other}'") == []
    assert [r["id"] for r in archived(w, "2020-03-01", other)] == y
    # Leave no conflicting old row behind for the other tests of this module.
    w.execute(f"DELETE FROM operation_logs WHERE id = {x}")


def test_archive_route_answers_bad_days_missing_days_and_sources(archiving):
    w = archiving
    for day in ["2020-13-01", "yesterday", "2020-1-1"]:
        reply = w.get(f"/api/ops/archive?day={day}")
        assert_error(reply, 422, "validation_failed")
        assert fields_of(reply) == ["day"]
    assert fields_of(w.get("/api/ops/archive")) == ["day"]
    assert fields_of(w.get("/api/ops/archive?day=2020-01-01&limit=0")) == ["limit"]
    assert_error(w.get("/api/ops/archive?day=1999-01-01"), 404, "not_found")
    assert_error(w.get("/api/ops/archive?day=1999-01-01&source=nobody"), 404, "not_found")
    assert_error(w.get("/api/ops/archive?day=1999-01-01", token=None), 401, "unauthorized")


def test_without_a_bucket_rows_past_retention_are_deleted_and_logged_once_per_run(bucketless):
    w = bucketless
    source = unique("pruned")
    old = log(w, source, 4)
    age(w, max(old), "2020-01-01 00:00:00")
    kept = log(w, source, 1)

    assert w.run_scheduled().status == 200
    assert w.run_scheduled().status == 200  # nothing left past retention: no second notice
    assert [r["id"] for r in d1_rows(w, f"source = '{source}'")] == kept
    notices = w.query("SELECT level, details FROM operation_logs "
                      "WHERE operation = 'ops_log_deleted_unarchived'")
    assert len(notices) == 1, notices
    details = json.loads(notices[0]["details"])
    assert notices[0]["level"] == "warn"
    assert details["deleted"] >= len(old) and details["last_id"] == max(old), details

    reply = w.get("/api/ops/archive?day=2020-01-01")
    assert_error(reply, 503, "archive_not_configured")
    assert "ARCHIVE" in reply.body["error"]["message"]
    # Validation still comes first.
    assert_error(w.get("/api/ops/archive?day=bad"), 422, "validation_failed")
