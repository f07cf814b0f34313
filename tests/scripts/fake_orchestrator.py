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


def now(offset: float = 0.0) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + offset))


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
        # Leases (POST /api/orders/:id/next): uuid -> epoch seconds the lease expires at.
        self.lease_deadlines: dict[str, float] = {}
        self.missing_routes: set[str] = set()  # e.g. {"next"}: act like an older Worker
        # Remediation queue: uuids whose answers are deferred to GET /api/factory/errors/:id.
        self.queue_items: set[str] = set()
        self.queue_step = 1  # queued items each status poll finishes
        self.batches: dict[str, dict] = {}
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
                        "status": "pending", "created_at": now(), "updated_at": None,
                        "claimed_by": None, "lease_expires_at": None, "lease_token": None, **t}
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
        elif method == "POST" and len(parts) == 4 and parts[:2] == ["api", "orders"] \
                and parts[3] == "next" and "next" not in self.missing_routes:
            route = self._post_next
        elif method == "POST" and len(parts) == 4 and parts[:2] == ["api", "task"] \
                and parts[3] == "heartbeat" and "next" not in self.missing_routes:
            route = self._post_heartbeat
        elif method == "GET" and len(parts) == 4 and parts[:3] == ["api", "factory", "errors"]:
            route = self._get_batch
        if route is None:
            return self._error(h, 404, "route_not_found", f"no route {method} {path}")
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
            token = (body or {}).get("lease_token")
            if token is not None and not self._lease_live(task, token):
                return self._error(h, 409, "lease_lost", f"lease {token} on {uuid} is not live")
            if expected is not None and expected != previous:
                return self._error(h, 409, "status_conflict",
                                   f"task {uuid} is {previous}, not {expected}",
                                   {"current_status": previous})
            task["status"] = status
            task["updated_at"] = now()
            if status in ("complete", "blocked", "pending"):
                task["claimed_by"] = task["lease_expires_at"] = None
                self.lease_deadlines.pop(uuid, None)
        self._send(h, 200, {"uuid": uuid, "status": status, "previous_status": previous})

    # -- leases ---------------------------------------------------------------------------

    def _lease_live(self, task: dict, token: Any) -> bool:
        deadline = self.lease_deadlines.get(task["uuid"])
        return (task["status"] == "in_progress" and task.get("claimed_by") is not None
                and task.get("lease_token") == token and deadline is not None
                and deadline > time.time())

    def _lease_seconds(self, h, body) -> int | None:
        seconds = (body or {}).get("lease_seconds", 900)
        if not isinstance(seconds, int) or not 30 <= seconds <= 86400:
            self._error(h, 422, "validation_failed", "lease_seconds must be 30..86400")
            return None
        return seconds

    def _post_next(self, h, parts, body) -> None:
        agent = (body or {}).get("agent")
        if not isinstance(agent, str) or not agent.strip():
            return self._error(h, 422, "validation_failed", "agent is required")
        seconds = self._lease_seconds(h, body)
        if seconds is None:
            return
        with self.lock:
            if parts[2] not in self.orders:
                return self._error(h, 404, "not_found", f"order '{parts[2]}' not found")
            task = next((t for t in self.tasks.values()
                         if t["order_id"] == parts[2] and t["status"] == "pending"), None)
            if task is None:
                return self._error(h, 404, "no_pending_task", "no pending task in the order")
            task["status"] = "in_progress"
            task["claimed_by"] = agent
            task["lease_token"] = (task.get("lease_token") or 0) + 1
            task["lease_expires_at"] = now(seconds)
            task["updated_at"] = now()
            self.lease_deadlines[task["uuid"]] = time.time() + seconds
            answer = {"task": dict(task), "lease": {"token": task["lease_token"], "agent": agent,
                                                    "expires_at": task["lease_expires_at"]}}
        self._send(h, 200, answer)

    def _post_heartbeat(self, h, parts, body) -> None:
        seconds = self._lease_seconds(h, body)
        if seconds is None:
            return
        with self.lock:
            task = self.tasks.get(parts[2])
            if task is None:
                return self._error(h, 404, "not_found", f"task '{parts[2]}' not found")
            token = (body or {}).get("lease_token")
            if not self._lease_live(task, token):
                return self._error(h, 409, "lease_lost", f"lease {token} on {parts[2]} is not "
                                   f"live")
            task["lease_expires_at"] = now(seconds)
            self.lease_deadlines[task["uuid"]] = time.time() + seconds
            lease = {"token": token, "agent": task["claimed_by"],
                     "expires_at": task["lease_expires_at"]}
        self._send(h, 200, {"uuid": parts[2], "lease": lease})

    def expire_leases(self) -> list[str]:
        """What the Worker's cron does: expired leases go back to pending."""
        returned = []
        with self.lock:
            for uuid, deadline in list(self.lease_deadlines.items()):
                if deadline <= time.time():
                    task = self.tasks[uuid]
                    task["status"] = "pending"
                    task["claimed_by"] = task["lease_expires_at"] = None
                    del self.lease_deadlines[uuid]
                    returned.append(uuid)
        return returned

    def lapse(self, uuid: str) -> None:
        """Let a lease run out now, and the cron return its task."""
        with self.lock:
            self.lease_deadlines[uuid] = time.time() - 1
        self.expire_leases()

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

    def _decide(self, item: dict) -> dict:
        """The remediation answer for one reported item, with its effect on the task."""
        plan = self.remediation.get(item.get("task_uuid"))
        answer = plan(item) if callable(plan) else plan
        if answer is None:
            answer = {"action": "none", "ok": False, "note": "no remediation"}
        answer = {"task_uuid": item.get("task_uuid"), "ok": True, "note": "", **answer}
        with self.lock:
            task = self.tasks.get(item.get("task_uuid"))
            if task and answer["action"] == "blocked":
                task["status"] = "blocked"
                task["updated_at"] = now()
            if task and answer["action"] == "update_file_path":
                task["file_path"] = answer["new_file_path"]
        return answer

    def _post_errors(self, h, parts, body) -> None:
        errors = (body or {}).get("errors") or []
        with self.lock:
            self.error_batches.append({"body": body,
                                       "key": h.headers.get("Idempotency-Key")})
            batch_id = f"BATCH{len(self.error_batches):03d}"
        status_url = f"/api/factory/errors/{batch_id}"
        answers, items = [], []
        for index, item in enumerate(errors):
            base = {"index": index, "task_uuid": item.get("task_uuid"),
                    "error_code": item.get("error_code")}
            if item.get("task_uuid") in self.queue_items:
                answer = {**base, "ok": False, "action": "queued",
                          "note": "queued for remediation", "status_url": status_url}
                items.append({**base, "state": "queued", "item": item})
            else:
                answer = {**base, **self._decide(item)}
                items.append({**base, "state": "done", "answer": answer})
            answers.append(answer)
        reply: dict = {"ok": True, "remediation": answers}
        if any(i["state"] == "queued" for i in items):
            with self.lock:
                self.batches[batch_id] = {"received": len(errors), "items": items}
            reply["status_url"] = status_url
        self._send(h, 200, reply)

    def _get_batch(self, h, parts, body) -> None:
        batch = self.batches.get(parts[3])
        if batch is None:
            return self._error(h, 404, "not_found", f"batch '{parts[3]}' not found")
        query = dict(p.split("=", 1) for p in h.path.partition("?")[2].split("&") if "=" in p)
        waiting = [i for i in batch["items"] if i["state"] == "queued"]
        for item in waiting[:self.queue_step]:  # the queue consumer works a few per poll
            item["answer"] = {"index": item["index"], **self._decide(item["item"])}
            item["state"] = "done"
        start = int(query.get("cursor") or 0)
        limit = int(query.get("limit") or 50)
        page = batch["items"][start:start + limit]
        counts = {"recorded": 0, "queued": 0, "working": 0, "done": 0}
        for item in batch["items"]:
            counts[item["state"]] += 1
        out = [{**{k: v for k, v in i.items() if k not in ("item", "answer")},
                **(i.get("answer") or {})} for i in page]
        self._send(h, 200, {"batch_id": parts[3], "received": batch["received"],
                            "counts": counts, "items": out,
                            "next_cursor": str(start + limit)
                            if start + limit < len(batch["items"]) else None})

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
