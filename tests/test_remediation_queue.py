"""Remediation off the request path: items past a request's budget go to the remediation queue
(workerd runs Queues locally under `wrangler dev`), a consumer in the same Worker works them,
and `GET /api/factory/errors/:batch_id` tells where each item is.

Every Worker here runs with a small REMEDIATION_MAX_CALLS, so most of a batch is queued, and a
one-second retry base, so retries with a growing delay finish within the test.
"""

from __future__ import annotations

import time
import uuid

import pytest

from orders import create_order

QUICK_RETRY = {"REMEDIATION_RETRY_BASE_SECONDS": "1"}


def u() -> str:
    return uuid.uuid4().hex[:8]


@pytest.fixture
def queued_worker(worker, start_worker, upstreams):
    """The production Worker's vars, a budget that fits two or three items per request."""
    return start_worker({**worker.vars, **QUICK_RETRY, "REMEDIATION_MAX_CALLS": "8"}, name="queue")


def item(order: dict, task: dict, code: str) -> dict:
    return {"order_id": order["order_id"], "factory": order["factory"], "file_path": task["file_path"],
            "placeholder": task["placeholder"], "task_uuid": task["uuid"], "error_code": code,
            "message": f"{code} for {task['placeholder']}"}


def post_batch(worker, items: list[dict], key: str | None = None) -> dict:
    headers = {"Idempotency-Key": key} if key else None
    reply = worker.post("/api/factory/errors", {"errors": items}, headers=headers, timeout=120)
    assert reply.status == 200, reply.text
    assert [a["index"] for a in reply.body["remediation"]] == list(range(len(items)))
    return reply.body


def status_pages(worker, status_url: str, limit: int = 50) -> tuple[dict, list[dict]]:
    """Every item of a batch through the paged status route."""
    items, cursor, first = [], None, None
    while True:
        path = f"{status_url}?limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        reply = worker.get(path)
        assert reply.status == 200, reply.text
        first = first or reply.body
        items += reply.body["items"]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            return first, items


def wait_until_done(worker, status_url: str, received: int, timeout: float = 240) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        head, items = status_pages(worker, status_url)
        if head["counts"]["done"] == received:
            assert len(items) == received and all(i["state"] == "done" for i in items)
            return items
        assert time.monotonic() < deadline, f"not done in {timeout}s: {head['counts']}"
        time.sleep(1)


def rename_order(worker, github, n: int) -> tuple[dict, list[str]]:
    """An order of `n` files the templates now hold under another directory (so each item's
    remediation is a rename), plus the new paths in task order."""
    dirs = [f"q/{u()}" for _ in range(n)]  # one directory each: one clear candidate per task
    olds = [f"{d}/agents/agent_gmail.ts" for d in dirs]
    news = [f"{d}/integrations/agents/gmail_agent.ts" for d in dirs]
    github.seed({new: f"// agent {i}\n###LOGIC_{i:03d}###\n" for i, new in enumerate(news)})
    order = create_order(worker, {old: [f"LOGIC_{i:03d}"] for i, old in enumerate(olds)}, "queue")
    return order, news


def test_a_large_batch_is_queued_and_every_item_decided_once(queued_worker, github):
    worker = queued_worker
    order, news = rename_order(worker, github, 120)
    tasks = order["tasks"]
    body = post_batch(worker, [item(order, t, "FILE_NOT_FOUND") for t in tasks], key=f"q-{u()}")

    answers = body["remediation"]
    worked = [a for a in answers if a["action"] != "queued"]
    queued = [a for a in answers if a["action"] == "queued"]
    # The request works what fits its budget and answers the rest queued, with where to look.
    assert 1 <= len(worked) < 10 and len(queued) == 120 - len(worked)
    assert all(a["action"] == "update_file_path" for a in worked)
    assert body["status_url"] == f"/api/factory/errors/{body['batch_id']}"
    assert all(a["status_url"] == body["status_url"] and a["ok"] is False for a in queued)

    items = wait_until_done(worker, body["status_url"], 120)
    assert [i["index"] for i in items] == list(range(120))
    assert all(i["action"] == "update_file_path" for i in items), [i for i in items if i["action"] != "update_file_path"][:3]
    assert [i["new_file_path"] for i in items] == news
    # Decided once: one file move and one applied-fix follow-up per task, nothing blocked.
    for t, new in zip(tasks, news):
        assert worker.get(f"/api/task/{t['uuid']}").body["file_path"] == new
    moves = worker.query("SELECT task_uuid, COUNT(*) AS n FROM operation_logs WHERE order_id = ? "
                         "AND operation = 'task_file_path_updated' GROUP BY task_uuid",
                         (order["order_id"],))
    assert len(moves) == 120 and {m["n"] for m in moves} == {1}
    fixes = worker.query("SELECT COUNT(*) AS n FROM followups WHERE order_id = ? "
                         "AND type = 'auto-fix-applied'", (order["order_id"],))
    assert fixes[0]["n"] == 120
    assert worker.query("SELECT COUNT(*) AS n FROM tasks WHERE order_id = ? AND status = 'blocked'",
                        (order["order_id"],))[0]["n"] == 0
    # The answer with queued items is final for its key: a retry replays it.
    again = worker.post("/api/factory/errors", {"errors": [item(order, t, "FILE_NOT_FOUND") for t in tasks]},
                        headers={"Idempotency-Key": body["batch_id"]}, timeout=60)
    assert again.status == 200 and again.body == body


def test_a_duplicate_delivery_changes_nothing(queued_worker, github):
    """Requeueing a batch while its items are still queued sends each a second message; every
    item is still decided exactly once."""
    worker = queued_worker
    order, _ = rename_order(worker, github, 12)
    body = post_batch(worker, [item(order, t, "FILE_NOT_FOUND") for t in order["tasks"]])
    assert body["batch_id"] and body["status_url"]
    requeued = worker.post(f"{body['status_url']}/requeue")
    assert requeued.status == 200, requeued.text
    items = wait_until_done(worker, body["status_url"], 12)
    assert all(i["action"] == "update_file_path" for i in items)
    moves = worker.query("SELECT task_uuid, COUNT(*) AS n FROM operation_logs WHERE order_id = ? "
                         "AND operation = 'task_file_path_updated' GROUP BY task_uuid",
                         (order["order_id"],))
    assert len(moves) == 12 and {m["n"] for m in moves} == {1}
    # Requeueing a finished batch sends nothing.
    after = worker.post(f"{body['status_url']}/requeue")
    assert after.status == 200 and after.body["requeued"] == 0


def test_github_failing_for_a_while_then_recovering_ends_fixed(queued_worker, github):
    worker = queued_worker
    order, news = rename_order(worker, github, 6)
    # Leave the request path nothing: it works what fits, then every GitHub call fails for a while.
    body = post_batch(worker, [item(order, t, "FILE_NOT_FOUND") for t in order["tasks"]])
    github.fail_always(status=502)
    time.sleep(4)
    head, during = status_pages(worker, body["status_url"])
    github.clear_failures()
    items = wait_until_done(worker, body["status_url"], 6)
    assert all(i["action"] == "update_file_path" for i in items), items
    assert [i["new_file_path"] for i in items] == news
    retried = worker.query("SELECT COUNT(*) AS n FROM operation_logs WHERE order_id = ? "
                           "AND operation = 'remediation_retry'", (order["order_id"],))
    queued_items = [a for a in body["remediation"] if a["action"] == "queued"]
    if queued_items:
        assert retried[0]["n"] >= 1, "queued items met the outage and were retried, not blocked"
        assert max(i["attempts"] for i in items) >= 2


def test_github_failing_for_good_blocks_the_item_with_the_reason(queued_worker, github):
    worker = queued_worker
    order, _ = rename_order(worker, github, 2)
    tasks = order["tasks"]
    github.fail_always(status=503)
    # The request blocks what it works itself (it must answer now); the queue retries the rest.
    body = post_batch(worker, [item(order, t, "FILE_NOT_FOUND") for t in tasks])
    items = wait_until_done(worker, body["status_url"], 2, timeout=180) if body.get("status_url") else body["remediation"]
    for i in items:
        assert i["action"] == "blocked", i
        assert "GitHub could not be used" in i["reason"] and "503" in i["reason"], i
    for t in tasks:
        assert worker.get(f"/api/task/{t['uuid']}").body["status"] == "blocked"
        blocked = worker.query("SELECT * FROM followups WHERE task_uuid = ? AND type = 'blocked'",
                               (t["uuid"],))
        assert len(blocked) == 1 and "503" in blocked[0]["note"]
    queued = [i for i in items if i.get("attempts", 0) > 1]
    if body.get("status_url"):
        assert queued and max(i["attempts"] for i in queued) == 5


def test_status_route_errors(queued_worker):
    worker = queued_worker
    missing = worker.get("/api/factory/errors/no-such-batch")
    assert missing.status == 404 and missing.error_code() == "not_found"
    assert worker.post("/api/factory/errors/no-such-batch/requeue").status == 404
    order = create_order(worker, {"a.ts": ["A"]}, "queue")
    key = f"small-{u()}"
    body = post_batch(worker, [item(order, order["tasks"][0], "INJECT_FAILED")], key=key)
    # A small batch is answered at once; its status is there too, under its key.
    assert "status_url" not in body and body["batch_id"] == key
    status = worker.get(f"/api/factory/errors/{key}")
    assert status.status == 200, status.text
    assert status.body["counts"] == {"recorded": 0, "queued": 0, "working": 0, "done": 1}
    assert status.body["items"][0]["action"] == "none" and status.body["items"][0]["state"] == "done"
    for bad in ("limit=0", "limit=201", "cursor=-1", "cursor=x"):
        reply = worker.get(f"/api/factory/errors/{key}?{bad}")
        assert reply.status == 422 and reply.error_code() == "validation_failed", bad


def test_without_the_queue_binding_requeue_says_so(worker, start_worker):
    bare = start_worker({"API_TOKEN": worker.token}, name="no-queue-requeue", queue=False)
    order = create_order(bare, {"a.ts": ["A"]}, "queue")
    key = f"nq-{u()}"
    post_batch(bare, [item(order, order["tasks"][0], "INJECT_FAILED")], key=key)
    reply = bare.post(f"/api/factory/errors/{key}/requeue")
    assert reply.status == 503 and reply.error_code() == "queue_not_configured"
