"""POST /api/github/webhook: signed GitHub deliveries close the loop on remediation's follow-ups.

Deliveries are signed here with the Worker's test secret exactly as GitHub signs them
(`X-Hub-Signature-256: sha256=<hex HMAC-SHA256 of the raw body>`), and their bodies follow
GitHub's webhook payloads (`repository.full_name`, `number`, `pull_request.merged`,
`issue.state_reason`), built from the stand-in's own issue and pull request objects. The
follow-ups they act on come from real remediation against the GitHub and model stand-ins.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid

import pytest

from github_followups import (WEBHOOK_SECRET, blocked_with_issue, deliver, followup, issues_event, patch_followup,
                              ping_event, pull_request_event, pull_request_followup, pull_request_on_a_blocked_task, sign,
                              status_changes, task_status)
from harness import TEST_TOKEN, WorkerProcess
from helpers import assert_error


@pytest.fixture(scope="module")
def hooked(upstream_vars):
    """A Worker with the webhook secret and the GitHub stand-in configured."""
    with WorkerProcess({"API_TOKEN": TEST_TOKEN, **upstream_vars, "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET},
                       name="webhook") as proc:
        yield proc


@pytest.fixture
def repo(github) -> str:
    return f"{github.owner}/{github.repo}"


def outcome(reply, event: str, delivery: str, expected: str) -> list[int]:
    """Checks a 200 answer; returns the ids of the follow-ups it changed."""
    assert reply.status == 200, reply.text
    body = reply.body
    assert (body["ok"], body["event"], body["delivery"], body["outcome"]) == (True, event, delivery, expected), body
    assert isinstance(body["followups"], list)
    return body["followups"]


def new_delivery() -> str:
    return str(uuid.uuid4())


def recorded(worker, delivery: str) -> bool:
    return bool(worker.query("SELECT 1 FROM github_deliveries WHERE delivery_id = ?", (delivery,)))


def transitions(worker, task_uuid: str) -> list[tuple[str, str]]:
    return [(r["details"]["from"], r["details"]["to"]) for r in status_changes(worker, task_uuid)]


# ----- ping and configuration -----------------------------------------------------------------


def test_ping_is_answered_pong(hooked, repo):
    delivery = new_delivery()
    reply = deliver(hooked, "ping", ping_event(repo), delivery=delivery)
    assert outcome(reply, "ping", delivery, "pong") == []


def test_without_a_secret_the_webhook_is_503(worker, start_worker, repo):
    bare = start_worker({"API_TOKEN": worker.token}, name="no-webhook-secret", queue=False)
    reply = deliver(bare, "ping", ping_event(repo))
    assert_error(reply, 503, "webhook_not_configured")
    assert "GITHUB_WEBHOOK_SECRET" in reply.body["error"]["message"], "the answer says how to set it"


# ----- pull requests --------------------------------------------------------------------------


def test_a_merged_pull_request_fixes_its_followup(hooked, github, model, upstreams, repo):
    _, task, found, pr = pull_request_followup(hooked, github, model)
    assert task_status(hooked, task["uuid"]) == "pending"
    github.close_item(pr["number"], merged=True)
    delivery = new_delivery()
    reply = deliver(hooked, "pull_request", pull_request_event("closed", pr, repo, merged=True), delivery=delivery)
    assert outcome(reply, "pull_request", delivery, "applied") == [found["id"]]
    after = followup(hooked, found["id"])
    assert after["status"] == "fixed"
    assert after["updated_at"]
    assert task_status(hooked, task["uuid"]) == "pending"
    (row,) = status_changes(hooked, task["uuid"])
    assert (row["details"]["from"], row["details"]["to"]) == ("open", "fixed")
    assert row["details"]["source"], "the log says the webhook made the change"
    assert recorded(hooked, delivery)


def test_a_merged_pull_request_unblocks_a_task_remediation_blocked(hooked, github, model, upstreams, repo):
    _, task, found, pr, blocked = pull_request_on_a_blocked_task(hooked, github, model)
    github.close_item(pr["number"], merged=True)
    delivery = new_delivery()
    reply = deliver(hooked, "pull_request", pull_request_event("closed", pr, repo, merged=True), delivery=delivery)
    changed = outcome(reply, "pull_request", delivery, "applied")
    assert found["id"] in changed and set(changed) <= {found["id"], blocked["id"]}
    assert followup(hooked, found["id"])["status"] == "fixed"
    assert task_status(hooked, task["uuid"]) == "pending"
    assert followup(hooked, blocked["id"])["status"] == "fixed", "the block is lifted with its follow-up"
    assert sorted(transitions(hooked, task["uuid"])) == [("open", "fixed"), ("open", "fixed")]


def test_a_pull_request_closed_unmerged_needs_a_human(hooked, github, model, upstreams, repo):
    _, task, found, pr = pull_request_followup(hooked, github, model)
    github.close_item(pr["number"], merged=False)
    delivery = new_delivery()
    reply = deliver(hooked, "pull_request", pull_request_event("closed", pr, repo, merged=False), delivery=delivery)
    assert outcome(reply, "pull_request", delivery, "applied") == [found["id"]]
    assert followup(hooked, found["id"])["status"] == "needs_human"
    assert task_status(hooked, task["uuid"]) == "pending"
    assert transitions(hooked, task["uuid"]) == [("open", "needs_human")]


@pytest.mark.parametrize("action", ["opened", "labeled", "synchronize"])
def test_other_pull_request_actions_are_ignored(hooked, github, model, upstreams, repo, action):
    _, task, found, pr = pull_request_followup(hooked, github, model)
    delivery = new_delivery()
    reply = deliver(hooked, "pull_request", pull_request_event(action, pr, repo), delivery=delivery)
    assert outcome(reply, "pull_request", delivery, "ignored") == []
    assert followup(hooked, found["id"]) == found
    assert status_changes(hooked, task["uuid"]) == []


# ----- issues ---------------------------------------------------------------------------------


@pytest.mark.parametrize("reason", ["completed", None])
def test_an_issue_closed_as_completed_fixes_and_unblocks(hooked, github, upstreams, repo, reason):
    _, task, found, issue = blocked_with_issue(hooked, github)
    github.close_item(issue["number"])
    delivery = new_delivery()
    reply = deliver(hooked, "issues", issues_event("closed", issue, repo, state_reason=reason), delivery=delivery)
    assert outcome(reply, "issues", delivery, "applied") == [found["id"]]
    assert followup(hooked, found["id"])["status"] == "fixed"
    assert task_status(hooked, task["uuid"]) == "pending"
    (row,) = status_changes(hooked, task["uuid"])
    assert (row["details"]["from"], row["details"]["to"]) == ("open", "fixed")
    assert row["details"]["source"]


def test_an_issue_closed_as_not_planned_is_wontfix_and_reopening_opens_it(hooked, github, upstreams, repo):
    _, task, found, issue = blocked_with_issue(hooked, github)
    github.close_item(issue["number"])
    issue["state_reason"] = "not_planned"  # closed as "not planned" in the stand-in too
    delivery = new_delivery()
    reply = deliver(hooked, "issues", issues_event("closed", issue, repo, state_reason="not_planned"),
                    delivery=delivery)
    assert outcome(reply, "issues", delivery, "applied") == [found["id"]]
    assert followup(hooked, found["id"])["status"] == "wontfix"
    assert task_status(hooked, task["uuid"]) == "pending", "won't fix lifts remediation's block too"

    reopened = new_delivery()
    reply = deliver(hooked, "issues", issues_event("reopened", issue, repo), delivery=reopened)
    assert outcome(reply, "issues", reopened, "applied") == [found["id"]]
    assert followup(hooked, found["id"])["status"] == "open"
    assert transitions(hooked, task["uuid"]) == [("open", "wontfix"), ("wontfix", "open")]


@pytest.mark.parametrize("action", ["opened", "edited", "labeled"])
def test_other_issue_actions_are_ignored(hooked, github, upstreams, repo, action):
    _, task, found, issue = blocked_with_issue(hooked, github)
    delivery = new_delivery()
    reply = deliver(hooked, "issues", issues_event(action, issue, repo), delivery=delivery)
    assert outcome(reply, "issues", delivery, "ignored") == []
    assert followup(hooked, found["id"]) == found
    assert task_status(hooked, task["uuid"]) == "blocked"


# ----- what is not ours -----------------------------------------------------------------------


def test_an_unknown_number_is_ignored(hooked, github, model, upstreams, repo):
    _, _, found, pr = pull_request_followup(hooked, github, model)
    unknown = {**pr, "number": pr["number"] + 100000,
               "html_url": f"https://github.com/{repo}/pull/{pr['number'] + 100000}"}
    delivery = new_delivery()
    reply = deliver(hooked, "pull_request", pull_request_event("closed", unknown, repo, merged=True),
                    delivery=delivery)
    assert outcome(reply, "pull_request", delivery, "ignored") == []
    assert followup(hooked, found["id"]) == found

    other = new_delivery()
    fake_issue = {"number": pr["number"] + 100001, "title": "not ours", "state": "open", "state_reason": None,
                  "html_url": f"https://github.com/{repo}/issues/{pr['number'] + 100001}", "labels": []}
    reply = deliver(hooked, "issues", issues_event("closed", fake_issue, repo, state_reason="completed"),
                    delivery=other)
    assert outcome(reply, "issues", other, "ignored") == []


def test_another_repository_is_ignored(hooked, github, upstreams):
    _, task, found, issue = blocked_with_issue(hooked, github)
    delivery = new_delivery()
    reply = deliver(hooked, "issues", issues_event("closed", issue, "someone-else/templates",
                                                   state_reason="completed"), delivery=delivery)
    assert outcome(reply, "issues", delivery, "ignored") == []
    assert followup(hooked, found["id"]) == found
    assert task_status(hooked, task["uuid"]) == "blocked"


def test_a_pull_request_event_does_not_match_an_issue_followup(hooked, github, upstreams, repo):
    """Issue and PR numbers share one sequence, but a follow-up is matched by kind too."""
    _, task, found, issue = blocked_with_issue(hooked, github)
    as_pr = {"number": issue["number"], "title": issue["title"], "state": "open", "merged": False,
             "html_url": f"https://github.com/{repo}/pull/{issue['number']}",
             "head": {"ref": "elsewhere"}, "base": {"ref": "main"}}
    delivery = new_delivery()
    reply = deliver(hooked, "pull_request", pull_request_event("closed", as_pr, repo, merged=True),
                    delivery=delivery)
    assert outcome(reply, "pull_request", delivery, "ignored") == []
    assert followup(hooked, found["id"]) == found


def test_the_repository_name_matches_case_insensitively(hooked, github, upstreams, repo):
    _, task, found, issue = blocked_with_issue(hooked, github)
    delivery = new_delivery()
    reply = deliver(hooked, "issues", issues_event("closed", issue, repo.upper(), state_reason="completed"),
                    delivery=delivery)
    assert outcome(reply, "issues", delivery, "applied") == [found["id"]]
    assert followup(hooked, found["id"])["status"] == "fixed"


def test_an_event_we_do_not_handle_is_ignored(hooked, repo):
    delivery = new_delivery()
    push = {"ref": "refs/heads/main", "before": "0" * 40, "after": "1" * 40, "commits": [],
            "repository": ping_event(repo)["repository"], "sender": ping_event(repo)["sender"]}
    assert outcome(deliver(hooked, "push", push, delivery=delivery), "push", delivery, "ignored") == []


# ----- signatures -----------------------------------------------------------------------------


def assert_refused(reply) -> None:
    assert_error(reply, 401, "invalid_signature")


def test_a_wrong_signature_is_401_and_nothing_changes(hooked, github, upstreams, repo):
    _, task, found, issue = blocked_with_issue(hooked, github)
    payload = issues_event("closed", issue, repo, state_reason="completed")
    delivery = new_delivery()
    assert_refused(deliver(hooked, "issues", payload, delivery=delivery, secret="not-the-secret"))
    raw = json.dumps(payload).encode()
    for bad in ("sha256=" + "0" * 64, "sha256=zz", "sha256=", sign(raw)[:-2], sign(raw).removeprefix("sha256="),
                "sha1=" + hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha1).hexdigest()):
        assert_refused(deliver(hooked, "issues", payload, delivery=delivery, raw=raw, signature=bad))
    assert followup(hooked, found["id"]) == found
    assert task_status(hooked, task["uuid"]) == "blocked"
    assert status_changes(hooked, task["uuid"]) == []
    assert not recorded(hooked, delivery), "a refused delivery is not recorded"

    # The same delivery, signed right (GitHub's "redeliver" after fixing the secret), applies.
    reply = deliver(hooked, "issues", payload, delivery=delivery)
    assert outcome(reply, "issues", delivery, "applied") == [found["id"]]
    assert task_status(hooked, task["uuid"]) == "pending"


def test_a_missing_signature_is_401(hooked, github, upstreams, repo):
    _, task, found, issue = blocked_with_issue(hooked, github)
    payload = issues_event("closed", issue, repo, state_reason="completed")
    raw = json.dumps(payload).encode()
    assert_refused(deliver(hooked, "issues", payload, signature=None))
    # The legacy SHA-1 header alone is not enough, and neither is the API's bearer token.
    legacy = {"X-Hub-Signature": "sha1=" + hmac.new(WEBHOOK_SECRET.encode(), raw, hashlib.sha1).hexdigest()}
    assert_refused(deliver(hooked, "issues", payload, raw=raw, signature=None, extra_headers=legacy))
    assert_refused(deliver(hooked, "issues", payload, signature=None,
                           extra_headers={"Authorization": f"Bearer {TEST_TOKEN}"}))
    assert followup(hooked, found["id"]) == found
    assert task_status(hooked, task["uuid"]) == "blocked"


def test_a_body_altered_after_signing_is_401(hooked, github, model, upstreams, repo):
    _, task, found, pr = pull_request_followup(hooked, github, model)
    signed = json.dumps(pull_request_event("closed", pr, repo, merged=False), separators=(",", ":")).encode()
    altered = signed.replace(b'"merged":false', b'"merged":true', 1)
    assert altered != signed
    assert_refused(deliver(hooked, "pull_request", None, raw=altered, signature=sign(signed)))
    # Even whitespace counts: the signature covers the raw bytes, not the parsed JSON.
    assert_refused(deliver(hooked, "pull_request", None, raw=signed + b"\n", signature=sign(signed)))
    assert followup(hooked, found["id"]) == found
    assert status_changes(hooked, task["uuid"]) == []


# The contract bounds a delivery at 2 MiB (GitHub's own cap is 25 MB; our events are small).
WEBHOOK_BODY_LIMIT = 2 * 1024 * 1024


def test_an_oversized_body_is_413(hooked, repo):
    raw = json.dumps({**ping_event(repo), "padding": ""}, separators=(",", ":")).encode()
    raw = raw.replace(b'"padding":""', b'"padding":"' + b"x" * (WEBHOOK_BODY_LIMIT + 1 - len(raw)) + b'"')
    assert len(raw) == WEBHOOK_BODY_LIMIT + 1
    delivery = new_delivery()
    assert_error(deliver(hooked, "ping", None, raw=raw, delivery=delivery), 413, "payload_too_large")
    assert not recorded(hooked, delivery)


# ----- redelivery -----------------------------------------------------------------------------


def test_a_redelivery_changes_nothing(hooked, github, upstreams, repo):
    _, task, found, issue = blocked_with_issue(hooked, github)
    payload = issues_event("closed", issue, repo, state_reason="not_planned")
    delivery = new_delivery()
    assert outcome(deliver(hooked, "issues", payload, delivery=delivery), "issues", delivery,
                   "applied") == [found["id"]]
    assert followup(hooked, found["id"])["status"] == "wontfix"
    # A human reopens the follow-up; a late redelivery of the old event must not undo that.
    reopened = patch_followup(hooked, found["id"], {"status": "open", "actor": "carol"})
    assert reopened.status == 200, reopened.text
    logged = len(status_changes(hooked, task["uuid"]))

    reply = deliver(hooked, "issues", payload, delivery=delivery)
    assert outcome(reply, "issues", delivery, "duplicate") == []
    assert followup(hooked, found["id"]) == reopened.body
    assert len(status_changes(hooked, task["uuid"])) == logged
    assert len(hooked.query("SELECT * FROM github_deliveries WHERE delivery_id = ?", (delivery,))) == 1
