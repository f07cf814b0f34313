"""The scheduled handler: GitHub reconciliation (a webhook GitHub never retried) and housekeeping.

These tests run on a Worker of their own, so that the follow-ups it reconciles are only the
ones made here, and trigger the cron handler on demand (`wrangler dev --test-scheduled`).
"""

from __future__ import annotations

import json

import pytest

from github_followups import (blocked_with_issue, followup, pull_request_followup, pull_request_on_a_blocked_task,
                              status_changes, task_status)
from harness import TEST_TOKEN, WorkerProcess


@pytest.fixture(scope="module")
def fresh(upstream_vars):
    with WorkerProcess({"API_TOKEN": TEST_TOKEN, **upstream_vars}, name="reconcile") as proc:
        yield proc


def params(call) -> dict:
    """The Octokit parameters of a proxied call, whether sent as a GET query or a POST body."""
    if call.method == "GET":
        return call.query
    if isinstance(call.body, dict):
        return call.body.get("params") or {}
    return {}


def calls_about(calls: list, route: str, key: str, number: int) -> list:
    return [c for c in calls if route in c.path and str(params(c).get(key)) == str(number)]


def last_log_id(worker) -> int:
    return worker.query("SELECT COALESCE(MAX(id), 0) AS n FROM operation_logs")[0]["n"]


def github_calls_since(worker, log_id: int) -> list[dict]:
    rows = worker.query("SELECT * FROM operation_logs WHERE operation = 'github_call' AND id > ? ORDER BY id",
                        (log_id,))
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows


def run(worker, github) -> tuple[list, list[dict]]:
    """Runs the scheduled handler once; returns the GitHub calls it made and their log rows."""
    before, since = len(github.calls), last_log_id(worker)
    reply = worker.run_scheduled()
    assert reply.status == 200, reply.text
    return github.calls[before:], github_calls_since(worker, since)


# ----- reconciliation -------------------------------------------------------------------------


def test_a_pull_request_merged_without_a_webhook_is_reconciled(fresh, github, model, upstreams):
    _, task, merged_fu, merged_pr = pull_request_followup(fresh, github, model)
    _, other_task, open_fu, open_pr = pull_request_followup(fresh, github, model)
    github.close_item(merged_pr["number"], merged=True)  # merged on GitHub; no delivery arrives

    calls, logged = run(fresh, github)

    assert followup(fresh, merged_fu["id"])["status"] == "fixed"
    assert task_status(fresh, task["uuid"]) == "pending"
    assert followup(fresh, open_fu["id"])["status"] == "open", "a PR still open changes nothing"
    assert status_changes(fresh, other_task["uuid"]) == []
    (row,) = status_changes(fresh, task["uuid"])
    assert (row["details"]["from"], row["details"]["to"]) == ("open", "fixed")
    assert row["details"]["source"]

    # Both PRs were asked about through core-github-api; each call logged like the others.
    assert calls_about(calls, "pulls/get", "pull_number", merged_pr["number"])
    assert calls_about(calls, "pulls/get", "pull_number", open_pr["number"])
    assert all(c.status == 200 for c in calls)
    assert len(logged) == len(calls), (logged, [c.path for c in calls])
    assert all(r["details"]["outcome"] == "ok" for r in logged)

    # Fixed is final: the next run does not ask about it again.
    calls, _ = run(fresh, github)
    assert calls_about(calls, "pulls/get", "pull_number", merged_pr["number"]) == []
    assert followup(fresh, merged_fu["id"])["status"] == "fixed"


def test_a_merged_pull_request_reconciled_lifts_remediations_block(fresh, github, model, upstreams):
    _, task, found, pr, blocked = pull_request_on_a_blocked_task(fresh, github, model)
    github.close_item(pr["number"], merged=True)
    run(fresh, github)
    assert followup(fresh, found["id"])["status"] == "fixed"
    assert task_status(fresh, task["uuid"]) == "pending"
    assert followup(fresh, blocked["id"])["status"] == "fixed", "the block is lifted with its follow-up"


def test_a_pull_request_closed_unmerged_is_reconciled_to_needs_human(fresh, github, model, upstreams):
    _, task, found, pr = pull_request_followup(fresh, github, model)
    github.close_item(pr["number"], merged=False)
    run(fresh, github)
    assert followup(fresh, found["id"])["status"] == "needs_human"
    assert [(r["details"]["from"], r["details"]["to"]) for r in status_changes(fresh, task["uuid"])] == \
           [("open", "needs_human")]


def test_an_issue_closed_without_a_webhook_is_reconciled(fresh, github, upstreams):
    _, task, found, issue = blocked_with_issue(fresh, github)
    _, still_task, still, _still_issue = blocked_with_issue(fresh, github)
    github.close_item(issue["number"])  # closed as completed

    calls, logged = run(fresh, github)

    assert followup(fresh, found["id"])["status"] == "fixed"
    assert task_status(fresh, task["uuid"]) == "pending", "remediation's block is lifted"
    assert followup(fresh, still["id"])["status"] == "open"
    assert task_status(fresh, still_task["uuid"]) == "blocked"
    assert calls_about(calls, "issues/get", "issue_number", issue["number"])
    assert len(logged) == len(calls)


def test_an_issue_closed_as_not_planned_is_reconciled_to_wontfix(fresh, github, upstreams):
    _, task, found, issue = blocked_with_issue(fresh, github)
    github.close_item(issue["number"])
    issue["state_reason"] = "not_planned"
    run(fresh, github)
    assert followup(fresh, found["id"])["status"] == "wontfix"
    assert task_status(fresh, task["uuid"]) == "pending"


def test_github_down_changes_nothing_and_is_logged(fresh, github, upstreams):
    _, task, found, issue = blocked_with_issue(fresh, github)
    github.close_item(issue["number"])
    github.fail_always(500)
    calls, logged = run(fresh, github)
    github.clear_failures()
    assert followup(fresh, found["id"]) == found
    assert task_status(fresh, task["uuid"]) == "blocked"
    assert calls and len(logged) == len(calls)
    assert all(r["details"]["outcome"] != "ok" for r in logged)

    # GitHub is back: the next run catches up.
    run(fresh, github)
    assert followup(fresh, found["id"])["status"] == "fixed"
    assert task_status(fresh, task["uuid"]) == "pending"


# ----- housekeeping ---------------------------------------------------------------------------


def test_housekeeping_deletes_what_has_expired_and_keeps_the_rest(fresh, github, upstreams):
    # Rows aged by writing their timestamps in D1 directly: nobody waits a day in a test.
    fresh.execute("""
        INSERT INTO idempotency_keys (scope, key, request_hash, status, body, created_at) VALUES
          ('create_order', 'hk-old', 'h', 201, '{}', datetime('now', '-25 hours')),
          ('create_order', 'hk-fresh', 'h', 201, '{}', datetime('now', '-23 hours'));
        INSERT INTO help_cache (cache_key, task_uuid, answer, created_at) VALUES
          ('hk-old', 'HKTASK', '{}', datetime('now', '-7 hours')),
          ('hk-fresh', 'HKTASK', '{}', datetime('now', '-5 hours'));
        INSERT INTO github_deliveries (delivery_id, event, received_at) VALUES
          ('hk-old', 'issues', datetime('now', '-8 days')),
          ('hk-fresh', 'issues', datetime('now', '-6 days'));
    """)
    run(fresh, github)
    assert [r["key"] for r in fresh.query("SELECT key FROM idempotency_keys WHERE key LIKE 'hk-%'")] == ["hk-fresh"]
    assert [r["cache_key"] for r in fresh.query("SELECT cache_key FROM help_cache WHERE cache_key LIKE 'hk-%'")] == \
           ["hk-fresh"]
    assert [r["delivery_id"] for r in fresh.query(
        "SELECT delivery_id FROM github_deliveries WHERE delivery_id LIKE 'hk-%'")] == ["hk-fresh"]
