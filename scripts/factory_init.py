#!/usr/bin/env python3
"""Pull an order's tasks from Mission Control and mark each placeholder with its task id.

Usage:
    factory_init.py [options] ORDER_ID ORCHESTRATOR_URL [FACTORY_NAME]

Run it from the root of a factory checkout (or pass --root). It

  1. fetches GET {ORCHESTRATOR_URL}/api/tasks/{ORDER_ID};
  2. writes .mission_control/tasks.json atomically (the orchestrator's answer, plus the keys
     described under "tasks.json" below);
  3. writes a comment `TASK_ID:<uuid> - see .mission_control/tasks.json` on the line above each
     `###PLACEHOLDER###`, in the comment syntax of the file's language and with the
     placeholder line's indentation; a marker already there is left alone, so a second run
     changes nothing;
  4. reports what it could not do (FILE_NOT_FOUND, PLACEHOLDER_NOT_FOUND, INJECT_FAILED) in
     one batch to POST /api/factory/errors and acts on the answer: injects at the new path
     (update_file_path), applies a patched file after checking it (patch_ready), or marks the
     task blocked in tasks.json (blocked). Items the orchestrator queued (answered `queued`
     with a status_url: more than one request can work) are then awaited: their batch's
     status route is polled with backoff, for at most --wait seconds (--no-wait: not at all),
     and each outcome is applied as it arrives. What is still awaited is kept in
     .mission_control/remediation.json, so an interrupted or timed-out run's successor waits
     for the same items instead of reporting them again;
  5. shows progress on long work (remediation being awaited, injection into large orders):
     one line redrawn in place on a terminal, printed every few seconds otherwise;
  6. prints a one-line summary and exits with a code that says how it went.

Environment:
    MISSION_CONTROL_TOKEN   bearer token for the orchestrator's /api/* routes (never printed)

Exit codes:
    0  every task is marked (or needs no marker) and nothing is blocked
    1  fatal: orchestrator unreachable, unknown order, bad answer, wrong directory, I/O error;
       tasks.json is left as it was
    2  bad command line
    3  finished, but at least one task of the order is blocked
    4  finished, but some problems are unresolved (the orchestrator could not be told, had
       no fix, or is still working on them); running again later may resolve them. Takes
       precedence over 3.

tasks.json: the orchestrator's JSON for the order ({order_id, factory, created_at, tasks}) plus
    orchestrator_url            base URL used, so taskctl.sh can reach the orchestrator
    tasks[].blocked_reason      why the task is blocked (while its status is "blocked")
    tasks[].followup_id         the orchestrator's follow-up for a blocked task
    tasks[].remediation         {action, note, previous_file_path?, pr_url?} of an automatic fix
Status changes queued by taskctl.sh (.mission_control/queue.jsonl) and not yet pushed are laid
over the fetched statuses, so a re-run never hides an agent's unpushed work.

Python 3.11 standard library only: factories run this with nothing installed.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import os
import queue
import re
import sys
import threading
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

VERSION = "1.0.0"

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


EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_BLOCKED = 3
EXIT_UNRESOLVED = 4

USER_AGENT = f"mission-control-factory-init/{VERSION}"

TASK_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
MAX_PLACEHOLDER_LEN = 512

# Statuses for which a missing placeholder is expected (an agent has started or finished the
# work, or a human already has the problem), so it is not reported again.
SETTLED_STATUSES = frozenset({"in_progress", "complete", "blocked"})

# Keys this script (and taskctl.sh) add to a task; kept across re-runs.
LOCAL_TASK_KEYS = ("blocked_reason", "followup_id", "remediation")

OPS_LOG_TIMEOUT = 2.0  # seconds a log call, and the final wait for queued ones, may take
ERROR_BATCH_SIZE = 100  # items per POST /api/factory/errors (the orchestrator bounds a batch)
# Remediation the orchestrator queued (answered `queued` with a status_url) is polled for:
POLL_FIRST = 1.0   # seconds before the first poll; doubles while nothing changes...
POLL_MAX = 15.0    # ...up to this
DEFAULT_WAIT = 300.0  # seconds of polling at most (--wait); then a re-run picks up
PENDING_FILE_NAME = "remediation.json"  # in .mission_control/: queued items still awaited
STATUS_PAGE = 200  # items per GET /api/factory/errors/:batch_id page
# Progress lines: redrawn in place on a terminal, printed every PROGRESS_INTERVAL otherwise.
PROGRESS_INTERVAL = 10.0
PROGRESS_REFRESH = 0.1  # seconds between redraws on a terminal
PROGRESS_MIN_TASKS = 1000  # orders smaller than this inject too fast to need a progress line
PREVIEW_CHARS = 400

# --------------------------------------------------------------------------------------------
# Comment syntax
# --------------------------------------------------------------------------------------------

SLASH = ("// ", "")
HASH = ("# ", "")
HTML = ("<!-- ", " -->")
BLOCK = ("/* ", " */")
DASHES = ("-- ", "")
SEMI = ("; ", "")
PERCENT = ("% ", "")
JSX_BLOCK = ("{/* ", " */}")
REM = ("REM ", "")
QUOTE = ("' ", "")

_EXT_GROUPS: list[tuple[tuple[str, str], str]] = [
    (SLASH, "js jsx mjs cjs ts tsx mts cts rs go c h cc cpp cxx c++ hh hpp hxx ino java kt kts "
            "scala sc swift cs fs fsx dart groovy gradle proto zig v sol jsonc json5 scss sass "
            "less php cu m mm d hx"),
    (HASH, "py pyi pyw pyx rb sh bash zsh fish ksh yaml yml toml cfg conf pl pm r ps1 psm1 tf "
           "tfvars hcl nix cmake mk make dockerfile properties gql graphql jl cr ex exs nim "
           "coffee awk sed tcl env gitignore dockerignore editorconfig gitattributes rake "
           "gemspec podspec bzl star txt"),
    (HTML, "html htm xhtml xml svg vue svelte md markdown astro xsl xslt xsd plist csproj "
           "fsproj vbproj props targets resx rss atom"),
    (BLOCK, "css pcss postcss"),
    (DASHES, "sql psql pgsql lua hs lhs elm ada adb ads purs"),
    (SEMI, "lisp lsp el clj cljs cljc edn scm ss rkt asm s ini"),
    (PERCENT, "tex sty cls erl hrl"),
    (JSX_BLOCK, "mdx"),
    (REM, "bat cmd"),
    (QUOTE, "vb vbs bas"),
]
EXTENSION_STYLES: dict[str, tuple[str, str]] = {
    "." + ext: style for style, exts in _EXT_GROUPS for ext in exts.split()
}

FILENAME_STYLES: dict[str, tuple[str, str]] = {
    name: HASH
    for name in (
        "Dockerfile", "Containerfile", "Makefile", "makefile", "GNUmakefile", "Gemfile",
        "Rakefile", "Procfile", "Brewfile", "Vagrantfile", "BUILD", "WORKSPACE", "justfile",
        "Justfile", "CODEOWNERS", ".gitignore", ".dockerignore", ".env", ".npmrc",
        ".editorconfig", ".gitattributes", "CMakeLists.txt", "requirements.txt",
    )
}

# Formats with no comment syntax: a marker would corrupt them, so none is written.
NO_COMMENT_EXTENSIONS = frozenset({".json", ".ipynb", ".csv", ".tsv", ".webmanifest"})

# Interpreters named on a #! line, for files without an extension.
_SHEBANG_STYLES = {"node": SLASH, "deno": SLASH, "bun": SLASH, "ts-node": SLASH, "lua": DASHES}

FALLBACK_STYLE = HASH  # most configuration and script formats without a known name take '#'


def comment_style_for(path: str, first_line: str | None = None) -> tuple[str, str] | None:
    """(prefix, suffix) of a one-line comment for `path`, or None when the format has none."""
    name = os.path.basename(path)
    if name in FILENAME_STYLES:
        return FILENAME_STYLES[name]
    lower = name.lower()
    if lower.startswith(".env") or lower.startswith("dockerfile"):
        return HASH
    ext = os.path.splitext(lower)[1]
    if ext in NO_COMMENT_EXTENSIONS:
        return None
    if ext in EXTENSION_STYLES:
        return EXTENSION_STYLES[ext]
    if first_line and first_line.startswith("#!"):
        words = first_line[2:].strip().split()
        interpreter = os.path.basename(words[0]) if words else ""
        if interpreter == "env" and len(words) > 1:
            interpreter = next((w for w in words[1:] if not w.startswith("-")), "")
        return _SHEBANG_STYLES.get(os.path.basename(interpreter), HASH)
    return FALLBACK_STYLE


def format_marker(uuid: str, style: tuple[str, str], ascii_only: bool = False) -> str:
    """The marker comment (no indentation, no line ending)."""
    dash = "-" if ascii_only else "\u2013"  # the original's en dash, unless the file is not UTF-8
    prefix, suffix = style
    return f"{prefix}TASK_ID:{uuid} {dash} see {MC_DIR_NAME}/{TASKS_FILE_NAME}{suffix}"


def has_marker(line: str, uuid: str) -> bool:
    """True if `line` holds TASK_ID:<uuid> as a whole token (TASK_ID:AB is not TASK_ID:ABC)."""
    token = "TASK_ID:" + uuid
    start = line.find(token)
    while start >= 0:
        end = start + len(token)
        if end >= len(line) or line[end] not in TASK_ID_CHARS:
            return True
        start = line.find(token, start + 1)
    return False


# --------------------------------------------------------------------------------------------
# Text handling (pure)
# --------------------------------------------------------------------------------------------

_LINE_SPLIT_RE = re.compile(r"(?<=\n)|(?<=\r)(?!\n)")


def split_lines(text: str) -> list[str]:
    """Lines with their endings kept; only \\r\\n, \\n and \\r end a line (unlike
    str.splitlines, which would also split on form feeds and U+2028 and so rewrite them)."""
    if "\r" not in text:  # the common case, without the (slower) regular expression
        parts = text.split("\n")
        lines = [part + "\n" for part in parts[:-1]]
        if parts[-1]:
            lines.append(parts[-1])
        return lines
    lines = _LINE_SPLIT_RE.split(text)
    if lines and lines[-1] == "":
        lines.pop()
    return lines


def line_ending(line: str) -> str:
    if line.endswith("\r\n"):
        return "\r\n"
    if line.endswith("\n") or line.endswith("\r"):
        return line[-1]
    return ""


def detect_newline(lines: Iterable[str]) -> str:
    """The file's first line ending, used where the placeholder line has none (last line)."""
    for line in lines:
        eol = line_ending(line)
        if eol:
            return eol
    return "\n"


def leading_whitespace(line: str) -> str:
    return line[: len(line) - len(line.lstrip(" \t"))]


def placeholder_tag(placeholder: str) -> str:
    return f"###{placeholder}###"


def _line_start(text: str, pos: int) -> int:
    """Offset where the line holding `pos` starts."""
    return max(text.rfind("\n", 0, pos), text.rfind("\r", 0, pos)) + 1


def _line_end(text: str, pos: int) -> int:
    """Offset of the line ending (or the end of the text) of the line holding `pos`."""
    ends = [i for i in (text.find("\n", pos), text.find("\r", pos)) if i >= 0]
    return min(ends) if ends else len(text)


def _ending_at(text: str, pos: int) -> str:
    if text.startswith("\r\n", pos):
        return "\r\n"
    return text[pos:pos + 1]


def marker_adjacent(text: str, start: int, uuid: str) -> bool:
    """A marker for `uuid` on the line starting at `start` or in the run of TASK_ID comment
    lines directly above it (several tasks can share one placeholder line)."""
    if has_marker(text[start:_line_end(text, start)], uuid):
        return True
    while start > 0:
        content_end = start - 2 if text.startswith("\r\n", start - 2) else start - 1
        start = _line_start(text, content_end)
        line = text[start:content_end]
        if "TASK_ID:" not in line:
            return False
        if has_marker(line, uuid):
            return True
    return False


INJECTED = "injected"
PRESENT = "present"
MISSING = "missing"
NO_SYNTAX = "no_comment_syntax"


def inject_markers(
    text: str,
    items: list[tuple[str, str]],
    style: tuple[str, str] | None,
    ascii_only: bool = False,
) -> tuple[str, list[str]]:
    """Insert a marker above the first occurrence of each (uuid, placeholder).

    Returns the new text and, per item, INJECTED, PRESENT, MISSING or NO_SYNTAX. Placeholders
    are found with str.find, never as regular expressions; every other character of the text,
    line endings included, is kept. Works on offsets, so a large file is not split into lines.
    """
    inserts: dict[int, list[str]] = {}
    inserted_ids: dict[int, set[str]] = {}
    statuses: list[str] = []
    newline: str | None = None
    for uuid, placeholder in items:
        at = text.find(placeholder_tag(placeholder))
        if at < 0:
            statuses.append(MISSING)
            continue
        start = _line_start(text, at)
        if uuid in inserted_ids.get(start, ()) or marker_adjacent(text, start, uuid):
            statuses.append(PRESENT)
            continue
        if style is None:
            statuses.append(NO_SYNTAX)
            continue
        eol = _ending_at(text, _line_end(text, at))
        if not eol:  # placeholder on a last line without ending: use the file's first ending
            if newline is None:
                newline = _ending_at(text, _line_end(text, 0)) or "\n"
            eol = newline
        line = text[start:_line_end(text, start)]
        comment = leading_whitespace(line) + format_marker(uuid, style, ascii_only) + eol
        inserts.setdefault(start, []).append(comment)
        inserted_ids.setdefault(start, set()).add(uuid)
        statuses.append(INJECTED)
    if not inserts:
        return text, statuses
    out: list[str] = []
    prev = 0
    for offset in sorted(inserts):
        out.append(text[prev:offset])
        out.extend(inserts[offset])
        prev = offset
    out.append(text[prev:])
    return "".join(out), statuses


def decode_text(data: bytes) -> tuple[str, bool, str]:
    """(text, had_bom, errors mode). Bytes that are not UTF-8 survive the round trip through
    surrogateescape, so a Latin-1 file is written back byte for byte apart from the marker."""
    bom = data.startswith(b"\xef\xbb\xbf")
    body = data[3:] if bom else data
    try:
        return body.decode("utf-8"), bom, "strict"
    except UnicodeDecodeError:
        return body.decode("utf-8", "surrogateescape"), bom, "surrogateescape"


def encode_text(text: str, bom: bool, errors: str) -> bytes:
    return (b"\xef\xbb\xbf" if bom else b"") + text.encode("utf-8", errors)


def is_marker_line(line: str) -> bool:
    return "TASK_ID:" in line


def check_patch(current: str, patched: str, required_tags: Iterable[str]) -> str | None:
    """Why a patched file from the orchestrator must not replace `current`, or None if it may.

    Safe means: every required placeholder is in the patch, and every line of the current
    file (apart from TASK_ID markers, which are re-injected) is still there in order, so no
    local work is lost.
    """
    for tag in required_tags:
        if tag not in patched:
            return f"the patch drops placeholder {tag}"
    patched_lines = [ln.rstrip("\r\n") for ln in split_lines(patched)]
    pos = 0
    for line in split_lines(current):
        if is_marker_line(line):
            continue
        bare = line.rstrip("\r\n")
        while pos < len(patched_lines) and patched_lines[pos] != bare:
            pos += 1
        if pos == len(patched_lines):
            return f"the patch changes or removes the line {bare[:80]!r}"
        pos += 1
    return None


def match_newlines(patched: str, current: str) -> str:
    """Give a patch (GitHub content, usually \\n) the CRLF endings of a CRLF file."""
    if detect_newline(split_lines(current)) == "\r\n" and "\r" not in patched:
        return patched.replace("\n", "\r\n")
    return patched


# --------------------------------------------------------------------------------------------
# Paths and files
# --------------------------------------------------------------------------------------------


class UnsafePath(ValueError):
    """A file_path that must not be written: absolute, climbing out, or leaving via a symlink."""


_PROTECTED_TOP = (".git", MC_DIR_NAME)


def resolve_task_path(root_real: str, file_path: Any,
                      dir_cache: dict[tuple[str, ...], str] | None = None) -> tuple[str, str]:
    """(real absolute path, normalised relative path) of a task's file inside the checkout.

    `root_real` must already be os.path.realpath'd. Symlinks are followed, and the result must
    stay inside the checkout; writes then go to the real file so a symlink is never replaced.
    """
    if not isinstance(file_path, str) or not file_path.strip():
        raise UnsafePath("file_path is empty or not a string")
    if "\x00" in file_path or "\n" in file_path or "\r" in file_path:
        raise UnsafePath("file_path contains control characters")
    if "\\" in file_path:
        raise UnsafePath("file_path contains a backslash")
    if file_path.startswith(("/", "~")) or re.match(r"^[A-Za-z]:", file_path):
        raise UnsafePath("file_path is absolute")
    parts = [p for p in file_path.split("/") if p not in ("", ".")]
    if not parts:
        raise UnsafePath("file_path names no file")
    if ".." in parts:
        raise UnsafePath("file_path climbs out with '..'")
    if parts[0] in _PROTECTED_TOP:
        raise UnsafePath(f"file_path is inside {parts[0]}/")
    # realpath(dir/name) == realpath(realpath(dir)/name): folders are resolved once per run.
    folder = tuple(parts[:-1])
    real_dir = dir_cache.get(folder) if dir_cache is not None else None
    if real_dir is None:
        real_dir = os.path.realpath(os.path.join(root_real, *folder))
        if dir_cache is not None:
            dir_cache[folder] = real_dir
    real = os.path.join(real_dir, parts[-1])
    if os.path.islink(real):
        real = os.path.realpath(real)
    if real == root_real:
        raise UnsafePath("file_path resolves to the checkout itself")
    if os.path.commonpath([root_real, real]) != root_real:
        raise UnsafePath("file_path leads outside the checkout through a symlink")
    if os.path.relpath(real, root_real).split(os.sep)[0] in _PROTECTED_TOP:
        raise UnsafePath("file_path leads into a protected folder through a symlink")
    return real, "/".join(parts)


# --------------------------------------------------------------------------------------------
# tasks.json
# --------------------------------------------------------------------------------------------


def build_tasks_doc(fetched: dict, orchestrator_url: str, previous: Any,
                    queued: list[dict]) -> dict:
    """tasks.json content: the orchestrator's answer, unpushed local status changes laid over
    it, and this script's own keys carried over from the previous file."""
    doc = {k: v for k, v in fetched.items() if k != "tasks"}
    doc["tasks"] = [dict(t) for t in fetched.get("tasks", [])]
    doc["orchestrator_url"] = orchestrator_url
    by_id = {t.get("uuid"): t for t in doc["tasks"]}
    for entry in queued:
        task = by_id.get(entry.get("uuid"))
        if task is not None and entry.get("op", "status") == "status" and entry.get("status"):
            task["status"] = entry["status"]
            if entry["status"] == "blocked" and entry.get("reason"):
                task["blocked_reason"] = entry["reason"]
    old_tasks = previous.get("tasks") if isinstance(previous, dict) else None
    if isinstance(old_tasks, list):
        old_by_id = {t.get("uuid"): t for t in old_tasks if isinstance(t, dict)}
        for task in doc["tasks"]:
            old = old_by_id.get(task.get("uuid"))
            if not old:
                continue
            for key in LOCAL_TASK_KEYS:
                if key in old and key not in task:
                    if key in ("blocked_reason", "followup_id") and task.get("status") != "blocked":
                        continue  # unblocked since: the reason no longer applies
                    task[key] = old[key]
    return doc


def validate_tasks_answer(data: Any, order_id: str) -> list[str]:
    """Problems that make the answer unusable (an empty list means it is fine)."""
    if not isinstance(data, dict):
        return ["the answer is not a JSON object"]
    tasks = data.get("tasks")
    if not isinstance(tasks, list):
        return ["the answer has no 'tasks' list"]
    problems = []
    if data.get("order_id") not in (None, order_id):
        problems.append(f"the answer is for order {data.get('order_id')!r}, not {order_id!r}")
    for i, task in enumerate(tasks):
        if not isinstance(task, dict) or not isinstance(task.get("uuid"), str):
            problems.append(f"task #{i} has no uuid")
    return problems


# --------------------------------------------------------------------------------------------
# Orchestrator client
# --------------------------------------------------------------------------------------------


def describe_http_error(status: int, body: Any, what: str) -> str:
    code, message = error_text(body)
    detail = f"{status}" + (f" {code}" if code else "") + (f": {message}" if message else "")
    if status in (401, 403):
        hint = (f" (set {TOKEN_ENV} to the orchestrator's API token)"
                if not os.environ.get(TOKEN_ENV) else f" (check {TOKEN_ENV})")
        return f"{what} was refused: {detail}{hint}"
    return f"{what} failed: {detail}"


class OpsLogger:
    """Fire-and-forget POST /api/ops/log from a background thread: a slow or unreachable log
    never delays or fails the run. After one failure the rest are dropped."""

    def __init__(self, client: Orchestrator | None, order_id: str,
                 timeout: float | None = None):
        self.client = client
        self.order_id = order_id
        self.timeout = timeout if timeout is not None else OPS_LOG_TIMEOUT
        self._queue: queue.Queue = queue.Queue()
        self._thread: threading.Thread | None = None
        self._dead = client is None

    def log(self, operation: str, level: str = "info", details: dict | None = None) -> None:
        if self._dead:
            return
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="ops-log", daemon=True)
            self._thread.start()
        self._queue.put({"source": "factory-init", "operation": operation, "level": level,
                         "order_id": self.order_id, "details": details or {}})

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            if self._dead:
                continue
            try:
                status, _ = self.client.request("POST", "/api/ops/log", item,
                                                timeout=self.timeout, attempts=1)
                if status in (401, 403, 404):
                    self._dead = True
            except Exception:  # noqa: BLE001 - logging must never fail the run
                self._dead = True

    def close(self, wait: float | None = None) -> None:
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(wait if wait is not None else self.timeout)


# --------------------------------------------------------------------------------------------
# The run
# --------------------------------------------------------------------------------------------


class Fatal(Exception):
    """Stops the run with exit code 1 and leaves tasks.json untouched."""


@dataclass
class TaskResult:
    task: dict
    outcome: str                  # INJECTED, PRESENT, MISSING, NO_SYNTAX, FILE_NOT_FOUND, ...
    message: str = ""
    error_code: str | None = None  # set when the result should be reported
    context: dict = field(default_factory=dict)


FILE_NOT_FOUND = "FILE_NOT_FOUND"
PLACEHOLDER_NOT_FOUND = "PLACEHOLDER_NOT_FOUND"
INJECT_FAILED = "INJECT_FAILED"


def check_task_fields(task: dict) -> str | None:
    uuid, placeholder = task.get("uuid"), task.get("placeholder")
    if not isinstance(uuid, str) or not TASK_ID_RE.match(uuid):
        return f"task id {uuid!r} is not a plain identifier; refusing to write it into a file"
    if (not isinstance(placeholder, str) or not placeholder or len(placeholder) > MAX_PLACEHOLDER_LEN
            or "\n" in placeholder or "\r" in placeholder):
        return f"placeholder {placeholder!r} cannot appear on one line"
    return None


class PathResolver:
    """resolve_task_path with a per-run cache: an order names each file many times."""

    def __init__(self, root_real: str):
        self.root_real = root_real
        self._cache: dict[str, tuple[str, str] | UnsafePath] = {}
        self._dirs: dict[tuple[str, ...], str] = {}

    def __call__(self, file_path: Any) -> tuple[str, str]:
        if not isinstance(file_path, str):
            return resolve_task_path(self.root_real, file_path)
        hit = self._cache.get(file_path)
        if hit is None:
            try:
                hit = resolve_task_path(self.root_real, file_path, self._dirs)
            except UnsafePath as exc:
                hit = exc
            self._cache[file_path] = hit
        if isinstance(hit, UnsafePath):
            raise hit
        return hit


@dataclass
class PendingWrite:
    real: str
    data: bytes
    like: os.stat_result


WRITE_WORKERS = 16  # parallel fsyncs share journal commits: ~10x faster than one at a time


class Injector:
    """Reads, marks and writes each file once, however many tasks it has."""

    def __init__(self, root_real: str, *, dry_run: bool, fsync: bool = True,
                 resolver: PathResolver | None = None):
        self.root_real = root_real
        self.dry_run = dry_run
        self.fsync = fsync
        self.resolve = resolver or PathResolver(root_real)

    def group(self, tasks: list[dict]) -> tuple[dict[str, list[dict]], list[TaskResult]]:
        """Tasks by real file path, and results for tasks refused before any file is read."""
        groups: dict[str, list[dict]] = {}
        refused: list[TaskResult] = []
        for task in tasks:
            problem = check_task_fields(task)
            if problem is not None:
                refused.append(TaskResult(task, INJECT_FAILED, problem, INJECT_FAILED,
                                          {"reason": "invalid_task"}))
                continue
            try:
                real, _ = self.resolve(task.get("file_path"))
            except UnsafePath as exc:
                refused.append(TaskResult(
                    task, INJECT_FAILED, f"refused file_path {task.get('file_path')!r}: {exc}",
                    INJECT_FAILED, {"reason": "unsafe_path", "detail": str(exc)}))
                continue
            groups.setdefault(real, []).append(task)
        return groups, refused

    def process(self, tasks: list[dict], progress: Any = None) -> list[TaskResult]:
        """Mark every task. Files are read and prepared one by one; the writes (each durable
        before its rename) run in a small thread pool, since fsync dominates otherwise.
        `progress(done)`, if given, hears how many tasks are prepared so far."""
        groups, results = self.group(tasks)
        jobs: list[tuple[list[TaskResult], Any]] = []
        done = len(results)
        with ThreadPoolExecutor(max_workers=WRITE_WORKERS) as pool:
            for real, group in groups.items():
                file_results, write = self.prepare_file(real, group)
                done += len(group)
                if progress is not None:
                    progress(done)
                if write is None:
                    results.extend(file_results)
                else:
                    jobs.append((file_results, pool.submit(self.commit, write)))
            for file_results, future in jobs:
                exc = future.exception()
                results.extend(file_results if exc is None
                               else self.write_failed(file_results, exc))
        return results

    def process_file(self, real: str, tasks: list[dict], replacement: str | None = None
                     ) -> list[TaskResult]:
        """Mark `tasks` in one file and write it. With `replacement`, that text (a checked
        patch) is written instead of the file's current content, markers included."""
        results, write = self.prepare_file(real, tasks, replacement)
        if write is not None:
            try:
                self.commit(write)
            except OSError as exc:
                return self.write_failed(results, exc)
        return results

    def commit(self, write: PendingWrite) -> None:
        atomic_write(write.real, write.data, like=write.like, fsync=self.fsync)

    @staticmethod
    def write_failed(results: list[TaskResult], exc: BaseException) -> list[TaskResult]:
        return [r if r.outcome != INJECTED else
                TaskResult(r.task, INJECT_FAILED, f"write failed: {exc}", INJECT_FAILED,
                           {"reason": "write_failed"}) for r in results]

    def prepare_file(self, real: str, tasks: list[dict], replacement: str | None = None
                     ) -> tuple[list[TaskResult], PendingWrite | None]:
        """Results for `tasks` in one file, and the write that would make them true."""
        def fail(code: str, message: str, **context: Any):
            return [TaskResult(t, code, message, code, dict(context)) for t in tasks], None

        try:
            st = os.stat(real)
        except FileNotFoundError:
            return fail(FILE_NOT_FOUND, "file not found")
        except OSError as exc:
            return fail(INJECT_FAILED, f"cannot stat file: {exc.strerror}", reason="stat_failed")
        if not os.path.isfile(real):
            return fail(INJECT_FAILED, "not a regular file", reason="not_regular_file")
        try:
            with open(real, "rb") as fh:
                data = fh.read()
        except OSError as exc:
            return fail(INJECT_FAILED, f"cannot read file: {exc.strerror}", reason="read_failed")
        if b"\x00" in data:
            return fail(INJECT_FAILED, "binary or UTF-16 file; markers are written to UTF-8 "
                        "text only", reason="unsupported_encoding")
        text, bom, errors = decode_text(data)
        if replacement is not None:
            text = replacement
        style = comment_style_for(real, text.split("\n", 1)[0])
        items = [(t["uuid"], t["placeholder"]) for t in tasks]
        new_text, statuses = inject_markers(text, items, style, ascii_only=errors != "strict")

        results: list[TaskResult] = []
        for task, status in zip(tasks, statuses):
            if status == MISSING:
                results.append(TaskResult(
                    task, MISSING, f"placeholder {placeholder_tag(task['placeholder'])} not found",
                    PLACEHOLDER_NOT_FOUND, {"preview": text[:PREVIEW_CHARS]}))
            elif status == NO_SYNTAX:
                results.append(TaskResult(task, NO_SYNTAX, "this file format has no comments; "
                                          "no marker written"))
            else:
                results.append(TaskResult(task, status))
        if self.dry_run or (replacement is None and INJECTED not in statuses):
            return results, None
        if not st.st_mode & 0o222:
            # Replacing by rename would silently defeat a read-only mode, so it is respected.
            return [r if r.outcome != INJECTED else
                    TaskResult(r.task, INJECT_FAILED, "file is read-only", INJECT_FAILED,
                               {"reason": "read_only"}) for r in results], None
        return results, PendingWrite(real, encode_text(new_text, bom, errors), st)


def idempotency_key(order_id: str, items: list[dict], tasks_by_id: dict[str, dict]) -> str:
    """Same problems on the same task versions -> same key, so a retried or repeated report
    gets the orchestrator's first answer instead of a second PR or issue. A task reopened on
    the orchestrator has a new updated_at, hence a new key."""
    material = [order_id]
    for item in sorted(items, key=lambda e: (str(e.get("task_uuid")), e["error_code"])):
        task = tasks_by_id.get(item.get("task_uuid"), {})
        material.append("|".join(str(x) for x in (
            item.get("task_uuid"), item["error_code"], item.get("file_path"),
            item.get("placeholder"), task.get("status"), task.get("updated_at"))))
    digest = hashlib.sha256("\n".join(material).encode("utf-8")).hexdigest()
    return f"factory-init-{digest[:40]}"


def status_path(url: Any) -> str | None:
    """The path of a batch's status route from an answer's status_url, or None. Only this
    orchestrator's /api/factory/errors/<id> is followed (the token goes with the request)."""
    if not isinstance(url, str):
        return None
    path = urllib.parse.urlsplit(url).path if "://" in url else url.split("?", 1)[0]
    match = re.fullmatch(r"/api/factory/errors/([A-Za-z0-9_.~%:-]{1,600})", path)
    if match and match.group(1) not in (".", ".."):  # ids are percent-encoded by the Worker
        return path
    return None


class Progress:
    """One progress line for long work: redrawn in place (\\r) on a terminal, printed every
    PROGRESS_INTERVAL seconds otherwise, and not at all with --quiet."""

    def __init__(self, out: "Output", describe: Any, first_at_once: bool = False):
        self.out = out
        self.describe = describe
        self.started = time.monotonic()
        self.last: float | None = None
        self.printed = False
        self.first_at_once = first_at_once
        self.final = ""

    def update(self, done: int) -> None:
        if self.out.quiet:
            return
        now = time.monotonic()
        if self.out.tty:
            if self.last is None or now - self.last >= PROGRESS_REFRESH:
                self.out.live(self.describe(done))
                self.last = now
            return
        since = now - (self.last if self.last is not None else self.started)
        if since >= PROGRESS_INTERVAL or (self.first_at_once and not self.printed):
            self.out.info(self.describe(done))
            self.last, self.printed = now, True

    def close(self, done: int) -> None:
        """The last state: redrawn and ended on a terminal, printed if earlier ones were."""
        if self.out.quiet:
            return
        if self.out.tty:
            if self.last is not None or self.first_at_once:
                self.out.live(self.describe(done))
            self.out.end_live()
        elif self.printed:
            text = self.describe(done)
            if text != self.final:
                self.out.info(text)
        self.final = self.describe(done)


class Run:
    def __init__(self, args: argparse.Namespace, client: Orchestrator, out: "Output"):
        self.args = args
        self.client = client
        self.out = out
        self.order_id: str = args.order_id
        self.factory: str = args.factory_name or ""
        self.root_real = os.path.realpath(args.root)
        self.mc_dir = os.path.join(self.root_real, MC_DIR_NAME)
        self.tasks_path = os.path.join(self.mc_dir, TASKS_FILE_NAME)
        self.dry_run: bool = args.dry_run
        self.ops = OpsLogger(None if self.dry_run or args.no_log else client, self.order_id)
        self.resolve = PathResolver(self.root_real)
        self.injector = Injector(self.root_real, dry_run=self.dry_run, fsync=not args.no_fsync,
                                 resolver=self.resolve)
        self.counts = {"injected": 0, "already_present": 0, "remediated": 0, "blocked": 0,
                       "unresolved": 0, "skipped": 0}
        self.doc: dict = {}
        self.updates: dict[str, dict] = {}  # uuid -> local changes from this run's remediation
        self.remediation_done = 0
        self.remediation_blocked = 0
        self.poll_stopped = ""  # why polling for queued answers gave up early

    # -- fetching ----------------------------------------------------------------------------

    def fetch(self) -> dict:
        path = f"/api/tasks/{urllib.parse.quote(self.order_id, safe='')}"
        try:
            status, body = self.client.request("GET", path, attempts=3)
        except OrchestratorError as exc:
            raise Fatal(str(exc)) from None
        if status == 404:
            raise Fatal(f"order {self.order_id} is unknown to {self.client.base_url} (404)")
        if not 200 <= status < 300:
            raise Fatal(describe_http_error(status, body, f"GET {path}"))
        problems = validate_tasks_answer(body, self.order_id)
        if problems:
            raise Fatal(f"unusable answer from GET {path}: " + "; ".join(problems[:5]))
        return body

    # -- tasks.json --------------------------------------------------------------------------

    def write_tasks_json(self, fetched: dict) -> bool:
        """Rebuild tasks.json from `fetched` under the shared lock; written only if it differs,
        so a run that changes nothing leaves the file (and its mtime) alone. True if written."""
        if self.dry_run:
            previous = read_json_file(self.tasks_path)
            self.doc = build_tasks_doc(fetched, self.client.base_url, previous,
                                       read_queue(os.path.join(self.mc_dir, QUEUE_FILE_NAME)))
            self.apply_updates(self.doc)
            return False
        os.makedirs(self.mc_dir, exist_ok=True)
        with file_lock(self.mc_dir):
            previous = read_json_file(self.tasks_path)
            if (isinstance(previous, dict) and previous.get("order_id")
                    and previous.get("order_id") != self.order_id):
                self.out.warn(f"replacing tasks.json of order {previous.get('order_id')} "
                              f"with order {self.order_id}")
                previous = None
            doc = build_tasks_doc(fetched, self.client.base_url, previous,
                                  read_queue(os.path.join(self.mc_dir, QUEUE_FILE_NAME)))
            self.apply_updates(doc)
            changed = doc != previous  # same content, whoever formatted it: leave it alone
            if changed:
                like = None
                with contextlib.suppress(FileNotFoundError):
                    like = os.stat(self.tasks_path)
                atomic_write(self.tasks_path, dump_json(doc), like=like,
                             fsync=not self.args.no_fsync)
        self.doc = doc
        return changed

    def apply_updates(self, doc: dict) -> None:
        for task in doc.get("tasks", []):
            update = self.updates.get(task.get("uuid"))
            if update:
                task.update(update)

    # -- main flow ---------------------------------------------------------------------------

    def execute(self) -> int:
        started = time.monotonic()
        self.ops.log("factory_init_start", details={"root": self.root_real,
                                                     "dry_run": self.dry_run})
        self.out.info(f"[FETCHING] {self.client.base_url}/api/tasks/{self.order_id}")
        fetched = self.fetch()
        tasks = fetched["tasks"]
        if not self.factory:
            self.factory = str(fetched.get("factory") or "unknown-factory")
        self.ops.log("fetch_tasks", details={"tasks": len(tasks),
                                             "ms": int((time.monotonic() - started) * 1000)})
        self.guard_wrong_root(tasks)
        written = self.write_tasks_json(fetched)
        if self.dry_run:
            self.out.info(f"[DRY-RUN] would write {self.rel(self.tasks_path)} "
                          f"({len(tasks)} tasks); nothing is changed")
        else:
            verb = "[SAVED]" if written else "[UNCHANGED]"
            self.out.info(f"{verb} {len(tasks)} tasks -> {self.rel(self.tasks_path)}")

        by_id = {t["uuid"]: t for t in self.doc["tasks"]}
        tasks = self.doc["tasks"]
        progress = None
        if len(tasks) >= PROGRESS_MIN_TASKS:
            progress = Progress(self.out, lambda done: f"injection {done}/{len(tasks)} tasks")
        results = self.injector.process(tasks, progress.update if progress else None)
        if progress:
            progress.close(len(tasks))
        errors = self.tally(results)
        self.ops.log("inject_placeholders", details=dict(self.counts, errors=len(errors)))

        if errors:
            self.remediate(errors, by_id)
        elif not self.dry_run:
            self.save_pending({})  # nothing left to await, whatever an earlier run queued
        self.counts["blocked"] = sum(1 for t in self.doc["tasks"] if t.get("status") == "blocked")
        return self.finish(started)

    def guard_wrong_root(self, tasks: list[dict]) -> None:
        """If not one of several files of the order exists here, this is most likely not the
        checkout: reporting them all missing would open an issue per task."""
        reals = set()
        for task in tasks:
            with contextlib.suppress(UnsafePath):
                reals.add(self.resolve(task.get("file_path"))[0])
        if len(reals) >= 2 and not any(os.path.exists(p) for p in reals):
            raise Fatal(f"none of the order's {len(reals)} files exists under {self.root_real}; "
                        f"run from the factory checkout's root or pass --root")

    def tally(self, results: list[TaskResult]) -> list[TaskResult]:
        """Count outcomes and keep those to report. A missing file or placeholder is expected
        once a task is started, done or already blocked, so it is only counted as skipped."""
        errors: list[TaskResult] = []
        for r in results:
            uuid = r.task.get("uuid")
            where = f"{r.task.get('placeholder')} -> {r.task.get('file_path')}"
            if r.outcome == INJECTED:
                self.counts["injected"] += 1
                verb = "[DRY-RUN] would inject" if self.dry_run else "[INJECTED]"
                self.out.info(f"{verb} {where} ({uuid})")
            elif r.outcome == PRESENT:
                self.counts["already_present"] += 1
                self.out.detail(f"[PRESENT] {where} ({uuid})")
            elif r.outcome == NO_SYNTAX:
                self.counts["skipped"] += 1
                self.out.warn(f"{where} ({uuid}): {r.message}")
            elif r.task.get("status") in SETTLED_STATUSES:
                self.counts["skipped"] += 1
                self.out.detail(f"[SKIPPED] {where} ({uuid}): {r.message}; task is "
                                f"{r.task.get('status')}")
            else:
                self.out.warn(f"{r.error_code} {where} ({uuid}): {r.message}")
                errors.append(r)
        return errors

    def error_item(self, r: TaskResult) -> dict:
        return {
            "order_id": self.order_id,
            "factory": self.factory,
            "file_path": r.task.get("file_path") if isinstance(r.task.get("file_path"), str)
            else repr(r.task.get("file_path")),
            "placeholder": r.task.get("placeholder"),
            "task_uuid": r.task.get("uuid"),
            "error_code": r.error_code,
            "message": r.message if str(r.task.get("file_path")) in r.message
            else f"{r.message}: {r.task.get('file_path')}",
            "context": r.context,
        }

    def remediate(self, errors: list[TaskResult], by_id: dict[str, dict]) -> None:
        """Report the problems in batches and act on the orchestrator's answer to each. Items
        it queued (too many to work within one request) are awaited afterwards; so are those
        an interrupted earlier run was still waiting for, which are not reported again."""
        if self.dry_run:
            self.out.info(f"[DRY-RUN] would report {len(errors)} problem(s) to "
                          f"/api/factory/errors")
            self.counts["unresolved"] += len(errors)
            return
        current = {r.task.get("uuid") for r in errors}
        pending = {uuid: url for uuid, url in self.load_pending().items() if uuid in current}
        if pending:
            self.out.info(f"[RESUMING] {len(pending)} queued remediation item(s) from an earlier "
                          f"run")
        to_report = [r for r in errors if r.task.get("uuid") not in pending]
        answers: dict[str, dict] = {}
        for start in range(0, len(to_report), ERROR_BATCH_SIZE):
            chunk = [self.error_item(r) for r in to_report[start:start + ERROR_BATCH_SIZE]]
            key = idempotency_key(self.order_id, chunk, by_id)
            self.ops.log("error_batch", "warn", {"count": len(chunk), "batch_id": key})
            try:
                status, body = self.client.request(
                    "POST", "/api/factory/errors", {"errors": chunk, "batch_id": key},
                    headers={"Idempotency-Key": key}, attempts=3)
            except OrchestratorError as exc:
                self.out.error(f"could not report {len(chunk)} problem(s): {exc}")
                continue
            if not 200 <= status < 300 or not isinstance(body, dict):
                self.out.error(describe_http_error(status, body, "POST /api/factory/errors"))
                continue
            items = body.get("remediation")
            for i, answer in enumerate(items if isinstance(items, list) else []):
                if not isinstance(answer, dict):
                    continue
                # Answers name their task; fall back to position for an answer that does not.
                uuid = answer.get("task_uuid") or (chunk[i]["task_uuid"] if i < len(chunk) else None)
                if not uuid:
                    continue
                url = status_path(answer.get("status_url") or body.get("status_url"))
                if answer.get("action") == "queued" and url:
                    pending[uuid] = url
                else:
                    answers[uuid] = answer
        self.save_pending(pending)
        unanswered = [r for r in errors
                      if r.task.get("uuid") not in answers and r.task.get("uuid") not in pending]
        for r in unanswered:
            self.unresolved(r.task, "the orchestrator gave no answer for it")
        self.remediation_done = len(answers)
        self.remediation_blocked = sum(1 for a in answers.values() if a.get("action") == "blocked")
        if answers:
            self.apply_answers([r for r in errors if r.task.get("uuid") in answers], answers)
        if pending:
            self.await_queued(pending, errors, len(answers) + len(pending))

    # -- queued remediation ------------------------------------------------------------------

    def await_queued(self, pending: dict[str, str], errors: list[TaskResult],
                     total: int) -> None:
        """Poll each queued batch's status route with backoff, applying outcomes as they
        arrive, until none is left or the wait (--wait) is over."""
        progress = Progress(self.out, lambda done: (
            f"remediation {done}/{total} done, {self.remediation_blocked} blocked"),
            first_at_once=True)
        progress.update(self.remediation_done)
        if self.args.no_wait:
            progress.close(self.remediation_done)
            self.leave_pending(pending, "not waited for (--no-wait)")
            return
        by_uuid = {r.task.get("uuid"): r for r in errors}
        deadline = time.monotonic() + max(0.0, self.args.wait)
        delay = POLL_FIRST
        try:
            while pending:
                arrived, failed = self.poll(pending)
                for uuid, why in failed.items():
                    pending.pop(uuid, None)
                    self.unresolved(by_uuid[uuid].task, why)
                if arrived:
                    for uuid in arrived:
                        pending.pop(uuid, None)
                    self.remediation_done += len(arrived)
                    self.remediation_blocked += sum(1 for a in arrived.values()
                                                    if a.get("action") == "blocked")
                    self.apply_answers([by_uuid[u] for u in arrived], arrived)
                if arrived or failed:
                    self.save_pending(pending)
                progress.update(self.remediation_done)
                if not pending or self.poll_stopped:
                    break
                left = deadline - time.monotonic()
                if left <= 0:
                    break
                delay = POLL_FIRST if arrived else min(delay * 2, POLL_MAX)
                time.sleep(min(delay, left))
        finally:
            progress.close(self.remediation_done)
        if pending:
            self.leave_pending(pending, f"still queued after {self.args.wait:.0f}s"
                               if not self.poll_stopped else self.poll_stopped)

    def poll(self, pending: dict[str, str]) -> tuple[dict[str, dict], dict[str, str]]:
        """({uuid: final answer} that arrived, {uuid: why it will never arrive})."""
        arrived: dict[str, dict] = {}
        failed: dict[str, str] = {}
        for url in sorted(set(pending.values())):
            waiting = {u for u, v in pending.items() if v == url}
            cursor: str | None = None
            while True:
                path = f"{url}?limit={STATUS_PAGE}" + (
                    f"&cursor={urllib.parse.quote(str(cursor), safe='')}" if cursor else "")
                try:
                    status, body = self.client.request("GET", path, attempts=2)
                except OrchestratorError as exc:
                    self.out.detail(f"polling {url}: {exc}")  # try again on the next round
                    break
                if status == 404:
                    failed.update({u: f"the orchestrator no longer knows batch {url}"
                                   for u in waiting})
                    break
                if status in (401, 403):
                    self.poll_stopped = describe_http_error(status, body, f"GET {url}")
                    self.out.error(self.poll_stopped)
                    return arrived, failed
                if not 200 <= status < 300 or not isinstance(body, dict):
                    self.out.detail(describe_http_error(status, body, f"GET {url}"))
                    break
                for item in body.get("items") or []:
                    if (isinstance(item, dict) and item.get("state") == "done"
                            and item.get("task_uuid") in waiting):
                        arrived[item["task_uuid"]] = item
                cursor = body.get("next_cursor")
                if not cursor:
                    break
        return arrived, failed

    def leave_pending(self, pending: dict[str, str], why: str) -> None:
        """Items still queued count as unresolved; remediation.json keeps them for a re-run."""
        self.counts["unresolved"] += len(pending)
        self.out.warn(f"{len(pending)} remediation item(s) {why}; the orchestrator keeps working "
                      f"on them: run factory_init.py again to apply their answers")

    def load_pending(self) -> dict[str, str]:
        data = read_json_file(os.path.join(self.mc_dir, PENDING_FILE_NAME))
        if not isinstance(data, dict) or data.get("order_id") != self.order_id:
            return {}
        items = data.get("pending")
        if not isinstance(items, dict):
            return {}
        return {u: url for u, url in items.items()
                if isinstance(u, str) and isinstance(url, str) and status_path(url)}

    def save_pending(self, pending: dict[str, str]) -> None:
        """Persist what is still awaited (or remove the file), so an interrupted run's
        successor waits for the same batches instead of reporting the items again."""
        path = os.path.join(self.mc_dir, PENDING_FILE_NAME)
        with file_lock(self.mc_dir):
            if pending:
                atomic_write(path, dump_json({"order_id": self.order_id, "pending": pending,
                                              "saved_at": time.strftime(
                                                  "%Y-%m-%dT%H:%M:%SZ", time.gmtime())}),
                             fsync=not self.args.no_fsync)
            else:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(path)

    def apply_answers(self, errors: list[TaskResult], answers: dict[str, dict]) -> None:
        moved: list[dict] = []
        patches: dict[str, list[tuple[dict, dict]]] = {}
        for r in errors:
            task, answer = r.task, answers[r.task["uuid"]]
            action = answer.get("action")
            note = answer.get("note") or ""
            self.out.info(f"[REMEDIATION] {task['uuid']}: {action}" + (f" ({note})" if note else ""))
            if action == "update_file_path":
                new_path = answer.get("new_file_path") or note
                if not isinstance(new_path, str) or not new_path:
                    self.unresolved(task, "update_file_path without a path")
                    continue
                moved.append(dict(task, file_path=new_path,
                                  _previous_file_path=task.get("file_path"), _note=note))
            elif action == "patch_ready":
                content = answer.get("patched_content")
                if not isinstance(content, str):
                    self.unresolved(task, "patch_ready without patched_content")
                    continue
                try:
                    real, _ = self.resolve(task.get("file_path"))
                except UnsafePath as exc:
                    self.unresolved(task, f"patch for an unsafe path refused: {exc}")
                    continue
                patches.setdefault(real, []).append((task, answer))
            elif action == "blocked":
                reason = answer.get("reason") or note or "blocked by the orchestrator"
                update = {"status": "blocked", "blocked_reason": reason}
                if answer.get("followup_id") is not None:
                    update["followup_id"] = answer.get("followup_id")
                self.updates[task["uuid"]] = update
                self.out.warn(f"task {task['uuid']} is blocked: {reason}")
            else:
                self.unresolved(task, f"no fix offered (action {action!r})")
        if moved:
            self.apply_moves(moved)
        for real, items in patches.items():
            self.apply_patches(real, items)
        # The orchestrator may have changed the order (paths, statuses) even where this run
        # could not follow, so tasks.json is refreshed whenever an answer came back.
        self.refresh_tasks_json()

    def unresolved(self, task: dict, why: str) -> None:
        self.counts["unresolved"] += 1
        self.out.warn(f"task {task.get('uuid')} unresolved: {why}")

    def apply_moves(self, moved: list[dict]) -> None:
        for r in self.injector.process([{k: v for k, v in t.items() if not k.startswith("_")}
                                        for t in moved]):
            src = next(t for t in moved if t["uuid"] == r.task["uuid"])
            if r.outcome in (INJECTED, PRESENT, NO_SYNTAX):
                self.counts["remediated"] += 1
                self.updates[src["uuid"]] = {
                    "file_path": src["file_path"],
                    "remediation": {"action": "update_file_path", "note": src["_note"],
                                    "previous_file_path": src["_previous_file_path"]}}
                self.out.info(f"[REMEDIATED] {src['placeholder']} -> {src['file_path']} "
                              f"(was {src['_previous_file_path']})")
            else:
                self.unresolved(src, f"new path {src['file_path']}: {r.message}")

    def apply_patches(self, real: str, items: list[tuple[dict, dict]]) -> None:
        """Apply patched files one at a time, each checked against the file as it is now."""
        for task, answer in items:
            try:
                with open(real, "rb") as fh:
                    current, _, _ = decode_text(fh.read())
            except OSError as exc:
                self.unresolved(task, f"cannot read {task.get('file_path')}: {exc}")
                continue
            file_tasks = [t for t in self.doc["tasks"]
                          if t.get("uuid") != task["uuid"] and self.same_file(t, real)]
            required = {placeholder_tag(t["placeholder"]) for t in file_tasks
                        if isinstance(t.get("placeholder"), str)
                        and placeholder_tag(t["placeholder"]) in current}
            own = placeholder_tag(task["placeholder"])
            patched = match_newlines(answer["patched_content"], current)
            why = check_patch(current, patched, required)
            if why is None and patched.count(own) != 1:
                why = f"the patch has {patched.count(own)} copies of {own}, not one"
            if why:
                self.unresolved(task, f"patch refused: {why}")
                continue
            marked = [t for t in file_tasks + [task] if placeholder_tag(t["placeholder"]) in patched]
            results = self.injector.process_file(real, marked, replacement=patched)
            mine = next(r for r in results if r.task["uuid"] == task["uuid"])
            if mine.outcome in (INJECTED, PRESENT, NO_SYNTAX):
                self.counts["remediated"] += 1
                remediation = {"action": "patch_ready", "note": answer.get("note") or ""}
                if answer.get("pr_url"):
                    remediation["pr_url"] = answer["pr_url"]
                self.updates[task["uuid"]] = {"remediation": remediation}
                self.out.info(f"[REMEDIATED] restored {own} in {task.get('file_path')}")
            else:
                self.unresolved(task, f"patched file: {mine.message}")

    def same_file(self, task: dict, real: str) -> bool:
        try:
            return self.resolve(task.get("file_path"))[0] == real
        except UnsafePath:
            return False

    def refresh_tasks_json(self) -> None:
        """Re-read the order (remediation changed it on the orchestrator) and write tasks.json
        again with this run's answers on top; fall back to the local copy if that fails."""
        fetched: dict | None
        try:
            fetched = self.fetch()
        except Fatal as exc:
            self.out.warn(f"could not re-read the order after remediation ({exc}); "
                          f"tasks.json updated from the answers only")
            fetched = {k: v for k, v in self.doc.items() if k != "orchestrator_url"}
        self.write_tasks_json(fetched)
        self.ops.log("remediation_applied", details={"tasks": len(self.updates)})

    def finish(self, started: float) -> int:
        c = self.counts
        if c["unresolved"]:
            code = EXIT_UNRESOLVED
        elif c["blocked"]:
            code = EXIT_BLOCKED
        else:
            code = EXIT_OK
        elapsed = time.monotonic() - started
        self.ops.log("factory_init_done", "info" if code == EXIT_OK else "warn",
                     dict(c, exit_code=code, seconds=round(elapsed, 3)))
        self.ops.close()
        summary = " ".join(f"{k}={v}" for k, v in c.items())
        dry = " dry_run=1" if self.dry_run else ""
        self.out.summary(f"[SUMMARY] order={self.order_id} tasks={len(self.doc['tasks'])} "
                         f"{summary}{dry} exit={code}")
        return code

    def rel(self, path: str) -> str:
        return os.path.relpath(path, self.root_real)


class Output:
    """stdout for progress, stderr for problems; --quiet keeps only problems and the summary.
    On a terminal one live progress line stays at the bottom, redrawn with \\r."""

    def __init__(self, quiet: bool = False, verbose: bool = False, tty: bool | None = None):
        self.quiet = quiet
        self.verbose = verbose
        self.tty = sys.stdout.isatty() if tty is None else tty
        self._live = ""

    def _clear(self) -> None:
        if self._live:
            sys.stdout.write("\r" + " " * len(self._live) + "\r")
            sys.stdout.flush()

    def _redraw(self) -> None:
        if self._live:
            sys.stdout.write(self._live)
            sys.stdout.flush()

    def live(self, msg: str) -> None:
        self._clear()
        self._live = msg
        self._redraw()

    def end_live(self) -> None:
        if self._live:
            sys.stdout.write("\n")
            sys.stdout.flush()
            self._live = ""

    def info(self, msg: str) -> None:
        if not self.quiet:
            self._clear()
            print(msg, flush=bool(self._live))
            self._redraw()

    def detail(self, msg: str) -> None:
        if self.verbose and not self.quiet:
            self.info(msg)

    def summary(self, msg: str) -> None:
        self.end_live()
        print(msg, flush=True)

    def warn(self, msg: str) -> None:
        self._clear()
        sys.stdout.flush()
        print(f"[WARN] {msg}", file=sys.stderr, flush=bool(self._live))
        self._redraw()

    def error(self, msg: str) -> None:
        self._clear()
        sys.stdout.flush()
        print(f"[ERROR] {msg}", file=sys.stderr, flush=bool(self._live))
        self._redraw()


def build_parser() -> argparse.ArgumentParser:
    doc = __doc__ or ""
    parser = argparse.ArgumentParser(
        prog="factory_init.py",
        description="Pull an order's tasks from Mission Control and mark each ###PLACEHOLDER### "
                    "in this checkout with a TASK_ID comment.",
        epilog=doc[doc.index("Environment:"):],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("order_id", metavar="ORDER_ID", help="order id, e.g. ORD-ABC123")
    parser.add_argument("orchestrator_url", metavar="ORCHESTRATOR_URL",
                        help="orchestrator base URL, e.g. https://mc.example.workers.dev")
    parser.add_argument("factory_name", metavar="FACTORY_NAME", nargs="?",
                        help="factory name for error reports (default: the order's factory)")
    parser.add_argument("--root", default=".", help="factory checkout root (default: .)")
    parser.add_argument("--dry-run", action="store_true",
                        help="show what would change; write, report and log nothing")
    parser.add_argument("--timeout", type=float, default=30.0,
                        help="seconds per HTTP request (default: 30)")
    parser.add_argument("-q", "--quiet", action="store_true",
                        help="print only problems and the summary")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="also list markers already present and skipped tasks")
    parser.add_argument("--no-wait", action="store_true",
                        help="do not wait for remediation the orchestrator queued; a later run "
                             "applies it")
    parser.add_argument("--wait", type=float, default=DEFAULT_WAIT, metavar="SECONDS",
                        help=f"wait at most this long for queued remediation "
                             f"(default: {DEFAULT_WAIT:.0f})")
    parser.add_argument("--no-log", action="store_true",
                        help="do not send progress to /api/ops/log")
    parser.add_argument("--no-fsync", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--version", action="version", version=f"%(prog)s {VERSION}")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        # intermixed: options may come between ORDER_ID/URL and the optional FACTORY_NAME
        args = build_parser().parse_intermixed_args(argv)
    except SystemExit as exc:  # argparse exits 0 for --help/--version and 2 for bad usage
        return int(exc.code or 0)
    out = Output(quiet=args.quiet, verbose=args.verbose)
    try:
        base_url = normalize_base_url(args.orchestrator_url)
    except ValueError as exc:
        out.error(str(exc))
        return EXIT_USAGE
    if not args.order_id.strip() or any(c in args.order_id for c in "/\r\n\x00"):
        out.error(f"not an order id: {args.order_id!r}")
        return EXIT_USAGE
    if not os.path.isdir(args.root):
        out.error(f"--root {args.root!r} is not a directory")
        return EXIT_USAGE
    client = Orchestrator(base_url, os.environ.get(TOKEN_ENV), timeout=args.timeout,
                          user_agent=USER_AGENT)
    run = Run(args, client, out)
    try:
        return run.execute()
    except Fatal as exc:
        out.error(str(exc))
        run.ops.log("factory_init_failed", "error", {"error": str(exc)})
        run.ops.close(1.0)
        return EXIT_FAILURE
    except (OSError, TimeoutError) as exc:
        out.error(f"{exc}")
        run.ops.close(1.0)
        return EXIT_FAILURE
    except KeyboardInterrupt:
        out.error("interrupted" + (": run factory_init.py again to pick up the queued "
                                   "remediation" if os.path.exists(os.path.join(
                                       run.mc_dir, PENDING_FILE_NAME)) else ""))
        return 130


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
