"""API benchmark (not a test): prints figures, asserts nothing.

- requests per second (wrk, 8 connections, 127.0.0.1) of `GET /health` (the runtime's own cost
  per request, the bound of every route), `GET /api/tasks/:order_id` on a 100-task order and
  `GET /api/task/:uuid`,
- p50/p99 latency of POST /api/orders with a 100-task order,
- p50/p99 latency of POST /api/ops/log,
- p50 latency of POST /api/task/:uuid/help for a cache miss (docs MCP stand-in on loopback,
  three concurrent searches) and a cache hit (D1 only),
- the size of the MCP endpoint's tools/list answer (what an agent's context pays per connection),
- the release wasm size, raw and gzipped.

Runs its own Worker in workerd with a fresh local D1, like the integration tests. With
`REFERENCE_URL` set to another running implementation of the same API (under the same
`wrangler dev`), the first four figures are measured for both, alternately in one run (ours,
theirs, ours, theirs, ...) so that both see the same machine load, and printed with the ratio.
"""

from __future__ import annotations

import gzip
import http.client
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from corpus import CORPUS  # noqa: E402
from harness import ROOT, WorkerProcess  # noqa: E402
from standins.docs_mcp import DocsMcpStandIn  # noqa: E402

TOKEN = "bench-token"
CONNECTIONS = 8
ROUNDS = 4  # wrk slices per side and figure, alternating
SLICE_SECONDS = 4


@dataclass
class Target:
    """One implementation under test: ours, or the reference at REFERENCE_URL."""

    name: str
    base_url: str

    @property
    def host_port(self) -> tuple[str, int]:
        url = urllib.parse.urlsplit(self.base_url)
        if url.hostname not in ("127.0.0.1", "localhost"):
            raise SystemExit(f"benchmarks run on loopback only, not {self.base_url}")
        return "127.0.0.1", url.port or 80


def order_100(i: int) -> dict:
    return {
        "factory": f"bench-{i}",
        "files": [
            {"file_path": f"src/f{f}.ts",
             "instructions": {f"P_{f}_{t}": f"Implement part {t} of file {f}." for t in range(10)}}
            for f in range(10)
        ],
    }


def run_concurrently(target, args: list) -> float:
    """Runs `target(arg)` for each of `args`, each on its own thread, all at once; the seconds
    until the last one returned."""
    threads = [threading.Thread(target=target, args=(arg,)) for arg in args]
    started = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.perf_counter() - started


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


class Client:
    """One keep-alive connection with the bench token; times JSON POSTs."""

    def __init__(self, target: Target) -> None:
        self.conn = http.client.HTTPConnection(*target.host_port, timeout=60)
        self.headers = {"content-type": "application/json", "authorization": f"Bearer {TOKEN}"}

    def get(self, path: str) -> dict:
        self.conn.request("GET", path, headers=self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        if resp.status != 200:
            raise SystemExit(f"GET {path} failed: {resp.status} {data[:300]!r}")
        return json.loads(data)

    def timed_post(self, path: str, body: dict, expect: int | None) -> tuple[float, dict]:
        """(milliseconds, answer) of one POST; exits unless it answered `expect` (any 2xx
        when None: the reference answers its own way)."""
        start = time.perf_counter()
        self.conn.request("POST", path, json.dumps(body), self.headers)
        resp = self.conn.getresponse()
        data = resp.read()
        elapsed = (time.perf_counter() - start) * 1000
        ok = resp.status == expect if expect else 200 <= resp.status < 300
        if not ok:
            raise SystemExit(f"POST {path} failed: {resp.status} {data[:300]!r}")
        return elapsed, json.loads(data)


WARM_UP = 5  # the first requests warm up the isolate and SQLite; not counted


def bench_create(targets: list[Target], n: int) -> tuple[dict[str, list[float]], dict[str, str]]:
    """Creates 100-task orders, one per target in turn; their latencies and the last order."""
    clients = {t.name: Client(t) for t in targets}
    times: dict[str, list[float]] = {t.name: [] for t in targets}
    orders: dict[str, str] = {}
    for i in range(n + WARM_UP):
        for t in targets:
            expect = 201 if t.name == "ours" else None
            elapsed, created = clients[t.name].timed_post("/api/orders", order_100(i), expect)
            orders[t.name] = created["order_id"]
            if i >= WARM_UP:
                times[t.name].append(elapsed)
    return times, orders


@dataclass
class Slice:
    requests: int
    seconds: float
    non_2xx: int


def wrk_slice(target: Target, path: str, seconds: int) -> Slice:
    host, port = target.host_port
    out = subprocess.run(
        ["wrk", "-t2", f"-c{CONNECTIONS}", f"-d{seconds}s", "-H", f"Authorization: Bearer {TOKEN}",
         f"http://{host}:{port}{path}"],
        capture_output=True, text=True, check=True,
    ).stdout
    requests = non_2xx = 0
    for line in out.splitlines():
        words = line.split()
        if "requests in" in line:
            requests = int(words[0])
        elif line.strip().startswith("Non-2xx or 3xx responses:"):
            non_2xx = int(words[-1])
    if not requests:
        raise SystemExit(f"could not read wrk output:\n{out}")
    return Slice(requests, float(seconds), non_2xx)


def python_slice(target: Target, path: str, seconds: int) -> Slice:
    deadline = time.monotonic() + seconds
    counts = [0] * CONNECTIONS
    failed = [0] * CONNECTIONS

    def loop(slot: int) -> None:
        conn = http.client.HTTPConnection(*target.host_port, timeout=30)
        while time.monotonic() < deadline:
            conn.request("GET", path, headers={"authorization": f"Bearer {TOKEN}"})
            resp = conn.getresponse()
            resp.read()
            counts[slot] += 1
            failed[slot] += not 200 <= resp.status < 400

    run_concurrently(loop, list(range(CONNECTIONS)))
    return Slice(sum(counts), float(seconds), sum(failed))


def throughput(targets: list[Target], paths: dict[str, str], tool: str) -> dict[str, list[Slice]]:
    """ROUNDS slices per target, one per round. Which side goes first alternates by round:
    the machine's speed drifts over a run, and a fixed order would hand the same side the
    faster half of every round."""
    run = wrk_slice if tool == "wrk" else python_slice
    slices: dict[str, list[Slice]] = {t.name: [] for t in targets}
    for round_ in range(ROUNDS):
        for t in (targets if round_ % 2 == 0 else targets[::-1]):
            slices[t.name].append(run(t, paths[t.name], SLICE_SECONDS))
    return slices


def rate(slices: list[Slice]) -> float:
    return sum(s.requests for s in slices) / sum(s.seconds for s in slices)


def round_ratios(by_target: dict[str, list[Slice]]) -> list[float]:
    """Ours / reference throughput per round: how much of a ratio is the machine's noise."""
    return [rate([o]) / rate([r]) for o, r in zip(by_target["ours"], by_target["reference"])]


def bench_log(ours: Target, n: int) -> list[float]:
    """Latencies of POST /api/ops/log, which factories call at every step."""
    client = Client(ours)
    times = []
    for i in range(n + WARM_UP):
        body = {"source": "bench", "operation": "step", "order_id": "ORD-bench1",
                "details": {"i": i, "file": f"src/f{i}.ts"}}
        elapsed, _ = client.timed_post("/api/ops/log", body, 200)
        if i >= WARM_UP:
            times.append(elapsed)
    return times


def bench_help(ours: Target, order_id: str, n: int) -> tuple[list[float], list[float]]:
    """Latencies of help requests: each miss asks a new question, each hit repeats one."""
    client = Client(ours)
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


def middle_task(target: Target, order_id: str) -> str:
    tasks = Client(target).get(f"/api/tasks/{order_id}")["tasks"]
    return tasks[len(tasks) // 2]["uuid"]


def mcp_tools_list_bytes(ours: Target) -> int:
    """Bytes of the whole JSON-RPC answer to tools/list on POST /mcp."""
    client = Client(ours)
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
    reference_url = os.environ.get("REFERENCE_URL", "").rstrip("/")
    docs = DocsMcpStandIn(corpus=CORPUS).start()
    worker = WorkerProcess({"API_TOKEN": TOKEN, "DOCS_MCP_URL": f"{docs.url}/mcp"},
                           name="bench").start()
    ours = Target("ours", worker.base_url)
    targets = [ours] + ([Target("reference", reference_url)] if reference_url else [])
    tool = "wrk" if shutil.which("wrk") else "python"
    try:
        # The reference writes one row per round trip: fewer orders keep the run bounded.
        times, orders = bench_create(targets, n=30 if reference_url else 200)
        tasks = {t.name: middle_task(t, orders[t.name]) for t in targets}
        reads = {
            "GET /health (runtime cost per request)":
                throughput(targets, {t.name: "/health" for t in targets}, tool),
            "GET /api/tasks/:order_id (100 tasks)":
                throughput(targets, {t.name: f"/api/tasks/{orders[t.name]}" for t in targets}, tool),
            "GET /api/task/:uuid":
                throughput(targets, {t.name: f"/api/task/{tasks[t.name]}" for t in targets}, tool),
        }
        misses, hits = bench_help(ours, orders["ours"], n=40)
        logs = bench_log(ours, n=200)
        tools_list = mcp_tools_list_bytes(ours)
    finally:
        worker.stop()
        docs.stop()

    how = f"{CONNECTIONS} connections, {ROUNDS} x {SLICE_SECONDS} s per side ({tool})"
    if reference_url:
        print(f"side by side with {reference_url}, measured alternately; ratio = ours / reference "
              f"throughput, reference / ours latency")
    for figure, by_target in reads.items():
        rps, non_2xx = rate(by_target["ours"]), sum(s.non_2xx for s in by_target["ours"])
        line = f"{figure}: {rps:.0f} requests/s"
        if reference_url:
            theirs = by_target["reference"]
            ref_rps, ref_non_2xx = rate(theirs), sum(s.non_2xx for s in theirs)
            per_round = round_ratios(by_target)
            line += (f", reference {ref_rps:.0f} requests/s, ratio {rps / ref_rps:.2f}x "
                     f"(rounds {min(per_round):.2f}-{max(per_round):.2f}x)")
            if ref_non_2xx:
                line += f" (reference: {ref_non_2xx} non-2xx answers)"
        if non_2xx:
            line += f" (ours: {non_2xx} non-2xx answers)"
        print(f"{line}; {how}")
    list_rps = rate(reads["GET /api/tasks/:order_id (100 tasks)"]["ours"])
    single_rps = rate(reads["GET /api/task/:uuid"]["ours"])
    print(f"100-task list read / single-task read throughput: {list_rps / single_rps:.2f}x (target >= 0.9x)")
    mine = times["ours"]
    line = (f"create 100-task order: p50 {statistics.median(mine):.1f} ms, "
            f"p99 {percentile(mine, 99):.1f} ms over {len(mine)} requests")
    if reference_url:
        theirs = times["reference"]
        line += (f"; reference p50 {statistics.median(theirs):.1f} ms, p99 {percentile(theirs, 99):.1f} ms; "
                 f"ratio {statistics.median(theirs) / statistics.median(mine):.1f}x (target >= 10x)")
    print(line)
    print(f"POST /api/ops/log: p50 {statistics.median(logs):.1f} ms, "
          f"p99 {percentile(logs, 99):.1f} ms over {len(logs)} requests")
    print(f"help, cache miss (docs stand-in on loopback): p50 {statistics.median(misses):.1f} ms, "
          f"p99 {percentile(misses, 99):.1f} ms over {len(misses)} requests")
    print(f"help, cache hit: p50 {statistics.median(hits):.1f} ms, "
          f"p99 {percentile(hits, 99):.1f} ms over {len(hits)} requests")
    print(f"MCP tools/list answer: {tools_list} bytes, 7 tools with input and output schemas "
          f"(target < 6 KB)")
    print(f"release wasm: {len(raw) / 1024:.1f} KiB raw, {len(gzip.compress(raw, 9)) / 1024:.1f} KiB gzipped "
          f"(target gzipped < 250 KiB)")


if __name__ == "__main__":
    main()
