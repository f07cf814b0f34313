"""taskctl.sh next / heartbeat / status and the lease token sent with complete and block.

The fake orchestrator implements the lease routes with the Worker's shapes (see
fake_orchestrator.py); test_e2e_factory.py runs the same flows against the real Worker."""

from __future__ import annotations

import json
import os
import socket
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fake_orchestrator import closed_port_url
from script_helpers import read_tasks_json, run_taskctl, tasks_doc, write_tasks_json

ORDER = "ORD-LEASE1"
IDS = ["AAA111", "BBB222", "CCC333"]


def checkout_at(root: Path, ids: list[str] = IDS) -> Path:
    write_tasks_json(root, tasks_doc([{"uuid": u} for u in ids], order_id=ORDER))
    return root


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    return checkout_at(tmp_path / "factory")


@pytest.fixture
def online(fake):
    fake.add_order(ORDER, "test-factory", [(u, "src/a.ts", f"P_{u}") for u in IDS])
    return fake


def tc(root: Path, *args: str, url: str, agent: str = "agent-1", **kw):
    env = dict(kw.pop("env", {}), MISSION_CONTROL_AGENT=agent)
    return run_taskctl(root, *args, url=url, env=env, **kw)


def leases(root: Path) -> dict:
    path = root / ".mission_control/leases.json"
    return json.loads(path.read_text()) if path.exists() else {}


def local_status(root: Path, uuid: str) -> str:
    return next(t for t in read_tasks_json(root)["tasks"] if t["uuid"] == uuid)["status"]


def status_bodies(fake, uuid: str) -> list[dict]:
    return [r["body"] for r in fake.requests_to("POST", f"/api/task/{uuid}/status")]


def test_next_claims_through_the_orchestrator_and_keeps_the_lease(online, checkout):
    res = tc(checkout, "next", url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert res.stdout == "AAA111\n"
    assert "[CLAIMED] AAA111 for agent-1" in res.stderr
    req, = online.requests_to("POST", f"/api/orders/{ORDER}/next")
    assert req["body"] == {"agent": "agent-1"}
    assert online.tasks["AAA111"]["claimed_by"] == "agent-1"
    lease = leases(checkout)["AAA111"]
    assert lease["token"] == 1 and lease["agent"] == "agent-1"
    assert lease["expires_at"] == online.tasks["AAA111"]["lease_expires_at"]
    assert local_status(checkout, "AAA111") == "in_progress"
    # the next call claims the next task, not the same one
    assert tc(checkout, "next", url=online.base_url, agent="agent-2").stdout == "BBB222\n"


def test_agent_defaults_to_user_at_host(online, checkout):
    res = run_taskctl(checkout, "next", url=online.base_url, env={"USER": "robo"})
    assert res.returncode == 0, res.stderr
    body = online.requests_to("POST", f"/api/orders/{ORDER}/next")[0]["body"]
    assert body == {"agent": f"robo@{socket.gethostname()}"}


def test_complete_and_block_send_the_lease_token_and_end_the_lease(online, checkout):
    assert tc(checkout, "next", url=online.base_url).returncode == 0
    assert tc(checkout, "next", url=online.base_url).returncode == 0
    res = tc(checkout, "complete", "AAA111", url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert status_bodies(online, "AAA111") == [{"status": "complete", "lease_token": 1}]
    res = tc(checkout, "block", "BBB222", "no", "credentials", url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert status_bodies(online, "BBB222") == [{"status": "blocked", "lease_token": 1,
                                                "note": "no credentials"}]
    assert leases(checkout) == {}
    assert online.tasks["AAA111"]["status"] == "complete"
    assert online.tasks["AAA111"]["claimed_by"] is None


def test_another_agents_lease_is_not_used(online, checkout):
    assert tc(checkout, "next", url=online.base_url, agent="agent-1").returncode == 0
    res = tc(checkout, "complete", "AAA111", url=online.base_url, agent="agent-2")
    assert res.returncode == 0, res.stderr
    assert status_bodies(online, "AAA111") == [{"status": "complete"}]  # unleased, as before


def test_heartbeat_extends_the_lease(online, checkout):
    assert tc(checkout, "next", "--lease-seconds", "60", url=online.base_url).returncode == 0
    assert online.requests_to("POST", "/api/orders/")[0]["body"]["lease_seconds"] == 60
    before = leases(checkout)["AAA111"]["expires_at"]
    res = tc(checkout, "heartbeat", url=online.base_url)  # all of this agent's leases
    assert res.returncode == 0, res.stderr
    assert res.stdout.startswith("[HEARTBEAT] AAA111 lease until ")
    req, = online.requests_to("POST", "/api/task/AAA111/heartbeat")
    assert req["body"] == {"lease_token": 1, "lease_seconds": 60}  # the claim's length again
    res = tc(checkout, "heartbeat", "AAA111", "--lease-seconds", "3600", url=online.base_url)
    assert res.returncode == 0, res.stderr
    after = leases(checkout)["AAA111"]["expires_at"]
    assert after > before and after == online.tasks["AAA111"]["lease_expires_at"]


def test_heartbeat_without_a_lease_or_with_bad_options(online, checkout):
    assert tc(checkout, "heartbeat", url=online.base_url).returncode == 3
    res = tc(checkout, "heartbeat", "AAA111", url=online.base_url)
    assert res.returncode == 3 and "no lease on AAA111" in res.stderr
    assert tc(checkout, "heartbeat", "--lease-seconds", "soon",
              url=online.base_url).returncode == 2
    assert tc(checkout, "next", "extra", url=online.base_url).returncode == 2


def test_status_shows_the_lease_expiry(online, checkout):
    assert tc(checkout, "next", url=online.base_url).returncode == 0
    res = tc(checkout, "status", "AAA111", url=online.base_url)
    assert res.returncode == 0 and res.stdout == "in_progress\n"  # scripts keep parsing it
    expires = online.tasks["AAA111"]["lease_expires_at"]
    assert f"lease: agent-1 holds AAA111 until {expires} UTC (in 14m" in res.stderr
    res = tc(checkout, "status", url=online.base_url)
    assert res.stdout == f"AAA111\tagent-1\t{expires}\t1\n"


def test_heartbeat_after_the_lease_lapsed_reports_it_lost(online, checkout):
    assert tc(checkout, "next", url=online.base_url).returncode == 0
    online.lapse("AAA111")
    res = tc(checkout, "heartbeat", "AAA111", url=online.base_url)
    assert res.returncode == 4
    assert "lease lost on AAA111" in res.stderr and "stop working on it" in res.stderr
    assert leases(checkout) == {}
    assert local_status(checkout, "AAA111") == "pending"  # what the orchestrator says now


def test_fenced_complete_after_reclaim_is_refused(online, tmp_path):
    """Agent 1 claims, its lease lapses, agent 2 claims the same task: agent 1's token is
    stale and cannot complete it; agent 2's can."""
    one, two = checkout_at(tmp_path / "one"), checkout_at(tmp_path / "two")
    assert tc(one, "next", url=online.base_url, agent="agent-1").stdout == "AAA111\n"
    online.lapse("AAA111")
    assert tc(two, "next", url=online.base_url, agent="agent-2").stdout == "AAA111\n"
    assert leases(two)["AAA111"]["token"] == 2
    res = tc(one, "complete", "AAA111", url=online.base_url, agent="agent-1")
    assert res.returncode == 4
    assert "lease on AAA111 was lost" in res.stderr and "lease_lost" in res.stderr
    assert online.tasks["AAA111"]["status"] == "in_progress"
    assert local_status(one, "AAA111") == "in_progress"  # adopted from the orchestrator
    res = tc(two, "complete", "AAA111", url=online.base_url, agent="agent-2")
    assert res.returncode == 0, res.stderr
    assert online.tasks["AAA111"]["status"] == "complete"


def test_queued_change_whose_lease_was_lost_is_reported_and_dropped_at_sync(online, checkout,
                                                                            tmp_path):
    assert tc(checkout, "next", url=online.base_url).returncode == 0
    dead = closed_port_url()
    res = tc(checkout, "complete", "AAA111", url=dead)
    assert res.returncode == 0 and "[QUEUED]" in res.stderr
    assert json.loads((checkout / ".mission_control/queue.jsonl").read_text())[
        "lease_token"] == 1
    online.lapse("AAA111")
    other = checkout_at(tmp_path / "other")
    assert tc(other, "next", url=online.base_url, agent="agent-2").stdout == "AAA111\n"
    res = tc(checkout, "sync", url=online.base_url)
    assert res.returncode == 4
    assert "lease_lost=1" in res.stdout and "queued=0" in res.stdout
    assert "lease lost: AAA111 -> complete" in res.stderr
    assert "claimed by agent-2" in res.stderr and "dropped from the queue" in res.stderr
    assert not (checkout / ".mission_control/queue.jsonl").read_text().strip()
    rejected = (checkout / ".mission_control/queue.rejected.jsonl").read_text()
    assert '"lease_lost"' in rejected
    # not retried: the next sync has nothing to push
    assert tc(checkout, "sync", url=online.base_url).stdout == "[SYNC] nothing queued\n"
    assert online.tasks["AAA111"]["status"] == "in_progress"
    assert local_status(checkout, "AAA111") == "in_progress"


def test_start_after_next_confirms_the_claim_once(online, checkout):
    """`id=$(taskctl next) && taskctl start "$id"`, the two-step claim of older agents,
    keeps working; a second start is refused as before."""
    assert tc(checkout, "next", url=online.base_url).stdout == "AAA111\n"
    res = tc(checkout, "start", "AAA111", url=online.base_url)
    assert res.returncode == 0, res.stderr
    assert status_bodies(online, "AAA111") == [{"status": "in_progress", "lease_token": 1}]
    assert tc(checkout, "start", "AAA111", url=online.base_url).returncode == 4


def test_next_when_nothing_is_pending_or_the_order_is_unknown(online, checkout, tmp_path):
    for _ in IDS:
        assert tc(checkout, "next", url=online.base_url).returncode == 0
    res = tc(checkout, "next", url=online.base_url)
    assert res.returncode == 3 and res.stdout == "" and "no pending task" in res.stderr
    stranger = tmp_path / "stranger"
    write_tasks_json(stranger, tasks_doc([{"uuid": "AAA111"}], order_id="ORD-NOPE00"))
    res = tc(stranger, "next", url=online.base_url)
    assert res.returncode == 1 and "ORD-NOPE00 is unknown" in res.stderr


def test_next_offline_or_against_an_older_worker_prints_without_claiming(online, checkout):
    res = tc(checkout, "next", url=closed_port_url())
    assert res.returncode == 0 and res.stdout == "AAA111\n"
    assert "not claimed: [OFFLINE]" in res.stderr
    online.missing_routes.add("next")
    res = tc(checkout, "next", url=online.base_url)
    assert res.returncode == 0 and res.stdout == "AAA111\n"
    assert "cannot claim tasks" in res.stderr
    assert leases(checkout) == {} and online.tasks["AAA111"]["status"] == "pending"


def test_next_pushes_queued_changes_first(online, checkout):
    assert tc(checkout, "complete", "AAA111", url=closed_port_url()).returncode == 0
    assert tc(checkout, "next", url=online.base_url).stdout == "BBB222\n"
    assert online.tasks["AAA111"]["status"] == "complete"
    paths = [r["path"] for r in online.requests if r["method"] == "POST"]
    assert paths.index("/api/task/AAA111/status") < paths.index(f"/api/orders/{ORDER}/next")


def test_concurrent_claims_in_one_checkout_lose_no_lease(fake, tmp_path):
    ids = [f"T{i:05d}" for i in range(6)]
    root = checkout_at(tmp_path / "factory", ids)
    fake.add_order(ORDER, "f", [(u, "src/a.ts", f"P_{u}") for u in ids])
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda i: tc(root, "next", url=fake.base_url,
                                             agent=f"agent-{i}"), range(8)))
    claimed = sorted(r.stdout.strip() for r in results if r.returncode == 0)
    assert claimed == ids
    assert sorted(r.returncode for r in results) == [0] * 6 + [3] * 2
    held = leases(root)
    assert sorted(held) == ids
    assert {held[u]["agent"] for u in ids} == {fake.tasks[u]["claimed_by"] for u in ids}
    assert all(t["status"] == "in_progress" for t in read_tasks_json(root)["tasks"])


def test_leases_file_is_not_needed_by_older_readers(online, checkout):
    """tasks.json keeps its shape: the lease lives in its own file."""
    assert tc(checkout, "next", url=online.base_url).returncode == 0
    doc = read_tasks_json(checkout)
    assert set(doc) == {"order_id", "factory", "created_at", "tasks"}
    assert os.path.exists(checkout / ".mission_control/leases.json")


def test_a_long_block_reason_is_clipped_for_the_note_but_logged_whole(online, checkout):
    reason = "\u00e9" * 3000
    res = tc(checkout, "block", "AAA111", reason, url=online.base_url)
    assert res.returncode == 0, res.stderr
    note = status_bodies(online, "AAA111")[0]["note"]
    assert 0 < len(note) < len(reason) and len(json.dumps(note)) <= 1500
    assert online.ops_logs[-1]["details"]["reason"] == reason
