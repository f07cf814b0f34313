"""Helpers for the task-lease routes: claim, heartbeat, status with a token, and D1 clock tricks.

Lease timestamps are UTC in SQLite's `YYYY-MM-DD HH:MM:SS` format (second granularity).
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

SQLITE_TS = "%Y-%m-%d %H:%M:%S"


def parse_ts(value: str) -> datetime:
    return datetime.strptime(value, SQLITE_TS).replace(tzinfo=timezone.utc)


def seconds_from_now(value: str) -> float:
    return (parse_ts(value) - datetime.now(timezone.utc)).total_seconds()


def claim(worker, order_id: str, agent: str, lease_seconds: int | None = None, **kw):
    """POST /api/orders/:id/next; the raw reply."""
    body: dict = {"agent": agent}
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    return worker.post(f"/api/orders/{order_id}/next", body, **kw)


def claim_ok(worker, order_id: str, agent: str, lease_seconds: int | None = None) -> dict:
    """A claim that must succeed; returns `{task, lease}` after checking they agree."""
    reply = claim(worker, order_id, agent, lease_seconds)
    assert reply.status == 200, reply.text
    task, lease = reply.body["task"], reply.body["lease"]
    assert task["order_id"] == order_id
    assert (task["status"], task["claimed_by"]) == ("in_progress", agent)
    assert lease["agent"] == agent
    assert type(lease["token"]) is int
    assert (task["lease_token"], task["lease_expires_at"]) == (lease["token"], lease["expires_at"])
    return reply.body


def heartbeat(worker, uuid: str, token, lease_seconds: int | None = None):
    body: dict = {"lease_token": token}
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    return worker.post(f"/api/task/{uuid}/heartbeat", body)


def set_status(worker, uuid: str, status: str, **fields):
    return worker.post(f"/api/task/{uuid}/status", {"status": status, **fields})


def task(worker, uuid: str) -> dict:
    reply = worker.get(f"/api/task/{uuid}")
    assert reply.status == 200, reply.text
    return reply.body


def expire_lease(worker, uuid: str, seconds_ago: int = 120) -> str:
    """Moves the task's lease expiry into the past by rewriting D1 directly.

    Tests cannot wait out even the shortest lease (30 s), so they age it instead; the Worker
    then sees exactly what it would see once the lease had run out. Returns the new expiry."""
    when = (datetime.now(timezone.utc) - timedelta(seconds=seconds_ago)).strftime(SQLITE_TS)
    assert uuid.isalnum(), uuid  # inlined below: executescript takes no parameters
    worker.execute(f"UPDATE tasks SET lease_expires_at = '{when}' WHERE uuid = '{uuid}';")
    return when


def logs_of(worker, uuid: str, operation: str) -> list[dict]:
    """The task's operation_logs rows of one kind, oldest first, with details parsed."""
    rows = worker.query("SELECT * FROM operation_logs WHERE task_uuid = ? AND operation = ? ORDER BY id",
                        (uuid, operation))
    for row in rows:
        row["details"] = json.loads(row["details"])
    return rows
