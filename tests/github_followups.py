"""Follow-ups that track a GitHub issue or pull request, and signed GitHub webhook deliveries.

Real follow-ups come from real remediation against the GitHub and model stand-ins (the
scenarios of test_remediation.py): a FILE_NOT_FOUND with no rename candidate blocks the task
and opens an issue; a PLACEHOLDER_NOT_FOUND the model can patch opens a pull request.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

from test_remediation import GOOD_PATCH, answers, issues_for, item, make_order, patch_scenario, prs_for

# A test value for the webhook secret of the Workers these tests start (not a real secret).
WEBHOOK_SECRET = "whsec-test-5f0c1e9a2b7d"
ACTIVE = ("open", "triaging", "needs_human")


# ----- follow-ups through the API -------------------------------------------------------------


def followup(worker, followup_id: int) -> dict:
    reply = worker.get(f"/api/followups/{followup_id}")
    assert reply.status == 200, reply.text
    assert reply.body["id"] == followup_id
    return reply.body


def patch_followup(worker, followup_id: int, body: dict, **kw):
    return worker.request("PATCH", f"/api/followups/{followup_id}", body, **kw)


def status_changes(worker, task_uuid: str) -> list[dict]:
    """`followup_status_changed` rows about the task's follow-ups, oldest first, details parsed."""
    rows = worker.query("SELECT * FROM operation_logs WHERE task_uuid = ? AND operation = "
                        "'followup_status_changed' ORDER BY id", (task_uuid,))
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows


def task_status(worker, task_uuid: str) -> str:
    reply = worker.get(f"/api/task/{task_uuid}")
    assert reply.status == 200, reply.text
    return reply.body["status"]


# ----- follow-ups made by remediation ---------------------------------------------------------


def blocked_with_issue(worker, github) -> tuple[dict, dict, dict, dict]:
    """A task remediation blocked, with its open `blocked` follow-up and the GitHub issue it
    opened: (order, task, follow-up as the API shows it, the stand-in's issue)."""
    x = uuid.uuid4().hex[:8]
    order = make_order(worker, {f"void/{x}/absent_{x}.ts": ["GONE"]})
    task = order["tasks"][0]
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert answer["action"] == "blocked", answer
    (issue,) = issues_for(github, task["uuid"])
    found = followup(worker, answer["followup_id"])
    assert (found["type"], found["status"], found["task_uuid"]) == ("blocked", "open", task["uuid"])
    assert_tracks(found, github, "issue", issue)
    assert task_status(worker, task["uuid"]) == "blocked"
    return order, task, found, issue


def pull_request_followup(worker, github, model) -> tuple[dict, dict, dict, dict]:
    """A task whose missing placeholder the model restored in a pull request: (order, task,
    its open `auto-fix-applied` follow-up, the stand-in's PR)."""
    model.respond_with(GOOD_PATCH)
    order, task, _path, _template = patch_scenario(worker, github, tag="webhook")
    (answer,) = answers(worker, [item(order, task, "PLACEHOLDER_NOT_FOUND")])
    assert answer["action"] == "patch_ready" and answer.get("pr_url"), answer
    (pr,) = prs_for(github, answer["branch"])
    found = followup(worker, answer["followup_id"])
    assert (found["type"], found["status"], found["task_uuid"]) == ("auto-fix-applied", "open", task["uuid"])
    assert_tracks(found, github, "pull", pr)
    return order, task, found, pr


def pull_request_on_a_blocked_task(worker, github, model) -> tuple[dict, dict, dict, dict, dict]:
    """A pull request follow-up whose task remediation then blocked: the same task is reported
    missing although its file is in the templates, so it is blocked (with an issue) while the
    pull request is still open. (order, task, PR follow-up, PR, open `blocked` follow-up)."""
    order, task, found, pr = pull_request_followup(worker, github, model)
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert answer["action"] == "blocked", answer
    blocked = followup(worker, answer["followup_id"])
    assert (blocked["type"], blocked["status"]) == ("blocked", "open")
    assert task_status(worker, task["uuid"]) == "blocked"
    return order, task, found, pr, blocked


def assert_tracks(found: dict, github, kind: str, obj: dict) -> None:
    """The follow-up names the GitHub object by number and repository, not only by URL."""
    assert found["github_kind"] == kind, found
    assert found["github_number"] == obj["number"]
    assert found["github_repo"] == f"{github.owner}/{github.repo}"
    assert found["github_url"] == obj["html_url"]
    assert found["github_issue_id"] == obj["html_url"], "old clients still read the URL here"


# ----- webhook deliveries ---------------------------------------------------------------------


def sign(raw: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return "sha256=" + hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def deliver(worker, event: str, payload: Any, *, delivery: str | None = None, secret: str = WEBHOOK_SECRET,
            raw: bytes | None = None, signature: str | None | bool = True, extra_headers: dict | None = None):
    """POSTs a delivery the way GitHub does: no bearer token, the raw body signed with the
    secret. `raw` sends those bytes instead of the JSON of `payload` (still signed unless
    `signature` says otherwise); `signature` None/False sends none, a string sends that."""
    body = raw if raw is not None else json.dumps(payload, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/5f0c1e9",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": delivery or str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "470162148",
        "X-GitHub-Hook-Installation-Target-Type": "repository",
        "X-GitHub-Hook-Installation-Target-ID": "111815790",
    }
    if signature is True:
        headers["X-Hub-Signature-256"] = sign(body, secret)
    elif isinstance(signature, str):
        headers["X-Hub-Signature-256"] = signature
    headers.update(extra_headers or {})
    return worker.request("POST", "/api/github/webhook", raw=body, headers=headers, token=None)


def repository(full_name: str) -> dict:
    owner, name = full_name.split("/")
    return {"id": 111815790, "node_id": "R_kgDOGq0Y7g", "name": name, "full_name": full_name,
            "private": True, "owner": {"login": owner, "id": 9919, "type": "Organization"},
            "html_url": f"https://github.com/{full_name}", "url": f"https://api.github.com/repos/{full_name}",
            "default_branch": "main"}


SENDER = {"login": "octocat", "id": 583231, "type": "User", "html_url": "https://github.com/octocat"}


def pull_request_event(action: str, pr: dict, repo: str, *, merged: bool | None = None) -> dict:
    """A `pull_request` event body, as GitHub sends it, from the stand-in's PR object."""
    body = dict(pr)
    if action == "closed":
        body["state"] = "closed"
        body["merged"] = bool(merged)
        body["closed_at"] = body.get("closed_at") or "2026-12-01T12:00:00Z"
        body["merged_at"] = (body.get("merged_at") or "2026-12-01T12:00:00Z") if merged else None
    return {"action": action, "number": pr["number"], "pull_request": body,
            "repository": repository(repo), "sender": SENDER}


def issues_event(action: str, issue: dict, repo: str, *, state_reason: str | None = None) -> dict:
    """An `issues` event body, as GitHub sends it, from the stand-in's issue object."""
    body = dict(issue)
    if action == "closed":
        body.update(state="closed", state_reason=state_reason, closed_at="2026-12-01T12:00:00Z")
    elif action == "reopened":
        body.update(state="open", state_reason="reopened", closed_at=None)
    return {"action": action, "issue": body, "repository": repository(repo), "sender": SENDER}


def ping_event(repo: str) -> dict:
    return {"zen": "Keep it logically awesome.", "hook_id": 470162148,
            "hook": {"type": "Repository", "id": 470162148, "name": "web", "active": True,
                     "events": ["issues", "pull_request"],
                     "config": {"content_type": "json", "insecure_ssl": "0",
                                "url": "https://mission-control.example/api/github/webhook"}},
            "repository": repository(repo), "sender": SENDER}
