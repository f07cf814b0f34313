"""GET /api/task/:uuid and POST /api/task/:uuid/status (with compare-and-set)."""

from __future__ import annotations

import json
import threading

from orders import order_body
from helpers import assert_error


def new_task(worker) -> dict:
    reply = worker.post("/api/orders", order_body(tasks=1))
    assert reply.status == 201
    return reply.body["tasks"][0]


def test_get_task(worker):
    task = new_task(worker)
    reply = worker.get(f"/api/task/{task['uuid']}")
    assert reply.status == 200
    assert reply.body["uuid"] == task["uuid"]
    assert reply.body["status"] == "pending"
    assert reply.body["placeholder"] == task["placeholder"]


def test_unknown_task_is_404(worker):
    for uuid in ["ZZZZZZ", "bad%20id", "x" * 100]:
        reply = worker.get(f"/api/task/{uuid}")
        assert_error(reply, 404, "not_found")


def test_status_change_is_stored_and_logged(worker):
    task = new_task(worker)
    reply = worker.post(f"/api/task/{task['uuid']}/status", {"status": "in_progress"})
    assert reply.status == 200, reply.text
    assert reply.body == {"uuid": task["uuid"], "status": "in_progress", "previous_status": "pending"}
    stored = worker.get(f"/api/task/{task['uuid']}").body
    assert stored["status"] == "in_progress"
    assert stored["updated_at"]
    logs = worker.query("SELECT source, operation, level, details FROM operation_logs "
                        "WHERE task_uuid = ? ORDER BY id", (task["uuid"],))
    assert [l["operation"] for l in logs] == ["task_status_changed"]
    details = json.loads(logs[0]["details"])
    assert details["from"] == "pending" and details["to"] == "in_progress"


def test_invalid_status_names_the_allowed_values(worker):
    task = new_task(worker)
    for body in [{"status": "done"}, {"status": 3}, {}, {"status": "complete", "expected_status": "finished"}]:
        reply = worker.post(f"/api/task/{task['uuid']}/status", body)
        assert_error(reply, 422, "validation_failed")
        assert "pending, in_progress, complete, blocked" in json.dumps(reply.body)
    assert worker.get(f"/api/task/{task['uuid']}").body["status"] == "pending"


def test_status_of_unknown_task_is_404_and_writes_nothing(worker):
    reply = worker.post("/api/task/NOSUCH/status", {"status": "complete"})
    assert_error(reply, 404, "not_found")
    assert worker.query("SELECT * FROM operation_logs WHERE task_uuid = 'NOSUCH'") == []


def test_compare_and_set(worker):
    task = new_task(worker)
    path = f"/api/task/{task['uuid']}/status"
    ok = worker.post(path, {"status": "in_progress", "expected_status": "pending"})
    assert ok.status == 200
    conflict = worker.post(path, {"status": "in_progress", "expected_status": "pending"})
    assert_error(conflict, 409, "status_conflict")
    assert conflict.body["error"]["details"] == {"expected_status": "pending", "current_status": "in_progress"}
    logs = worker.query("SELECT * FROM operation_logs WHERE task_uuid = ?", (task["uuid"],))
    assert len(logs) == 1, "a refused compare-and-set must not be logged as a change"


def test_two_agents_cannot_both_claim_a_task(worker):
    task = new_task(worker)
    replies = []

    def claim():
        replies.append(worker.post(f"/api/task/{task['uuid']}/status",
                                   {"status": "in_progress", "expected_status": "pending"}))

    threads = [threading.Thread(target=claim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r.status for r in replies) == [200] + [409] * 7
