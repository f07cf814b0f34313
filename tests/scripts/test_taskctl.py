"""scripts/taskctl.sh: local reads, pushes, the offline queue, and concurrent agents.

The fake orchestrator stands in for the Worker so that being offline, coming back, a
refused token and races can be staged exactly."""

from __future__ import annotations

import json
import subprocess
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fake_orchestrator import closed_port_url
from script_helpers import TASKCTL, read_tasks_json, run_taskctl, tasks_doc, write, \
    write_tasks_json

ORDER = "ORD-TEST01"
IDS = ["AAA111", "BBB222", "CCC333"]


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    root = tmp_path / "factory"
    write_tasks_json(root, tasks_doc([{"uuid": u} for u in IDS]))
    return root


@pytest.fixture
def online(fake, checkout):
    fake.add_order(ORDER, "test-factory", [(u, "src/a.ts", f"P_{u}") for u in IDS])
    return fake


def local_status(root: Path, uuid: str) -> str:
    return next(t for t in read_tasks_json(root)["tasks"] if t["uuid"] == uuid)["status"]


def queue_lines(root: Path) -> list[dict]:
    path = root / ".mission_control" / "queue.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


# -- reading --------------------------------------------------------------------------------


def test_help_and_usage(checkout):
    res = run_taskctl(checkout, "--help")
    assert res.returncode == 0
    for word in ("list", "get", "status", "complete", "start", "block", "next", "help", "sync",
                 "MISSION_CONTROL_URL", "MISSION_CONTROL_TOKEN", "Exit codes"):
        assert word in res.stdout
    assert run_taskctl(checkout).returncode == 2
    res = run_taskctl(checkout, "frobnicate")
    assert res.returncode == 2 and "unknown command" in res.stderr
    assert run_taskctl(checkout, "get").returncode == 2
    assert run_taskctl(checkout, "block", "AAA111").returncode == 2
    assert run_taskctl(checkout, "list", "bogus").returncode == 2


def test_local_reads(checkout):
    res = run_taskctl(checkout, "list")
    assert res.returncode == 0
    assert res.stdout.splitlines() == [f"{u}\tsrc/a.ts\tpending" for u in IDS]
    assert run_taskctl(checkout, "get", "BBB222").stdout == "Do BBB222\n"
    assert run_taskctl(checkout, "status", "BBB222").stdout == "pending\n"
    assert json.loads(run_taskctl(checkout, "show", "BBB222").stdout)["uuid"] == "BBB222"
    assert run_taskctl(checkout, "next").stdout == "AAA111\n"


def test_unknown_id_and_missing_tasks_json(checkout, tmp_path):
    for cmd in (["get", "NOPE99"], ["status", "NOPE99"], ["complete", "NOPE99"],
                ["get", "../../etc"], ["block", "NOPE99", "why"]):
        res = run_taskctl(checkout, *cmd)
        assert res.returncode == 1, cmd
        assert "unknown task id" in res.stderr
    empty = tmp_path / "empty"
    empty.mkdir()
    res = run_taskctl(empty, "list")
    assert res.returncode == 1 and "factory_init.py" in res.stderr
    write(checkout / ".mission_control/tasks.json", "{not json")
    res = run_taskctl(checkout, "list")
    assert res.returncode == 1 and "not a task list" in res.stderr


def test_next_without_pending_exits_3(checkout):
    doc = read_tasks_json(checkout)
    for t in doc["tasks"]:
        t["status"] = "complete"
    write_tasks_json(checkout, doc)
    res = run_taskctl(checkout, "next")
    assert res.returncode == 3 and res.stdout == ""


def test_finds_mission_control_from_a_subfolder(checkout):
    sub = checkout / "src" / "deep"
    sub.mkdir(parents=True)
    res = run_taskctl(checkout, "status", "AAA111", cwd=sub)
    assert res.returncode == 0 and res.stdout == "pending\n"


# -- pushing --------------------------------------------------------------------------------


def test_complete_pushes_to_the_orchestrator(online, checkout):
    online.token = "tok"
    res = run_taskctl(checkout, "complete", "AAA111", url=online.base_url, token="tok")
    assert res.returncode == 0, res.stderr
    assert online.tasks["AAA111"]["status"] == "complete"
    assert local_status(checkout, "AAA111") == "complete"
    assert queue_lines(checkout) == []
    req = online.requests_to("POST", "/api/task/AAA111/status")[0]
    assert req["body"] == {"status": "complete"}
    assert req["headers"]["authorization"] == "Bearer tok"


def test_url_comes_from_tasks_json_when_not_in_env(online, checkout):
    doc = read_tasks_json(checkout)
    doc["orchestrator_url"] = online.base_url + "/"
    write_tasks_json(checkout, doc)
    res = run_taskctl(checkout, "complete", "AAA111")
    assert res.returncode == 0, res.stderr
    assert online.tasks["AAA111"]["status"] == "complete"


def test_start_is_a_compare_and_set(online, checkout):
    res = run_taskctl(checkout, "start", "AAA111", url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert online.requests_to("POST", "/api/task/AAA111/status")[0]["body"] == \
        {"status": "in_progress", "expected_status": "pending"}
    online.tasks["BBB222"]["status"] = "in_progress"  # another agent claimed it
    res = run_taskctl(checkout, "start", "BBB222", url=online.base_url)
    assert res.returncode == 4
    assert "in_progress" in res.stderr
    assert local_status(checkout, "BBB222") == "in_progress"  # adopted the server's state
    rejected = (checkout / ".mission_control/queue.rejected.jsonl").read_text()
    assert "status_conflict" in rejected


def test_block_sends_the_reason_to_the_ops_log(online, checkout):
    res = run_taskctl(checkout, "block", "CCC333", "needs", "a", "D1 binding",
                      url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert online.tasks["CCC333"]["status"] == "blocked"
    task = next(t for t in read_tasks_json(checkout)["tasks"] if t["uuid"] == "CCC333")
    assert task["status"] == "blocked" and task["blocked_reason"] == "needs a D1 binding"
    log = online.ops_logs[-1]
    assert log["operation"] == "task_blocked" and log["task_uuid"] == "CCC333"
    assert log["details"]["reason"] == "needs a D1 binding" and log["order_id"] == ORDER


def test_help_asks_the_orchestrator(online, checkout):
    res = run_taskctl(checkout, "help", "AAA111", "How", "to connect D1?", "--error",
                      "fetchD1Record not found", url=online.base_url,
                      env={"MISSION_CONTROL_AGENT": "gmail-agent"})
    assert res.returncode == 0, res.stderr
    assert "Guidance:" in res.stdout and "env.DB.prepare" in res.stdout
    assert "D1 docs <https://developers.cloudflare.com/d1/>" in res.stdout
    body = online.requests_to("POST", "/api/task/AAA111/help")[0]["body"]
    assert body == {"agent_name": "gmail-agent", "question": "How to connect D1?",
                    "error": "fetchD1Record not found"}
    res = run_taskctl(checkout, "help", "AAA111", "q", "--json", url=online.base_url)
    assert json.loads(res.stdout)["original_instruction"] == "Implement P_AAA111"
    assert run_taskctl(checkout, "help", "AAA111", url=online.base_url).returncode == 2
    res = run_taskctl(checkout, "help", "AAA111", "q", url=closed_port_url())
    assert res.returncode == 1 and "cannot reach" in res.stderr


def test_refused_token_keeps_the_change_queued(online, checkout):
    online.token = "right"
    res = run_taskctl(checkout, "complete", "AAA111", url=online.base_url, token="wrong")
    assert res.returncode == 1
    assert "MISSION_CONTROL_TOKEN" in res.stderr
    assert [e["uuid"] for e in queue_lines(checkout)] == ["AAA111"]
    res = run_taskctl(checkout, "sync", url=online.base_url, token="right")
    assert res.returncode == 0, res.stderr
    assert online.tasks["AAA111"]["status"] == "complete"


def test_change_unknown_to_the_orchestrator_is_rejected(fake, checkout):
    res = run_taskctl(checkout, "complete", "AAA111", url=fake.base_url)
    assert res.returncode == 1 and "404" in res.stderr
    assert queue_lines(checkout) == []


# -- offline queue ------------------------------------------------------------------------


def test_offline_change_is_queued_then_synced(online, checkout):
    dead = closed_port_url()
    res = run_taskctl(checkout, "complete", "AAA111", url=dead)
    assert res.returncode == 0
    assert "[QUEUED]" in res.stderr
    assert local_status(checkout, "AAA111") == "complete"
    entry, = queue_lines(checkout)
    assert entry["uuid"] == "AAA111" and entry["status"] == "complete" and entry["op"] == "status"
    assert online.tasks["AAA111"]["status"] == "pending"

    res = run_taskctl(checkout, "sync", url=dead)
    assert res.returncode == 3 and "queued=1" in res.stdout

    res = run_taskctl(checkout, "queue")
    assert res.stdout.split("\t")[1:3] == ["AAA111", "complete"]

    res = run_taskctl(checkout, "sync", url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert "pushed=1" in res.stdout
    assert online.tasks["AAA111"]["status"] == "complete"
    assert queue_lines(checkout) == []
    assert run_taskctl(checkout, "sync", url=online.base_url).stdout == "[SYNC] nothing queued\n"


def test_next_command_that_reaches_the_orchestrator_pushes_the_queue_in_order(online, checkout):
    dead = closed_port_url()
    assert run_taskctl(checkout, "start", "AAA111", url=dead).returncode == 0
    assert run_taskctl(checkout, "complete", "AAA111", url=dead).returncode == 0
    assert run_taskctl(checkout, "block", "BBB222", "no", "creds", url=dead).returncode == 0
    res = run_taskctl(checkout, "complete", "CCC333", url=online.base_url)
    assert res.returncode == 0, res.stderr
    pushed = [(r["path"].split("/")[3], r["body"]["status"])
              for r in online.requests_to("POST", "/api/task/")]
    assert pushed == [("AAA111", "in_progress"), ("AAA111", "complete"),
                      ("BBB222", "blocked"), ("CCC333", "complete")]
    assert {u: t["status"] for u, t in online.tasks.items()} == \
        {"AAA111": "complete", "BBB222": "blocked", "CCC333": "complete"}
    assert queue_lines(checkout) == []


def test_queued_claim_that_lost_the_race_is_reported_at_sync(online, checkout):
    dead = closed_port_url()
    assert run_taskctl(checkout, "start", "AAA111", url=dead).returncode == 0
    online.tasks["AAA111"]["status"] = "complete"  # someone else finished it meanwhile
    res = run_taskctl(checkout, "sync", url=online.base_url)
    assert res.returncode == 4 and "conflicts=1" in res.stdout
    assert local_status(checkout, "AAA111") == "complete"


def test_server_errors_keep_the_queue(online, checkout):
    online.fail_status = 503
    res = run_taskctl(checkout, "complete", "AAA111", url=online.base_url)
    assert res.returncode == 0 and "[QUEUED]" in res.stderr
    online.fail_status = None
    assert run_taskctl(checkout, "sync", url=online.base_url).returncode == 0
    assert online.tasks["AAA111"]["status"] == "complete"


def test_torn_queue_line_is_skipped(online, checkout):
    assert run_taskctl(checkout, "complete", "AAA111", url=closed_port_url()).returncode == 0
    with open(checkout / ".mission_control/queue.jsonl", "a") as fh:
        fh.write('{"id": "torn", "uuid": "BB')
    res = run_taskctl(checkout, "sync", url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert online.tasks["AAA111"]["status"] == "complete"


def test_no_url_at_all_queues_with_a_hint(checkout):
    res = run_taskctl(checkout, "complete", "AAA111")
    assert res.returncode == 0
    assert "MISSION_CONTROL_URL" in res.stderr
    assert len(queue_lines(checkout)) == 1


# -- concurrency ---------------------------------------------------------------------------


def many_ids(n: int) -> list[str]:
    return [f"T{i:05d}" for i in range(n)]


def test_concurrent_completes_lose_no_update(fake, tmp_path):
    ids = many_ids(8)
    root = tmp_path / "factory"
    write_tasks_json(root, tasks_doc([{"uuid": u} for u in ids]))
    fake.add_order(ORDER, "f", [(u, "src/a.ts", f"P_{u}") for u in ids])
    fake.status_delay = 0.05  # widen the window between read and write
    with ThreadPoolExecutor(len(ids)) as pool:
        results = list(pool.map(lambda u: run_taskctl(root, "complete", u, url=fake.base_url),
                                ids))
    assert [r.returncode for r in results] == [0] * len(ids), [r.stderr for r in results]
    assert {t["uuid"]: t["status"] for t in read_tasks_json(root)["tasks"]} == \
        {u: "complete" for u in ids}
    assert {u: t["status"] for u, t in fake.tasks.items()} == {u: "complete" for u in ids}
    # every change was sent exactly once, though several processes were pushing the queue
    assert len(fake.requests_to("POST", "/api/task/")) == len(ids)
    assert queue_lines(root) == []


def test_concurrent_offline_completes_are_all_queued_then_pushed_once(fake, tmp_path):
    ids = many_ids(8)
    root = tmp_path / "factory"
    write_tasks_json(root, tasks_doc([{"uuid": u} for u in ids]))
    fake.add_order(ORDER, "f", [(u, "src/a.ts", f"P_{u}") for u in ids])
    dead = closed_port_url()
    with ThreadPoolExecutor(len(ids)) as pool:
        results = list(pool.map(lambda u: run_taskctl(root, "complete", u, url=dead), ids))
    assert all(r.returncode == 0 for r in results)
    assert sorted(e["uuid"] for e in queue_lines(root)) == ids
    assert all(t["status"] == "complete" for t in read_tasks_json(root)["tasks"])
    with ThreadPoolExecutor(3) as pool:
        syncs = list(pool.map(lambda _: run_taskctl(root, "sync", url=fake.base_url), range(3)))
    assert all(s.returncode == 0 for s in syncs), [s.stderr for s in syncs]
    assert len(fake.requests_to("POST", "/api/task/")) == len(ids)
    assert queue_lines(root) == []


def test_two_agents_claiming_one_task_only_one_wins(online, checkout):
    online.status_delay = 0.05
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_taskctl(checkout, "start", "AAA111",
                                                      url=online.base_url), range(2)))
    assert sorted(r.returncode for r in results) == [0, 4]
    assert local_status(checkout, "AAA111") == "in_progress"


def test_tasks_json_mode_is_kept(online, checkout):
    path = checkout / ".mission_control/tasks.json"
    path.chmod(0o640)
    assert run_taskctl(checkout, "complete", "AAA111", url=online.base_url).returncode == 0
    assert path.stat().st_mode & 0o777 == 0o640
    leftovers = [p.name for p in (checkout / ".mission_control").iterdir()
                 if p.name.startswith(".tasks.json.")]
    assert leftovers == []


def test_script_is_executable():
    assert TASKCTL.stat().st_mode & 0o111


# -- the TypeScript original's taskctl.sh still works on the tasks.json we write ----------

ORIGINAL_TASKCTL = r'''#!/bin/bash
TASKS_FILE=".mission_control/tasks.json"

case "$1" in
  "get")
    jq -r --arg ID "$2" '.tasks[] | select(.uuid==$ID) | .instruction' $TASKS_FILE
    ;;
  "status")
    jq -r --arg ID "$2" '.tasks[] | select(.uuid==$ID) | .status' $TASKS_FILE
    ;;
  "complete")
    TMP=$(mktemp)
    jq --arg ID "$2" '(.tasks[] | select(.uuid==$ID) | .status) = "complete"' $TASKS_FILE > $TMP && mv $TMP $TASKS_FILE
    ;;
  "list")
    jq -r '.tasks[] | [.uuid, .file_path, .status] | @tsv' $TASKS_FILE
    ;;
  *)
    echo "Usage: taskctl {get|status|complete|list} <task_id>"
    ;;
esac
'''


def test_original_taskctl_reads_the_tasks_json_factory_init_writes(fi, online, tmp_path,
                                                              clean_env):
    root = tmp_path / "original"
    write(root / "src/a.ts", "".join(f"###P_{u}###\n" for u in IDS))
    assert fi.main([ORDER, online.base_url, "--root", str(root), "-q"]) == 0
    original = write(tmp_path / "original_taskctl.sh", ORIGINAL_TASKCTL)

    def original_run(*args):
        return subprocess.run(["bash", str(original), *args], cwd=root, capture_output=True,
                              text=True, check=True).stdout

    assert original_run("get", "AAA111") == "Implement P_AAA111\n"
    assert original_run("status", "AAA111") == "pending\n"
    original_run("complete", "AAA111")
    assert original_run("list").splitlines()[0] == "AAA111\tsrc/a.ts\tcomplete"
    # ...and ours keeps working on what the original script rewrote
    assert run_taskctl(root, "status", "AAA111").stdout == "complete\n"
