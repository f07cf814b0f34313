"""POST /api/factory/errors remediation against the core-github-api and model stand-ins.

The GitHub stand-in is shared by the whole session and keeps its repository between tests, so
every test puts its files under a directory of its own (`<u>`, a fresh uuid fragment) and
looks up issues, branches and pull requests by its own task ids.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Callable

import pytest

from orders import create_order

GH_KEY, AI_KEY = "test-gh-key", "test-ai-key"
FILE_BLOCK = re.compile(r"<<<FILE\r?\n(.*?)(?:\r?\n)?FILE>>>", re.S)
WRITE_CALLS = ("createOrUpdateFileContents", "git/createRef", "pulls/create", "/api/tools/files/upsert",
               "/api/tools/prs/open")


def u() -> str:
    return uuid.uuid4().hex[:8]


# ----- orders, reports, D1 --------------------------------------------------------------------


def make_order(worker, files: dict[str, list[str]]) -> dict:
    return create_order(worker, files, "rem")


def task_of(order: dict, placeholder: str, file_path: str | None = None) -> dict:
    found = [t for t in order["tasks"] if t["placeholder"] == placeholder
             and (file_path is None or t["file_path"] == file_path)]
    assert len(found) == 1, order["tasks"]
    return found[0]


def item(order: dict, task: dict, code: str) -> dict:
    return {"order_id": order["order_id"], "factory": order["factory"], "file_path": task["file_path"],
            "placeholder": task["placeholder"], "task_uuid": task["uuid"], "error_code": code,
            "message": f"{code} for ###{task['placeholder']}### in {task['file_path']}"}


def report(worker, items: list[dict], key: str | None = None, timeout: float = 90):
    """One batch under a fresh Idempotency-Key (or `key`); asserts 200 and the answer's shape."""
    reply = worker.post("/api/factory/errors", {"errors": items},
                        headers={"Idempotency-Key": key or f"rem-{uuid.uuid4().hex}"}, timeout=timeout)
    assert reply.status == 200, reply.text
    assert reply.body["received"] == len(items)
    assert [a["index"] for a in reply.body["remediation"]] == list(range(len(items)))
    return reply


def answers(worker, items: list[dict], key: str | None = None) -> list[dict]:
    return report(worker, items, key).body["remediation"]


def stored_task(worker, task_uuid: str) -> dict:
    reply = worker.get(f"/api/task/{task_uuid}")
    assert reply.status == 200, reply.text
    return reply.body


def followups(worker, task_uuid: str, type_: str | None = None) -> list[dict]:
    sql = "SELECT * FROM followups WHERE task_uuid = ?"
    params: tuple = (task_uuid,)
    if type_:
        sql += " AND type = ?"
        params += (type_,)
    return worker.query(sql + " ORDER BY id", params)


def issues_for(github, task_uuid: str) -> list[dict]:
    return [i for i in github.issues if task_uuid in i["title"]]


def prs_for(github, branch: str) -> list[dict]:
    return [p for p in github.prs if p["head"]["ref"] == branch]


def branch_of(order: dict, task: dict) -> str:
    return f"mission-control/{order['order_id']}/{task['uuid']}"


def write_calls(github) -> list:
    return [c for c in github.calls if any(w in c.path for w in WRITE_CALLS)]


def assert_blocked(worker, github, answer: dict, task: dict, *, issue: bool = True) -> dict:
    """The blocked answer and what it leaves behind; returns the 'blocked' follow-up row."""
    assert answer["action"] == "blocked", answer
    assert answer["ok"] is False
    assert answer["task_uuid"] == task["uuid"]
    assert isinstance(answer["reason"], str) and answer["reason"]
    assert "new_file_path" not in answer and "pr_url" not in answer
    assert stored_task(worker, task["uuid"])["status"] == "blocked"
    (row,) = [r for r in followups(worker, task["uuid"], "blocked")]
    assert row["id"] == answer["followup_id"]
    assert (row["impact_level"], row["status"]) == (1, "open")
    assert followups(worker, task["uuid"], "auto-fix-applied") == []
    if issue:
        (opened,) = issues_for(github, task["uuid"])
        assert "mission-control" in [label["name"] for label in opened["labels"]]
        assert answer["issue_url"] == opened["html_url"]
        assert row["github_issue_id"] == opened["html_url"]
    return row


# ----- scenarios ------------------------------------------------------------------------------


def rename_scenario(worker, github, *, placeholder_in_new: bool = True) -> tuple[dict, dict, str, str]:
    """An order for src/<u>/agents/agent_gmail.ts, which the templates now hold at
    src/<u>/integrations/agents/gmail_agent.ts."""
    x = u()
    old = f"src/{x}/agents/agent_gmail.ts"
    new = f"src/{x}/integrations/agents/gmail_agent.ts"
    marker = "###AGENT_LOGIC###" if placeholder_in_new else "// logic goes here"
    github.seed({new: f"// gmail agent {x}\nexport class GmailAgent {{\n  {marker}\n}}\n"})
    assert github.file(old) is None
    order = make_order(worker, {old: ["AGENT_LOGIC"]})
    return order, order["tasks"][0], old, new


def patch_scenario(worker, github, *, with_target: bool = False, tag: str = "") -> tuple[dict, dict, str, str]:
    """An order with two placeholders in tpl/<u>/handler.ts; the template holds P_OTHER only
    (or both, with `with_target`). Returns (order, P_MAIN task, path, template text)."""
    x = u()
    path = f"tpl/{x}/handler.ts"
    main_line = "  ###P_MAIN###\n" if with_target else ""
    header = f"// handler {x} {tag}".rstrip()
    template = (f"{header}\n"
                "export async function handler(env) {\n"
                f"{main_line}"
                "  const db = env.DB;\n"
                "  ###P_OTHER###\n"
                "  return db;\n"
                "}\n")
    github.seed({path: template})
    order = make_order(worker, {path: ["P_MAIN", "P_OTHER"]})
    return order, task_of(order, "P_MAIN"), path, template


# ----- the model stand-in: answers computed from the file in the prompt -----------------------


def file_in_prompt(request: dict) -> str | None:
    text = "\n".join(m["content"] if isinstance(m.get("content"), str)
                     else " ".join(p.get("text", "") for p in m.get("content") or [] if isinstance(p, dict))
                     for m in request["messages"])
    found = FILE_BLOCK.search(text)
    return found.group(1) if found else None


def patcher(transform: Callable[[list[str]], list[str]]):
    """A responder that returns the prompt's file with `transform` applied to its lines."""
    def respond(request: dict) -> str:
        original = file_in_prompt(request)
        if original is None:
            return "I see no <<<FILE block in this prompt."
        return "\n".join(transform(original.splitlines())) + "\n"
    return respond


def inserted(lines: list[str], marker: str = "###P_MAIN###") -> list[str]:
    """The placeholder on a new line after the function's opening line."""
    at = next(i for i, line in enumerate(lines) if line.startswith("export async function")) + 1
    return lines[:at] + [marker] + lines[at:]


GOOD_PATCH = patcher(inserted)


def expected_lines(template: str) -> list[str]:
    return inserted(template.splitlines())


# ----- FILE_NOT_FOUND -------------------------------------------------------------------------


def test_renamed_file_is_found_and_the_task_repointed(worker, github, upstreams):
    order, task, old, new = rename_scenario(worker, github)
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert answer["action"] == "update_file_path", answer
    assert answer["ok"] is True
    assert answer["task_uuid"] == task["uuid"]
    assert answer["new_file_path"] == new
    assert answer["previous_file_path"] == old

    assert stored_task(worker, task["uuid"])["file_path"] == new
    (fixed,) = followups(worker, task["uuid"], "auto-fix-applied")
    assert fixed["status"] == "fixed" and fixed["order_id"] == order["order_id"]
    assert followups(worker, task["uuid"], "blocked") == []
    logs = worker.query("SELECT * FROM operation_logs WHERE task_uuid = ? AND operation = "
                        "'task_file_path_updated'", (task["uuid"],))
    assert len(logs) == 1
    assert json.loads(logs[0]["details"])["previous_file_path"] == old
    # One tree listing for the batch, the candidate's content read, nothing written upstream.
    assert len(github.calls_to("/api/tools/files/tree")) == 1
    assert any(c.query.get("path") == new or (isinstance(c.body, dict) and
               (c.body.get("params") or {}).get("path") == new)
               for c in github.calls_to("repos/getContent"))
    assert write_calls(github) == []
    assert issues_for(github, task["uuid"]) == []


def test_one_tree_listing_per_batch(worker, github, upstreams):
    first = rename_scenario(worker, github)
    second = rename_scenario(worker, github)
    result = answers(worker, [item(first[0], first[1], "FILE_NOT_FOUND"),
                              item(second[0], second[1], "FILE_NOT_FOUND")])
    assert [(a["action"], a["new_file_path"]) for a in result] == [("update_file_path", first[3]),
                                                                   ("update_file_path", second[3])]
    assert len(github.calls_to("/api/tools/files/tree")) == 1


def test_two_equally_good_candidates_are_not_guessed(worker, github, upstreams):
    x = u()
    missing = f"pkg/{x}/config_loader.py"
    body = "def load():\n    ###LOADER###\n"
    github.seed({f"pkg/{x}/a/config_loader.py": body, f"pkg/{x}/b/config_loader.py": body})
    order = make_order(worker, {missing: ["LOADER"]})
    task = order["tasks"][0]
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    first = assert_blocked(worker, github, answer, task)
    assert stored_task(worker, task["uuid"])["file_path"] == missing
    assert write_calls(github) == [], "blocking opens an issue, it writes no file"

    # Reported again in a new batch: the issue and the open follow-up are reused.
    (again,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert again["action"] == "blocked"
    assert again["followup_id"] == first["id"]
    assert again["issue_url"] == answer["issue_url"]
    assert len(issues_for(github, task["uuid"])) == 1
    open_blocked = [r for r in followups(worker, task["uuid"], "blocked") if r["status"] == "open"]
    assert [r["id"] for r in open_blocked] == [first["id"]]
    assert stored_task(worker, task["uuid"])["file_path"] == missing


def test_best_candidate_without_the_placeholder_is_blocked(worker, github, upstreams):
    order, task, old, new = rename_scenario(worker, github, placeholder_in_new=False)
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert_blocked(worker, github, answer, task)
    assert "placeholder" in answer["reason"].lower()
    assert stored_task(worker, task["uuid"])["file_path"] == old
    # The candidate was looked at before it was refused.
    assert github.calls_to("repos/getContent")


# ----- PLACEHOLDER_NOT_FOUND ------------------------------------------------------------------


def test_template_that_still_has_the_placeholder_is_the_patch(worker, github, model, upstreams):
    order, task, path, template = patch_scenario(worker, github, with_target=True)
    branches_before = set(github.branches())
    (answer,) = answers(worker, [item(order, task, "PLACEHOLDER_NOT_FOUND")])
    assert answer["action"] == "patch_ready", answer
    assert answer["ok"] is True
    assert answer["patched_content"] == template
    assert "pr_url" not in answer and "branch" not in answer
    assert model.requests == [], "no model is needed when the template has the placeholder"
    assert write_calls(github) == []
    assert set(github.branches()) == branches_before
    assert prs_for(github, branch_of(order, task)) == []
    assert stored_task(worker, task["uuid"])["status"] != "blocked"


def test_model_patch_goes_to_a_branch_and_a_pull_request(worker, github, model, upstreams):
    model.respond_with(GOOD_PATCH)
    order, task, path, template = patch_scenario(worker, github)
    (answer,) = answers(worker, [item(order, task, "PLACEHOLDER_NOT_FOUND")])
    assert answer["action"] == "patch_ready", answer
    assert answer["ok"] is True
    branch = branch_of(order, task)
    assert answer["branch"] == branch

    patched = answer["patched_content"]
    assert patched.splitlines() == expected_lines(template)
    assert patched.count("###P_MAIN###") == 1
    assert patched.count("###P_OTHER###") == 1, "the other task's placeholder must survive"

    # The model saw the template between the delimiters, and the key it needs.
    assert len(model.requests) == 1
    assert file_in_prompt(model.requests[0]).splitlines() == template.splitlines()
    assert model.calls[0].header("authorization") == f"Bearer {AI_KEY}"

    assert branch in github.branches()
    assert github.file(path, branch=branch) == patched
    assert github.file(path) == template, "the default branch is not touched"
    (pr,) = prs_for(github, branch)
    assert pr["state"] == "open" and pr["base"]["ref"] == github.default_branch
    assert answer["pr_url"] == pr["html_url"]

    fixes = followups(worker, task["uuid"], "auto-fix-applied")
    assert len(fixes) == 1 and fixes[0]["github_issue_id"] == pr["html_url"]
    assert fixes[0]["order_id"] == order["order_id"]
    assert followups(worker, task["uuid"], "blocked") == []
    assert issues_for(github, task["uuid"]) == []


def drop_other(lines: list[str]) -> list[str]:
    return [line for line in inserted(lines) if "###P_OTHER###" not in line]


def change_a_line(lines: list[str]) -> list[str]:
    return [line.replace("return db;", "return db ?? null;") for line in inserted(lines)]


def twice(lines: list[str]) -> list[str]:
    return inserted(inserted(lines))


@pytest.mark.parametrize("transform", [drop_other, change_a_line, twice], ids=lambda f: f.__name__)
def test_unsafe_model_patch_is_refused(worker, github, model, upstreams, transform):
    model.respond_with(patcher(transform))
    order, task, path, template = patch_scenario(worker, github, tag=transform.__name__)
    (answer,) = answers(worker, [item(order, task, "PLACEHOLDER_NOT_FOUND")])
    assert_blocked(worker, github, answer, task)
    assert "reject" in answer["reason"].lower(), answer["reason"]
    assert "patched_content" not in answer
    assert len(model.requests) == 1
    branch = branch_of(order, task)
    assert branch not in github.branches()
    assert prs_for(github, branch) == []
    assert github.calls_to("createOrUpdateFileContents") == []
    assert github.file(path) == template


def test_existing_branch_and_pull_request_are_reused(worker, github, model, upstreams):
    model.respond_with(GOOD_PATCH)
    order, task, path, template = patch_scenario(worker, github)
    (first,) = answers(worker, [item(order, task, "PLACEHOLDER_NOT_FOUND")])
    assert first["action"] == "patch_ready", first
    (second,) = answers(worker, [item(order, task, "PLACEHOLDER_NOT_FOUND")])
    assert second["action"] == "patch_ready", second
    branch = branch_of(order, task)
    assert second["branch"] == first["branch"] == branch
    assert second["pr_url"] == first["pr_url"]
    assert len(prs_for(github, branch)) == 1
    assert second["patched_content"].splitlines() == expected_lines(template)
    assert branch in github.branches()
    assert github.file(path, branch=branch).splitlines() == expected_lines(template)
    assert github.file(path) == template
    assert {r["github_issue_id"] for r in followups(worker, task["uuid"], "auto-fix-applied")} == {first["pr_url"]}


def test_github_writes_go_one_at_a_time(worker, github, model, upstreams):
    model.respond_with(GOOD_PATCH)
    # A write holds the branch a while: overlapping writes would show up in the counter.
    github.set_mode(write_latency=0.3)
    scenarios = [patch_scenario(worker, github, tag=f"parallel {i}") for i in range(3)]
    result = answers(worker, [item(order, task, "PLACEHOLDER_NOT_FOUND") for order, task, _, _ in scenarios])
    assert [a["action"] for a in result] == ["patch_ready"] * 3, result
    for (order, task, path, template), answer in zip(scenarios, result):
        assert answer["branch"] == branch_of(order, task)
        assert github.file(path, branch=answer["branch"]).splitlines() == expected_lines(template)
    assert len(github.calls_to("createOrUpdateFileContents")) >= 3
    assert github.max_parallel_writes == 1


# ----- GitHub failures ------------------------------------------------------------------------


def test_github_500_blocks_and_records_no_fix(worker, github, upstreams):
    order, task, old, new = rename_scenario(worker, github)
    github.fail_always(500)
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert_blocked(worker, github, answer, task, issue=False)
    assert "500" in answer["reason"], answer["reason"]
    assert "issue_url" not in answer, "the issue could not be opened either"
    assert followups(worker, task["uuid"], "blocked")[0]["github_issue_id"] is None
    assert stored_task(worker, task["uuid"])["file_path"] == old
    assert issues_for(github, task["uuid"]) == []


def test_a_later_fix_lifts_the_block_an_earlier_report_put(worker, github, upstreams):
    """Blocked while GitHub was down; the same report once it is back re-points the task, puts
    it back to pending and marks the blocked follow-up fixed."""
    order, task, old, new = rename_scenario(worker, github)
    github.fail_always(500)
    (first,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert_blocked(worker, github, first, task, issue=False)
    github.clear_failures()

    (second,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert second["action"] == "update_file_path" and second["new_file_path"] == new
    stored = stored_task(worker, task["uuid"])
    assert (stored["status"], stored["file_path"]) == ("pending", new)
    (blocked,) = followups(worker, task["uuid"], "blocked")
    assert blocked["status"] == "fixed"
    assert [f["status"] for f in followups(worker, task["uuid"], "auto-fix-applied")] == ["fixed"]


def test_a_task_an_agent_blocked_stays_blocked_after_a_fix(worker, github, upstreams):
    order, task, old, new = rename_scenario(worker, github)
    reply = worker.post(f"/api/task/{task['uuid']}/status", {"status": "blocked"})
    assert reply.status == 200, reply.text
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert answer["action"] == "update_file_path"
    assert stored_task(worker, task["uuid"])["status"] == "blocked"


def test_github_401_blocks(worker, github, upstreams):
    order, task, old, new = rename_scenario(worker, github)
    github.fail_always(401)
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert_blocked(worker, github, answer, task, issue=False)
    assert "401" in answer["reason"], answer["reason"]
    assert stored_task(worker, task["uuid"])["file_path"] == old


def test_wrong_github_key_blocks(worker, github, start_worker, upstreams):
    wrong = start_worker({**worker.vars, "GITHUB_API_KEY": "wrong-gh-key-0000"}, name="wrong-gh-key")
    order, task, old, new = rename_scenario(wrong, github)
    reply = report(wrong, [item(order, task, "FILE_NOT_FOUND")])
    (answer,) = reply.body["remediation"]
    assert_blocked(wrong, github, answer, task, issue=False)
    assert "401" in answer["reason"], answer["reason"]
    assert stored_task(wrong, task["uuid"])["file_path"] == old
    assert github.calls and all(c.status == 401 for c in github.calls)
    assert "wrong-gh-key-0000" not in reply.text
    leaked = wrong.query("SELECT COUNT(*) AS n FROM operation_logs WHERE details LIKE '%wrong-gh-key%'")
    assert leaked[0]["n"] == 0


def test_github_timeout_blocks_within_bounded_time(worker, github, start_worker, upstreams):
    slow = start_worker({**worker.vars, "GITHUB_TIMEOUT_MS": "1000"}, name="gh-timeout")
    order, task, old, new = rename_scenario(slow, github)
    github.fail_next(None, status=None, delay=8)  # every call hangs far past the 1 s timeout
    started = time.monotonic()
    reply = report(slow, [item(order, task, "FILE_NOT_FOUND")], timeout=60)
    elapsed = time.monotonic() - started
    assert elapsed < 30, f"took {elapsed:.1f}s"
    github.clear_failures()
    (answer,) = reply.body["remediation"]
    assert_blocked(slow, github, answer, task, issue=False)
    assert "time" in answer["reason"].lower(), answer["reason"]
    assert stored_task(slow, task["uuid"])["file_path"] == old


@pytest.mark.parametrize("status", [403, 429])
def test_short_rate_limit_is_waited_out(worker, github, upstreams, status):
    order, task, old, new = rename_scenario(worker, github)
    github.rate_limit_next(1, status=status, retry_after=1)
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    assert answer["action"] == "update_file_path", answer
    assert answer["new_file_path"] == new
    assert stored_task(worker, task["uuid"])["file_path"] == new
    calls = github.calls
    limited = calls[0]
    assert limited.status == status and limited.injected
    retried = [c for c in calls[1:] if (c.method, c.path, c.query, c.body) ==
               (limited.method, limited.path, limited.query, limited.body)]
    assert retried, "the rate-limited call was not retried"
    assert retried[0].status == 200
    assert retried[0].ts - limited.ts >= 0.9, "retry-after was not honoured"


@pytest.mark.parametrize("status", [403, 429])
def test_rate_limit_beyond_the_budget_blocks_quickly(worker, github, upstreams, status):
    order, task, old, new = rename_scenario(worker, github)
    github.rate_limit_next(50, status=status, retry_after=120)
    started = time.monotonic()
    (answer,) = answers(worker, [item(order, task, "FILE_NOT_FOUND")])
    elapsed = time.monotonic() - started
    assert elapsed < 10, f"waited {elapsed:.1f}s for a rate limit it could not outwait"
    assert_blocked(worker, github, answer, task, issue=False)
    assert "rate limit" in answer["reason"].lower(), answer["reason"]
    assert stored_task(worker, task["uuid"])["file_path"] == old
    assert followups(worker, task["uuid"], "auto-fix-applied") == []


def test_one_failing_item_does_not_stop_the_others(worker, github, model, upstreams):
    renamed = rename_scenario(worker, github)
    fine = patch_scenario(worker, github, with_target=True)
    github.fail_always(500, match="/api/tools/files/tree")
    result = answers(worker, [item(renamed[0], renamed[1], "FILE_NOT_FOUND"),
                              item(fine[0], fine[1], "PLACEHOLDER_NOT_FOUND")])
    assert result[0]["action"] == "blocked" and result[0]["ok"] is False
    assert "500" in result[0]["reason"]
    assert result[0]["task_uuid"] == renamed[1]["uuid"]
    assert result[1]["action"] == "patch_ready" and result[1]["ok"] is True
    assert result[1]["task_uuid"] == fine[1]["uuid"]
    assert result[1]["patched_content"] == fine[3]
    assert stored_task(worker, renamed[1]["uuid"])["file_path"] == renamed[2]


# ----- replays and secrets --------------------------------------------------------------------


def test_replayed_batch_makes_no_github_calls(worker, github, model, upstreams):
    model.respond_with(GOOD_PATCH)
    renamed = rename_scenario(worker, github)
    patched = patch_scenario(worker, github)
    items = [item(renamed[0], renamed[1], "FILE_NOT_FOUND"), item(patched[0], patched[1], "PLACEHOLDER_NOT_FOUND")]
    key = f"replay-{u()}"
    first = report(worker, items, key=key)
    assert [a["action"] for a in first.body["remediation"]] == ["update_file_path", "patch_ready"]
    github_calls, model_calls = len(github.calls), len(model.calls)
    fixes = worker.query("SELECT COUNT(*) AS n FROM followups WHERE type = 'auto-fix-applied'")[0]["n"]

    again = report(worker, items, key=key)
    assert again.body == first.body
    assert again.headers.get("idempotent-replayed") == "true"
    assert len(github.calls) == github_calls
    assert len(model.calls) == model_calls
    assert worker.query("SELECT COUNT(*) AS n FROM followups WHERE type = 'auto-fix-applied'")[0]["n"] == fixes
    assert len(prs_for(github, branch_of(patched[0], patched[1]))) == 1


def test_keys_never_leak(worker, github, model, upstreams):
    model.respond_with(GOOD_PATCH)
    renamed = rename_scenario(worker, github)
    patched = patch_scenario(worker, github)
    ok = report(worker, [item(renamed[0], renamed[1], "FILE_NOT_FOUND"),
                         item(patched[0], patched[1], "PLACEHOLDER_NOT_FOUND")])
    assert [a["action"] for a in ok.body["remediation"]] == ["update_file_path", "patch_ready"]
    failing = rename_scenario(worker, github)
    github.fail_always(401)
    refused = report(worker, [item(failing[0], failing[1], "FILE_NOT_FOUND")])
    assert refused.body["remediation"][0]["action"] == "blocked"
    github.clear_failures()
    # Every GitHub call carried the key; none of it shows anywhere else.
    assert all(GH_KEY in (c.header("x-api-key") or "") + (c.header("authorization") or "")
               for c in github.calls)

    for reply in (ok, refused):
        for secret in (GH_KEY, AI_KEY):
            assert secret not in reply.text
            assert secret not in json.dumps(reply.headers)
    for secret in (GH_KEY, AI_KEY):
        pattern = f"%{secret}%"
        assert worker.query("SELECT id, operation FROM operation_logs WHERE details LIKE ? "
                            "OR operation LIKE ? OR source LIKE ?", (pattern, pattern, pattern)) == []
        assert worker.query("SELECT id FROM error_events WHERE message LIKE ? OR context LIKE ?",
                            (pattern, pattern)) == []
        assert worker.query("SELECT id FROM followups WHERE note LIKE ? OR data LIKE ?",
                            (pattern, pattern)) == []
        for published in github.issues + github.prs:
            assert secret not in (published["title"] or "") + (published["body"] or "")
        assert not any(secret in json.dumps(r) for r in model.requests)


# ----- the per-request budget of upstream calls -----------------------------------------------


def test_a_spent_call_budget_defers_items_and_a_repeat_report_continues(worker, github, start_worker,
                                                                       upstreams):
    """Workers cap subrequests per request: items past REMEDIATION_MAX_CALLS are recorded and
    answered deferred (not blocked), the key is released, and reporting again makes progress.
    This is the fallback of a Worker without its remediation queue (see test_remediation_queue)."""
    small = start_worker({**worker.vars, "REMEDIATION_MAX_CALLS": "6"}, name="small-budget",
                         queue=False)
    x = u()
    paths = [f"nowhere/{x}/gone_{i}.ts" for i in range(3)]
    order = make_order(small, {p: ["LOST"] for p in paths})
    tasks = [task_of(order, "LOST", p) for p in paths]
    items = [item(order, t, "FILE_NOT_FOUND") for t in tasks]
    key = f"budget-{x}"

    def run() -> list[dict]:
        return answers(small, items, key=key)

    # tree + issue lookup + issue creation = 3 calls; the next item needs up to 4 of the 3 left.
    first = run()
    assert [a["action"] for a in first] == ["blocked", "none", "none"]
    assert [a.get("deferred", False) for a in first] == [False, True, True]
    assert "REMEDIATION_MAX_CALLS" in first[1]["note"]
    for t, a in zip(tasks[1:], first[1:]):
        assert a["task_uuid"] == t["uuid"]
        assert stored_task(small, t["uuid"])["status"] == "pending"
        assert followups(small, t["uuid"]) == []
    assert len(small.query("SELECT * FROM error_events WHERE task_uuid = ?", (tasks[2]["uuid"],))) == 1

    # The key was released, not stored: the same report goes on where it stopped.
    second = run()
    assert [a["action"] for a in second] == ["blocked", "blocked", "none"]
    assert second[0]["followup_id"] == first[0]["followup_id"]  # reused, not duplicated
    third = run()
    assert [a["action"] for a in third] == ["blocked", "blocked", "blocked"]
    for t in tasks:
        assert len(issues_for(github, t["uuid"])) == 1
        assert len(followups(small, t["uuid"], "blocked")) == 1
