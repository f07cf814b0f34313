"""The factory scripts against the real Worker (workerd + local D1) and the core-github-api
stand-in: seed an order, run factory_init.py and taskctl.sh as an agent would (separate
processes, bearer token from the environment), and check files, tasks.json and D1.

Uses the `worker`, `github` and `model` fixtures of tests/conftest.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid as uuidlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fake_orchestrator import closed_port_url
from script_helpers import SCRIPTS, read_tasks_json, run_taskctl, write

pytestmark = pytest.mark.e2e

TEMPLATE = """import { Agent } from '../runtime'

export class GmailAgent extends Agent {
  async init() {
    ###FINAL_MILE_PROMPT__AGENT_INIT###
  }

  async run(input: string) {
    ###FINAL_MILE_PROMPT__AGENT_LOGIC###
  }
}
"""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuidlib.uuid4().hex[:8]}"


def create_order(worker, files: dict[str, list[str]], factory: str | None = None) -> dict:
    body = {"factory": factory or unique("e2e-factory"), "files": [
        {"file_path": path, "instructions": {p: f"Implement {p}." for p in placeholders}}
        for path, placeholders in files.items()]}
    reply = worker.post("/api/orders", body)
    assert reply.status == 201, reply.text
    return reply.body


def task_ids(order: dict) -> dict[str, str]:
    """placeholder -> uuid"""
    return {t["placeholder"]: t["uuid"] for t in order["tasks"]}


def factory_init(worker, root: Path, order_id: str, *extra: str,
                 token: str | None | bool = True) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISSION_CONTROL_")}
    if token is True:
        token = worker.token
    if token:
        env["MISSION_CONTROL_TOKEN"] = token
    return subprocess.run([sys.executable, str(SCRIPTS / "factory_init.py"), order_id,
                           worker.base_url, *extra], cwd=root, env=env, capture_output=True,
                          text=True, timeout=120)


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".")}


def d1_task(worker, uuid: str) -> dict:
    reply = worker.get(f"/api/task/{uuid}")
    assert reply.status == 200, reply.text
    return reply.body


# -- seed + factory_init ----------------------------------------------------------------------


def test_seed_script_creates_the_sample_order(worker):
    env = dict(os.environ, MISSION_CONTROL_TOKEN=worker.token or "")
    res = subprocess.run([sys.executable, str(SCRIPTS / "seed_orders_and_tasks.py"),
                          worker.base_url, "--json"], env=env, capture_output=True, text=True,
                         timeout=60)
    assert res.returncode == 0, res.stderr
    doc = json.loads(res.stdout)
    assert doc["order"]["tasks_created"] == 2
    placeholders = {t["placeholder"] for t in doc["tasks"]["tasks"]}
    assert placeholders == {"FINAL_MILE_PROMPT__AGENT_INIT", "FINAL_MILE_PROMPT__AGENT_LOGIC"}


def test_seed_script_fails_without_token(worker):
    env = {k: v for k, v in os.environ.items() if k != "MISSION_CONTROL_TOKEN"}
    res = subprocess.run([sys.executable, str(SCRIPTS / "seed_orders_and_tasks.py"),
                          worker.base_url], env=env, capture_output=True, text=True, timeout=60)
    assert res.returncode == 1
    assert "MISSION_CONTROL_TOKEN" in res.stderr


def test_factory_init_marks_placeholders_and_second_run_changes_nothing(worker, tmp_path):
    path = f"{unique('worker')}/agents/agent_gmail.ts"
    order = create_order(worker, {path: ["FINAL_MILE_PROMPT__AGENT_INIT",
                                         "FINAL_MILE_PROMPT__AGENT_LOGIC"],
                                  "config/app.yaml": ["CONFIG"]})
    ids = task_ids(order)
    write(tmp_path / path, TEMPLATE)
    write(tmp_path / "config/app.yaml", "app:\n  ###CONFIG###\n")

    res = factory_init(worker, tmp_path, order["order_id"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "injected=3" in res.stdout
    text = (tmp_path / path).read_text()
    for placeholder in ("FINAL_MILE_PROMPT__AGENT_INIT", "FINAL_MILE_PROMPT__AGENT_LOGIC"):
        assert (f"    // TASK_ID:{ids[placeholder]} \u2013 see .mission_control/tasks.json\n"
                f"    ###{placeholder}###") in text
    assert f"  # TASK_ID:{ids['CONFIG']} \u2013" in (tmp_path / "config/app.yaml").read_text()
    doc = read_tasks_json(tmp_path)
    assert doc["order_id"] == order["order_id"] and doc["orchestrator_url"] == worker.base_url
    assert {t["uuid"] for t in doc["tasks"]} == set(ids.values())

    before = tree(tmp_path)
    tasks_json = (tmp_path / ".mission_control/tasks.json").read_bytes()
    res = factory_init(worker, tmp_path, order["order_id"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "injected=0 already_present=3" in res.stdout
    assert tree(tmp_path) == before
    assert (tmp_path / ".mission_control/tasks.json").read_bytes() == tasks_json


def test_factory_init_dry_run_and_failures(worker, tmp_path):
    order = create_order(worker, {"a.py": ["A"]})
    write(tmp_path / "a.py", "###A###\n")
    res = factory_init(worker, tmp_path, order["order_id"], "--dry-run")
    assert res.returncode == 0 and "would inject" in res.stdout
    assert (tmp_path / "a.py").read_text() == "###A###\n"
    assert not (tmp_path / ".mission_control").exists()

    res = factory_init(worker, tmp_path, "ORD-NOPE00")
    assert res.returncode == 1 and "unknown" in res.stderr
    res = factory_init(worker, tmp_path, order["order_id"], token=None)
    assert res.returncode == 1 and "MISSION_CONTROL_TOKEN" in res.stderr
    assert not (tmp_path / ".mission_control").exists()


def test_orchestrator_refuses_traversal_paths(worker):
    for bad in ("../outside.ts", "/etc/passwd", "src/../../x.ts"):
        reply = worker.post("/api/orders", {"factory": "f", "files": [
            {"file_path": bad, "instructions": {"X": "x"}}]})
        assert 400 <= reply.status < 500, (bad, reply.text)


# -- remediation -------------------------------------------------------------------------------


def test_renamed_file_is_repointed_and_marked_at_the_new_path(worker, github, tmp_path):
    base = unique("agents")
    old, new = f"{base}/agent_gmail.ts", f"{base}/integrations/gmail_agent.ts"
    github.seed({old: TEMPLATE})
    order = create_order(worker, {old: ["FINAL_MILE_PROMPT__AGENT_INIT"]})
    uuid = order["tasks"][0]["uuid"]
    github.rename(old, new)  # the template moved upstream...
    write(tmp_path / new, TEMPLATE)  # ...and the factory checkout has the new layout

    res = factory_init(worker, tmp_path, order["order_id"])
    assert res.returncode == 0, res.stdout + res.stderr
    assert "remediated=1" in res.stdout
    assert f"TASK_ID:{uuid}" in (tmp_path / new).read_text()
    task = next(t for t in read_tasks_json(tmp_path)["tasks"] if t["uuid"] == uuid)
    assert task["file_path"] == new
    assert d1_task(worker, uuid)["file_path"] == new

    before = tree(tmp_path)
    res = factory_init(worker, tmp_path, order["order_id"])
    assert res.returncode == 0 and tree(tmp_path) == before


def test_removed_placeholder_ends_blocked_locally_and_in_d1(worker, github, model, tmp_path):
    path = f"{unique('agents')}/agent.ts"
    without = TEMPLATE.replace("    ###FINAL_MILE_PROMPT__AGENT_LOGIC###\n", "")
    github.seed({path: without})  # gone upstream too, so there is nothing to restore
    model.respond_with("Sorry, I cannot produce that file.")  # and no usable patch
    try:
        order = create_order(worker, {path: ["FINAL_MILE_PROMPT__AGENT_INIT",
                                             "FINAL_MILE_PROMPT__AGENT_LOGIC"]})
        ids = task_ids(order)
        write(tmp_path / path, without)
        res = factory_init(worker, tmp_path, order["order_id"])
    finally:
        model.reset()
    assert res.returncode == 3, res.stdout + res.stderr
    assert "blocked=1" in res.stdout
    blocked = ids["FINAL_MILE_PROMPT__AGENT_LOGIC"]
    task = next(t for t in read_tasks_json(tmp_path)["tasks"] if t["uuid"] == blocked)
    assert task["status"] == "blocked" and task.get("blocked_reason")
    assert d1_task(worker, blocked)["status"] == "blocked"
    assert f"TASK_ID:{ids['FINAL_MILE_PROMPT__AGENT_INIT']}" in (tmp_path / path).read_text()

    res = factory_init(worker, tmp_path, order["order_id"])  # still blocked, not re-reported
    assert res.returncode == 3


def test_traversal_paths_from_an_order_never_escape_the_checkout(worker, tmp_path):
    """Even if an order held such a path (an older orchestrator), factory_init refuses it."""
    checkout = tmp_path / "checkout"
    victim = write(tmp_path / "victim.ts", "###X###\n")
    checkout.mkdir()
    (checkout / "escape").symlink_to(tmp_path)
    order = create_order(worker, {"escape/victim.ts": ["X"]})
    res = factory_init(worker, checkout, order["order_id"])
    assert res.returncode in (3, 4), res.stdout + res.stderr
    assert victim.read_text() == "###X###\n"


# -- taskctl -------------------------------------------------------------------------------


@pytest.fixture
def initialised(worker, tmp_path):
    order = create_order(worker, {"src/a.ts": ["A", "B", "C", "D"]})
    write(tmp_path / "src/a.ts", "###A###\n###B###\n###C###\n###D###\n")
    res = factory_init(worker, tmp_path, order["order_id"])
    assert res.returncode == 0, res.stdout + res.stderr
    return tmp_path, task_ids(order)


def test_taskctl_reads_and_changes_status_on_the_worker(worker, initialised):
    root, ids = initialised
    env = {"MISSION_CONTROL_TOKEN": worker.token}  # URL comes from tasks.json
    assert run_taskctl(root, "get", ids["A"], env=env).stdout == "Implement A.\n"
    assert run_taskctl(root, "next", env=env).stdout.strip() in ids.values()
    res = run_taskctl(root, "start", ids["A"], env=env)
    assert res.returncode == 0, res.stderr
    assert d1_task(worker, ids["A"])["status"] == "in_progress"
    res = run_taskctl(root, "start", ids["A"], env=env)  # already claimed
    assert res.returncode == 4
    res = run_taskctl(root, "complete", ids["A"], env=env)
    assert res.returncode == 0, res.stderr
    assert d1_task(worker, ids["A"])["status"] == "complete"
    res = run_taskctl(root, "block", ids["B"], "missing", "credentials", env=env)
    assert res.returncode == 0, res.stderr
    assert d1_task(worker, ids["B"])["status"] == "blocked"
    assert run_taskctl(root, "status", ids["B"], env=env).stdout == "blocked\n"


def test_taskctl_offline_queue_then_sync(worker, initialised):
    root, ids = initialised
    dead = closed_port_url()
    res = run_taskctl(root, "complete", ids["C"], url=dead, token=worker.token)
    assert res.returncode == 0 and "[QUEUED]" in res.stderr
    assert d1_task(worker, ids["C"])["status"] == "pending"
    res = run_taskctl(root, "sync", url=worker.base_url, token=worker.token)
    assert res.returncode == 0, res.stderr
    assert d1_task(worker, ids["C"])["status"] == "complete"


def test_taskctl_two_concurrent_completes(worker, initialised):
    root, ids = initialised
    targets = [ids["C"], ids["D"]]
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda u: run_taskctl(root, "complete", u,
                                                      token=worker.token), targets))
    assert [r.returncode for r in results] == [0, 0], [r.stderr for r in results]
    local = {t["uuid"]: t["status"] for t in read_tasks_json(root)["tasks"]}
    for u in targets:
        assert local[u] == "complete" and d1_task(worker, u)["status"] == "complete"


def test_taskctl_two_agents_claim_one_task(worker, initialised):
    root, ids = initialised
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: run_taskctl(root, "start", ids["D"],
                                                      token=worker.token), range(2)))
    assert sorted(r.returncode for r in results) == [0, 4]


def test_taskctl_help(worker, initialised):
    root, ids = initialised
    res = run_taskctl(root, "help", ids["A"], "How do I bind D1?", "--error",
                      "fetchD1Record is not a function", token=worker.token,
                      env={"MISSION_CONTROL_AGENT": "gmail-agent"})
    assert res.returncode == 0, res.stderr
    assert "Instruction:" in res.stdout and "Implement A." in res.stdout
    res = run_taskctl(root, "help", ids["A"], "q", "--json", token=worker.token)
    body = json.loads(res.stdout)
    assert body["uuid"] == ids["A"] and "ai_guidance" in body


# -- leases (issue 10) -------------------------------------------------------------------------


def held_leases(root: Path) -> dict:
    path = root / ".mission_control/leases.json"
    return json.loads(path.read_text()) if path.exists() else {}


def lapse(worker, uuid: str) -> None:
    """Let the task's lease run out now and run the cron sweep, as a minute later would."""
    worker.execute(f"UPDATE tasks SET lease_expires_at = '2000-01-01 00:00:00' "
                   f"WHERE uuid = '{uuid}'")
    reply = worker.run_scheduled()
    assert reply.status == 200, reply.text


def test_taskctl_next_heartbeat_complete_on_the_worker(worker, initialised):
    root, ids = initialised
    env = {"MISSION_CONTROL_TOKEN": worker.token, "MISSION_CONTROL_AGENT": "e2e-agent"}
    res = run_taskctl(root, "next", env=env)
    assert res.returncode == 0, res.stderr
    uuid = res.stdout.strip()
    assert uuid == ids["A"]  # the order's oldest pending task
    task = d1_task(worker, uuid)
    assert task["status"] == "in_progress" and task["claimed_by"] == "e2e-agent"
    lease = held_leases(root)[uuid]
    assert lease["token"] == task["lease_token"]
    assert lease["expires_at"] == task["lease_expires_at"]

    res = run_taskctl(root, "heartbeat", uuid, "--lease-seconds", "3600", env=env)
    assert res.returncode == 0, res.stderr
    extended = d1_task(worker, uuid)["lease_expires_at"]
    assert extended > task["lease_expires_at"]
    assert held_leases(root)[uuid]["expires_at"] == extended
    res = run_taskctl(root, "status", uuid, env=env)
    assert res.stdout == "in_progress\n" and f"until {extended} UTC" in res.stderr

    res = run_taskctl(root, "complete", uuid, env=env)
    assert res.returncode == 0, res.stderr
    task = d1_task(worker, uuid)
    assert task["status"] == "complete" and task["claimed_by"] is None
    assert uuid not in held_leases(root)
    assert run_taskctl(root, "next", env=env).stdout.strip() == ids["B"]


def test_taskctl_lease_lost_on_sync_against_the_worker(worker, initialised, tmp_path):
    """Agent one claims, completes while offline (queued), and its lease runs out; agent two
    claims the task again. One's sync is refused with lease_lost, reported and dropped;
    two's complete, with the newer token, goes through."""
    root, ids = initialised
    uuid = ids["A"]
    one = {"MISSION_CONTROL_TOKEN": worker.token, "MISSION_CONTROL_AGENT": "agent-one"}
    two = {"MISSION_CONTROL_TOKEN": worker.token, "MISSION_CONTROL_AGENT": "agent-two"}
    assert run_taskctl(root, "next", env=one).stdout.strip() == uuid
    res = run_taskctl(root, "complete", uuid, url=closed_port_url(), env=one)
    assert res.returncode == 0 and "[QUEUED]" in res.stderr
    lapse(worker, uuid)
    assert d1_task(worker, uuid)["status"] == "pending"

    other = tmp_path / "other"
    write(other / ".mission_control/tasks.json",
          (root / ".mission_control/tasks.json").read_text())
    assert run_taskctl(other, "next", env=two).stdout.strip() == uuid
    assert held_leases(other)[uuid]["token"] > held_leases(root)[uuid]["token"]

    res = run_taskctl(root, "sync", env=one)
    assert res.returncode == 4, res.stdout + res.stderr
    assert "lease_lost=1" in res.stdout and "queued=0" in res.stdout
    assert f"lease lost: {uuid} -> complete" in res.stderr and "agent-two" in res.stderr
    assert run_taskctl(root, "sync", env=one).stdout == "[SYNC] nothing queued\n"
    task = d1_task(worker, uuid)
    assert task["status"] == "in_progress" and task["claimed_by"] == "agent-two"

    res = run_taskctl(other, "complete", uuid, env=two)
    assert res.returncode == 0, res.stderr
    assert d1_task(worker, uuid)["status"] == "complete"


def test_taskctl_stale_token_cannot_complete_after_a_reclaim(worker, initialised, tmp_path):
    """The fenced sequence, online: one's lease expires, two re-claims, one's complete with
    its old token is refused and changes nothing."""
    root, ids = initialised
    uuid = ids["A"]
    one = {"MISSION_CONTROL_TOKEN": worker.token, "MISSION_CONTROL_AGENT": "agent-one"}
    two = {"MISSION_CONTROL_TOKEN": worker.token, "MISSION_CONTROL_AGENT": "agent-two"}
    assert run_taskctl(root, "next", env=one).stdout.strip() == uuid
    lapse(worker, uuid)
    other = tmp_path / "other"
    write(other / ".mission_control/tasks.json",
          (root / ".mission_control/tasks.json").read_text())
    assert run_taskctl(other, "next", env=two).stdout.strip() == uuid
    res = run_taskctl(root, "complete", uuid, env=one)
    assert res.returncode == 4 and "lease_lost" in res.stderr
    res = run_taskctl(root, "heartbeat", uuid, env=one)
    assert res.returncode in (3, 4)  # the lease is already forgotten locally
    task = d1_task(worker, uuid)
    assert task["status"] == "in_progress" and task["claimed_by"] == "agent-two"


# -- remediation the Worker queued (issue 15) ------------------------------------------------


def test_factory_init_applies_remediation_the_worker_queued(worker, start_worker, upstreams,
                                                            github, tmp_path):
    """A budget of two or three items per request: most of eight renamed files are answered
    `queued`; factory_init follows the batch's status route and applies each late answer."""
    queued = start_worker({**worker.vars, "REMEDIATION_MAX_CALLS": "8",
                           "REMEDIATION_RETRY_BASE_SECONDS": "1"}, name="fi-queue")
    dirs = [f"q/{unique('d')}" for _ in range(8)]
    olds = [f"{d}/agents/agent_gmail.ts" for d in dirs]
    news = [f"{d}/integrations/agents/gmail_agent.ts" for d in dirs]
    contents = {new: f"// agent {i}\n###LOGIC_{i:03d}###\n" for i, new in enumerate(news)}
    github.seed(contents)  # the templates moved upstream...
    for path, text in contents.items():  # ...and the checkout has the new layout
        write(tmp_path / path, text)
    write(tmp_path / "keep/ok.ts", "###KEEP###\n")
    order = create_order(queued, {**{old: [f"LOGIC_{i:03d}"] for i, old in enumerate(olds)},
                                  "keep/ok.ts": ["KEEP"]})
    env = {k: v for k, v in os.environ.items() if not k.startswith("MISSION_CONTROL_")}
    env["MISSION_CONTROL_TOKEN"] = queued.token
    res = subprocess.run([sys.executable, str(SCRIPTS / "factory_init.py"), order["order_id"],
                          queued.base_url, "--wait", "240"], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    progress = [ln for ln in res.stdout.splitlines() if ln.startswith("remediation ")]
    assert progress and progress[-1] == "remediation 8/8 done, 0 blocked", res.stdout
    assert int(progress[0].split()[1].split("/")[0]) < 8  # some answers came late
    assert "remediated=8" in res.stdout
    ids = task_ids(order)
    local = {t["uuid"]: t for t in read_tasks_json(tmp_path)["tasks"]}
    for i, new in enumerate(news):
        uuid = ids[f"LOGIC_{i:03d}"]
        assert f"TASK_ID:{uuid}" in (tmp_path / new).read_text()
        assert local[uuid]["file_path"] == new
        assert d1_task(queued, uuid)["file_path"] == new
    assert not (tmp_path / ".mission_control/remediation.json").exists()
