"""Coordination benchmark (not a test): prints figures, asserts nothing.

- p50/p99 latency of POST /api/orders/:order_id/next with 8 agents claiming at once (each a
  keep-alive connection, all on one 400-task order, until it is empty),
- p50/p99 latency of GET /api/orders (a page of 50) and GET /api/orders/:order_id with
  1,000 orders in D1.

Runs its own Worker in workerd with a fresh local D1, like the integration tests.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_api import percentile, run_concurrently  # noqa: E402
from harness import WorkerProcess  # noqa: E402

TOKEN = "bench-token"
AGENTS = 8


class Client:
    def __init__(self, worker: WorkerProcess) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=60)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}

    def call(self, method: str, path: str, body: dict | None = None) -> tuple[int, dict, float]:
        started = time.perf_counter()
        self.conn.request(method, path, json.dumps(body) if body is not None else None, self.headers)
        resp = self.conn.getresponse()
        data = json.loads(resp.read() or b"null")
        return resp.status, data, (time.perf_counter() - started) * 1000


def order_body(factory: str, tasks: int) -> dict:
    files = max(1, tasks // 10)
    return {"factory": factory,
            "files": [{"file_path": f"src/f{f}.ts",
                       "instructions": {f"P_{f}_{t}": f"Part {t}." for t in range(tasks // files)}}
                      for f in range(files)]}


def claims(worker: WorkerProcess) -> None:
    client = Client(worker)
    status, order, _ = client.call("POST", "/api/orders", order_body("claims", 400))
    assert status == 201, order
    samples: list[float] = []
    claimed: list[str] = []
    lock = threading.Lock()

    def agent(n: int) -> None:
        me = Client(worker)
        while True:
            status, body, ms = me.call("POST", f"/api/orders/{order['order_id']}/next",
                                       {"agent": f"bench-agent-{n}"})
            if status != 200:
                return
            with lock:
                samples.append(ms)
                claimed.append(body["task"]["uuid"])

    elapsed = run_concurrently(agent, list(range(AGENTS)))
    distinct = len(set(claimed))
    print(f"next-task claim, {AGENTS} agents at once: p50 {percentile(samples, 50):.1f} ms / "
          f"p99 {percentile(samples, 99):.1f} ms; {len(claimed)} claims ({distinct} distinct) "
          f"in {elapsed:.1f} s = {len(claimed) / elapsed:.0f} claims/s")


def overview(worker: WorkerProcess) -> None:
    client = Client(worker)
    last = None
    for i in range(1000):
        status, body, _ = client.call("POST", "/api/orders", order_body(f"fleet-{i % 20}", 10))
        assert status == 201, body
        last = body["order_id"]
    for path, label in [("/api/orders?limit=50", "GET /api/orders (page of 50)"),
                        ("/api/orders?factory=fleet-7&limit=50", "GET /api/orders?factory= (page of 50)"),
                        (f"/api/orders/{last}", "GET /api/orders/:order_id")]:
        samples = []
        for _ in range(100):
            status, _, ms = client.call("GET", path)
            assert status == 200
            samples.append(ms)
        print(f"{label} with 1,000 orders in D1: p50 {percentile(samples, 50):.1f} ms / "
              f"p99 {percentile(samples, 99):.1f} ms")


def main() -> None:
    worker = WorkerProcess({"API_TOKEN": TOKEN}, name="bench-coordination", queue=False).start()
    try:
        claims(worker)
        overview(worker)
    finally:
        worker.stop()


if __name__ == "__main__":
    main()
