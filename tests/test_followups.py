"""GET /api/followups: the queue a human reads, filled here through POST /api/factory/errors."""

from __future__ import annotations

import uuid

from orders import create_order
from helpers import assert_error, fields_of


def make_order(worker, placeholders: list[str]) -> dict:
    return create_order(worker, {f"src/fu-{uuid.uuid4().hex[:8]}.ts": placeholders}, "fu")


def warn_all(worker, order: dict) -> list[dict]:
    items = [{"order_id": order["order_id"], "factory": order["factory"], "file_path": t["file_path"],
              "placeholder": t["placeholder"], "task_uuid": t["uuid"], "error_code": "INJECT_FAILED",
              "message": f"could not write {t['placeholder']}"} for t in order["tasks"]]
    reply = worker.post("/api/factory/errors", {"errors": items})
    assert reply.status == 200, reply.text
    return reply.body["remediation"]


def test_followups_of_an_order_newest_first_with_paging(worker):
    order = make_order(worker, [f"P{i}" for i in range(5)])
    answers = warn_all(worker, order)
    ids = [a["followup_id"] for a in answers]
    assert len(set(ids)) == 5

    reply = worker.get(f"/api/followups?order_id={order['order_id']}")
    assert reply.status == 200, reply.text
    rows = reply.body["followups"]
    assert [r["id"] for r in rows] == sorted(ids, reverse=True)
    assert reply.body["next_cursor"] is None
    newest = rows[0]
    assert (newest["type"], newest["impact_level"], newest["status"]) == ("warning", 3, "open")
    assert newest["task_uuid"] == order["tasks"][4]["uuid"]
    assert newest["data"]["message"] == "could not write P4"  # stored JSON comes back as JSON
    assert newest["data"]["context"] == {}
    assert "INJECT_FAILED" in newest["note"]

    seen, cursor = [], None
    while True:
        path = f"/api/followups?order_id={order['order_id']}&limit=2"
        reply = worker.get(path + (f"&cursor={cursor}" if cursor else ""))
        assert reply.status == 200, reply.text
        seen += [r["id"] for r in reply.body["followups"]]
        cursor = reply.body["next_cursor"]
        if cursor is None:
            break
    assert seen == sorted(ids, reverse=True)


def test_followups_filter_by_task_type_and_status(worker):
    order = make_order(worker, ["A", "B"])
    warn_all(worker, order)
    task_a = order["tasks"][0]["uuid"]
    reply = worker.get(f"/api/followups?task_uuid={task_a}&type=warning&status=open")
    assert [r["task_uuid"] for r in reply.body["followups"]] == [task_a]
    assert worker.get(f"/api/followups?task_uuid={task_a}&type=blocked").body["followups"] == []
    assert worker.get(f"/api/followups?task_uuid={task_a}&status=fixed").body["followups"] == []


def test_followup_queries_are_validated(worker):
    reply = worker.get("/api/followups?type=bug&status=closed&limit=0&cursor=x")
    assert_error(reply, 422, "validation_failed")
    assert sorted(fields_of(reply)) == ["cursor", "limit", "status", "type"]
    assert "blocked, improvement, warning" in reply.body["error"]["details"][0]["message"]


def test_followups_need_the_token(worker):
    reply = worker.request("GET", "/api/followups", token="wrong")
    assert_error(reply, 401, "unauthorized")
