"""POST /api/factory/errors: intake, validation, task resolution and idempotent replays.

Only INJECT_FAILED and UNKNOWN (and items whose task does not exist) are reported here: none
of them needs GitHub. The GitHub-backed remediation lives in test_remediation.py.
"""

from __future__ import annotations

import json
import uuid

import pytest

from orders import create_order
from helpers import assert_error, fields_of

ACTIONS = {"update_file_path", "patch_ready", "blocked", "none"}


def unique(prefix: str = "x") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:12]}"


def make_order(worker, files: dict[str, list[str]]) -> dict:
    return create_order(worker, files, "fe")


def task_of(order: dict, placeholder: str) -> dict:
    found = [t for t in order["tasks"] if t["placeholder"] == placeholder]
    assert len(found) == 1, order["tasks"]
    return found[0]


def item(order: dict, task: dict, code: str = "INJECT_FAILED", **extra) -> dict:
    body = {"order_id": order["order_id"], "factory": order["factory"], "file_path": task["file_path"],
            "placeholder": task["placeholder"], "task_uuid": task["uuid"], "error_code": code,
            "message": f"{code}: injector gave up on {task['placeholder']}"}
    body.update(extra)
    return {k: v for k, v in body.items() if v is not None}


def report(worker, items: list[dict] | None = None, *, key: str | None = None,
           batch_id: str | None = None, body: dict | None = None):
    if body is None:
        body = {"errors": items}
        if batch_id is not None:
            body["batch_id"] = batch_id
    headers = {"Idempotency-Key": key} if key else None
    return worker.post("/api/factory/errors", body, headers=headers, timeout=60)


def report_ok(worker, items, **kw) -> dict:
    reply = report(worker, items, **kw)
    assert reply.status == 200, reply.text
    body = reply.body
    assert body["ok"] is True
    assert body["received"] == len(items)
    assert [a["index"] for a in body["remediation"]] == list(range(len(items)))
    for answer, sent in zip(body["remediation"], items):
        assert answer["action"] in ACTIONS, answer
        assert answer["error_code"] == sent["error_code"]
        assert isinstance(answer["ok"], bool)
        assert isinstance(answer["note"], str) and answer["note"]
    return body


def counts(worker) -> dict[str, int]:
    one = lambda sql: worker.query(sql)[0]["n"]  # noqa: E731
    return {
        "error_events": one("SELECT COUNT(*) AS n FROM error_events"),
        "operation_logs": one("SELECT COUNT(*) AS n FROM operation_logs"),
        "error_reports": one("SELECT COUNT(*) AS n FROM operation_logs WHERE operation = 'error_report'"),
        "followups": one("SELECT COUNT(*) AS n FROM followups"),
    }


def events_of(worker, order_id: str) -> list[dict]:
    return worker.query("SELECT * FROM error_events WHERE order_id = ? ORDER BY id", (order_id,))


def reports_of(worker, order_id: str) -> list[dict]:
    return worker.query("SELECT * FROM operation_logs WHERE order_id = ? AND operation = 'error_report' "
                        "ORDER BY id", (order_id,))


def followups_of(worker, order_id: str) -> list[dict]:
    return worker.query("SELECT * FROM followups WHERE order_id = ? ORDER BY id", (order_id,))


# ----- what a batch records and answers -------------------------------------------------------


def test_inject_failed_and_unknown_become_warnings(worker, github, upstreams):
    order = make_order(worker, {"worker/agents/agent_mail.ts": ["INIT", "LOGIC"]})
    init, logic = task_of(order, "INIT"), task_of(order, "LOGIC")
    items = [
        item(order, init, "INJECT_FAILED", context={"line": 12, "snippet": "###INIT###", "tries": [1, 2]}),
        item(order, logic, "UNKNOWN", message="the injector crashed: TypeError"),
    ]
    body = report_ok(worker, items)
    assert body["batch_id"] is None
    assert set(body) >= {"ok", "batch_id", "received", "remediation"}

    rows = followups_of(worker, order["order_id"])
    assert len(rows) == 2
    for answer, task, code in zip(body["remediation"], (init, logic), ("INJECT_FAILED", "UNKNOWN")):
        assert answer["task_uuid"] == task["uuid"]
        assert answer["error_code"] == code
        assert answer["action"] == "none" and answer["ok"] is False
        assert type(answer["followup_id"]) is int
        (followup,) = [r for r in rows if r["id"] == answer["followup_id"]]
        assert followup["type"] == "warning"
        assert followup["impact_level"] == 3
        assert followup["status"] == "open"
        assert followup["order_id"] == order["order_id"]
        assert followup["task_uuid"] == task["uuid"]
        # A warning does not change the task.
        assert worker.get(f"/api/task/{task['uuid']}").body["status"] == "pending"

    events = events_of(worker, order["order_id"])
    assert [(e["task_uuid"], e["error_code"]) for e in events] == [(init["uuid"], "INJECT_FAILED"),
                                                                   (logic["uuid"], "UNKNOWN")]
    first = events[0]
    assert first["factory"] == order["factory"]
    assert first["file_path"] == "worker/agents/agent_mail.ts"
    assert first["placeholder"] == "INIT"
    assert first["message"] == items[0]["message"]
    assert json.loads(first["context"]) == {"line": 12, "snippet": "###INIT###", "tries": [1, 2]}
    assert events[1]["message"] == "the injector crashed: TypeError"

    logs = reports_of(worker, order["order_id"])
    assert len(logs) == 2
    assert {(l["source"], l["level"]) for l in logs} == {("factory", "error")}
    assert [l["task_uuid"] for l in logs] == [init["uuid"], logic["uuid"]]
    # Neither needs the templates repository.
    assert github.calls == []


def test_task_is_found_by_path_and_placeholder_without_uuid(worker):
    order = make_order(worker, {"src/a.ts": ["ONE", "TWO"], "src/b.ts": ["ONE"]})
    wanted = [t for t in order["tasks"] if t["file_path"] == "src/b.ts"][0]
    sent = item(order, wanted, "INJECT_FAILED")
    del sent["task_uuid"]
    body = report_ok(worker, [sent])
    (answer,) = body["remediation"]
    assert answer["task_uuid"] == wanted["uuid"]
    assert answer["action"] == "none" and answer["ok"] is False
    (followup,) = followups_of(worker, order["order_id"])
    assert followup["id"] == answer["followup_id"]
    assert followup["task_uuid"] == wanted["uuid"] and followup["type"] == "warning"
    (event,) = events_of(worker, order["order_id"])
    assert (event["file_path"], event["placeholder"], event["error_code"]) == ("src/b.ts", "ONE", "INJECT_FAILED")


def test_unknown_tasks_are_recorded_but_not_acted_on(worker):
    order = make_order(worker, {"src/known.ts": ["KNOWN"]})
    other = make_order(worker, {"src/elsewhere.ts": ["ELSEWHERE"]})
    known = task_of(order, "KNOWN")
    foreign = task_of(other, "ELSEWHERE")
    missing_order = unique("ORD-none")
    items = [
        item(order, known, "INJECT_FAILED", task_uuid="ZZZZZZ"),
        # A real task, but of another order.
        item(order, foreign, "UNKNOWN", file_path="src/known.ts"),
        # No uuid, and no task with this placeholder in the file.
        {k: v for k, v in item(order, known, "INJECT_FAILED", placeholder="NOT_THERE").items() if k != "task_uuid"},
        # No uuid, and an order that does not exist.
        {"order_id": missing_order, "factory": "ghost-factory", "file_path": "src/known.ts",
         "placeholder": "KNOWN", "error_code": "UNKNOWN", "message": "lost"},
    ]
    before = counts(worker)
    body = report_ok(worker, items)
    for answer in body["remediation"]:
        assert answer["action"] == "none" and answer["ok"] is False, answer
        assert "no such task" in answer["note"].lower(), answer
    assert [a["error_code"] for a in body["remediation"]] == ["INJECT_FAILED", "UNKNOWN", "INJECT_FAILED", "UNKNOWN"]

    after = counts(worker)
    assert after["error_events"] == before["error_events"] + 4
    assert after["error_reports"] == before["error_reports"] + 4
    assert after["followups"] == before["followups"], "nothing to follow up on a task that does not exist"
    events = events_of(worker, order["order_id"])
    assert [e["placeholder"] for e in events] == ["KNOWN", "ELSEWHERE", "NOT_THERE"]
    assert events[0]["task_uuid"] == "ZZZZZZ"
    assert events_of(worker, missing_order)[0]["message"] == "lost"
    # Neither task was touched.
    for task in (known, foreign):
        assert worker.get(f"/api/task/{task['uuid']}").body["status"] == "pending"
    assert worker.query("SELECT * FROM followups WHERE task_uuid IN (?, ?)", (known["uuid"], foreign["uuid"])) == []


# ----- idempotency ----------------------------------------------------------------------------


def test_replay_with_the_same_key_returns_the_first_answer(worker, github, upstreams):
    order = make_order(worker, {"src/replay.ts": ["A", "B"]})
    items = [item(order, task_of(order, "A"), "INJECT_FAILED"), item(order, task_of(order, "B"), "UNKNOWN")]
    key = unique("key")
    first = report(worker, items, key=key)
    assert first.status == 200, first.text
    assert first.body["batch_id"] == key
    assert first.headers.get("idempotent-replayed") != "true"
    before = counts(worker)

    again = report(worker, items, key=key)
    assert again.status == first.status
    assert again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert counts(worker) == before
    assert len(followups_of(worker, order["order_id"])) == 2
    assert len(events_of(worker, order["order_id"])) == 2
    assert github.calls == []


def test_batch_id_is_the_key_without_a_header(worker):
    order = make_order(worker, {"src/batch.ts": ["A"]})
    items = [item(order, task_of(order, "A"), "UNKNOWN")]
    batch_id = unique("batch")
    first = report(worker, items, batch_id=batch_id)
    assert first.status == 200, first.text
    assert first.body["batch_id"] == batch_id
    before = counts(worker)
    again = report(worker, items, batch_id=batch_id)
    assert again.status == 200 and again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert counts(worker) == before

    changed = report(worker, [item(order, task_of(order, "A"), "INJECT_FAILED")], batch_id=batch_id)
    assert_error(changed, 422, "idempotency_key_reused")
    assert counts(worker) == before


def test_header_key_wins_over_batch_id(worker):
    order = make_order(worker, {"src/header.ts": ["A"]})
    items = [item(order, task_of(order, "A"), "UNKNOWN")]
    key, batch_id = unique("key"), unique("batch")
    first = report(worker, items, key=key, batch_id=batch_id)
    assert first.status == 200, first.text
    assert first.body["batch_id"] == key
    assert len(events_of(worker, order["order_id"])) == 1

    # The same body without the header is keyed by its batch_id: not seen before, so done anew.
    by_batch = report(worker, items, batch_id=batch_id)
    assert by_batch.status == 200
    assert by_batch.headers.get("idempotent-replayed") != "true"
    assert by_batch.body["batch_id"] == batch_id
    assert len(events_of(worker, order["order_id"])) == 2

    replay = report(worker, items, key=key, batch_id=batch_id)
    assert replay.headers.get("idempotent-replayed") == "true"
    assert replay.body == first.body
    assert len(events_of(worker, order["order_id"])) == 2


def test_key_reused_with_another_body_is_refused(worker):
    order = make_order(worker, {"src/reuse.ts": ["A", "B"]})
    key = unique("key")
    first = report(worker, [item(order, task_of(order, "A"), "UNKNOWN")], key=key)
    assert first.status == 200
    before = counts(worker)
    other = report(worker, [item(order, task_of(order, "B"), "UNKNOWN")], key=key)
    assert_error(other, 422, "idempotency_key_reused")
    assert counts(worker) == before
    assert [f["task_uuid"] for f in followups_of(worker, order["order_id"])] == [task_of(order, "A")["uuid"]]


def test_without_a_key_nothing_is_deduplicated(worker):
    order = make_order(worker, {"src/nokey.ts": ["A"]})
    items = [item(order, task_of(order, "A"), "INJECT_FAILED")]
    first = report_ok(worker, items)
    second = report_ok(worker, items)
    assert first["batch_id"] is None and second["batch_id"] is None
    assert len(events_of(worker, order["order_id"])) == 2
    assert len(reports_of(worker, order["order_id"])) == 2


# ----- limits and validation ------------------------------------------------------------------


def test_batch_of_2000_is_recorded_whole_and_2001_refused(worker, start_worker):
    """The original factory script sends all its errors in one request; an order holds up to 2000 tasks.
    Items are recorded in chunks (json_each), so the padding makes this span several. A Worker
    without its remediation queue answers the items past the request's limit deferred (with
    the queue they are queued: test_remediation_queue.py)."""
    worker = start_worker(dict(worker.vars), name="no-queue", queue=False)
    order_id = unique("ORD-many")

    def many(n: int) -> list[dict]:
        return [{"order_id": order_id, "factory": "bulk", "file_path": f"src/f{i}.ts",
                 "placeholder": f"P{i}", "error_code": "UNKNOWN", "message": f"item {i}",
                 "context": {"preview": "x" * 400, "i": i}}
                for i in range(n)]

    before = counts(worker)
    refused = report(worker, many(2001))
    assert_error(refused, 422, "validation_failed")
    assert "errors" in fields_of(refused)
    assert counts(worker) == before

    body = report_ok(worker, many(2000))
    assert body["received"] == 2000 and len(body["remediation"]) == 2000
    assert all(a["action"] == "none" and a["ok"] is False for a in body["remediation"])
    # At most 200 items are worked per request; the rest are recorded and deferred.
    assert [a.get("deferred", False) for a in body["remediation"]] == [False] * 200 + [True] * 1800
    assert "no such task" in body["remediation"][199]["note"]
    assert "deferred" in body["remediation"][200]["note"]
    events = events_of(worker, order_id)
    assert [e["message"] for e in events] == [f"item {i}" for i in range(2000)]
    assert json.loads(events[1999]["context"]) == {"preview": "x" * 400, "i": 1999}
    reports = reports_of(worker, order_id)
    assert len(reports) == 2000
    logged = json.loads(reports[7]["details"])
    assert logged["message"] == "item 7"
    assert logged["context"] == {"preview": "x" * 400, "i": 7}  # JSON, not a string of it


def good_item(**changes) -> dict:
    base = {"order_id": "ORD-valid1", "factory": "agent-factory", "file_path": "src/a.ts",
            "placeholder": "P", "task_uuid": "ABC123", "error_code": "UNKNOWN", "message": "boom",
            "context": {"k": "v"}}
    base.update(changes)
    return base


def dropped(key: str) -> dict:
    return {k: v for k, v in good_item().items() if k != key}


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "errors"),
        ({"errors": []}, "errors"),
        ({"errors": {"0": good_item()}}, "errors"),
        ({"errors": "x"}, "errors"),
        ({"errors": [good_item(), "not an object"]}, "errors[1]"),
        ({"errors": [dropped("order_id")]}, "errors[0].order_id"),
        ({"errors": [good_item(order_id="o" * 65)]}, "errors[0].order_id"),
        ({"errors": [good_item(order_id=7)]}, "errors[0].order_id"),
        ({"errors": [dropped("factory")]}, "errors[0].factory"),
        ({"errors": [good_item(factory="")]}, "errors[0].factory"),
        ({"errors": [good_item(factory="f" * 101)]}, "errors[0].factory"),
        ({"errors": [dropped("file_path")]}, "errors[0].file_path"),
        ({"errors": [good_item(file_path="")]}, "errors[0].file_path"),
        ({"errors": [good_item(file_path="p" * 1025)]}, "errors[0].file_path"),
        ({"errors": [good_item(placeholder="P" * 201)]}, "errors[0].placeholder"),
        ({"errors": [good_item(placeholder=3)]}, "errors[0].placeholder"),
        ({"errors": [good_item(task_uuid="T" * 65)]}, "errors[0].task_uuid"),
        ({"errors": [dropped("error_code")]}, "errors[0].error_code"),
        ({"errors": [good_item(error_code="REMEDIATION_FAILED")]}, "errors[0].error_code"),
        ({"errors": [good_item(error_code="file_not_found")]}, "errors[0].error_code"),
        ({"errors": [dropped("message")]}, "errors[0].message"),
        ({"errors": [good_item(message="")]}, "errors[0].message"),
        ({"errors": [good_item(message="m" * 4001)]}, "errors[0].message"),
        ({"errors": [good_item(context=[1, 2])]}, "errors[0].context"),
        ({"errors": [good_item(context="text")]}, "errors[0].context"),
        ({"errors": [good_item(context={"blob": "b" * (16 * 1024)})]}, "errors[0].context"),
        ([good_item()], "body"),
    ],
)
def test_invalid_batches_are_422_and_write_nothing(worker, body, field):
    before = counts(worker)
    reply = worker.post("/api/factory/errors", body)
    assert_error(reply, 422, "validation_failed")
    assert field in fields_of(reply), reply.body
    assert counts(worker) == before


def test_one_bad_item_rejects_the_whole_batch(worker):
    order = make_order(worker, {"src/partial.ts": ["A", "B"]})
    items = [item(order, task_of(order, "A"), "INJECT_FAILED"), item(order, task_of(order, "B"), "UNKNOWN"),
             item(order, task_of(order, "B"), "NOT_A_CODE")]
    before = counts(worker)
    reply = report(worker, items, key=unique("key"))
    assert_error(reply, 422, "validation_failed")
    assert fields_of(reply) == ["errors[2].error_code"]
    assert counts(worker) == before
    assert events_of(worker, order["order_id"]) == []
    assert followups_of(worker, order["order_id"]) == []


def test_longest_accepted_values(worker):
    order_id = "O" * 64
    body = report_ok(worker, [good_item(order_id=order_id, factory="f" * 100, file_path="p" * 1024,
                                        placeholder="P" * 200, task_uuid="T" * 64, message="m" * 4000,
                                        context={"blob": "b" * 1000})])
    assert body["remediation"][0]["action"] == "none"
    (event,) = events_of(worker, order_id)
    assert len(event["file_path"]) == 1024 and len(event["message"]) == 4000
    assert json.loads(event["context"]) == {"blob": "b" * 1000}


def test_not_json_and_wrong_content_type(worker):
    before = counts(worker)
    bad = worker.post("/api/factory/errors", raw=b'{"errors": [', headers={"content-type": "application/json"})
    assert_error(bad, 400, "invalid_json")
    text = worker.post("/api/factory/errors", raw=json.dumps({"errors": [good_item()]}).encode(),
                       headers={"content-type": "text/plain"})
    assert_error(text, 415, "unsupported_media_type")
    no_token = worker.post("/api/factory/errors", {"errors": [good_item()]}, token=None)
    assert_error(no_token, 401, "unauthorized")
    assert counts(worker) == before


# ----- claims: a retry while the first request works, a request that died, a write that failed --


def test_a_retry_while_the_first_is_running_waits_and_a_dead_claim_is_taken_over(worker):
    order = make_order(worker, {"src/claims.ts": ["CLAIM"]})
    items = [item(order, task_of(order, "CLAIM"), "UNKNOWN")]
    key = unique("claim")
    report_ok(worker, items, key=key)
    events = len(events_of(worker, order["order_id"]))

    # As the row looks while the first request is still remediating.
    worker.execute(f"UPDATE idempotency_keys SET status = 0, body = '' WHERE key = '{key}'")
    reply = report(worker, items, key=key)
    assert_error(reply, 409, "batch_in_progress")
    assert reply.headers.get("retry-after") == "5"
    assert len(events_of(worker, order["order_id"])) == events

    # A claim this old belongs to a request that died: the retry does the work.
    worker.execute("UPDATE idempotency_keys SET created_at = datetime('now', '-11 minutes') "
                   f"WHERE key = '{key}'")
    body = report_ok(worker, items, key=key)
    assert body["remediation"][0]["action"] == "none"
    assert len(events_of(worker, order["order_id"])) == events + 1
    stored = worker.query("SELECT status FROM idempotency_keys WHERE key = ?", (key,))
    assert stored == [{"status": 200}]


def test_a_write_failing_halfway_records_nothing_and_claims_nothing(worker):
    order = make_order(worker, {"src/halfway.ts": ["FIRST", "SECOND"]})
    items = [item(order, task_of(order, "FIRST"), "UNKNOWN"),
             item(order, task_of(order, "SECOND"), "UNKNOWN", message="boom-halfway")]
    key = unique("halfway")
    worker.execute("""
        CREATE TRIGGER fail_halfway BEFORE INSERT ON error_events
        WHEN NEW.message = 'boom-halfway'
        BEGIN SELECT RAISE(ABORT, 'injected failure'); END;
    """)
    try:
        before = counts(worker)
        reply = report(worker, items, key=key)
        assert_error(reply, 500, "internal_error")
        assert counts(worker) == before
        assert worker.query("SELECT * FROM idempotency_keys WHERE key = ?", (key,)) == []
    finally:
        worker.execute("DROP TRIGGER fail_halfway")
    body = report_ok(worker, items, key=key)
    assert len(body["remediation"]) == 2
    assert len(events_of(worker, order["order_id"])) == 2
