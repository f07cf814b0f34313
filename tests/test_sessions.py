"""D1 sessions. With `D1_READ_REPLICATION = "auto"` every /api answer that touched D1 carries the
session's bookmark in `x-d1-bookmark`; a client that sends it back reads at least that fresh
(its own writes). Without it (the default) every query goes to the primary: no session, no
bookmark in answers, and a valid bookmark a client sends is accepted. In both modes a malformed
bookmark is a 400 that changes nothing.

Under `wrangler dev` there are no replicas, so a stale read cannot be provoked here: what is
tested is the contract (round trip, read-your-writes, refusal), which holds unchanged in
production, where the header decides whether a replica may answer.
"""

from __future__ import annotations

import re
import uuid

import pytest

from harness import TEST_TOKEN, WorkerProcess
from helpers import assert_error

HEADER = "x-d1-bookmark"
# What D1 hands out (workerd's local D1 included): hex groups joined by '-'.
SHAPE = re.compile(r"^[0-9a-f]+(-[0-9a-f]+)+$")


@pytest.fixture(scope="module")
def replicated():
    """A Worker told that its database has read replication on."""
    with WorkerProcess({"API_TOKEN": TEST_TOKEN, "D1_READ_REPLICATION": "auto"},
                       name="replicated", queue=False) as proc:
        yield proc


@pytest.fixture(params=["replicated", "primary"])
def any_mode(request, replicated, worker):
    """Each test below that holds in both modes runs against both Workers."""
    return replicated if request.param == "replicated" else worker


def order(worker) -> dict:
    reply = worker.post("/api/orders", {
        "factory": f"sessions-{uuid.uuid4().hex[:6]}",
        "files": [{"file_path": "src/a.ts", "instructions": {"P1": "do it"}}],
    })
    assert reply.status == 201, reply.text
    return reply


def test_writes_and_reads_answer_with_a_bookmark(replicated):
    worker = replicated
    written = worker.post("/api/ops/log", {"source": "sessions", "operation": "w"})
    assert written.status == 200, written.text
    assert SHAPE.match(written.headers.get(HEADER, "")), written.headers
    read = worker.get("/api/ops/logs?source=sessions")
    assert read.status == 200
    assert SHAPE.match(read.headers.get(HEADER, "")), read.headers
    # Errors from a route that queried D1 carry one too; routes without D1 carry none.
    missing = worker.get("/api/task/ZZZZZZ")
    assert_error(missing, 404, "not_found")
    assert SHAPE.match(missing.headers.get(HEADER, "")), missing.headers
    assert HEADER not in worker.get("/health").headers


def test_a_bookmark_round_trips_and_reads_the_write_it_came_from(replicated):
    worker = replicated
    created = order(worker)
    bookmark = created.headers[HEADER]
    order_id = created.body["order_id"]
    [task] = created.body["tasks"]

    listed = worker.get(f"/api/tasks/{order_id}", headers={HEADER: bookmark})
    assert listed.status == 200, listed.text
    assert [t["uuid"] for t in listed.body["tasks"]] == [task["uuid"]]
    # Bookmarks sort oldest to newest: the read's session is at least as new as the write's.
    assert listed.headers[HEADER] >= bookmark

    changed = worker.post(f"/api/task/{task['uuid']}/status", {"status": "in_progress"},
                          headers={HEADER: listed.headers[HEADER]})
    assert changed.status == 200, changed.text
    after = changed.headers[HEADER]
    assert after > bookmark, "a write moves the bookmark on"

    seen = worker.get(f"/api/task/{task['uuid']}", headers={HEADER: after})
    assert seen.status == 200, seen.text
    assert seen.body["status"] == "in_progress"
    assert seen.headers[HEADER] >= after


def test_an_empty_bookmark_header_is_no_bookmark(any_mode):
    worker = any_mode
    # Cloudflare's own example answers `getBookmark() ?? ""`; clients echo it.
    reply = worker.get("/api/ops/logs?limit=1", headers={HEADER: ""})
    assert reply.status == 200, reply.text


def test_a_malformed_bookmark_is_a_400_and_writes_nothing(any_mode):
    worker = any_mode
    source = f"bad-bookmark-{uuid.uuid4().hex[:6]}"
    for bad in ["not a bookmark", "first-primary", "first-unconstrained", "a/b", "x" * 300]:
        reply = worker.post("/api/ops/log", {"source": source, "operation": "w"},
                            headers={HEADER: bad})
        assert_error(reply, 400, "invalid_bookmark")
        assert HEADER in reply.body["error"]["message"]
        assert_error(worker.get("/api/orders", headers={HEADER: bad}), 400, "invalid_bookmark")
    assert worker.query("SELECT id FROM operation_logs WHERE source = ?", (source,)) == []


def test_without_replication_no_session_is_opened_and_a_bookmark_is_accepted(replicated, worker):
    # A bookmark from a replicated deployment (a client that kept one across a configuration
    # change) is valid: the primary is never behind it.
    bookmark = order(replicated).headers[HEADER]
    created = order(worker)
    assert HEADER not in created.headers, "no session, so no bookmark to hand out"
    order_id = created.body["order_id"]
    [task] = created.body["tasks"]
    changed = worker.post(f"/api/task/{task['uuid']}/status", {"status": "in_progress"},
                          headers={HEADER: bookmark})
    assert changed.status == 200, changed.text
    assert HEADER not in changed.headers
    # Read-your-writes with no bookmark at all: every query is at the primary.
    listed = worker.get(f"/api/tasks/{order_id}", headers={HEADER: bookmark})
    assert listed.status == 200, listed.text
    assert HEADER not in listed.headers
    assert [t["status"] for t in listed.body["tasks"]] == ["in_progress"]
