"""API benchmark (not a test): prints figures, asserts nothing.

- p50/p99 latency of POST /api/orders with a 100-task order,
- requests per second of GET /api/tasks/:order_id on a 100-task order (wrk if installed,
  else a keep-alive Python client),
- p50/p99 latency of POST /api/ops/log,
- p50 latency of POST /api/task/:uuid/help for a cache miss (docs MCP stand-in on loopback,
  three concurrent searches) and a cache hit (D1 only),
- the size of the MCP endpoint's tools/list answer (what an agent's context pays per connection),
- the release wasm size, raw and gzipped.

Runs its own Worker in workerd with a fresh local D1, like the integration tests.
"""

from __future__ import annotations

import gzip
import http.client
import json
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import CORPUS  # noqa: E402
from harness import ROOT, WorkerProcess  # noqa: E402
from standins.docs_mcp import DocsMcpStandIn  # noqa: E402

TOKEN = "bench-token"


def order_100(i: int) -> dict:
    return {
        "factory": f"bench-{i}",
        "files": [
            {"file_path": f"src/f{f}.ts",
             "instructions": {f"P_{f}_{t}": f"Implement part {t} of file {f}." for t in range(10)}}
            for f in range(10)
        ],
    }


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Client:
    """One keep-alive connection with the bench token; times JSON POSTs."""

    def __init__(self, worker: WorkerProcess) -> None:
        self.conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}

    def get(self, path: str) -> dict:
        self.conn.request("GET", path, headers=self.headers)
        return json.loads(self.conn.getresponse().read())

    def timed_post(self, path: str, body: dict, expect: int) -> tuple[float, dict]:
        """(milliseconds, answer) of one POST; exits unless it answered `expect`."""
        start = time.perf_counter()
        self.conn.request("POST", path, json.dumps(body), self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = (time.perf_counter() - start) * 1000
        if resp.status != expect:
            raise SystemExit(f"POST {path} failed: {resp.status} {data[:300]!r}")
        return elapsed, json.loads(data)


WARM_UP = 5  # the first requests warm up the isolate and SQLite; not counted


def bench_create(worker: WorkerProcess, n: int) -> tuple[list[float], str]:
    client = Client(worker)
    times, order_id = [], ""
    for i in range(n + WARM_UP):
        elapsed, created = client.timed_post("/api/orders", order_100(i), 201)
        order_id = created["order_id"]
        if i >= WARM_UP:
            times.append(elapsed)
    return times, order_id


def bench_list_wrk(worker: WorkerProcess, order_id: str, seconds: int, connections: int) -> float:
    out = subprocess.run(
        ["wrk", "-t2", f"-c{connections}", f"-d{seconds}s", "-H", f"Authorization: Bearer {TOKEN}",
         f"{worker.base_url}/api/tasks/{order_id}"],
        capture_output=True, text=True, check=True,
    ).stdout
    for line in out.splitlines():
        if line.startswith("Requests/sec:"):
            return float(line.split()[1])
    raise SystemExit(f"could not read wrk output:\n{out}")


def bench_list_python(worker: WorkerProcess, order_id: str, seconds: int, connections: int) -> float:
    deadline = time.monotonic() + seconds
    counts = [0] * connections

    def loop(slot: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", worker.port, timeout=30)
        while time.monotonic() < deadline:
            conn.request("GET", f"/api/tasks/{order_id}", headers={"authorization": f"Bearer {TOKEN}"})
            resp = conn.getresponse()
            resp.read()
            if resp.status == 200:
                counts[slot] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(connections)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return sum(counts) / seconds


def bench_log(worker: WorkerProcess, n: int) -> list[float]:
    """Latencies of POST /api/ops/log, which factories call at every step."""
    client = Client(worker)
    times = []
    for i in range(n + WARM_UP):
        body = {"source": "bench", "operation": "step", "order_id": "ORD-bench1",
                "details": {"i": i, "file": f"src/f{i}.ts"}}
        elapsed, _ = client.timed_post("/api/ops/log", body, 200)
        if i >= WARM_UP:
            times.append(elapsed)
    return times


def bench_help(worker: WorkerProcess, order_id: str, n: int) -> tuple[list[float], list[float]]:
    """Latencies of help requests: each miss asks a new question, each hit repeats one."""
    client = Client(worker)
    uuid = client.get(f"/api/tasks/{order_id}")["tasks"][0]["uuid"]

    def ask(question: str) -> tuple[float, dict]:
        body = {"agent_name": "bench-agent", "question": question}
        return client.timed_post(f"/api/task/{uuid}/help", body, 200)

    misses, hits = [], []
    for i in range(n):
        elapsed, answer = ask(f"How do I bind a D1 database to a Worker, variant {i}?")
        if answer["cached"] or answer["degraded"]:
            raise SystemExit(f"expected a fresh, non-degraded answer: {answer}")
        misses.append(elapsed)
    for _ in range(n):
        elapsed, answer = ask("How do I bind a D1 database to a Worker, variant 0?")
        if not answer["cached"]:
            raise SystemExit("expected a cache hit")
        hits.append(elapsed)
    return misses, hits


def mcp_tools_list_bytes(worker: WorkerProcess) -> int:
    """Bytes of the whole JSON-RPC answer to tools/list on POST /mcp."""
    client = Client(worker)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    client.conn.request("POST", "/mcp", json.dumps(body), client.headers)
    resp = client.conn.getresponse()
    data = resp.read()
    if resp.status != 200 or "tools" not in json.loads(data).get("result", {}):
        raise SystemExit(f"tools/list failed: {resp.status} {data[:300]!r}")
    return len(data)


def main() -> None:
    wasm = ROOT / "build" / "index_bg.wasm"
    raw = wasm.read_bytes()
    docs = DocsMcpStandIn(corpus=CORPUS).start()
    worker = WorkerProcess({"API_TOKEN": TOKEN, "DOCS_MCP_URL": f"{docs.url}/mcp"},
                           name="bench").start()
    try:
        times, order_id = bench_create(worker, n=200)
        tool = "wrk" if shutil.which("wrk") else "python"
        bench = bench_list_wrk if tool == "wrk" else bench_list_python
        rps = bench(worker, order_id, seconds=10, connections=8)
        misses, hits = bench_help(worker, order_id, n=40)
        logs = bench_log(worker, n=200)
        tools_list = mcp_tools_list_bytes(worker)
    finally:
        worker.stop()
        docs.stop()

    print(f"create 100-task order: p50 {statistics.median(times):.1f} ms, "
          f"p99 {percentile(times, 99):.1f} ms over {len(times)} requests (target p50 < 50 ms)")
    print(f"GET /api/tasks/:order_id (100 tasks): {rps:.0f} requests/s, 8 connections, 10 s ({tool})")
    print(f"POST /api/ops/log: p50 {statistics.median(logs):.1f} ms, "
          f"p99 {percentile(logs, 99):.1f} ms over {len(logs)} requests")
    print(f"help, cache miss (docs stand-in on loopback): p50 {statistics.median(misses):.1f} ms, "
          f"p99 {percentile(misses, 99):.1f} ms over {len(misses)} requests")
    print(f"help, cache hit: p50 {statistics.median(hits):.1f} ms, "
          f"p99 {percentile(hits, 99):.1f} ms over {len(hits)} requests")
    print(f"MCP tools/list answer: {tools_list} bytes, 7 tools with input and output schemas "
          f"(target < 6 KB)")
    print(f"release wasm: {len(raw) / 1024:.1f} KiB raw, {len(gzip.compress(raw, 9)) / 1024:.1f} KiB gzipped "
          f"(target gzipped < 400 KB)")


if __name__ == "__main__":
    main()
