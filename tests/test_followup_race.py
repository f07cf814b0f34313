"""The race of issue 9: concurrent error batches about the same tasks must converge on one
active follow-up per (task, type) and one GitHub issue per task.

Before the fix, twelve batches posted at once over 36 tasks left 168 open follow-ups (up to 6 of
one type for one task) and duplicate GitHub issues: each request looked for an open follow-up
and inserted one in a later D1 call.
"""

from __future__ import annotations

import threading
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor

from github_followups import ACTIVE
from test_remediation import issues_for, item, make_order

TASKS, BATCHES, PER_BATCH = 36, 12, 12


def test_concurrent_batches_make_one_followup_and_one_issue_per_task(worker, github, upstreams):
    x = uuid.uuid4().hex[:8]
    # No file in the templates resembles these paths: each task is blocked with an issue.
    order = make_order(worker, {f"vanished/{x}/lost_{i}_{x}.ts": ["LOST"] for i in range(TASKS)})
    tasks = order["tasks"]
    assert len(tasks) == TASKS
    # Batch b reports tasks 3b .. 3b+11 (mod 36): overlapping windows, every task in 4 batches.
    # 12 items stay well inside one request's budget of GitHub calls (REMEDIATION_MAX_CALLS).
    batches = [[tasks[(3 * b + j) % TASKS] for j in range(PER_BATCH)] for b in range(BATCHES)]
    per_task = Counter(t["uuid"] for batch in batches for t in batch)
    assert set(per_task.values()) == {PER_BATCH * BATCHES // TASKS}

    start = threading.Barrier(BATCHES)

    def post(b: int):
        body = {"batch_id": f"race-{x}-{b}", "errors": [item(order, t, "FILE_NOT_FOUND") for t in batches[b]]}
        start.wait()
        return worker.post("/api/factory/errors", body, timeout=180)

    with ThreadPoolExecutor(BATCHES) as pool:
        replies = list(pool.map(post, range(BATCHES)))

    for b, reply in enumerate(replies):
        assert reply.status == 200, reply.text
        assert reply.body["batch_id"] == f"race-{x}-{b}"
        assert reply.body["received"] == PER_BATCH
        got = reply.body["remediation"]
        assert [a["task_uuid"] for a in got] == [t["uuid"] for t in batches[b]]
        assert [a["action"] for a in got] == ["blocked"] * PER_BATCH, got

    # Every reported error recorded exactly once.
    events = worker.query("SELECT task_uuid, error_code FROM error_events WHERE order_id = ?", (order["order_id"],))
    assert len(events) == PER_BATCH * BATCHES
    assert Counter(e["task_uuid"] for e in events) == per_task
    assert {e["error_code"] for e in events} == {"FILE_NOT_FOUND"}

    # One active follow-up per (task, type); here, one blocked follow-up per task.
    followups = worker.query("SELECT * FROM followups WHERE order_id = ?", (order["order_id"],))
    active = Counter((f["task_uuid"], f["type"]) for f in followups if f["status"] in ACTIVE)
    assert active == Counter({(t["uuid"], "blocked"): 1 for t in tasks}), \
        f"{sum(active.values())} active follow-ups for {TASKS} tasks: {active.most_common(3)}"
    assert len(followups) == TASKS, "losers reuse the winner's follow-up instead of adding closed ones"

    # One GitHub issue per task, and the task's follow-up points at it.
    by_task = {f["task_uuid"]: f for f in followups}
    for t in tasks:
        opened = issues_for(github, t["uuid"])
        assert len(opened) == 1, f"{len(opened)} issues for task {t['uuid']}"
        assert by_task[t["uuid"]]["github_number"] == opened[0]["number"]
        assert by_task[t["uuid"]]["github_issue_id"] == opened[0]["html_url"]
        assert worker.get(f"/api/task/{t['uuid']}").body["status"] == "blocked"
    # Each answer names the task's one follow-up.
    for reply in replies:
        for answer in reply.body["remediation"]:
            assert answer["followup_id"] == by_task[answer["task_uuid"]]["id"]
