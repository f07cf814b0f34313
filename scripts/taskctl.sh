#!/usr/bin/env bash
# taskctl.sh: read and update this factory checkout's Mission Control tasks.
#
# Reads .mission_control/tasks.json (written by factory_init.py). Status changes are written
# there at once and pushed to the orchestrator, which is the single source of truth; when it
# cannot be reached they wait in .mission_control/queue.jsonl until `taskctl sync` (or any
# later command that reaches it) pushes them, in order. `taskctl next` claims a task with a
# lease that `taskctl heartbeat` extends. Run `taskctl.sh --help` for usage.
#
# Why bash around Python: the checkout's state protocol (tasks.json, the offline queue, the
# leases, the lock every writer takes) and the orchestrator client have one implementation, in
# Python, shared with factory_init.py. Each script must still work when dropped alone into a
# factory checkout, so that code travels inside this file (the heredoc below) instead of being
# looked up next to it: the shared block is a verbatim copy of the one in factory_init.py
# (scripts/embed_shared.py refreshes it; a test fails while they differ), and the rest is
# taskctl's own commands. Needs bash and python3 (standard library only), as factory_init.py
# does.

set -u

if ! command -v python3 >/dev/null 2>&1; then
	echo "taskctl: python3 is required but not installed" >&2
	exit 1
fi

IFS= read -r -d '' TASKCTL_PY <<'PY'
"""taskctl's commands (the Python inside taskctl.sh, run as `python3 -I -S -c "$TASKCTL_PY"`)."""

from __future__ import annotations

import datetime
import sys

# >>> mission-control shared block >>>
# The factory side's one implementation of the checkout's state (.mission_control/: tasks.json,
# the offline queue of status changes, leases, the lock every writer takes) and of talking to
# the orchestrator. Each factory script must work when dropped alone into a checkout, so this
# block travels inside each of them: factory_init.py holds the original, taskctl.sh carries a
# verbatim copy in its embedded Python. Edit it here, then run `python3 scripts/embed_shared.py`;
# the tests fail while the copies differ.
import contextlib
import fcntl
import json
import os
import re
import tempfile
import time
import urllib.parse
from typing import Any, Iterator

MC_DIR_NAME = ".mission_control"
TASKS_FILE_NAME = "tasks.json"
QUEUE_FILE_NAME = "queue.jsonl"            # status changes not yet pushed, oldest first
REJECTED_FILE_NAME = "queue.rejected.jsonl"  # changes the orchestrator refused, for the record
LEASES_FILE_NAME = "leases.json"           # uuid -> lease this checkout holds (taskctl next)
LOCK_FILE_NAME = ".lock"                   # held for every read-modify-write of the files above
SYNC_LOCK_FILE_NAME = ".sync.lock"         # held while pushing the queue: one pusher at a time

TOKEN_ENV = "MISSION_CONTROL_TOKEN"
STATUSES = ("pending", "in_progress", "complete", "blocked")
# Task ids go verbatim into source files and paths, so only plain identifiers are accepted
# (the orchestrator issues 6-character nanoids).
TASK_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
RETRY_DELAY = 0.5  # seconds before the first retry of a request; doubles after each


def atomic_write(path: str, data: bytes, *, like: os.stat_result | None = None,
                 mode: int = 0o644, fsync: bool = True) -> None:
    """Replace `path` with `data` so readers see the old or the new file, never a part.

    The temporary file sits in the same folder (rename is atomic only within a filesystem) and
    takes the mode and, where allowed, the owner of the file it replaces.
    """
    folder = os.path.dirname(path) or "."
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            if fsync:
                os.fsync(fh.fileno())
        os.chmod(tmp, (like.st_mode & 0o7777) if like else mode)
        if like is not None and (like.st_uid, like.st_gid) != (os.geteuid(), os.getegid()):
            with contextlib.suppress(OSError):
                os.chown(tmp, like.st_uid, like.st_gid)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def replace_file(path: str, data: bytes, fsync: bool = True) -> None:
    """atomic_write keeping the mode and owner of the file being replaced, if there is one."""
    like = None
    with contextlib.suppress(FileNotFoundError):
        like = os.stat(path)
    atomic_write(path, data, like=like, fsync=fsync)


@contextlib.contextmanager
def file_lock(mc_dir: str, timeout: float = 30.0,
              name: str = LOCK_FILE_NAME) -> Iterator[None]:
    """Exclusive flock(2) on .mission_control/<name>. Every writer of tasks.json, the queue and
    the leases holds .lock, so no update is lost however many agents share the checkout."""
    fd = os.open(os.path.join(mc_dir, name), os.O_RDWR | os.O_CREAT, 0o644)
    try:
        deadline = time.monotonic() + timeout
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"could not lock {mc_dir}/{name} "
                                       f"within {timeout:.0f}s") from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)


def read_json_file(path: str) -> Any | None:
    """The file's JSON, or None when it is missing or unreadable."""
    try:
        with open(path, "rb") as fh:
            return json.loads(fh.read())
    except (OSError, ValueError):
        return None


def read_queue(path: str) -> list[dict]:
    """Entries of the offline queue (one JSON object a line); a line left torn by a crash
    mid-append is skipped."""
    entries: list[dict] = []
    try:
        with open(path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                with contextlib.suppress(ValueError):
                    obj = json.loads(line)
                    if isinstance(obj, dict):
                        entries.append(obj)
    except FileNotFoundError:
        pass
    return entries


def compact_json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def append_jsonl(path: str, entry: dict) -> None:
    """Append one entry (the caller holds the lock). A torn last line left by a crash is ended
    first, so it cannot swallow the new entry."""
    with open(path, "a+b") as fh:
        fh.seek(0, os.SEEK_END)
        prefix = b""
        if fh.tell():
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                prefix = b"\n"
        fh.write(prefix + (compact_json(entry) + "\n").encode("utf-8"))


def rewrite_queue(path: str, entries: list[dict]) -> None:
    """Replace the queue with `entries` (the caller holds the lock); torn lines are dropped."""
    data = "".join(compact_json(e) + "\n" for e in entries).encode("utf-8")
    replace_file(path, data, fsync=False)


def dump_json(doc: Any) -> bytes:
    """tasks.json text: one key a line and one task a line. Readable, grep-friendly, and
    written by the C encoder (indent= would use the pure-Python one, 10x slower)."""
    if not isinstance(doc, dict):
        return (json.dumps(doc, ensure_ascii=False) + "\n").encode("utf-8")
    out = ["{"]
    items = list(doc.items())
    for i, (key, value) in enumerate(items):
        comma = "," if i + 1 < len(items) else ""
        name = json.dumps(key, ensure_ascii=False)
        if key == "tasks" and isinstance(value, list) and value:
            out.append(f"  {name}: [")
            last = len(value) - 1
            out.extend(f"    {json.dumps(t, ensure_ascii=False)}{',' if j < last else ''}"
                       for j, t in enumerate(value))
            out.append(f"  ]{comma}")
        else:
            out.append(f"  {name}: {json.dumps(value, ensure_ascii=False)}{comma}")
    out.append("}")
    return ("\n".join(out) + "\n").encode("utf-8")


def set_task_status(task: dict, status: str, reason: str | None = None) -> None:
    """A local status change: a blocked task keeps its reason unless a new one is given; any
    other status drops the reason and the follow-up id."""
    task["status"] = status
    if status == "blocked":
        if reason:
            task["blocked_reason"] = reason
    else:
        task.pop("blocked_reason", None)
        task.pop("followup_id", None)


def normalize_base_url(url: str) -> str:
    """Base URL without a trailing slash or /api, which callers sometimes include."""
    parsed = urllib.parse.urlsplit(url.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"not an http(s) URL: {url!r}")
    path = parsed.path.rstrip("/")
    if path.endswith("/api"):
        path = path[: -len("/api")]
    return urllib.parse.urlunsplit((parsed.scheme, parsed.netloc, path, "", ""))


def error_text(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from {"error": {"code", "message"}} or an older {"error": "..."}."""
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict):
            return err.get("code"), err.get("message")
        if isinstance(err, str):
            return None, err
    return None, None


class OrchestratorError(Exception):
    """The orchestrator answered with an error, or could not be reached (status None)."""

    def __init__(self, message: str, status: int | None = None, code: str | None = None,
                 body: Any = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.body = body


class Reply:
    """One HTTP answer: status, parsed JSON (None if the body is empty or not JSON), raw text."""

    def __init__(self, status: int, raw: bytes, retry_after: str | None = None):
        self.status = status
        self.text = raw.decode("utf-8", "replace")
        self.retry_after = retry_after
        self.json_ok = True
        try:
            self.body = json.loads(raw) if raw.strip() else None
        except ValueError:
            self.body, self.json_ok = None, False

    @property
    def code(self) -> str | None:
        return error_text(self.body)[0]


class Orchestrator:
    """Small JSON-over-HTTP client (urllib) with bearer auth and bounded retries. The token
    goes in a header, never on a command line or into a message."""

    RETRY_STATUSES = frozenset({429, 502, 503, 504})

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 30.0,
                 user_agent: str = "mission-control-factory"):
        self.base_url = base_url
        self.token = token or None
        self.timeout = timeout
        self.user_agent = user_agent

    def send(self, method: str, path: str, body: Any = None, *,
             headers: dict[str, str] | None = None, timeout: float | None = None) -> Reply:
        """One attempt. Raises OrchestratorError(status=None) when unreachable."""
        # Imported here: they cost more than the rest of a local taskctl command together.
        import http.client
        import urllib.error
        import urllib.request

        data = json.dumps(body).encode("utf-8") if body is not None else None
        req = urllib.request.Request(self.base_url + path, data=data, method=method)
        req.add_header("Accept", "application/json")
        req.add_header("User-Agent", self.user_agent)
        if data is not None:
            req.add_header("Content-Type", "application/json")
        if self.token:
            req.add_header("Authorization", f"Bearer {self.token}")
        for name, value in (headers or {}).items():
            req.add_header(name, value)
        try:
            with urllib.request.urlopen(req, timeout=timeout or self.timeout) as resp:
                return Reply(resp.status, resp.read())
        except urllib.error.HTTPError as exc:
            retry_after = exc.headers.get("Retry-After") if exc.headers else None
            return Reply(exc.code, exc.read(), retry_after)
        except (urllib.error.URLError, OSError, http.client.HTTPException) as exc:
            reason = getattr(exc, "reason", exc)
            raise OrchestratorError(f"cannot reach {self.base_url}: {reason}") from None

    def request(self, method: str, path: str, body: Any = None, *,
                headers: dict[str, str] | None = None, timeout: float | None = None,
                attempts: int = 1) -> tuple[int, Any]:
        """(status, parsed JSON body). Raises OrchestratorError(status=None) when unreachable
        after `attempts` tries, and on a non-JSON answer. Only idempotent calls retry."""
        last: OrchestratorError | None = None
        for attempt in range(max(1, attempts)):
            if attempt:
                time.sleep(min(RETRY_DELAY * 2 ** (attempt - 1), 4.0))
            try:
                reply = self.send(method, path, body, headers=headers, timeout=timeout)
            except OrchestratorError as exc:
                last = exc
                continue
            if not reply.json_ok and 200 <= reply.status < 300:
                raise OrchestratorError(f"{method} {path} answered {reply.status} with non-JSON "
                                        f"content", status=reply.status)
            if reply.status in self.RETRY_STATUSES and attempt + 1 < attempts:
                with contextlib.suppress(TypeError, ValueError):
                    time.sleep(min(float(reply.retry_after), 5.0, RETRY_DELAY * 10))
                last = OrchestratorError(f"{method} {path} answered {reply.status}",
                                         status=reply.status)
                continue
            return reply.status, reply.body
        assert last is not None
        raise last
# <<< mission-control shared block <<<


EXIT_OK, EXIT_ERROR, EXIT_USAGE, EXIT_NONE, EXIT_CONFLICT = 0, 1, 2, 3, 4
USER_AGENT = "taskctl/2"
HELP_TIMEOUT = 60.0  # seconds: a docs search and a model answer can be slow
BLOCK_LOG_TIMEOUT = 3.0
MAX_NOTE_JSON = 1500  # bytes of a block reason sent as the status change's note (body <= 4 KiB)
TIME_FORMAT = "%Y-%m-%d %H:%M:%S"  # the orchestrator's timestamps, UTC

USAGE = """\
Usage: taskctl.sh <command> [arguments]

Reading (local, works offline):
  list [STATUS]              one task a line: uuid<TAB>file_path<TAB>status
  get <id>                   the task's instruction
  status <id>                the task's status (and, on stderr, the lease this checkout holds)
  status                     the leases this checkout holds: uuid<TAB>agent<TAB>expires_at<TAB>token
  show <id>                  the task as JSON
  queue                      status changes waiting to be pushed: id<TAB>uuid<TAB>status<TAB>queued_at

Claiming (needs the orchestrator):
  next [--lease-seconds N]   claim the order's oldest pending task for this agent and print its
                             uuid; the lease (default 900 s) is kept in .mission_control/ and sent
                             with complete/block. Exit 3 when no task is pending. Offline, or
                             when the orchestrator cannot claim, it prints the first locally
                             pending task without claiming it (a warning says so).
  heartbeat [<id>] [--lease-seconds N]
                             extend the lease on <id> (default: every lease this agent holds here)

Changing (local at once, then pushed to the orchestrator):
  start <id>                 claim the task: pending -> in_progress (refused if no longer pending);
                             on the task `next` just claimed it confirms that claim, once
  complete <id>              mark the task complete
  block <id> <reason>        mark the task blocked, with the reason sent to the operation log
  sync                       push queued changes now

Asking:
  help <id> [<question>] [--error TEXT] [--agent NAME] [--json]
                             ask the orchestrator for help with a task

Environment:
  MISSION_CONTROL_URL        orchestrator base URL (default: "orchestrator_url" in tasks.json,
                             which factory_init.py stores)
  MISSION_CONTROL_TOKEN      bearer token for the orchestrator's /api routes
  MISSION_CONTROL_DIR        the .mission_control folder (default: ./.mission_control, or the
                             nearest one in a parent folder)
  MISSION_CONTROL_AGENT      this agent's name, for leases and `help` (default: user@host)
  MISSION_CONTROL_TIMEOUT    seconds per request (default: 10)

Exit codes:
  0  done; a change the orchestrator could not be reached for is queued (a warning says so)
  1  error: no tasks.json, unknown task id, change rejected, token refused, I/O failure
  2  bad command line
  3  nothing to do: `next` found no pending task; `sync` left changes queued (unreachable);
     `heartbeat` found no lease
  4  conflict: the orchestrator has the task in another state (e.g. `start` on a claimed task),
     or the lease was lost (expired, or the task was claimed again since)
"""


class Exit(Exception):
    """Ends the command: exit code, and a message for stderr."""

    def __init__(self, code: int, message: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message


def err(message: str) -> None:
    sys.stdout.flush()
    print(f"taskctl: {message}", file=sys.stderr, flush=True)


def utc_now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def agent_identity() -> str:
    """MISSION_CONTROL_AGENT, else user@host: distinct for two agents on two machines."""
    agent = os.environ.get("MISSION_CONTROL_AGENT", "").strip()
    if agent:
        return agent
    import getpass
    import socket

    user = os.environ.get("USER") or os.environ.get("LOGNAME")
    if not user:
        with contextlib.suppress(Exception):
            user = getpass.getuser()
    return f"{user or 'agent'}@{socket.gethostname() or 'localhost'}"


def describe_expiry(expires_at: Any, now: float | None = None) -> str:
    """'2025-01-01 12:00:00 UTC (in 14m 58s)' or '... (expired 3m ago)'."""
    if not isinstance(expires_at, str):
        return "an unknown time"
    try:
        when = datetime.datetime.strptime(expires_at[:19].replace("T", " "), TIME_FORMAT)
    except ValueError:
        return expires_at
    left = int(when.replace(tzinfo=datetime.timezone.utc).timestamp()
               - (time.time() if now is None else now))
    span = abs(left)
    text = (f"{span // 3600}h {span % 3600 // 60}m" if span >= 3600
            else f"{span // 60}m {span % 60}s" if span >= 60 else f"{span}s")
    return f"{expires_at[:19]} UTC ({'in ' + text if left >= 0 else 'expired ' + text + ' ago'})"


def tsv(values: list[Any]) -> str:
    """One line of tab-separated values, escaped like jq's @tsv."""
    out = []
    for v in values:
        if v is None:
            out.append("")
        elif isinstance(v, str):
            out.append(v.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n")
                       .replace("\r", "\\r"))
        else:
            out.append(json.dumps(v))
    return "\t".join(out)


def raw_text(value: Any) -> str:
    """A value as `jq -r` prints it: strings bare, the rest as JSON."""
    return value if isinstance(value, str) else json.dumps(value, indent=2, ensure_ascii=False)


def check_id_form(uuid: str | None) -> str:
    if not uuid:
        raise Exit(EXIT_USAGE, "missing task id (see taskctl.sh --help)")
    if not TASK_ID_RE.match(uuid):
        raise Exit(EXIT_ERROR, f"unknown task id '{uuid}' (not a task id)")
    return uuid


# --------------------------------------------------------------------------------------------
# The checkout's files
# --------------------------------------------------------------------------------------------


class Checkout:
    """.mission_control/ of this checkout: $MISSION_CONTROL_DIR, else the nearest one from
    here upwards (agents often work in a subfolder), else ./.mission_control."""

    def __init__(self) -> None:
        explicit = os.environ.get("MISSION_CONTROL_DIR", "")
        if explicit:
            self.dir = explicit.rstrip("/") or "/"
        else:
            here = os.environ.get("PWD") or ""  # the logical path, as the shell shows it
            try:
                if not here or not os.path.samefile(here, "."):
                    here = os.getcwd()
            except OSError:
                here = os.getcwd()
            self.dir = os.path.join(here, MC_DIR_NAME)
            probe = here
            while True:
                if os.path.isfile(os.path.join(probe, MC_DIR_NAME, TASKS_FILE_NAME)):
                    self.dir = os.path.join(probe, MC_DIR_NAME)
                    break
                parent = os.path.dirname(probe)
                if parent == probe:
                    break
                probe = parent
        self.tasks_file = os.path.join(self.dir, TASKS_FILE_NAME)
        self.queue_file = os.path.join(self.dir, QUEUE_FILE_NAME)
        self.rejected_file = os.path.join(self.dir, REJECTED_FILE_NAME)
        self.leases_file = os.path.join(self.dir, LEASES_FILE_NAME)
        self.lock_wait = env_seconds("MISSION_CONTROL_LOCK_WAIT", 30.0)
        self.sync_wait = env_seconds("MISSION_CONTROL_SYNC_WAIT", 60.0)

    def require(self) -> None:
        if not os.path.isfile(self.tasks_file):
            raise Exit(EXIT_ERROR, f"no {self.tasks_file}; run factory_init.py <ORDER_ID> "
                                   f"<ORCHESTRATOR_URL> in the checkout first")

    def invalid(self) -> Exit:
        return Exit(EXIT_ERROR, f"{self.tasks_file} is not a task list (invalid JSON or no "
                                f"\"tasks\" array)")

    def read_doc(self) -> dict:
        self.require()
        doc = read_json_file(self.tasks_file)
        if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), list):
            raise self.invalid()
        return doc

    def task(self, doc: dict, uuid: str) -> dict:
        for task in doc["tasks"]:
            if isinstance(task, dict) and task.get("uuid") == uuid:
                return task
        raise Exit(EXIT_ERROR, f"unknown task id '{uuid}' (not in {self.tasks_file})")

    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """The data lock (.lock, which factory_init.py takes too)."""
        try:
            with file_lock(self.dir, self.lock_wait):
                yield
        except TimeoutError as exc:
            raise Exit(EXIT_ERROR, str(exc)) from None

    def write_doc(self, doc: dict) -> None:
        replace_file(self.tasks_file, dump_json(doc))

    def queue(self) -> list[dict]:
        return read_queue(self.queue_file)

    def queue_has(self, key: str, value: str) -> bool:
        return any(e.get(key) == value for e in self.queue())

    def remove_from_queue(self, entry_id: str) -> None:
        entries = self.queue()
        if any(e.get("id") == entry_id for e in entries) or entries_torn(self.queue_file):
            rewrite_queue(self.queue_file, [e for e in entries if e.get("id") != entry_id])

    def rejected(self) -> list[dict]:
        return read_queue(self.rejected_file)

    def leases(self) -> dict[str, dict]:
        data = read_json_file(self.leases_file)
        if not isinstance(data, dict):
            return {}
        return {k: v for k, v in data.items() if isinstance(v, dict)}

    def write_leases(self, leases: dict[str, dict]) -> None:
        if leases or os.path.exists(self.leases_file):
            replace_file(self.leases_file, (json.dumps(leases, indent=2, sort_keys=True)
                                            + "\n").encode("utf-8"), fsync=False)


def entries_torn(path: str) -> bool:
    """True when the queue holds a line that is not an entry (left by a crash)."""
    try:
        with open(path, encoding="utf-8", errors="replace") as fh:
            for line in fh:
                if line.strip():
                    try:
                        if not isinstance(json.loads(line), dict):
                            return True
                    except ValueError:
                        return True
    except FileNotFoundError:
        pass
    return False


def env_seconds(name: str, default: float) -> float:
    value = os.environ.get(name, "")
    if re.fullmatch(r"[0-9]+(\.[0-9]+)?", value):
        return float(value)
    return default


# --------------------------------------------------------------------------------------------
# The orchestrator
# --------------------------------------------------------------------------------------------


class Remote:
    """Where the orchestrator is: MISSION_CONTROL_URL, else tasks.json's orchestrator_url."""

    def __init__(self, checkout: Checkout):
        url = os.environ.get("MISSION_CONTROL_URL", "")
        if not url:
            doc = read_json_file(checkout.tasks_file)
            if isinstance(doc, dict) and isinstance(doc.get("orchestrator_url"), str):
                url = doc["orchestrator_url"]
        self.base_url = ""
        if url:
            try:
                self.base_url = normalize_base_url(url)
            except ValueError:
                err(f"ignoring orchestrator URL '{url}': not http(s)")
        self.token = os.environ.get(TOKEN_ENV) or None
        self.timeout = env_seconds("MISSION_CONTROL_TIMEOUT", 10.0)
        self.client = Orchestrator(self.base_url, self.token, self.timeout, USER_AGENT)

    def call(self, method: str, path: str, body: Any = None,
             timeout: float | None = None) -> Reply:
        """One request; status 0 when the orchestrator cannot be reached."""
        try:
            return self.client.send(method, path, body, timeout=timeout)
        except OrchestratorError as exc:
            reply = Reply(0, b"")
            reply.text = str(exc)
            return reply

    def no_url_hint(self) -> str:
        return "no orchestrator URL (set MISSION_CONTROL_URL or re-run factory_init.py)"

    def describe(self, reply: Reply) -> str:
        """'HTTP 409 status_conflict: ...', or why the orchestrator could not be reached."""
        if reply.status == 0:
            return reply.text
        code, message = error_text(reply.body)
        text = ": ".join(str(x) for x in (code, message) if x)
        out = f"HTTP {reply.status}" + (f" {text}" if text else "")
        if reply.status in (401, 403):
            out += f" ({'check' if self.token else 'set'} {TOKEN_ENV})"
        return out


def error_json(reply: Reply) -> dict:
    """The answer's {"error": {...}} object, or one made from whatever came back."""
    body = reply.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return body["error"]
    if isinstance(body, dict) and body.get("error"):
        return {"message": str(body["error"])}
    if isinstance(body, dict):
        return {"message": "no error in the answer"}
    if body is not None:
        return {"message": json.dumps(body)}
    return {"message": reply.text[:200]}


def transient(status: int) -> bool:
    return status in (0, 408, 429) or 500 <= status <= 599


# --------------------------------------------------------------------------------------------
# Leases and local state changes (callers hold the data lock)
# --------------------------------------------------------------------------------------------


def drop_lease(co: Checkout, uuid: str, token: Any = None) -> None:
    """Forget the lease on `uuid` (only if it is still the one with `token`, when given)."""
    leases = co.leases()
    lease = leases.get(uuid)
    if lease is not None and (token is None or lease.get("token") == token):
        del leases[uuid]
        co.write_leases(leases)


def adopt_status(co: Checkout, uuid: str, status: str) -> None:
    """Take the orchestrator's status, unless a newer local change for the task is queued."""
    if status not in STATUSES or co.queue_has("uuid", uuid):
        return
    doc = read_json_file(co.tasks_file)
    if not isinstance(doc, dict) or not isinstance(doc.get("tasks"), list):
        return
    for task in doc["tasks"]:
        if isinstance(task, dict) and task.get("uuid") == uuid:
            set_task_status(task, status)
            co.write_doc(doc)
            return


def reject(co: Checkout, entry: dict, http_status: int, error: dict) -> None:
    """Move an entry the orchestrator refused (it would fail again) to the rejected log."""
    append_jsonl(co.rejected_file, dict(entry, rejected_at=utc_now(), http_status=http_status,
                                        error=error))
    co.remove_from_queue(entry.get("id"))


def server_state(remote: Remote, uuid: str) -> tuple[str | None, str | None]:
    """(status, claimed_by) of the task on the orchestrator, or Nones when unknown."""
    reply = remote.call("GET", f"/api/task/{uuid}")
    if 200 <= reply.status < 300 and isinstance(reply.body, dict):
        status, holder = reply.body.get("status"), reply.body.get("claimed_by")
        return (status if isinstance(status, str) else None,
                holder if isinstance(holder, str) else None)
    return None, None


def state_text(status: str | None, holder: str | None) -> str:
    if not status:
        return "in an unknown state"
    return status + (f" (claimed by {holder})" if holder and status == "in_progress" else "")


# --------------------------------------------------------------------------------------------
# Pushing the queue
# --------------------------------------------------------------------------------------------


class Flush:
    """What one push of the queue did; `stop` says why it ended early ("" when drained)."""

    def __init__(self) -> None:
        self.stop = ""
        self.message = ""
        self.pushed = self.rejected = self.conflicts = self.lease_lost = 0
        self.lost: list[str] = []  # one line per change dropped because its lease was lost


def flush_queue(co: Checkout, remote: Remote) -> Flush:
    """Push queued changes in order, one process at a time (.sync.lock), so a change is never
    sent twice."""
    flush = Flush()
    if not os.path.exists(co.queue_file) or os.path.getsize(co.queue_file) == 0:
        return flush
    if not remote.base_url:
        flush.stop = "no_url"
        return flush
    sync_lock = file_lock(co.dir, co.sync_wait, SYNC_LOCK_FILE_NAME)
    try:
        sync_lock.__enter__()
    except TimeoutError:
        flush.stop = "busy"
        return flush
    try:
        with co.locked():
            entries = co.queue()
        for entry in entries:
            if not push_entry(co, remote, entry, flush):
                break
    finally:
        sync_lock.__exit__(None, None, None)
    return flush


def push_entry(co: Checkout, remote: Remote, entry: dict, flush: Flush) -> bool:
    """Push one change; False when pushing must stop (unreachable, server error, token)."""
    uuid, status = entry.get("uuid"), entry.get("status")
    if not isinstance(uuid, str) or not TASK_ID_RE.match(uuid) or status not in STATUSES:
        with co.locked():
            reject(co, entry, 0, {"code": "invalid_entry", "message": "malformed queue entry"})
        flush.rejected += 1
        return True
    body: dict = {"status": status}
    if entry.get("expected_status"):
        body["expected_status"] = entry["expected_status"]
    token = entry.get("lease_token")
    if token is not None:
        body["lease_token"] = token
    if status == "blocked" and isinstance(entry.get("reason"), str) and entry["reason"]:
        body["note"] = clip_note(entry["reason"])  # logged with the status change itself
    reply = remote.call("POST", f"/api/task/{uuid}/status", body)
    if 200 <= reply.status < 300:
        with co.locked():
            co.remove_from_queue(entry.get("id"))
            if token is not None and status in ("complete", "blocked"):
                drop_lease(co, uuid, token)  # the orchestrator ended it
        flush.pushed += 1
        if status == "blocked":
            log_block_reason(co, remote, entry)
        return True
    if reply.status == 409 and reply.code == "lease_lost":
        # The lease expired and the task went back to the pool (or to another agent): this
        # change must not be applied, now or ever, so it leaves the queue.
        current, holder = server_state(remote, uuid)
        with co.locked():
            reject(co, entry, 409, error_json(reply))
            drop_lease(co, uuid)
            if current:
                adopt_status(co, uuid, current)
        flush.lease_lost += 1
        flush.lost.append(f"lease lost: {uuid} -> {status} (queued {entry.get('queued_at')}) was "
                          f"not applied ({remote.describe(reply)}); the task is now "
                          f"{state_text(current, holder)}; dropped from the queue")
        return True
    if reply.status == 409:
        # Someone else changed the task first: keep their state locally, report ours.
        details = error_json(reply).get("details")
        current = details.get("current_status") if isinstance(details, dict) else None
        if not isinstance(current, str) or not current:
            current, _ = server_state(remote, uuid)
        with co.locked():
            reject(co, entry, 409, error_json(reply))
            if current:
                adopt_status(co, uuid, current)
        flush.conflicts += 1
        return True
    if reply.status in (401, 403):
        flush.stop, flush.message = "auth", remote.describe(reply)
        return False
    if transient(reply.status):
        flush.stop, flush.message = "unreachable", remote.describe(reply)
        return False
    # 400, 404, 422...: the orchestrator will never accept this change.
    with co.locked():
        reject(co, entry, reply.status, error_json(reply))
    flush.rejected += 1
    return True


def clip_note(text: str) -> str:
    """The reason, short enough for the status route's note (the ops log gets all of it)."""
    while len(json.dumps(text)) > MAX_NOTE_JSON:
        text = text[: len(text) * 3 // 4]
    return text


def log_block_reason(co: Checkout, remote: Remote, entry: dict) -> None:
    """The block reason goes to the operation log as well; best effort."""
    doc = read_json_file(co.tasks_file)
    order_id = doc.get("order_id") if isinstance(doc, dict) else None
    remote.call("POST", "/api/ops/log", {
        "source": "taskctl", "operation": "task_blocked", "level": "warn",
        "task_uuid": entry.get("uuid"), "order_id": order_id,
        "details": {"reason": entry.get("reason") or "",
                    "agent": entry.get("agent") or agent_identity(),
                    "queued_at": entry.get("queued_at")}}, timeout=BLOCK_LOG_TIMEOUT)


def queued_warning(what: str, flush: Flush) -> None:
    if flush.stop == "no_url":
        err(f"{what} saved locally and queued: no orchestrator URL (set MISSION_CONTROL_URL or "
            f"re-run factory_init.py)")
    elif flush.stop == "busy":
        err(f"{what} saved locally and queued: another taskctl is pushing; run 'taskctl sync' "
            f"later")
    elif flush.stop == "auth":
        err(f"{what} saved locally and queued, but the orchestrator refused the token: "
            f"{flush.message}")
    else:
        err(f"[QUEUED] {what} saved locally; the orchestrator is unreachable "
            f"({flush.message or '?'}). 'taskctl sync' or the next command that reaches it "
            f"will push it.")


# --------------------------------------------------------------------------------------------
# Commands
# --------------------------------------------------------------------------------------------


def status_of(task: dict) -> str:
    status = task.get("status")
    return "pending" if status is None or status is False else raw_text(status)


def cmd_change(co: Checkout, uuid: str, status: str, expected: str = "",
               reason: str = "") -> int:
    what = f"{uuid} -> {status}"
    remote = Remote(co)
    me = agent_identity()
    serial = int.from_bytes(os.urandom(2), "big") % 32768
    entry: dict = {"id": f"{time.time_ns()}-{os.getpid()}-{serial}",
                   "op": "status", "uuid": uuid, "status": status, "queued_at": utc_now()}
    if expected:
        entry["expected_status"] = expected
    if reason:
        entry["reason"] = reason
    try:
        with co.locked():
            doc = co.read_doc()
            task = co.task(doc, uuid)
            leases = co.leases()
            lease = leases.get(uuid)
            if lease is not None and lease.get("agent") == me:
                if status != "in_progress":
                    entry["lease_token"] = lease.get("token")
                elif not lease.get("confirmed"):
                    # `start` on the task `next` just claimed: confirm that claim under the
                    # lease instead of a compare-and-set against "pending" that would fail.
                    entry.pop("expected_status", None)
                    entry["lease_token"] = lease.get("token")
                    lease["confirmed"] = True
                    co.write_leases(leases)
                if "lease_token" in entry:
                    entry["agent"] = me
            set_task_status(task, status, reason)
            co.write_doc(doc)
            append_jsonl(co.queue_file, entry)
    except OSError as exc:
        raise Exit(EXIT_ERROR, f"could not record {what}: {exc}") from None
    flush = flush_queue(co, remote)
    for line in flush.lost:
        if not line.startswith(f"lease lost: {uuid} -> {status} (queued {entry['queued_at']})"):
            err(line)
    with co.locked():
        queued = co.queue_has("id", entry["id"])
        rejected = [r for r in co.rejected() if r.get("id") == entry["id"]]
    if queued:
        queued_warning(what, flush)
        return EXIT_ERROR if flush.stop == "auth" else EXIT_OK
    if not rejected:
        print(f"[OK] {what}")
        return EXIT_OK
    record = rejected[-1]
    error = record.get("error") if isinstance(record.get("error"), dict) else {}
    why = f"HTTP {record.get('http_status')}" + (f" {error['code']}" if error.get("code") else "") \
        + (f": {error['message']}" if error.get("message") else "")
    try:
        current = status_of(co.task(co.read_doc(), uuid))
    except Exit:
        current = "unknown"
    if error.get("code") == "lease_lost":
        raise Exit(EXIT_CONFLICT, f"{what} refused: the lease on {uuid} was lost ({why}); the "
                                  f"task is {current} on the orchestrator")
    if record.get("http_status") == 409:
        raise Exit(EXIT_CONFLICT, f"{what} refused: the task is {current} on the orchestrator "
                                  f"({why})")
    raise Exit(EXIT_ERROR, f"{what} rejected by the orchestrator: {why}")


def cmd_sync(co: Checkout) -> int:
    remote = Remote(co)
    if not os.path.exists(co.queue_file) or os.path.getsize(co.queue_file) == 0:
        print("[SYNC] nothing queued")
        return EXIT_OK
    flush = flush_queue(co, remote)
    with co.locked():
        remaining = len(co.queue())
    line = (f"[SYNC] pushed={flush.pushed} conflicts={flush.conflicts} "
            f"rejected={flush.rejected} queued={remaining}")
    print(line + (f" lease_lost={flush.lease_lost}" if flush.lease_lost else ""))
    for lost in flush.lost:
        err(lost)
    if flush.conflicts or flush.rejected or flush.lease_lost:
        err(f"refused changes are kept in {co.rejected_file}")
    if flush.stop == "auth":
        raise Exit(EXIT_ERROR, f"the orchestrator refused the token: {flush.message}")
    if flush.stop == "no_url":
        err(remote.no_url_hint())
    elif flush.stop == "busy":
        err("another taskctl is pushing; try again later")
    elif flush.stop == "unreachable":
        err(f"stopped: {flush.message or 'orchestrator unreachable'}")
    if flush.rejected:
        return EXIT_ERROR
    if flush.conflicts or flush.lease_lost:
        return EXIT_CONFLICT
    return EXIT_NONE if remaining else EXIT_OK


def parse_lease_seconds(args: list[str], usage: str) -> tuple[list[str], int | None]:
    """(the other arguments, --lease-seconds N or None)."""
    rest: list[str] = []
    seconds: int | None = None
    i = 0
    while i < len(args):
        arg = args[i]
        value = None
        if arg == "--lease-seconds":
            if i + 1 >= len(args):
                raise Exit(EXIT_USAGE, "--lease-seconds needs a value")
            value, i = args[i + 1], i + 2
        elif arg.startswith("--lease-seconds="):
            value, i = arg.split("=", 1)[1], i + 1
        elif arg.startswith("-"):
            raise Exit(EXIT_USAGE, f"unknown option '{arg}'; {usage}")
        else:
            rest.append(arg)
            i += 1
            continue
        if not re.fullmatch(r"[0-9]{1,6}", value or ""):
            raise Exit(EXIT_USAGE, f"--lease-seconds takes a whole number of seconds, not "
                                   f"'{value}'")
        seconds = int(value)
    return rest, seconds


def first_pending(co: Checkout, doc: dict, why_not_claimed: str | None) -> int:
    for task in doc["tasks"]:
        if isinstance(task, dict) and status_of(task) == "pending" and task.get("uuid"):
            if why_not_claimed:
                err(f"not claimed: {why_not_claimed}")
            print(raw_text(task["uuid"]))
            return EXIT_OK
    raise Exit(EXIT_NONE, "no pending task")


def cmd_next(co: Checkout, args: list[str]) -> int:
    rest, lease_seconds = parse_lease_seconds(args, "usage: taskctl next [--lease-seconds N]")
    if rest:
        raise Exit(EXIT_USAGE, "usage: taskctl next [--lease-seconds N]")
    doc = co.read_doc()
    remote = Remote(co)
    order_id = doc.get("order_id")
    if not remote.base_url:
        return first_pending(co, doc, remote.no_url_hint())
    if not isinstance(order_id, str) or not order_id:
        return first_pending(co, doc, f"{co.tasks_file} names no order_id")
    flush_queue(co, remote)  # this agent's queued changes go first; failures are not fatal
    me = agent_identity()
    body: dict = {"agent": me}
    if lease_seconds is not None:
        body["lease_seconds"] = lease_seconds
    reply = remote.call("POST", f"/api/orders/{urllib.parse.quote(order_id, safe='')}/next",
                        body)
    if 200 <= reply.status < 300:
        return claimed(co, reply, order_id, me, lease_seconds)
    code = reply.code
    if reply.status == 404 and code == "no_pending_task":
        raise Exit(EXIT_NONE, "no pending task")
    if reply.status == 405 or (reply.status == 404 and code == "route_not_found"):
        return first_pending(co, read_json_file(co.tasks_file) or doc,
                             f"the orchestrator at {remote.base_url} cannot claim tasks (no "
                             f"POST /api/orders/:id/next); 'taskctl start <id>' claims it "
                             f"without a lease")
    if reply.status == 404:
        raise Exit(EXIT_ERROR, f"order {order_id} is unknown to {remote.base_url} "
                               f"({remote.describe(reply)})")
    if transient(reply.status):
        return first_pending(co, read_json_file(co.tasks_file) or doc,
                             f"[OFFLINE] {remote.describe(reply)}; 'taskctl start <id>' queues "
                             f"a claim")
    raise Exit(EXIT_ERROR, f"next failed: {remote.describe(reply)}")


def claimed(co: Checkout, reply: Reply, order_id: str, me: str,
            lease_seconds: int | None) -> int:
    body = reply.body if isinstance(reply.body, dict) else {}
    task, lease = body.get("task"), body.get("lease")
    if not isinstance(task, dict) or not isinstance(lease, dict) \
            or not isinstance(task.get("uuid"), str) or not TASK_ID_RE.match(task["uuid"]) \
            or lease.get("token") is None:
        raise Exit(EXIT_ERROR, f"next: unusable answer from the orchestrator: {reply.text[:200]}")
    uuid = task["uuid"]
    record = {"token": lease["token"], "agent": lease.get("agent") or me,
              "expires_at": lease.get("expires_at"), "order_id": order_id,
              "claimed_at": utc_now(), "confirmed": False}
    if lease_seconds is not None:
        record["lease_seconds"] = lease_seconds
    with co.locked():
        doc = co.read_doc()
        local = next((t for t in doc["tasks"] if isinstance(t, dict) and t.get("uuid") == uuid),
                     None)
        if local is None:
            doc["tasks"].append(dict(task))
        else:
            local.update(task)
        co.write_doc(doc)
        leases = co.leases()
        leases[uuid] = record
        co.write_leases(leases)
    print(uuid)
    err(f"[CLAIMED] {uuid} for {record['agent']}, lease until "
        f"{describe_expiry(record['expires_at'])}; 'taskctl heartbeat' extends it")
    return EXIT_OK


def cmd_heartbeat(co: Checkout, args: list[str]) -> int:
    usage = "usage: taskctl heartbeat [<id>] [--lease-seconds N]"
    rest, lease_seconds = parse_lease_seconds(args, usage)
    if len(rest) > 1:
        raise Exit(EXIT_USAGE, usage)
    co.require()
    me = agent_identity()
    leases = co.leases()
    if rest:
        uuid = check_id_form(rest[0])
        if uuid not in leases:
            raise Exit(EXIT_NONE, f"no lease on {uuid} in this checkout ('taskctl next' claims "
                                  f"a task with one)")
        targets = [uuid]
    else:
        targets = sorted(u for u, lease in leases.items() if lease.get("agent") == me)
        if not targets:
            raise Exit(EXIT_NONE, f"no lease held by {me} in this checkout")
    remote = Remote(co)
    if not remote.base_url:
        raise Exit(EXIT_ERROR, remote.no_url_hint())
    code = EXIT_OK
    for uuid in targets:
        lease = leases[uuid]
        body: dict = {"lease_token": lease.get("token")}
        seconds = lease_seconds if lease_seconds is not None else lease.get("lease_seconds")
        if seconds is not None:
            body["lease_seconds"] = seconds
        reply = remote.call("POST", f"/api/task/{uuid}/heartbeat", body)
        if 200 <= reply.status < 300:
            fresh = reply.body.get("lease") if isinstance(reply.body, dict) else None
            fresh = fresh if isinstance(fresh, dict) else {}
            with co.locked():
                now = co.leases()
                if uuid in now and now[uuid].get("token") == lease.get("token"):
                    now[uuid]["expires_at"] = fresh.get("expires_at", now[uuid].get("expires_at"))
                    if lease_seconds is not None:
                        now[uuid]["lease_seconds"] = lease_seconds
                    co.write_leases(now)
            print(f"[HEARTBEAT] {uuid} lease until {describe_expiry(fresh.get('expires_at'))}")
        elif reply.status == 409 and reply.code == "lease_lost":
            current, holder = server_state(remote, uuid)
            with co.locked():
                drop_lease(co, uuid, lease.get("token"))
                if current:
                    adopt_status(co, uuid, current)
            err(f"lease lost on {uuid} ({remote.describe(reply)}); the task is now "
                f"{state_text(current, holder)}: stop working on it ('taskctl next' claims "
                f"another)")
            code = max(code, EXIT_CONFLICT)
        elif reply.status == 404:
            with co.locked():
                drop_lease(co, uuid, lease.get("token"))
            err(f"heartbeat for {uuid}: {remote.describe(reply)}; lease forgotten")
            code = max(code, EXIT_ERROR)
        else:
            err(f"heartbeat for {uuid} failed: {remote.describe(reply)}")
            code = max(code, EXIT_ERROR)
    return code


def cmd_status(co: Checkout, args: list[str]) -> int:
    if len(args) > 1:
        raise Exit(EXIT_USAGE, "usage: taskctl status [<id>]")
    if not args:
        co.require()
        for uuid, lease in sorted(co.leases().items()):
            print(tsv([uuid, lease.get("agent"), lease.get("expires_at"), lease.get("token")]))
        return EXIT_OK
    uuid = check_id_form(args[0])
    task = co.task(co.read_doc(), uuid)
    print(status_of(task))
    lease = co.leases().get(uuid)
    if lease is not None:
        err(f"lease: {lease.get('agent')} holds {uuid} until "
            f"{describe_expiry(lease.get('expires_at'))}, token {lease.get('token')}")
    elif task.get("claimed_by") and task.get("lease_expires_at"):
        err(f"lease: claimed by {task['claimed_by']} until "
            f"{describe_expiry(task['lease_expires_at'])} (as of the last fetch)")
    return EXIT_OK


def cmd_help(co: Checkout, args: list[str]) -> int:
    usage = "usage: taskctl help <id> [<question>] [--error TEXT] [--agent NAME] [--json]"
    if not args:
        raise Exit(EXIT_USAGE, usage)
    uuid, rest = args[0], args[1:]
    words: list[str] = []
    error, agent, raw = "", agent_identity(), False
    i = 0
    while i < len(rest):
        arg = rest[i]
        if arg in ("--error", "--agent"):
            if i + 1 >= len(rest):
                raise Exit(EXIT_USAGE, f"{arg} needs a value")
            if arg == "--error":
                error = rest[i + 1]
            else:
                agent = rest[i + 1]
            i += 2
        elif arg.startswith("--error="):
            error, i = arg[len("--error="):], i + 1
        elif arg.startswith("--agent="):
            agent, i = arg[len("--agent="):], i + 1
        elif arg == "--json":
            raw, i = True, i + 1
        elif arg == "--":
            words.extend(rest[i + 1:])
            break
        elif arg.startswith("-"):
            raise Exit(EXIT_USAGE, f"unknown option for help: {arg}")
        else:
            words.append(arg)
            i += 1
    question = " ".join(words)
    if not question and not error:
        raise Exit(EXIT_USAGE, "help needs a question or --error TEXT")
    check_id_form(uuid)
    co.task(co.read_doc(), uuid)
    remote = Remote(co)
    if not remote.base_url:
        raise Exit(EXIT_ERROR, remote.no_url_hint())
    flush_queue(co, remote)  # the orchestrator is about to be reached anyway
    body: dict = {"agent_name": agent}
    if question:
        body["question"] = question
    if error:
        body["error"] = error
    reply = remote.call("POST", f"/api/task/{uuid}/help", body,
                        timeout=max(remote.timeout, HELP_TIMEOUT))
    if not 200 <= reply.status < 300:
        raise Exit(EXIT_ERROR, f"help for {uuid} failed: {remote.describe(reply)}")
    answer = reply.body
    if raw or not isinstance(answer, dict):
        print(reply.text.rstrip("\n"))
        return EXIT_OK

    def text(value: Any, default: str) -> str:
        return default if value is None or value is False else raw_text(value)

    degraded = answer.get("degraded") not in (None, False)
    lines = [f"Task {text(answer.get('uuid'), '?')}"
             + (" (degraded answer: docs search unavailable)" if degraded else ""),
             "", "Instruction:", f"  {text(answer.get('original_instruction'), '-')}",
             "", "Guidance:",
             "\n".join("  " + ln for ln in text(answer.get("ai_guidance"), "-").split("\n")),
             "", f"Summary: {text(answer.get('summary'), '-')}"]
    sources = answer.get("sources")
    if isinstance(sources, list) and sources:
        lines += ["", "Sources:"]
        lines += [f"  - {text(s.get('title'), 'untitled')} <{text(s.get('url'), '')}>"
                  for s in sources if isinstance(s, dict)]
    print("\n".join(lines))
    return EXIT_OK


def cmd_read(co: Checkout, cmd: str, args: list[str]) -> int:
    if cmd == "list":
        if len(args) > 1:
            raise Exit(EXIT_USAGE, "usage: taskctl list [STATUS]")
        wanted = args[0] if args else ""
        if wanted and wanted not in STATUSES:
            raise Exit(EXIT_USAGE, f"unknown status '{wanted}' (one of: {' '.join(STATUSES)})")
        for task in co.read_doc()["tasks"]:
            if isinstance(task, dict) and (not wanted or status_of(task) == wanted):
                print(tsv([task.get("uuid"), task.get("file_path"), status_of(task)]))
        return EXIT_OK
    if cmd == "queue":
        if args:
            raise Exit(EXIT_USAGE, "usage: taskctl queue")
        co.require()
        for entry in co.queue():
            print(tsv([entry.get("id"), entry.get("uuid"), entry.get("status"),
                       entry.get("queued_at")]))
        return EXIT_OK
    if len(args) != 1:  # get, show
        raise Exit(EXIT_USAGE, f"usage: taskctl {cmd} <id>")
    task = co.task(co.read_doc(), check_id_form(args[0]))
    if cmd == "get":
        instruction = task.get("instruction")
        print(raw_text("" if instruction is None or instruction is False else instruction))
    else:
        print(json.dumps(task, indent=2, ensure_ascii=False))
    return EXIT_OK


def run(cmd: str, args: list[str]) -> int:
    co = Checkout()
    if cmd in ("list", "queue", "get", "show"):
        return cmd_read(co, cmd, args)
    if cmd == "status":
        return cmd_status(co, args)
    if cmd == "next":
        return cmd_next(co, args)
    if cmd == "heartbeat":
        return cmd_heartbeat(co, args)
    if cmd == "block":
        if len(args) < 2:
            raise Exit(EXIT_USAGE, "usage: taskctl block <id> <reason>")
        reason = " ".join(args[1:])
        if not reason:
            raise Exit(EXIT_USAGE, "block needs a reason")
        check_id_form(args[0])
        co.require()
        return cmd_change(co, args[0], "blocked", reason=reason)
    if cmd in ("start", "complete"):
        if len(args) != 1:
            raise Exit(EXIT_USAGE, f"usage: taskctl {cmd} <id>")
        check_id_form(args[0])
        co.require()
        if cmd == "start":
            # Compare-and-set: of two agents claiming one task, only one wins.
            return cmd_change(co, args[0], "in_progress", expected="pending")
        return cmd_change(co, args[0], "complete")
    if cmd == "sync":
        if args:
            raise Exit(EXIT_USAGE, "usage: taskctl sync")
        co.require()
        return cmd_sync(co)
    if cmd == "help":
        return cmd_help(co, args)
    err(f"unknown command '{cmd}'")
    sys.stderr.write(USAGE)
    return EXIT_USAGE


def main(argv: list[str]) -> int:
    if not argv:
        sys.stderr.write(USAGE)
        return EXIT_USAGE
    if argv[0] in ("-h", "--help"):
        sys.stdout.write(USAGE)
        return EXIT_OK
    try:
        return run(argv[0], argv[1:])
    except Exit as exc:
        if exc.message:
            err(exc.message)
        return exc.code
    except OSError as exc:
        err(str(exc))
        return EXIT_ERROR
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    import signal

    signal.signal(signal.SIGPIPE, signal.SIG_DFL)  # `taskctl list | head` ends quietly
    sys.exit(main(sys.argv[1:]))
PY

# -I: the checkout's own modules and PYTHON* settings must not shadow the standard library;
# -S: no site-packages (only the standard library is used), which also halves the start-up.
exec python3 -I -S -c "$TASKCTL_PY" "$@"
