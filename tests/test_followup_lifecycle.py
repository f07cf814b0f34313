"""GET/PATCH /api/followups/:id: the follow-up lifecycle a human drives, and its effect on tasks.

Follow-ups are made the way production makes them, by error batches: INJECT_FAILED gives a
`warning`; FILE_NOT_FOUND on a Worker without GitHub configured blocks the task with a
`blocked` follow-up (remediation blocked it, so fixing the follow-up may unblock it).
"""

from __future__ import annotations

import pytest

from github_followups import followup, patch_followup, status_changes, task_status
from harness import TEST_TOKEN, WorkerProcess
from helpers import assert_error, fields_of
from leases import logs_of
from test_remediation import answers, item, make_order, u

ALLOWED = ("open", "triaging", "fixed", "wontfix", "needs_human")
FIELDS = {"id", "ts", "order_id", "task_uuid", "type", "impact_level", "status", "note", "github_issue_id",
          "github_kind", "github_number", "github_repo", "github_url", "updated_at", "data"}


@pytest.fixture(scope="module")
def bare():
    """A Worker with only its token: no GitHub, so FILE_NOT_FOUND blocks without an issue."""
    with WorkerProcess({"API_TOKEN": TEST_TOKEN}, name="no-github") as proc:
        yield proc


def warning(worker) -> tuple[dict, dict, dict]:
    """(order, task, its open `warning` follow-up)."""
    order = make_order(worker, {f"src/{u()}/inject.ts": ["INJECT_ME"]})
    task = order["tasks"][0]
    (answer,) = answers(worker, [item(order, task, "INJECT_FAILED")])
    found = followup(worker, answer["followup_id"])
    assert (found["type"], found["status"]) == ("warning", "open")
    return order, task, found


def remediation_blocked(worker) -> tuple[dict, dict, dict]:
    """(order, task remediation blocked, its open `blocked` follow-up), on a Worker without GitHub."""
    order = make_order(worker, {f"src/{u()}/moved.ts": ["MOVED"]})
    task = order["tasks"][0]
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert answer["action"] == "blocked", answer
    found = followup(worker, answer["followup_id"])
    assert (found["type"], found["status"], found["task_uuid"]) == ("blocked", "open", task["uuid"])
    assert task_status(worker, task["uuid"]) == "blocked"
    return order, task, found


def patch_ok(worker, followup_id: int, body: dict) -> dict:
    reply = patch_followup(worker, followup_id, body)
    assert reply.status == 200, reply.text
    assert reply.body["id"] == followup_id
    assert reply.body["status"] == body["status"]
    assert followup(worker, followup_id) == reply.body, "GET shows what PATCH answered"
    return reply.body


# ----- reading ---------------------------------------------------------------------------------


def test_a_followup_by_id(worker):
    order, task, found = warning(worker)
    assert set(found) >= FIELDS
    assert (found["order_id"], found["task_uuid"], found["impact_level"]) == (order["order_id"], task["uuid"], 3)
    assert "INJECT_FAILED" in found["note"]
    assert found["data"]["error_code"] == "INJECT_FAILED", "stored JSON comes back as JSON"
    github = ("github_issue_id", "github_kind", "github_number", "github_repo", "github_url")
    assert [found[k] for k in github] == [None] * len(github), "a warning tracks nothing on GitHub"
    # The list shows the same object.
    listed = worker.get(f"/api/followups?task_uuid={task['uuid']}").body["followups"]
    assert listed == [found]


def test_unknown_followup_is_404(worker):
    assert_error(worker.get("/api/followups/987654321"), 404, "not_found")
    assert_error(patch_followup(worker, 987654321, {"status": "fixed"}), 404, "not_found")


def test_followup_routes_need_the_token(worker):
    _, _, found = warning(worker)
    assert_error(worker.get(f"/api/followups/{found['id']}", token=None), 401, "unauthorized")
    assert_error(patch_followup(worker, found["id"], {"status": "fixed"}, token=None), 401, "unauthorized")
    assert followup(worker, found["id"])["status"] == "open"


# ----- PATCH -----------------------------------------------------------------------------------


def test_every_allowed_status_and_every_change_logged(worker):
    _, task, found = warning(worker)
    path = ["triaging", "needs_human", "open", "fixed", "wontfix", "open"]
    assert set(path) == set(ALLOWED)
    for i, status in enumerate(path):
        body = patch_ok(worker, found["id"], {"status": status, "actor": f"operator-{i}"})
        assert body["updated_at"], "a status change stamps updated_at"

    rows = status_changes(worker, task["uuid"])
    assert [(r["details"]["from"], r["details"]["to"], r["details"]["actor"]) for r in rows] == [
        (a, b, f"operator-{i}") for i, (a, b) in enumerate(zip(["open"] + path, path))]
    for row in rows:
        assert row["order_id"] == found["order_id"]
        assert row["details"]["followup_id"] == found["id"]
        assert isinstance(row["details"]["source"], str) and row["details"]["source"]


def test_note_and_actor_are_recorded(worker):
    _, task, found = warning(worker)
    body = patch_ok(worker, found["id"], {"status": "triaging", "note": "the injector hit a CRLF file",
                                          "actor": "alice@ops"})
    assert "the injector hit a CRLF file" in body["note"]
    (row,) = status_changes(worker, task["uuid"])
    assert row["details"]["actor"] == "alice@ops"
    assert (row["details"]["from"], row["details"]["to"]) == ("open", "triaging")

    # actor is optional; the change is logged all the same.
    patch_ok(worker, found["id"], {"status": "fixed"})
    rows = status_changes(worker, task["uuid"])
    assert len(rows) == 2
    assert (rows[1]["details"]["from"], rows[1]["details"]["to"]) == ("triaging", "fixed")
    assert "actor" in rows[1]["details"]


@pytest.mark.parametrize("body, field", [
    ({"status": "closed"}, "status"),
    ({"status": "done"}, "status"),
    ({"status": ""}, "status"),
    ({"status": 3}, "status"),
    ({"status": None}, "status"),
    ({}, "status"),
    ({"status": "fixed", "note": 5}, "note"),
    ({"status": "fixed", "actor": ["alice"]}, "actor"),
])
def test_invalid_patches_are_422_and_change_nothing(worker, body, field):
    _, task, found = warning(worker)
    reply = patch_followup(worker, found["id"], body)
    assert_error(reply, 422, "validation_failed")
    assert field in fields_of(reply)
    if field == "status":
        message = next(d["message"] for d in reply.body["error"]["details"] if d["field"] == "status")
        for allowed in ALLOWED:
            assert allowed in message, message
    assert followup(worker, found["id"]) == found
    assert status_changes(worker, task["uuid"]) == []


def test_a_non_json_patch_is_refused(worker):
    _, _, found = warning(worker)
    reply = worker.request("PATCH", f"/api/followups/{found['id']}", raw=b"status=fixed",
                           headers={"content-type": "application/json"})
    assert_error(reply, 400, "invalid_json")
    assert followup(worker, found["id"]) == found


def test_reopening_next_to_an_active_followup_of_the_same_kind_is_refused(worker):
    """At most one active follow-up per (task, type): reopening an old one while a newer one is
    open would make two, so the database refuses it and the API says so with a 409."""
    order, task, first = warning(worker)
    patch_ok(worker, first["id"], {"status": "fixed"})
    (again,) = answers(worker, [item(order, task, "INJECT_FAILED")])
    assert again["followup_id"] != first["id"], "a fixed follow-up is not reused"
    reply = patch_followup(worker, first["id"], {"status": "open"})
    assert reply.status == 409, reply.text
    assert isinstance(reply.body["error"]["code"], str)
    assert followup(worker, first["id"])["status"] == "fixed"
    assert followup(worker, again["followup_id"])["status"] == "open"


# ----- effect on tasks -------------------------------------------------------------------------


@pytest.mark.parametrize("closing", ["fixed", "wontfix"])
def test_closing_a_remediation_block_puts_the_task_back_to_pending(bare, closing):
    _, task, found = remediation_blocked(bare)
    assert found["github_issue_id"] is None and found["github_number"] is None, "no GitHub here"
    body = patch_ok(bare, found["id"], {"status": closing, "actor": "bob"})
    assert body["status"] == closing
    assert task_status(bare, task["uuid"]) == "pending"
    (row,) = status_changes(bare, task["uuid"])
    assert (row["details"]["from"], row["details"]["to"], row["details"]["actor"]) == ("open", closing, "bob")
    # The task's change is logged too, like any other status change.
    unblocked = logs_of(bare, task["uuid"], "task_status_changed")
    assert [(r["details"]["from"], r["details"]["to"]) for r in unblocked] == [("blocked", "pending")]


@pytest.mark.parametrize("status", ["triaging", "needs_human"])
def test_a_block_still_being_looked_at_keeps_the_task_blocked(bare, status):
    _, task, found = remediation_blocked(bare)
    patch_ok(bare, found["id"], {"status": status})
    assert task_status(bare, task["uuid"]) == "blocked"


def test_a_task_an_agent_blocked_stays_blocked_when_its_followup_is_fixed(bare):
    order = make_order(bare, {f"src/{u()}/agent.ts": ["AGENT_BLOCKED"]})
    task = order["tasks"][0]
    reply = bare.post(f"/api/task/{task['uuid']}/status", {"status": "blocked"})
    assert reply.status == 200, reply.text
    (answer,) = answers(bare, [item(order, task, "FILE_NOT_FOUND")])
    assert answer["action"] == "blocked", answer
    patch_ok(bare, answer["followup_id"], {"status": "fixed"})
    assert task_status(bare, task["uuid"]) == "blocked", "the agent's block is the agent's to lift"


def test_fixing_a_warning_leaves_the_task_alone(worker):
    _, task, found = warning(worker)
    assert worker.post(f"/api/task/{task['uuid']}/status", {"status": "in_progress"}).status == 200
    patch_ok(worker, found["id"], {"status": "fixed"})
    assert task_status(worker, task["uuid"]) == "in_progress"
