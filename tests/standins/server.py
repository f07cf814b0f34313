"""Shared machinery for the local stand-ins of Mission Control's upstream services.

A `StandIn` is a real HTTP server on 127.0.0.1 (port chosen by the OS) running in a
daemon thread, so the Worker under `wrangler dev` can reach it over real sockets.
Every request is recorded as a `Call`; tests can make upcoming requests fail (status,
headers, body), hang (to exercise client timeouts) or drop the connection.

Subclasses implement `handle(call) -> Response` and may override `failure_body`.
"""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import traceback
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Callable
from urllib.parse import parse_qs, unquote, urlsplit


@dataclass
class Call:
    """One request as the stand-in received it."""

    method: str
    path: str  # percent-decoded path, no query string
    query: dict[str, Any]  # single values as str, repeated keys as list[str]
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    body: Any  # parsed JSON, else decoded text, else None when empty
    ts: float  # time.time() on arrival
    raw_body: bytes = b""
    status: int | None = None  # status sent back; None while hanging or when dropped
    injected: bool = False  # True when a fail_next rule answered it

    def header(self, name: str, default: str | None = None) -> str | None:
        return self.headers.get(name.lower(), default)


@dataclass
class Response:
    """What a handler answers. dict/list bodies become JSON, str text, bytes raw."""

    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class _FailRule:
    remaining: int | None  # None: until cleared
    status: int | None  # None: after `delay`, answer normally (a slow, not failing, call)
    body: Any
    headers: dict[str, str]
    delay: float | None
    match: str | None
    method: str | None
    drop: bool

    def applies_to(self, call: Call) -> bool:
        if self.remaining is not None and self.remaining <= 0:
            return False
        if self.match is not None and self.match not in call.path:
            return False
        if self.method is not None and self.method.upper() != call.method:
            return False
        return True


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a hanging handler must never keep the process alive
    allow_reuse_address = True
    request_queue_size = 128  # workerd may open many connections at once

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that time out and hang up are part of the game here (timeout tests);
        # a broken pipe on the late answer is expected, not worth a traceback.
        import sys

        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError, ValueError, OSError)):
            return
        super().handle_error(request, client_address)


class StandIn:
    """Base class: server lifecycle, call recording, failure injection, modes."""

    #: persistent modes a subclass understands, with their defaults (see `set_mode`)
    DEFAULT_MODES: dict[str, Any] = {}

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._cond = threading.Condition(self._lock)
        self._calls: list[Call] = []
        self._rules: list[_FailRule] = []
        # Per-instance defaults (a constructor may override DEFAULT_MODES); reset() restores them.
        self._default_modes: dict[str, Any] = dict(self.DEFAULT_MODES)
        self.modes: dict[str, Any] = dict(self._default_modes)
        #: exceptions raised inside `handle` (stand-in bugs); tests may assert it is empty
        self.errors: list[str] = []
        self._server: _QuietServer | None = None
        self._thread: threading.Thread | None = None
        # Set on stop(): wakes handlers that are sleeping in a simulated hang.
        self._released = threading.Event()

    # ----- lifecycle -------------------------------------------------------------

    def start(self) -> "StandIn":
        if self._server is not None:
            return self
        self._released.clear()
        server = _QuietServer(("127.0.0.1", 0), self._make_handler())
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},  # short poll so stop() returns promptly
            name=f"{type(self).__name__}-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._released.set()
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> "StandIn":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError(f"{type(self).__name__} is not started")
        return self._server.server_address[1]

    @property
    def url(self) -> str:
        """Base URL without trailing slash, e.g. http://127.0.0.1:41234"""
        return f"http://127.0.0.1:{self.port}"

    # ----- recorded calls --------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        """A snapshot (copy) of every request received so far, oldest first."""
        with self._lock:
            return list(self._calls)

    def calls_to(self, path_contains: str = "", method: str | None = None) -> list[Call]:
        with self._lock:
            return [
                c
                for c in self._calls
                if path_contains in c.path and (method is None or c.method == method.upper())
            ]

    def wait_for_calls(
        self, n: int, path_contains: str = "", method: str | None = None, timeout: float = 5.0
    ) -> list[Call]:
        """Block until at least n matching calls arrived (for work the Worker does in
        the background, e.g. ctx.waitUntil). Raises TimeoutError otherwise."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                found = self.calls_to(path_contains, method)
                if len(found) >= n:
                    return found
                left = deadline - time.monotonic()
                if left <= 0:
                    raise TimeoutError(
                        f"{type(self).__name__}: wanted {n} calls to {path_contains!r}, got {len(found)}"
                    )
                self._cond.wait(left)

    def reset(self) -> None:
        """Forget calls, failure rules and modes. Subclasses keep their data (repo, corpus)."""
        with self._lock:
            self._calls.clear()
            self._rules.clear()
            self.errors.clear()
            self.modes = dict(self._default_modes)

    # ----- failure injection -----------------------------------------------------

    def fail_next(
        self,
        n: int | None = 1,
        status: int | None = 500,
        body: Any = None,
        headers: dict[str, str] | None = None,
        delay: float | None = None,
        match: str | None = None,
        method: str | None = None,
        drop: bool = False,
    ) -> None:
        """Make the next `n` requests whose path contains `match` (and, if given, use
        `method`) fail.

        - `status`/`body`/`headers`: the answer; body None -> `failure_body(status)`.
        - `delay`: sleep that long first (the server is threaded, other requests keep
          flowing). With `status=None` the call is then answered normally, i.e. a slow
          upstream rather than a failing one.
        - `drop`: close the connection without any answer (after `delay`, if any).
        - `n=None`: keep failing until `clear_failures()` / `reset()`.
        Rules are consulted in the order they were added; the first applicable wins.
        """
        rule = _FailRule(
            remaining=n,
            status=status,
            body=body,
            headers=dict(headers or {}),
            delay=delay,
            match=match,
            method=method,
            drop=drop,
        )
        with self._lock:
            self._rules.append(rule)

    def fail_always(self, status: int = 500, **kwargs: Any) -> None:
        self.fail_next(None, status=status, **kwargs)

    def hang_next(self, n: int = 1, delay: float = 30.0, match: str | None = None) -> None:
        """Shorthand: the next n matching calls take `delay` seconds, then answer normally."""
        self.fail_next(n, status=None, delay=delay, match=match)

    def clear_failures(self) -> None:
        with self._lock:
            self._rules.clear()

    def pending_failures(self) -> int:
        """How many injected failures are still armed (unbounded rules count as 1)."""
        with self._lock:
            return sum(1 if r.remaining is None else r.remaining for r in self._rules)

    def set_mode(self, **modes: Any) -> None:
        """Persistent switches (until reset()); each subclass documents its DEFAULT_MODES."""
        unknown = set(modes) - set(self._default_modes)
        if unknown:
            raise KeyError(f"{type(self).__name__} has no mode(s) {sorted(unknown)}; "
                           f"known: {sorted(self._default_modes)}")
        with self._lock:
            self.modes.update(modes)

    def failure_body(self, status: int) -> Any:
        """Default body for an injected failure; subclasses mimic their upstream."""
        return {"error": f"injected failure ({status})"}

    # ----- to implement ----------------------------------------------------------

    def handle(self, call: Call) -> Response:
        raise NotImplementedError

    # ----- plumbing --------------------------------------------------------------

    def _take_rule(self, call: Call) -> _FailRule | None:
        with self._lock:
            for rule in self._rules:
                if rule.applies_to(call):
                    if rule.remaining is not None:
                        rule.remaining -= 1
                    return rule
        return None

    def _make_handler(self) -> type[BaseHTTPRequestHandler]:
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            # HTTP/1.0: one request per connection. Keeps hangs and drops independent
            # of connection reuse on the client side.
            protocol_version = "HTTP/1.0"
            server_version = f"{type(stand_in).__name__}/1.0"

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
                pass  # quiet; tests inspect .calls instead

            def _any(self) -> None:
                stand_in._serve(self)

            do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = _any

        return Handler

    def _serve(self, h: BaseHTTPRequestHandler) -> None:
        call = _parse_request(h)
        with self._cond:
            self._calls.append(call)
            self._cond.notify_all()

        rule = self._take_rule(call)
        response: Response | None
        if rule is not None:
            call.injected = True
            if rule.delay:
                if self._released.wait(rule.delay):
                    _drop(h)  # server stopping: abandon the hanging call
                    return
            if rule.drop:
                _drop(h)
                return
            if rule.status is not None:
                body = rule.body if rule.body is not None else self.failure_body(rule.status)
                response = Response(rule.status, body, dict(rule.headers))
            else:
                response = None
        else:
            response = None

        if response is None:
            try:
                response = self.handle(call)
            except Exception:  # a stand-in bug must be loud, not a silent hang
                tb = traceback.format_exc()
                with self._lock:
                    self.errors.append(tb)
                response = Response(500, {"error": "stand-in crashed", "traceback": tb})

        call.status = response.status
        _write(h, call.method, response)


def _parse_request(h: BaseHTTPRequestHandler) -> Call:
    parts = urlsplit(h.path)
    query: dict[str, Any] = {}
    for key, values in parse_qs(parts.query, keep_blank_values=True).items():
        query[key] = values[0] if len(values) == 1 else values
    headers: dict[str, str] = {}
    for key, value in h.headers.items():
        k = key.lower()
        headers[k] = f"{headers[k]}, {value}" if k in headers else value
    raw = _read_body(h)
    body: Any = None
    if raw:
        text = raw.decode("utf-8", errors="replace")
        try:
            body = json.loads(text)
        except ValueError:
            body = text
    return Call(
        method=h.command,
        path=unquote(parts.path),
        query=query,
        headers=headers,
        body=body,
        ts=time.time(),
        raw_body=raw,
    )


def _read_body(h: BaseHTTPRequestHandler) -> bytes:
    # workerd sends streamed request bodies chunked; plain strings with Content-Length.
    if "chunked" in h.headers.get("Transfer-Encoding", "").lower():
        chunks: list[bytes] = []
        while True:
            size_line = h.rfile.readline()
            if not size_line:
                break
            size = int(size_line.split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while h.rfile.readline() not in (b"\r\n", b"\n", b""):
                    pass  # trailers
                break
            chunks.append(h.rfile.read(size))
            h.rfile.readline()  # CRLF after each chunk
        return b"".join(chunks)
    length = int(h.headers.get("Content-Length") or 0)
    return h.rfile.read(length) if length > 0 else b""


def encode_body(body: Any) -> tuple[bytes, str]:
    """Serialise a Response body; returns (bytes, default content-type)."""
    if body is None:
        return b"", "text/plain; charset=utf-8"
    if isinstance(body, bytes):
        return body, "application/octet-stream"
    if isinstance(body, str):
        return body.encode("utf-8"), "text/plain; charset=utf-8"
    return json.dumps(body).encode("utf-8"), "application/json; charset=utf-8"


def _write(h: BaseHTTPRequestHandler, method: str, response: Response) -> None:
    data, default_type = encode_body(response.body)
    try:
        h.send_response(response.status)
        names = {k.lower() for k in response.headers}
        for k, v in response.headers.items():
            h.send_header(k, v)
        no_body = response.status in (204, 304) or 100 <= response.status < 200
        if "content-type" not in names and not no_body:
            h.send_header("Content-Type", default_type)
        if not no_body:
            h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        if method != "HEAD" and not no_body:
            h.wfile.write(data)
    except (ConnectionError, OSError):
        pass  # the client gave up (e.g. its timeout fired during a simulated hang)


def _drop(h: BaseHTTPRequestHandler) -> None:
    """Abort the connection with a TCP reset, as a crashed upstream would."""
    h.close_connection = True
    try:
        h.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        h.connection.close()
    except OSError:
        pass


def sse_event(payload: Any, event: str | None = "message") -> str:
    """One Server-Sent Event carrying a JSON payload."""
    head = f"event: {event}\n" if event else ""
    return f"{head}data: {json.dumps(payload)}\n\n"


Responder = Callable[[Call], Response]
