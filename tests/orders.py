"""Builders for order bodies used across the tests."""

from __future__ import annotations

import itertools

_counter = itertools.count()

# The sample order of the TypeScript original's seed script (seed_orders_and_tasks.py).
SAMPLE_ORDER = {
    "factory": "agent-factory",
    "files": [
        {
            "file_path": "worker/agents/agent_gmail.ts",
            "instructions": {
                "FINAL_MILE_PROMPT__AGENT_INIT": "/* Initialize agent state, validate env vars, set up tool registry. Keep initialization idempotent. */",
                "FINAL_MILE_PROMPT__AGENT_LOGIC": "/* Implement core logic: fetch D1 record, process inputs, stream results via WebSocket. Avoid direct external network calls. */",
            },
        }
    ],
}


def unique_factory(prefix: str = "factory") -> str:
    return f"{prefix}-{next(_counter)}-{id(_counter) % 9973}"


def order_body(tasks: int = 2, files: int = 1, factory: str | None = None) -> dict:
    """An order of `tasks` placeholders spread over `files` files."""
    body = {"factory": factory or unique_factory(), "files": []}
    for f in range(files):
        body["files"].append({"file_path": f"src/module_{f}/file_{f}.ts", "instructions": {}})
    for t in range(tasks):
        body["files"][t % files]["instructions"][f"PLACEHOLDER_{t}"] = f"Implement step {t} with D1."
    return body


def create_order(worker, files: dict[str, list[str]], prefix: str = "factory") -> dict:
    """Creates an order with one task per (file, placeholder); returns the 201 body plus
    `factory`, which error reports have to name."""
    factory = unique_factory(prefix)
    body = {"factory": factory,
            "files": [{"file_path": path, "instructions": {ph: f"Implement {ph}." for ph in names}}
                      for path, names in files.items()]}
    reply = worker.post("/api/orders", body)
    assert reply.status == 201, reply.text
    return {**reply.body, "factory": factory}
