"""POST /api/orders and GET /api/tasks/:order_id against the real Worker and D1."""

from __future__ import annotations

import re
import threading

from orders import SAMPLE_ORDER, order_body, unique_factory


def test_sample_order_creates_order_and_tasks(worker):
    reply = worker.post("/api/orders", SAMPLE_ORDER)
    assert reply.status == 201, reply.text
    order_id = reply.body["order_id"]
    assert re.fullmatch(r"ORD-[A-Za-z0-9_-]{6}", order_id)
    assert reply.body["tasks_created"] == 2
    assert reply.body["factory"] == "agent-factory"

    listed = worker.get(f"/api/tasks/{order_id}")
    assert listed.status == 200
    assert listed.body["order_id"] == order_id
    tasks = listed.body["tasks"]
    assert [t["placeholder"] for t in tasks] == list(SAMPLE_ORDER["files"][0]["instructions"])
    for task, created in zip(tasks, reply.body["tasks"]):
        assert re.fullmatch(r"[A-Z0-9]{6}", task["uuid"])
        assert task["uuid"] == created["uuid"]
        assert set(task) >= {"uuid", "order_id", "file_path", "placeholder", "instruction",
                             "status", "created_at", "updated_at"}
        assert task["status"] == "pending"
        assert task["order_id"] == order_id
        assert task["file_path"] == "worker/agents/agent_gmail.ts"
        assert task["instruction"] == SAMPLE_ORDER["files"][0]["instructions"][task["placeholder"]]

    rows = worker.query("SELECT operation, details FROM operation_logs WHERE order_id = ?", (order_id,))
    assert [r["operation"] for r in rows] == ["order_created"]


def test_file_paths_are_stored_normalised(worker):
    body = {"factory": unique_factory(), "files": [{"file_path": "./src//a/./b.ts", "instructions": {"X": "x"}}]}
    reply = worker.post("/api/orders", body)
    assert reply.status == 201
    assert reply.body["tasks"][0]["file_path"] == "src/a/b.ts"


def test_unknown_order_is_404(worker):
    for order_id in ["ORD-zzzzzz", "nope", "a" * 80]:
        reply = worker.get(f"/api/tasks/{order_id}")
        assert reply.status == 404, order_id
        assert reply.error_code() == "not_found"


def test_order_write_is_all_or_nothing(worker):
    """A failure in the tasks insert (forced by a trigger) leaves no order, task or log row."""
    factory = unique_factory("atomic")
    worker.execute(
        "CREATE TRIGGER fail_boom BEFORE INSERT ON tasks WHEN NEW.placeholder = 'BOOM' "
        "BEGIN SELECT RAISE(ABORT, 'forced failure'); END;"
    )
    try:
        body = {"factory": factory, "files": [{"file_path": "a.ts", "instructions": {"OK": "fine", "BOOM": "fails"}}]}
        reply = worker.post("/api/orders", body)
    finally:
        worker.execute("DROP TRIGGER fail_boom;")
    assert reply.status == 500, reply.text
    assert reply.error_code() == "internal_error"
    assert "forced failure" not in reply.text, "internal cause leaked to the client"
    assert worker.query("SELECT * FROM orders WHERE factory = ?", (factory,)) == []
    assert worker.query("SELECT * FROM tasks WHERE placeholder = 'OK' AND file_path = 'a.ts' "
                        "AND instruction = 'fine'") == []
    assert worker.query("SELECT * FROM operation_logs WHERE details LIKE ?", (f"%{factory}%",)) == []


def test_idempotency_key_returns_the_first_answer(worker):
    body = order_body(tasks=3)
    first = worker.post("/api/orders", body, headers={"Idempotency-Key": f"key-{body['factory']}"})
    assert first.status == 201
    # Same order, written differently: still the same request.
    body["files"][0]["file_path"] = "./" + body["files"][0]["file_path"]
    again = worker.post("/api/orders", body, headers={"Idempotency-Key": f"key-{body['factory']}"})
    assert again.status == 201
    assert again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(worker.query("SELECT id FROM orders WHERE factory = ?", (body["factory"],))) == 1


def test_idempotency_key_reused_for_another_order_is_refused(worker):
    key = f"key-{unique_factory()}"
    assert worker.post("/api/orders", order_body(tasks=1), headers={"Idempotency-Key": key}).status == 201
    other = order_body(tasks=2)
    reply = worker.post("/api/orders", other, headers={"Idempotency-Key": key})
    assert reply.status == 422
    assert reply.error_code() == "idempotency_key_reused"
    assert worker.query("SELECT id FROM orders WHERE factory = ?", (other["factory"],)) == []


def test_concurrent_retries_with_one_key_create_one_order(worker):
    body = order_body(tasks=5)
    key = f"race-{body['factory']}"
    replies = []

    def send():
        replies.append(worker.post("/api/orders", body, headers={"Idempotency-Key": key}))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in replies] == [201] * 6, [r.text for r in replies]
    assert len({r.body["order_id"] for r in replies}) == 1
    assert len(worker.query("SELECT id FROM orders WHERE factory = ?", (body["factory"],))) == 1
    assert len(worker.query("SELECT uuid FROM tasks WHERE order_id = ?", (replies[0].body["order_id"],))) == 5


def test_without_key_each_post_is_a_new_order(worker):
    body = order_body(tasks=1)
    a = worker.post("/api/orders", body)
    b = worker.post("/api/orders", body)
    assert a.body["order_id"] != b.body["order_id"]


def test_largest_order_is_accepted_and_listed_in_order(worker):
    body = order_body(tasks=2000, files=500)
    reply = worker.post("/api/orders", body)
    assert reply.status == 201, reply.text
    assert reply.body["tasks_created"] == 2000
    tasks = worker.get(f"/api/tasks/{reply.body['order_id']}").body["tasks"]
    assert len(tasks) == 2000
    assert len({t["uuid"] for t in tasks}) == 2000
    assert [t["uuid"] for t in tasks] == [t["uuid"] for t in reply.body["tasks"]]
