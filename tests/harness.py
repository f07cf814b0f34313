"""Runs the built Worker in real workerd (`wrangler dev --local`) with a fresh local D1.

Each `WorkerProcess` gets its own temporary directory holding a generated wrangler config
(pointing at the already built `build/worker/shim.mjs`, so no rebuild happens), its own D1
state with the migrations applied, and its own vars. Nothing of the developer's `.dev.vars`
or `.wrangler/` state leaks in.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import sqlite3
import subprocess
import tempfile
import time
import tomllib
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
# The bearer token of the session Worker (a test value, not a secret).
TEST_TOKEN = "test-token-0123456789abcdef"
BIN = ROOT / "node_modules" / ".bin"


START_ATTEMPTS = 3  # wrangler dev starts tried per Worker when a probed port was taken


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _toml_value(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    body: Any
    text: str

    def error_code(self) -> str | None:
        if isinstance(self.body, dict) and isinstance(self.body.get("error"), dict):
            return self.body["error"].get("code")
        return None


def _toml_tables(prefix: str, tables: list[dict[str, Any]]) -> list[str]:
    """`[[prefix]]` arrays of tables with scalar values, as wrangler.toml writes them."""
    lines: list[str] = []
    for table in tables:
        lines += ["", f"[[{prefix}]]"]
        for key, value in table.items():
            rendered = _toml_value(value) if isinstance(value, str) else json.dumps(value)
            lines.append(f"{key} = {rendered}")
    return lines


class WorkerProcess:
    def __init__(self, vars: dict[str, str], name: str = "worker", queue: bool = True,
                 archive: bool = True) -> None:
        """`queue=False` runs the Worker without its remediation queue (the fallback where
        items past a request's budget are answered deferred); `archive=False` without its R2
        bucket (operation log rows past retention are then deleted unarchived)."""
        self.vars = dict(vars)
        self.queue = queue
        self.archive = archive
        self.dir = Path(tempfile.mkdtemp(prefix=f"mc-{name}-"))
        self.state = self.dir / "state"
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.token = vars.get("API_TOKEN")
        self.proc: subprocess.Popen | None = None
        self.log_path = self.dir / "wrangler.log"

    # -- lifecycle ---------------------------------------------------------------------------

    def _write_config(self) -> Path:
        real = tomllib.loads((ROOT / "wrangler.toml").read_text())
        d1 = real["d1_databases"][0]
        lines = [
            'name = "mission-control-test"',
            f"main = {_toml_value(str(ROOT / 'build' / 'worker' / 'shim.mjs'))}",
            f"compatibility_date = {_toml_value(real['compatibility_date'])}",
            "",
            "[[d1_databases]]",
            f"binding = {_toml_value(d1['binding'])}",
            f"database_name = {_toml_value(d1['database_name'])}",
            f"database_id = {_toml_value(d1['database_id'])}",
            f"migrations_dir = {_toml_value(str(ROOT / 'migrations'))}",
            "",
            "[assets]",  # the dashboard, as wrangler.toml serves it
            f"directory = {_toml_value(str(ROOT / real['assets']['directory']))}",
            f"binding = {_toml_value(real['assets']['binding'])}",
            f"run_worker_first = {json.dumps(real['assets']['run_worker_first'])}",
        ]
        if self.queue:
            queues = real.get("queues", {})
            lines += _toml_tables("queues.producers", queues.get("producers", []))
            lines += _toml_tables("queues.consumers", queues.get("consumers", []))
        if self.archive:
            lines += _toml_tables("r2_buckets", real.get("r2_buckets", []))
        lines += ["", "[vars]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in self.vars.items()]
        path = self.dir / "wrangler.toml"
        path.write_text("\n".join(lines) + "\n")
        return path

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["PATH"] = f"{BIN}:{env.get('PATH', '')}"
        env["WRANGLER_SEND_METRICS"] = "false"
        env["CI"] = "true"  # never prompt
        env["NO_COLOR"] = "1"
        return env

    def start(self, timeout: float = 120) -> "WorkerProcess":
        config = self._write_config()
        migrate = subprocess.run(
            [str(BIN / "wrangler"), "d1", "migrations", "apply", "DB", "--local",
             "--config", str(config), "--persist-to", str(self.state)],
            cwd=self.dir, env=self._env(), capture_output=True, text=True, timeout=180,
        )
        if migrate.returncode != 0:
            raise RuntimeError(f"migrations failed:\n{migrate.stdout}\n{migrate.stderr}")
        # Ports are probed free here and bound by wrangler seconds later; another process
        # (workerd binds ephemeral ports of its own) can take one in between. A start that
        # lost its port is retried on fresh ones.
        for attempt in range(START_ATTEMPTS):
            if attempt:
                self.port = free_port()
                self.base_url = f"http://127.0.0.1:{self.port}"
            self._spawn(config)
            if self._healthy(timeout, may_retry=attempt + 1 < START_ATTEMPTS):
                return self
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _healthy(self, timeout: float, may_retry: bool) -> bool:
        """Waits for the spawned Worker: True once it answers, False when it lost its port and
        `may_retry`; raises on any other failure."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if may_retry and "Address already in use" in self.log():
                    try:  # whatever it started before failing goes with it
                        os.killpg(self.proc.pid, 9)
                    except ProcessLookupError:
                        pass
                    return False
                raise RuntimeError(f"wrangler dev exited early:\n{self.log()}")
            try:
                if self.get("/health").status == 200:
                    return True
            except OSError:
                pass
            time.sleep(0.25)
        self.stop()
        raise RuntimeError(f"wrangler dev not healthy after {timeout}s:\n{self.log()}")

    def _spawn(self, config: Path) -> None:
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [str(BIN / "wrangler"), "dev", "--local", "--config", str(config),
             "--ip", "127.0.0.1", "--port", str(self.port),
             "--inspector-port", str(free_port()), "--persist-to", str(self.state),
             "--show-interactive-dev-session=false", "--log-level", "warn",
             # exposes GET /__scheduled?cron=..., so tests run the cron handler on demand
             "--test-scheduled"],
            cwd=self.dir, env=self._env(), stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )

    def __enter__(self) -> "WorkerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.killpg(self.proc.pid, 15)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, 9)
                self.proc.wait()
        if os.environ.get("KEEP_WORKER_STATE") != "1":
            shutil.rmtree(self.dir, ignore_errors=True)

    def log(self) -> str:
        try:
            return self.log_path.read_text()
        except OSError:
            return ""

    # -- HTTP ----------------------------------------------------------------------------------

    def request(self, method: str, path: str, body: Any = None, *, headers: dict | None = None,
                raw: bytes | None = None, token: str | None | bool = True,
                timeout: float = 30) -> Reply:
        """One request. `token=True` sends this worker's token, a string sends that, None/False none."""
        hdrs = {}
        if body is not None:
            raw = json.dumps(body).encode()
            hdrs["content-type"] = "application/json"
        if token is True and self.token:
            hdrs["authorization"] = f"Bearer {self.token}"
        elif isinstance(token, str):
            hdrs["authorization"] = f"Bearer {token}"
        hdrs.update(headers or {})
        req = urllib.request.Request(self.base_url + path, data=raw, method=method, headers=hdrs)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                status, rh, data = resp.status, dict(resp.headers), resp.read()
        except urllib.error.HTTPError as err:
            status, rh, data = err.code, dict(err.headers), err.read()
        text = data.decode("utf-8", "replace")
        try:
            parsed = json.loads(text) if text else None
        except json.JSONDecodeError:
            parsed = None
        return Reply(status, {k.lower(): v for k, v in rh.items()}, parsed, text)

    def get(self, path: str, **kw) -> Reply:
        return self.request("GET", path, **kw)

    def post(self, path: str, body: Any = None, **kw) -> Reply:
        return self.request("POST", path, body, **kw)

    def run_scheduled(self, cron: str = "* * * * *") -> Reply:
        """Runs the Worker's scheduled handler once, as the cron trigger would."""
        from urllib.parse import quote
        return self.get(f"/__scheduled?cron={quote(cron)}", token=None, timeout=60)

    # -- D1, read straight from workerd's SQLite file ------------------------------------------

    def r2_objects(self) -> dict[str, bytes]:
        """The local ARCHIVE bucket as miniflare stores it (key -> bytes), read from disk, so
        tests see the objects without going through the Worker."""
        root = self.state / "v3" / "r2"
        # miniflare keeps its own metadata.sqlite beside the bucket's object index.
        meta = [f for f in glob.glob(str(root / "miniflare-R2BucketObject" / "*.sqlite"))
                if not f.endswith("metadata.sqlite")]
        objects: dict[str, bytes] = {}
        for path in meta:
            con = sqlite3.connect(path, timeout=10)
            try:
                rows = con.execute("SELECT key, blob_id FROM _mf_objects").fetchall()
            finally:
                con.close()
            for key, blob_id in rows:
                blobs = glob.glob(str(root / "*" / "blobs" / blob_id))
                if blobs:
                    objects[key] = Path(blobs[0]).read_bytes()
        return objects

    def db_path(self) -> str:
        # miniflare keeps a metadata.sqlite beside the database file itself.
        pattern = str(self.state / "v3" / "d1" / "**" / "*.sqlite")
        files = [f for f in glob.glob(pattern, recursive=True) if not f.endswith("metadata.sqlite")]
        if len(files) != 1:
            raise RuntimeError(f"expected one D1 file, found {files}")
        return files[0]

    def query(self, sql: str, params: tuple = ()) -> list[dict]:
        con = sqlite3.connect(self.db_path(), timeout=10)
        con.row_factory = sqlite3.Row
        try:
            return [dict(r) for r in con.execute(sql, params).fetchall()]
        finally:
            con.close()

    def execute(self, sql: str) -> None:
        """Schema changes for tests (e.g. a trigger that makes a write fail halfway)."""
        con = sqlite3.connect(self.db_path(), timeout=10)
        try:
            con.executescript(sql)
            con.commit()
        finally:
            con.close()
