"""factory_init.main() end to end against the fake orchestrator: what the script itself does
with answers (exit codes, tasks.json, acting on remediation, failures). The real Worker is
covered by test_e2e_factory.py."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from fake_orchestrator import closed_port_url
from script_helpers import read_tasks_json, write

ORDER = "ORD-FLOW01"


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "factory"
    write(root / "worker/agents/agent_gmail.ts",
          "export class Agent {\n  init() {\n    ###AGENT_INIT###\n  }\n  run() {\n"
          "    ###AGENT_LOGIC###\n  }\n}\n")
    write(root / "tools/build.py", "def main():\r\n    ###BUILD###\r\n")
    write(root / "docs/README.md", "# Docs\n\n###DOCS###\n")
    return root


@pytest.fixture
def order(fake):
    fake.add_order(ORDER, "agent-factory", [
        ("INIT01", "worker/agents/agent_gmail.ts", "AGENT_INIT"),
        ("LOGI02", "worker/agents/agent_gmail.ts", "AGENT_LOGIC"),
        ("BILD03", "tools/build.py", "BUILD"),
        ("DOCS04", "docs/README.md", "DOCS"),
    ])
    return fake


def run(fi, root: Path, url: str, *extra: str) -> int:
    return fi.main([ORDER, url, "--root", str(root), *extra])


def snapshot(root: Path) -> dict[str, tuple[bytes, int]]:
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and ".lock" not in path.name:
            out[str(path.relative_to(root))] = (path.read_bytes(), path.stat().st_mtime_ns)
    return out


def test_first_run_marks_everything_and_second_changes_nothing(fi, order, checkout, capsys,
                                                               clean_env):
    assert run(fi, checkout, order.base_url) == 0
    out = capsys.readouterr().out
    assert "[SUMMARY] order=ORD-FLOW01 tasks=4 injected=4 already_present=0" in out
    ts = (checkout / "worker/agents/agent_gmail.ts").read_text()
    assert "    // TASK_ID:INIT01 \u2013 see .mission_control/tasks.json\n    ###AGENT_INIT###" in ts
    assert "    // TASK_ID:LOGI02 \u2013 see .mission_control/tasks.json\n    ###AGENT_LOGIC###" in ts
    py = (checkout / "tools/build.py").read_bytes()
    assert py == ("def main():\r\n    # TASK_ID:BILD03 \u2013 see .mission_control/tasks.json"
                  "\r\n    ###BUILD###\r\n").encode()
    assert "<!-- TASK_ID:DOCS04 \u2013 see .mission_control/tasks.json -->\n###DOCS###" in (
        checkout / "docs/README.md").read_text()
    doc = read_tasks_json(checkout)
    assert doc["order_id"] == ORDER and doc["orchestrator_url"] == order.base_url
    assert {t["uuid"] for t in doc["tasks"]} == {"INIT01", "LOGI02", "BILD03", "DOCS04"}

    before = snapshot(checkout)
    assert run(fi, checkout, order.base_url + "/api/") == 0  # a trailing /api is tolerated
    assert "injected=0 already_present=4" in capsys.readouterr().out
    assert snapshot(checkout) == before  # same bytes, same mtimes: nothing rewritten


def test_ops_log_and_bearer_token(fi, fake, checkout, monkeypatch, clean_env):
    fake.token = "s3cret"
    fake.add_order(ORDER, "agent-factory", [("DOCS04", "docs/README.md", "DOCS")])
    assert run(fi, checkout, fake.base_url) == 1  # no token: refused
    monkeypatch.setenv("MISSION_CONTROL_TOKEN", "s3cret")
    assert run(fi, checkout, fake.base_url) == 0
    gets = fake.requests_to("GET", "/api/tasks/")
    assert gets[-1]["headers"]["authorization"] == "Bearer s3cret"
    operations = [log["operation"] for log in fake.ops_logs]
    assert "fetch_tasks" in operations and "factory_init_done" in operations
    assert all(log["source"] == "factory-init" and log["order_id"] == ORDER
               for log in fake.ops_logs)


def test_missing_token_message_names_the_variable(fi, fake, checkout, capsys, clean_env):
    fake.token = "s3cret"
    assert run(fi, checkout, fake.base_url) == 1
    assert "MISSION_CONTROL_TOKEN" in capsys.readouterr().err


def test_dry_run_changes_and_sends_nothing(fi, order, checkout, capsys, clean_env):
    before = snapshot(checkout)
    assert run(fi, checkout, order.base_url, "--dry-run") == 0
    out = capsys.readouterr().out
    assert "[DRY-RUN] would inject AGENT_INIT -> worker/agents/agent_gmail.ts" in out
    assert "dry_run=1" in out
    assert snapshot(checkout) == before
    assert not (checkout / ".mission_control").exists()
    assert [r["method"] for r in order.requests] == ["GET"]


def test_unknown_order_fails_and_keeps_tasks_json(fi, fake, checkout, capsys, clean_env):
    write(checkout / ".mission_control/tasks.json", '{"order_id": "OLD", "tasks": []}\n')
    assert run(fi, checkout, fake.base_url) == 1
    assert "unknown" in capsys.readouterr().err
    assert (checkout / ".mission_control/tasks.json").read_text() == \
        '{"order_id": "OLD", "tasks": []}\n'


def test_unreachable_orchestrator_fails_clearly(fi, checkout, capsys, clean_env):
    started = time.monotonic()
    assert run(fi, checkout, closed_port_url()) == 1
    assert "cannot reach" in capsys.readouterr().err
    assert time.monotonic() - started < 5
    assert not (checkout / ".mission_control").exists()


def test_usage_errors(fi, capsys, tmp_path):
    assert fi.main([]) == 2
    assert fi.main(["ORD-1"]) == 2
    assert fi.main(["ORD-1", "not-a-url", "--root", str(tmp_path)]) == 2
    assert fi.main(["ORD-1", "http://x", "--root", str(tmp_path / "nope")]) == 2
    capsys.readouterr()
    assert fi.main(["--help"]) == 0
    help_text = capsys.readouterr().out
    assert "ORDER_ID ORCHESTRATOR_URL [FACTORY_NAME]" in help_text
    assert "MISSION_CONTROL_TOKEN" in help_text and "Exit codes" in help_text


def test_blocked_answer_marks_task_blocked_and_exit_3(fi, order, checkout, capsys, clean_env):
    order.add_order(ORDER, "agent-factory", [("GONE05", "worker/agents/gone.ts", "X")])
    order.remediation["GONE05"] = {"action": "blocked", "ok": False, "note": "human required",
                                   "reason": "file deleted upstream", "followup_id": 42}
    assert run(fi, checkout, order.base_url, "my-factory") == 3
    assert "blocked=1" in capsys.readouterr().out
    batch = order.error_batches[0]
    item = batch["body"]["errors"][0]
    assert item["error_code"] == "FILE_NOT_FOUND" and item["factory"] == "my-factory"
    assert batch["key"] and batch["key"] == batch["body"]["batch_id"]
    task = next(t for t in read_tasks_json(checkout)["tasks"] if t["uuid"] == "GONE05")
    assert task["status"] == "blocked"
    assert task["blocked_reason"] == "file deleted upstream" and task["followup_id"] == 42

    before = snapshot(checkout)
    assert run(fi, checkout, order.base_url) == 3  # still blocked, not reported again
    assert len(order.error_batches) == 1
    assert snapshot(checkout) == before


def test_update_file_path_injects_at_the_new_path(fi, order, checkout, capsys, clean_env):
    os.rename(checkout / "docs/README.md", checkout / "docs/index.md")
    order.remediation["DOCS04"] = {"action": "update_file_path", "note": "docs/index.md",
                                   "new_file_path": "docs/index.md"}
    assert run(fi, checkout, order.base_url) == 0
    assert "remediated=1" in capsys.readouterr().out
    assert "TASK_ID:DOCS04" in (checkout / "docs/index.md").read_text()
    task = next(t for t in read_tasks_json(checkout)["tasks"] if t["uuid"] == "DOCS04")
    assert task["file_path"] == "docs/index.md"
    assert task["remediation"]["previous_file_path"] == "docs/README.md"
    before = snapshot(checkout)
    assert run(fi, checkout, order.base_url) == 0
    assert snapshot(checkout) == before


def test_update_file_path_to_an_unsafe_path_is_refused(fi, order, checkout, tmp_path,
                                                       clean_env):
    os.remove(checkout / "docs/README.md")
    outside = write(tmp_path / "outside.md", "###DOCS###\n")
    order.remediation["DOCS04"] = {"action": "update_file_path",
                                   "new_file_path": "../outside.md"}
    assert run(fi, checkout, order.base_url) == 4
    assert outside.read_text() == "###DOCS###\n"


def test_patch_ready_is_applied_after_its_check(fi, order, checkout, capsys, clean_env):
    path = checkout / "worker/agents/agent_gmail.ts"
    original = path.read_text().replace("    ###AGENT_LOGIC###\n", "")
    path.write_text(original)
    patched = original.replace("  run() {\n", "  run() {\n    ###AGENT_LOGIC###\n")
    order.remediation["LOGI02"] = {"action": "patch_ready", "patched_content": patched,
                                   "pr_url": "https://github.test/pr/7", "note": "PR opened"}
    assert run(fi, checkout, order.base_url) == 0
    assert "remediated=1" in capsys.readouterr().out
    text = path.read_text()
    assert "// TASK_ID:LOGI02 \u2013 see .mission_control/tasks.json\n    ###AGENT_LOGIC###" in text
    assert text.count("TASK_ID:INIT01") == 1
    task = next(t for t in read_tasks_json(checkout)["tasks"] if t["uuid"] == "LOGI02")
    assert task["remediation"]["pr_url"] == "https://github.test/pr/7"


def test_unsafe_patch_is_refused(fi, order, checkout, capsys, clean_env):
    path = checkout / "worker/agents/agent_gmail.ts"
    path.write_text(path.read_text().replace("    ###AGENT_LOGIC###\n", ""))
    # The patch restores LOGIC but drops INIT: applying it would lose a task.
    patched = "export class Agent {\n  run() {\n    ###AGENT_LOGIC###\n  }\n}\n"
    order.remediation["LOGI02"] = {"action": "patch_ready", "patched_content": patched}
    assert run(fi, checkout, order.base_url) == 4
    assert "patch refused" in capsys.readouterr().err
    assert "###AGENT_INIT###" in path.read_text() and "###AGENT_LOGIC###" not in path.read_text()


def test_no_fix_or_unreachable_error_intake_exits_4(fi, order, checkout, clean_env):
    os.remove(checkout / "docs/README.md")
    assert run(fi, checkout, order.base_url) == 4  # action "none"
    order.fail_paths["/api/factory/errors"] = 503
    assert run(fi, checkout, order.base_url) == 4
    assert len(order.requests_to("POST", "/api/factory/errors")) >= 3  # retried (keyed)


def test_broken_ops_log_never_fails_the_run(fi, order, checkout, clean_env):
    order.fail_paths["/api/ops/log"] = 500
    assert run(fi, checkout, order.base_url) == 0


def test_slow_ops_log_does_not_hold_the_run(fi, order, checkout, clean_env):
    order.log_delay = 10
    started = time.monotonic()
    assert run(fi, checkout, order.base_url) == 0
    assert time.monotonic() - started < 5
    order.log_delay = 0


def test_path_traversal_from_the_orchestrator_is_refused(fi, fake, checkout, tmp_path,
                                                         capsys, clean_env):
    victim = write(tmp_path / "victim.py", "###X###\n")
    (checkout / "escape").symlink_to(tmp_path)
    fake.add_order(ORDER, "f", [("TRV001", "../victim.py", "X"),
                                ("ABS002", str(victim), "X"),
                                ("SYM003", "escape/victim.py", "X"),
                                ("DOCS04", "docs/README.md", "DOCS")])
    assert run(fi, checkout, fake.base_url) == 4
    assert victim.read_text() == "###X###\n"
    items = fake.error_batches[0]["body"]["errors"]
    assert sorted(i["task_uuid"] for i in items) == ["ABS002", "SYM003", "TRV001"]
    assert {i["error_code"] for i in items} == {"INJECT_FAILED"}
    assert "TASK_ID:DOCS04" in (checkout / "docs/README.md").read_text()


def test_wrong_directory_is_detected_before_anything_is_written(fi, order, tmp_path, capsys,
                                                                clean_env):
    empty = tmp_path / "empty"
    empty.mkdir()
    assert run(fi, empty, order.base_url) == 1
    assert "--root" in capsys.readouterr().err
    assert not (empty / ".mission_control").exists() and not order.error_batches


def test_started_or_done_tasks_without_placeholder_are_not_reported(fi, order, checkout,
                                                                    clean_env):
    path = checkout / "docs/README.md"
    path.write_text("# Docs\n\nimplemented\n")
    order.tasks["DOCS04"]["status"] = "complete"
    assert run(fi, checkout, order.base_url) == 0
    assert not order.error_batches


def test_queued_local_status_is_laid_over_the_fetched_one(fi, order, checkout, clean_env):
    write(checkout / ".mission_control/queue.jsonl",
          json.dumps({"id": "1", "op": "status", "uuid": "DOCS04", "status": "complete"})
          + "\n{torn line\n")
    (checkout / "docs/README.md").write_text("# Docs\n\nimplemented\n")
    assert run(fi, checkout, order.base_url) == 0
    task = next(t for t in read_tasks_json(checkout)["tasks"] if t["uuid"] == "DOCS04")
    assert task["status"] == "complete"
    assert not order.error_batches
