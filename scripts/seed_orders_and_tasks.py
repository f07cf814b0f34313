#!/usr/bin/env python3
"""Create an order on a Mission Control orchestrator and print it with its tasks.

Usage:
    seed_orders_and_tasks.py [BASE_URL] [--file ORDER.json] [--idempotency-key KEY] [--json]

BASE_URL defaults to $MISSION_CONTROL_URL, then http://127.0.0.1:8787 (a trailing /api is
accepted). Without --file the TypeScript original's sample order (agent-factory,
worker/agents/agent_gmail.ts, two placeholders) is created. The bearer token comes from $MISSION_CONTROL_TOKEN.

Exit codes: 0 created and read back; 1 the orchestrator was unreachable or refused; 2 bad
command line or order file.

Python 3.11 standard library only.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from typing import Any

DEFAULT_URL = "http://127.0.0.1:8787"
TOKEN_ENV = "MISSION_CONTROL_TOKEN"
RETRY_DELAY = 0.5  # seconds before retrying a refused connection; grows with each attempt

SAMPLE_ORDER = {
    "factory": "agent-factory",
    "files": [
        {
            "file_path": "worker/agents/agent_gmail.ts",
            "instructions": {
                "FINAL_MILE_PROMPT__AGENT_INIT": "/* Initialize agent state, validate env vars, "
                "set up tool registry. Keep initialization idempotent. */",
                "FINAL_MILE_PROMPT__AGENT_LOGIC": "/* Implement core logic: fetch D1 record, "
                "process inputs, stream results via WebSocket. Avoid direct external network "
                "calls. */",
            },
        }
    ],
}


class RequestFailed(Exception):
    pass


def normalize_base_url(url: str) -> str:
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parsed.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def call(base_url: str, method: str, path: str, body: Any = None, *, token: str | None,
         headers: dict[str, str] | None = None, attempts: int = 1,
         timeout: float = 30.0) -> tuple[int, Any]:
    """(status, JSON body). Retries only on connection failures; callers retry only requests
    that are safe to repeat (GETs, or a POST carrying an Idempotency-Key)."""
    data = json.dumps(body).encode() if body is not None else None
    for attempt in range(attempts):
        req = urllib.request.Request(base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if token:
            req.add_header("Authorization", f"Bearer {token}")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, raw = resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            status, raw = exc.code, exc.read()
        except (urllib.error.URLError, OSError) as exc:
            if attempt + 1 < attempts:
                time.sleep(RETRY_DELAY * (attempt + 1))
                continue
            raise RequestFailed(f"cannot reach {base_url}: {getattr(exc, 'reason', exc)}") from None
        try:
            return status, (json.loads(raw) if raw.strip() else None)
        except ValueError:
            return status, raw.decode("utf-8", "replace")[:300]
    raise AssertionError("unreachable")


def describe(status: int, body: Any) -> str:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        err = body["error"]
        text = f"{status} {err.get('code', '')}: {err.get('message', '')}".strip()
        if err.get("details") is not None:
            text += f" {json.dumps(err['details'])}"
    elif isinstance(body, dict) and body.get("error"):
        text = f"{status}: {body['error']}"
    else:
        text = f"{status}: {body!r}"[:300]
    if status in (401, 403):
        text += f" (set {TOKEN_ENV})" if not os.environ.get(TOKEN_ENV) else f" (check {TOKEN_ENV})"
    return text


def load_order(path: str | None) -> dict:
    if path is None:
        return SAMPLE_ORDER
    try:
        with open(path, encoding="utf-8") as fh:
            order = json.load(fh)
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror}") from None
    except ValueError as exc:
        raise ValueError(f"{path} is not valid JSON: {exc}") from None
    if not isinstance(order, dict) or not isinstance(order.get("files"), list):
        raise ValueError(f"{path}: expected {{\"factory\": ..., \"files\": [...]}}")
    return order


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="seed_orders_and_tasks.py",
        description="Create an order (the TypeScript original's sample, or one from --file) "
                    "and print it with its tasks.",
        epilog=f"Environment: MISSION_CONTROL_URL (default {DEFAULT_URL}), {TOKEN_ENV}. "
               "Exit codes: 0 ok, 1 orchestrator unreachable or refused, 2 bad usage/file.")
    parser.add_argument("base_url", nargs="?", metavar="BASE_URL",
                        help="orchestrator base URL (default: $MISSION_CONTROL_URL or "
                             f"{DEFAULT_URL})")
    parser.add_argument("--file", "-f", metavar="ORDER.json",
                        help="order to create: {\"factory\", \"files\": [{\"file_path\", "
                             "\"instructions\": {PLACEHOLDER: instruction}}]}")
    parser.add_argument("--idempotency-key", metavar="KEY",
                        help="Idempotency-Key header (default: a fresh one, so only this "
                             "script's own retries are merged)")
    parser.add_argument("--json", action="store_true",
                        help="print one JSON document {order, tasks} and nothing else")
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per request")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    try:
        base_url = normalize_base_url(args.base_url or os.environ.get("MISSION_CONTROL_URL")
                                      or DEFAULT_URL)
        order = load_order(args.file)
    except ValueError as exc:
        print(f"[ERROR] {exc}", file=sys.stderr)
        return 2
    token = os.environ.get(TOKEN_ENV) or None
    key = args.idempotency_key or f"seed-{uuid.uuid4()}"
    try:
        status, created = call(base_url, "POST", "/api/orders", order, token=token,
                               headers={"Idempotency-Key": key}, attempts=3,
                               timeout=args.timeout)
        if not args.json:
            print("[CREATE ORDER]", status, json.dumps(created))
        if not 200 <= status < 300 or not isinstance(created, dict) or not created.get("order_id"):
            print(f"[ERROR] creating the order failed: {describe(status, created)}",
                  file=sys.stderr)
            return 1
        order_id = created["order_id"]
        status, tasks = call(base_url, "GET",
                             f"/api/tasks/{urllib.parse.quote(str(order_id), safe='')}",
                             token=token, attempts=3, timeout=args.timeout)
    except RequestFailed as exc:
        print(f"[ERROR] {exc}", file=sys.stderr)
        return 1
    if not 200 <= status < 300 or not isinstance(tasks, dict):
        print(f"[ERROR] reading order {order_id} back failed: {describe(status, tasks)}",
              file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps({"order": created, "tasks": tasks}, indent=2, ensure_ascii=False))
    else:
        print(json.dumps(tasks, indent=2, ensure_ascii=False))
        print(f"\nNext, in the factory checkout:\n  python3 factory_init.py {order_id} {base_url}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
