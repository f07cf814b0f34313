"""A tiny in-memory stand-in for the orchestrator's task API, on 127.0.0.1, for the script tests.

It implements only what the factory scripts call, with the real API's shapes (errors as
{"error": {"code", "message", "details"}}), plus knobs the tests need: a bearer token to
check, canned remediation answers, a failure mode, and a record of every request. The real
Worker is exercised by the e2e tests.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable

STATUSES = ("pending", "in_progress", "complete", "blocked")


def now() -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())


class FakeOrchestrator:
    def __init__(self, token: str | None = None):
        self.token = token
        self.orders: dict[str, dict] = {}
        self.tasks: dict[str, dict] = {}
        self.requests: list[dict] = []
        self.ops_logs: list[dict] = []
        self.error_batches: list[dict] = []
        # uuid -> remediation answer (dict) or callable(error_item) -> answer
        self.remediation: dict[str, Any] = {}
        self.fail_status: int | None = None  # answer every /api call with this status
        self.fail_paths: dict[str, int] = {}  # path prefix -> status to answer with
        self.log_delay = 0.0  # seconds to sleep in POST /api/ops/log (a slow log)
        self.status_delay = 0.0  # seconds to sleep in POST /status (to widen race windows)
        self.lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._counter = 0

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> "FakeOrchestrator":
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:  # keep test output clean
                pass

            def do_GET(self) -> None:
                fake._handle(self, "GET")

            def do_POST(self) -> None:
                fake._handle(self, "POST")

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,),
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()

    @property
    def base_url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    # -- seeding --------------------------------------------------------------------------

    def add_order(self, order_id: str, factory: str,
                  tasks: list[tuple[str, str, str]] | list[dict]) -> list[str]:
        """tasks: (uuid, file_path, placeholder) tuples or full task dicts."""
        uuids = []
        with self.lock:
            self.orders[order_id] = {"factory": factory, "created_at": now()}
            for t in tasks:
                if isinstance(t, tuple):
                    uuid, file_path, placeholder = t
                    t = {"uuid": uuid, "file_path": file_path, "placeholder": placeholder}
                task = {"order_id": order_id, "instruction": f"Implement {t['placeholder']}",
                        "status": "pending", "created_at": now(), "updated_at": None, **t}
                self.tasks[task["uuid"]] = task
                uuids.append(task["uuid"])
        return uuids

    def requests_to(self, method: str, prefix: str) -> list[dict]:
        return [r for r in self.requests if r["method"] == method and r["path"].startswith(prefix)]

    # -- handling -------------------------------------------------------------------------

    def _send(self, h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _error(self, h: BaseHTTPRequestHandler, status: int, code: str, message: str,
               details: Any = None) -> None:
        err: dict = {"code": code, "message": message}
        if details is not None:
            err["details"] = details
        self._send(h, status, {"error": err})

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = h.path.split("?", 1)[0]
        record = {"method": method, "path": path, "body": body,
                  "headers": {k.lower(): v for k, v in h.headers.items()}}
        with self.lock:
            self.requests.append(record)
        if self.fail_status:
            return self._error(h, self.fail_status, "unavailable", "failing on purpose")
        for prefix, status in self.fail_paths.items():
            if path.startswith(prefix):
                return self._error(h, status, "unavailable", "failing on purpose")
        if self.token is not None and h.headers.get("Authorization") != f"Bearer {self.token}":
            return self._error(h, 401, "unauthorized", "missing or wrong bearer token")
        parts = [p for p in path.split("/") if p]
        route: Callable | None = None
        if method == "GET" and len(parts) == 3 and parts[:2] == ["api", "tasks"]:
            route = self._get_order
        elif method == "GET" and len(parts) == 3 and parts[:2] == ["api", "task"]:
            route = self._get_task
        elif method == "POST" and len(parts) == 4 and parts[:2] == ["api", "task"] \
                and parts[3] == "status":
            route = self._post_status
        elif method == "POST" and len(parts) == 4 and parts[:2] == ["api", "task"] \
                and parts[3] == "help":
            route = self._post_help
        elif method == "POST" and parts == ["api", "ops", "log"]:
            route = self._post_log
        elif method == "POST" and parts == ["api", "factory", "errors"]:
            route = self._post_errors
        elif method == "POST" and parts == ["api", "orders"]:
            route = self._post_order
        if route is None:
            return self._error(h, 404, "not_found", f"no route {method} {path}")
        route(h, parts, body)

    def _get_order(self, h, parts, body) -> None:
        order_id = parts[2]
        with self.lock:
            order = self.orders.get(order_id)
            tasks = [dict(t) for t in self.tasks.values() if t["order_id"] == order_id]
        if order is None:
            return self._error(h, 404, "order_not_found", f"order {order_id} not found")
        self._send(h, 200, {"order_id": order_id, "factory": order["factory"],
                            "created_at": order["created_at"], "tasks": tasks})

    def _get_task(self, h, parts, body) -> None:
        with self.lock:
            task = self.tasks.get(parts[2])
        if task is None:
            return self._error(h, 404, "task_not_found", f"task {parts[2]} not found")
        self._send(h, 200, dict(task))

    def _post_status(self, h, parts, body) -> None:
        if self.status_delay:
            time.sleep(self.status_delay)
        uuid = parts[2]
        status = (body or {}).get("status")
        expected = (body or {}).get("expected_status")
        if status not in STATUSES:
            return self._error(h, 400, "invalid_status", "status must be one of "
                               + ", ".join(STATUSES), {"allowed": list(STATUSES)})
        with self.lock:
            task = self.tasks.get(uuid)
            if task is None:
                return self._error(h, 404, "task_not_found", f"task {uuid} not found")
            previous = task["status"]
            if expected is not None and expected != previous:
                return self._error(h, 409, "status_conflict",
                                   f"task {uuid} is {previous}, not {expected}",
                                   {"current_status": previous})
            task["status"] = status
            task["updated_at"] = now()
        self._send(h, 200, {"uuid": uuid, "status": status, "previous_status": previous})

    def _post_help(self, h, parts, body) -> None:
        with self.lock:
            task = self.tasks.get(parts[2])
        if task is None:
            return self._error(h, 404, "task_not_found", f"task {parts[2]} not found")
        body = body or {}
        self._send(h, 200, {
            "uuid": parts[2], "agent_name": body.get("agent_name"),
            "question": body.get("question"), "error": body.get("error"),
            "original_instruction": task["instruction"],
            "ai_guidance": "Use the D1 binding:\nenv.DB.prepare(...)",
            "summary": f"Agent {body.get('agent_name')} asked about task {parts[2]}.",
            "sources": [{"title": "D1 docs", "url": "https://developers.cloudflare.com/d1/",
                         "excerpt": "D1 is..."}],
        })

    def _post_log(self, h, parts, body) -> None:
        if self.log_delay:
            time.sleep(self.log_delay)
        with self.lock:
            self.ops_logs.append(body)
        self._send(h, 200, {"ok": True})

    def _post_errors(self, h, parts, body) -> None:
        errors = (body or {}).get("errors") or []
        with self.lock:
            self.error_batches.append({"body": body,
                                       "key": h.headers.get("Idempotency-Key")})
        answers = []
        for item in errors:
            plan = self.remediation.get(item.get("task_uuid"))
            answer = plan(item) if callable(plan) else plan
            if answer is None:
                answer = {"action": "none", "ok": False, "note": "no remediation"}
            answer = {"task_uuid": item.get("task_uuid"), "ok": True, "note": "", **answer}
            if answer["action"] == "blocked":
                with self.lock:
                    task = self.tasks.get(item.get("task_uuid"))
                    if task:
                        task["status"] = "blocked"
                        task["updated_at"] = now()
            if answer["action"] == "update_file_path":
                with self.lock:
                    task = self.tasks.get(item.get("task_uuid"))
                    if task:
                        task["file_path"] = answer["new_file_path"]
            answers.append(answer)
        self._send(h, 200, {"ok": True, "remediation": answers})

    def _post_order(self, h, parts, body) -> None:
        body = body or {}
        if not isinstance(body.get("files"), list) or not body.get("factory"):
            return self._error(h, 400, "invalid_body", "factory and files are required")
        with self.lock:
            self._counter += 1
            order_id = f"ORD-FAKE{self._counter:02d}"
        specs = []
        for f in body["files"]:
            for placeholder, instruction in (f.get("instructions") or {}).items():
                with self.lock:
                    self._counter += 1
                    uuid = f"T{self._counter:05d}"
                specs.append({"uuid": uuid, "file_path": f["file_path"],
                              "placeholder": placeholder, "instruction": instruction})
        self.add_order(order_id, body["factory"], specs)
        self._send(h, 201, {"order_id": order_id, "tasks_created": len(specs),
                            "factory": body["factory"],
                            "tasks": [{"uuid": s["uuid"], "file_path": s["file_path"],
                                       "placeholder": s["placeholder"]} for s in specs]})


def closed_port_url() -> str:
    """A loopback URL nobody listens on: connections are refused at once."""
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"
