"""factory_init.py and remediation the orchestrator queued (issue 15): answers `queued` are
awaited on the batch's status route, applied as they arrive, shown as progress, and picked up
by a later run when this one stops waiting (--no-wait, --wait, or an interrupt)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from script_helpers import read_tasks_json, write

ORDER = "ORD-QUEUE1"
MISSING = [f"GONE{i:02d}" for i in range(6)]


@pytest.fixture
def fast(fi, monkeypatch):
    monkeypatch.setattr(fi, "POLL_FIRST", 0.001)
    monkeypatch.setattr(fi, "POLL_MAX", 0.005)
    monkeypatch.setattr(fi, "PROGRESS_INTERVAL", 0.0)
    return fi


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "factory"
    write(root / "src/ok.ts", "// ok\n###OK###\n")
    for i, _ in enumerate(MISSING):
        write(root / f"src/moved{i}.ts", f"export {{}}\n###P{i}###\n")
    return root


@pytest.fixture
def order(fake):
    """Six tasks whose files are gone. GONE00/01 are answered at once (blocked); the other
    four are queued: 02 and 03 moved (update_file_path), 04 blocked, 05 without a fix."""
    fake.add_order(ORDER, "f", [("OK0000", "src/ok.ts", "OK")]
                   + [(u, f"src/gone{i}.ts", f"P{i}") for i, u in enumerate(MISSING)])
    for u in MISSING[:2] + MISSING[4:5]:
        fake.remediation[u] = {"action": "blocked", "ok": False, "note": "gone for good",
                               "reason": "file deleted", "followup_id": 7}
    for i in (2, 3):
        fake.remediation[MISSING[i]] = {"action": "update_file_path",
                                        "new_file_path": f"src/moved{i}.ts", "note": "renamed"}
    fake.queue_items = set(MISSING[2:])
    return fake


def run(fi, root: Path, url: str, *extra: str) -> int:
    return fi.main([ORDER, url, "--root", str(root), *extra])


def pending_file(root: Path) -> Path:
    return root / ".mission_control/remediation.json"


def by_id(root: Path) -> dict[str, dict]:
    return {t["uuid"]: t for t in read_tasks_json(root)["tasks"]}


def polls(fake) -> list[dict]:
    return fake.requests_to("GET", "/api/factory/errors/")


def test_queued_answers_are_awaited_and_applied_as_they_arrive(fast, order, checkout, capsys,
                                                              clean_env):
    assert run(fast, checkout, order.base_url) == 4  # GONE05 has no fix
    out = capsys.readouterr().out
    lines = [ln for ln in out.splitlines() if ln.startswith("remediation ")]
    assert lines[0] == "remediation 2/6 done, 2 blocked"
    assert lines[-1] == "remediation 6/6 done, 3 blocked"
    assert len(order.error_batches) == 1
    assert len(polls(order)) == 4  # the fake finishes one queued item per poll
    assert polls(order)[0]["path"] == "/api/factory/errors/BATCH001"
    tasks = by_id(checkout)
    for i in (2, 3):
        assert tasks[MISSING[i]]["file_path"] == f"src/moved{i}.ts"
        assert f"TASK_ID:{MISSING[i]}" in (checkout / f"src/moved{i}.ts").read_text()
    assert tasks[MISSING[4]]["status"] == "blocked"
    assert tasks[MISSING[4]]["blocked_reason"] == "file deleted"
    assert "remediated=2" in out and "blocked=3" in out and "unresolved=1" in out
    assert not pending_file(checkout).exists()


def test_no_wait_leaves_the_queued_items_to_a_later_run(fast, order, checkout, capsys,
                                                       clean_env):
    assert run(fast, checkout, order.base_url, "--no-wait") == 4
    captured = capsys.readouterr()
    assert "4 remediation item(s) not waited for (--no-wait)" in captured.err
    assert polls(order) == []
    saved = json.loads(pending_file(checkout).read_text())
    assert saved["order_id"] == ORDER
    assert saved["pending"] == {u: "/api/factory/errors/BATCH001" for u in MISSING[2:]}
    # the later run waits for the same batch instead of reporting the items again
    order.queue_step = 10
    assert run(fast, checkout, order.base_url) == 4
    out = capsys.readouterr().out
    assert "[RESUMING] 4 queued remediation item(s)" in out
    assert len(order.error_batches) == 1
    assert by_id(checkout)[MISSING[3]]["file_path"] == "src/moved3.ts"
    assert "remediation 4/4 done, 1 blocked" in out
    assert not pending_file(checkout).exists()


def test_the_wait_is_bounded(fast, order, checkout, capsys, clean_env):
    assert run(fast, checkout, order.base_url, "--wait", "0") == 4
    assert len(polls(order)) == 1
    err = capsys.readouterr().err
    assert "3 remediation item(s) still queued after 0s" in err
    assert len(json.loads(pending_file(checkout).read_text())["pending"]) == 3


def test_an_interrupted_run_is_picked_up_by_the_next(fast, order, checkout, capsys,
                                                    monkeypatch, clean_env):
    def interrupt(_seconds):
        raise KeyboardInterrupt

    monkeypatch.setattr(fast.time, "sleep", interrupt)
    assert run(fast, checkout, order.base_url) == 130
    assert "run factory_init.py again" in capsys.readouterr().err
    assert len(json.loads(pending_file(checkout).read_text())["pending"]) == 3
    monkeypatch.undo()
    monkeypatch.setattr(fast, "POLL_FIRST", 0.001)
    monkeypatch.setattr(fast, "PROGRESS_INTERVAL", 0.0)
    assert run(fast, checkout, order.base_url) == 4
    assert len(order.error_batches) == 1
    assert by_id(checkout)[MISSING[4]]["status"] == "blocked"
    assert not pending_file(checkout).exists()


def test_a_batch_the_orchestrator_forgot_is_reported_again_later(fast, order, checkout, capsys,
                                                                clean_env):
    assert run(fast, checkout, order.base_url, "--no-wait") == 4
    order.batches.clear()
    assert run(fast, checkout, order.base_url) == 4
    assert "no longer knows batch" in capsys.readouterr().err
    assert not pending_file(checkout).exists()
    order.queue_items = set()
    assert run(fast, checkout, order.base_url) == 4
    assert len(order.error_batches) == 2  # reported afresh, answered at once this time


def test_progress_is_redrawn_in_place_on_a_terminal(fast, order, checkout, capsys, monkeypatch,
                                                   clean_env):
    monkeypatch.setattr(fast, "PROGRESS_REFRESH", 0.0)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    assert run(fast, checkout, order.base_url) == 4
    out = capsys.readouterr().out
    assert "\rremediation 3/6 done, 2 blocked" in out  # redrawn over the previous state
    assert "\rremediation 6/6 done, 3 blocked\n" in out
    assert not any(ln.startswith("remediation ") for ln in out.split("\n")[:-2]
                   if "\r" not in ln)  # never a line of its own, unlike off a terminal
    summary = out[out.index("[SUMMARY]") - 1:]
    assert summary.startswith("\n")  # the live line was ended before the summary


def test_quiet_shows_no_progress(fast, order, checkout, capsys, clean_env):
    assert run(fast, checkout, order.base_url, "-q") == 4
    assert "remediation " not in capsys.readouterr().out


def test_injection_progress_on_large_orders(fast, fake, tmp_path, capsys, monkeypatch,
                                            clean_env):
    monkeypatch.setattr(fast, "PROGRESS_MIN_TASKS", 3)
    root = tmp_path / "big"
    write(root / "a.py", "".join(f"###T{i}###\n" for i in range(4)))
    fake.add_order(ORDER, "f", [(f"TASK{i:02d}", "a.py", f"T{i}") for i in range(4)])
    assert run(fast, root, fake.base_url) == 0
    out = capsys.readouterr().out
    assert "injection 4/4 tasks" in out


def test_status_urls_of_other_hosts_or_routes_are_not_followed(fi):
    assert fi.status_path("/api/factory/errors/B1") == "/api/factory/errors/B1"
    assert fi.status_path("http://x/api/factory/errors/B1?limit=2") == "/api/factory/errors/B1"
    assert fi.status_path("/api/ops/logs") is None
    assert fi.status_path("/api/factory/errors/a%20b%2Fc~1") == "/api/factory/errors/a%20b%2Fc~1"
    assert fi.status_path("/api/factory/errors/../../x") is None
    assert fi.status_path("/api/factory/errors/..") is None
    assert fi.status_path(None) is None


def test_awaited_items_that_no_longer_fail_are_forgotten(fast, order, checkout, clean_env):
    assert run(fast, checkout, order.base_url, "--no-wait") == 4
    for i, uuid in enumerate(MISSING):  # a human restored every file meanwhile
        write(checkout / f"src/gone{i}.ts", f"###P{i}###\n")
        order.tasks[uuid]["status"] = "pending"
    assert run(fast, checkout, order.base_url) == 0
    assert not pending_file(checkout).exists()
    assert polls(order) == []
