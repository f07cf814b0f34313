"""Storage and write-rate benchmark (not a test): prints the measured inputs of docs/SCALING.md.

- Bytes per order, task, operation log row and error event: N of each are created through the
  API against a Worker in workerd with a fresh local D1, and SQLite's `dbstat` gives each
  table's pages (its indexes included) before and after; bytes per row = growth / rows.
- The local write rate of our statements through the Worker (4 concurrent clients): log
  appends, status changes, 10-task orders, each a D1 write (or one batch) per request.
- The same log insert straight on a copy of the D1 file, one transaction per statement: what
  one SQLite primary does on this disk without the Worker and HTTP around it.

Figures move with other load on the machine; run it alone.
"""

from __future__ import annotations

import http.client
import json
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import run_concurrently  # noqa: E402
from harness import WorkerProcess  # noqa: E402

TOKEN = "bench-token"
ORDERS, TASKS_PER_ORDER = 200, 10
LOG_ROWS = 3000
ERROR_EVENTS, ERRORS_PER_BATCH = 400, 50
STATUS_CHANGES = 1000
CLIENTS = 4
RAW_INSERTS = 5000


def table_bytes(worker: WorkerProcess) -> dict[str, int]:
    """Bytes of pages per table, its indexes counted with it (dbstat)."""
    con = sqlite3.connect(worker.db_path(), timeout=10)
    try:
        owner = dict(con.execute("SELECT name, tbl_name FROM sqlite_master"))
        sizes: dict[str, int] = {}
        for name, size in con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"):
            table = owner.get(name, name)
            sizes[table] = sizes.get(table, 0) + size
        return sizes
    finally:
        con.close()


def count(worker: WorkerProcess, table: str) -> int:
    return worker.query(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"]


class Client:
    def __init__(self, worker: WorkerProcess) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=60)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}

    def post(self, path: str, body: dict) -> tuple[int, dict]:
        self.conn.request("POST", path, body=json.dumps(body), headers=self.headers)
        resp = self.conn.getresponse()
        return resp.status, json.loads(resp.read() or b"null")


def parallel(worker: WorkerProcess, jobs: list[tuple[str, dict]], expect: int) -> float:
    """Runs the POSTs on CLIENTS keep-alive connections; returns requests per second."""
    chunks = [jobs[i::CLIENTS] for i in range(CLIENTS)]
    failures: list[str] = []

    def run(chunk: list[tuple[str, dict]]) -> None:
        client = Client(worker)
        for path, body in chunk:
            status, answer = client.post(path, body)
            if status != expect:
                failures.append(f"{path}: {status} {answer}")

    elapsed = run_concurrently(run, chunks)
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, first: {failures[0]}")
    return len(jobs) / elapsed


def order(i: int) -> dict:
    return {
        "factory": f"bench-factory-{i % 20}",
        "files": [{
            "file_path": f"worker/agents/agent_{i}_{f}.ts",
            "instructions": {
                f"FINAL_MILE_PROMPT__STEP_{f}_{t}":
                    f"/* Implement step {t} of agent {i}: validate inputs, call the tool, "
                    f"stream the result; keep it idempotent. */"
                for t in range(TASKS_PER_ORDER // 2)
            },
        } for f in range(2)],
    }


def log_row(i: int, order_id: str, task: str) -> dict:
    return {"source": "agent", "operation": "inject_placeholder", "level": "info",
            "order_id": order_id, "task_uuid": task,
            "details": {"file": f"worker/agents/agent_{i}.ts", "placeholder": "FINAL_MILE_PROMPT__X",
                        "bytes_written": 1834, "duration_ms": 41, "agent": f"agent-{i % 16}"}}


def error_batch(tasks: list[tuple[str, str]], first: int) -> dict:
    return {"errors": [{
        "order_id": order_id, "task_uuid": uuid, "factory": "bench-factory",
        "file_path": f"worker/agents/missing_{first + k}.ts", "placeholder": "FINAL_MILE_PROMPT__X",
        "error_code": "INJECT_FAILED", "message": "placeholder marker not found after edit",
    } for k, (order_id, uuid) in enumerate(tasks)]}


def raw_insert_rate(worker: WorkerProcess) -> tuple[float, float]:
    """Log inserts per second on a copy of the D1 file, one transaction each; and the mean ms."""
    with tempfile.TemporaryDirectory() as tmp:
        copy = Path(tmp) / "d1.sqlite"
        src = sqlite3.connect(worker.db_path(), timeout=10)
        dst = sqlite3.connect(copy)
        src.backup(dst)
        src.close()
        dst.execute("PRAGMA journal_mode=WAL")
        dst.isolation_level = None  # autocommit: one transaction per statement, as D1 runs them
        details = json.dumps(log_row(0, "ORD-abcdef", "ABC123")["details"])
        start = time.perf_counter()
        for i in range(RAW_INSERTS):
            dst.execute(
                "INSERT INTO operation_logs (source, order_id, task_uuid, operation, level, details) "
                "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                ("agent", "ORD-abcdef", "ABC123", "inject_placeholder", "info", details))
        elapsed = time.perf_counter() - start
        dst.close()
    return RAW_INSERTS / elapsed, elapsed / RAW_INSERTS * 1000


def main() -> None:
    worker = WorkerProcess({"API_TOKEN": TOKEN}, name="bench-storage").start()
    try:
        grow: dict[str, tuple[int, int]] = {}
        # Everything one kind of request adds, all tables (its log rows, follow-ups, ...).
        total: dict[str, int] = {}

        def measure(tables: list[str], action) -> float:
            before, rows_before = table_bytes(worker), {t: count(worker, t) for t in tables}
            rate = action()
            after = table_bytes(worker)
            for t in tables:
                grow[t] = (after.get(t, 0) - before.get(t, 0), count(worker, t) - rows_before[t])
            total[tables[-1]] = sum(after.values()) - sum(before.values())
            return rate

        order_rate = measure(["orders", "tasks"], lambda: parallel(
            worker, [("/api/orders", order(i)) for i in range(ORDERS)], 201))
        tasks = [(r["order_id"], r["uuid"]) for r in worker.query("SELECT order_id, uuid FROM tasks")]
        log_rate = measure(["operation_logs"], lambda: parallel(
            worker, [("/api/ops/log", log_row(i, *tasks[i % len(tasks)])) for i in range(LOG_ROWS)], 200))
        errors = [tasks[i % len(tasks)] for i in range(ERROR_EVENTS)]
        measure(["error_events"], lambda: parallel(worker, [
            ("/api/factory/errors", error_batch(errors[i:i + ERRORS_PER_BATCH], i))
            for i in range(0, ERROR_EVENTS, ERRORS_PER_BATCH)], 200))
        status_rate = parallel(worker, [
            (f"/api/task/{uuid}/status", {"status": "in_progress"})
            for _, uuid in tasks[:STATUS_CHANGES]], 200)
        raw_rate, raw_ms = raw_insert_rate(worker)

        print("bytes per row (dbstat pages of the table and its indexes / rows added):")
        for table, label in [("orders", "order"), ("tasks", "task"),
                             ("operation_logs", "operation log row"), ("error_events", "error event")]:
            size, rows = grow[table]
            print(f"  {label:<18} {size / max(rows, 1):7.0f} B  ({rows} rows, {size / 1024:.0f} KiB)")
        _, tasks_added = grow["tasks"]
        print("bytes per request, every table it writes (log rows, follow-ups, ...):")
        print(f"  a 10-task order    {total['tasks'] / ORDERS:7.0f} B  ({total['tasks'] / tasks_added:.0f} B per task)")
        print(f"  a log append       {total['operation_logs'] / LOG_ROWS:7.0f} B")
        print(f"  a reported error   {total['error_events'] / ERROR_EVENTS:7.0f} B")
        print(f"local write rate through the Worker ({CLIENTS} clients, workerd + local D1):")
        print(f"  POST /api/ops/log             {log_rate:7.0f} writes/s")
        print(f"  POST /api/task/:uuid/status   {status_rate:7.0f} writes/s (a CAS update + its log row, one batch)")
        print(f"  POST /api/orders (10 tasks)   {order_rate:7.0f} orders/s (one batch of 12 statements)")
        print(f"SQLite alone on a copy of the file, one transaction per log insert: "
              f"{raw_rate:.0f} inserts/s ({raw_ms:.3f} ms each)")
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
