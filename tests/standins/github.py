"""Stand-in for core-github-api (the contract it reproduces: docs/upstreams/core-github-api.md).

Keeps one small in-memory repository with real git-like identities (blob sha =
sha1("blob <len>\\0" + bytes), tree and commit shas, parent links), and reproduces the
GitHub rules a remediation flow can trip over:

- contents are base64 wrapped at 60 characters, every line ending in "\\n";
- updating an existing file needs `sha` (422 without it, 409 when it is stale);
- creating an existing ref is a 422; `git/getRef` takes "heads/x", not "refs/heads/x";
- `pulls/list` silently ignores a `head` that lacks the "OWNER:" prefix;
- issues and pull requests share one number sequence, and `issues/listForRepo`
  returns pull requests too (with a `pull_request` key);
- optional realism switches (`set_mode`): write latency that makes concurrent writes
  to one branch collide with a 409, search results that lag behind writes, a forced
  `truncated: true` tree, and core-github-api wrapping GitHub errors into a 500.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable

from .server import Call, Response, StandIn

WEB = "https://github.com"
API = "https://api.github.com"
DOCS = "https://docs.github.com/rest"
BOT = {"login": "mission-control-bot", "id": 4242, "type": "Bot"}
# GitHub stops inlining file contents above 1 MB (content "", encoding "none").
CONTENT_INLINE_LIMIT = 1024 * 1024


def blob_sha(data: bytes | str) -> str:
    """Git blob id, as GitHub reports it in `sha`."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def github_base64(data: bytes | str) -> str:
    """Base64 the way GitHub's contents API returns it: 60-char lines, each ending in \\n."""
    if isinstance(data, str):
        data = data.encode("utf-8")
    enc = base64.b64encode(data).decode("ascii")
    return "".join(enc[i : i + 60] + "\n" for i in range(0, len(enc), 60))


def _now_iso() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tree_sha(node: dict[str, Any]) -> str:
    """Git tree id for a nested {name: bytes | subtree} mapping."""
    entries = []
    for name, child in node.items():
        if isinstance(child, dict):
            entries.append((name + "/", b"40000 " + name.encode() + b"\0" + bytes.fromhex(_tree_sha(child))))
        else:
            entries.append((name, b"100644 " + name.encode() + b"\0" + bytes.fromhex(blob_sha(child))))
    # git orders entries by name, comparing a subtree as if its name ended in "/"
    payload = b"".join(e for _, e in sorted(entries, key=lambda t: t[0].encode()))
    return hashlib.sha1(b"tree %d\0" % len(payload) + payload).hexdigest()


def _nest(files: dict[str, bytes]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for path, data in files.items():
        node = root
        *dirs, leaf = path.split("/")
        for d in dirs:
            node = node.setdefault(d, {})
        node[leaf] = data
    return root


def _locale_key(path: str) -> tuple[list[tuple[int, str]], str]:
    # core-github-api sorts with JS `localeCompare` (ICU): case-insensitive first,
    # punctuation before digits before letters, a prefix before its extensions.
    # This approximates it without ICU; ties put lower case first, as ICU does.
    primary = [(_ICU_PUNCT.find(ch) if ch in _ICU_PUNCT else 100 + ord(ch), "") if not ch.isalnum()
               else (1000 if ch.isdigit() else 2000, ch.lower()) for ch in path]
    return primary, path.swapcase()


# ICU root collation order of common ASCII punctuation (symbols sort before digits).
_ICU_PUNCT = " _-,;:!?.'\"()[]{}@*/\\&#%`^+<=>|~$"


@dataclass
class Commit:
    sha: str
    parent: str | None
    files: dict[str, bytes]
    message: str
    tree_sha: str
    date: str


class GitHubError(Exception):
    """A GitHub API error: status + GitHub's JSON body."""

    def __init__(self, http_status: int, message: str, **extra: Any) -> None:
        super().__init__(message)
        self.status = http_status
        self.body: dict[str, Any] = {"message": message, **extra}


def _validation(resource: str, **error: Any) -> GitHubError:
    return GitHubError(422, "Validation Failed", errors=[{"resource": resource, **error}],
                       documentation_url=f"{DOCS}/{resource.lower()}s")


def _not_found(message: str = "Not Found") -> GitHubError:
    return GitHubError(404, message, documentation_url=DOCS, status="404")


class _ZodError(Exception):
    """core-github-api validates tool-route bodies with zod and answers 400."""

    def __init__(self, field: str, expected: str, received: str) -> None:
        super().__init__(field)
        self.body = {
            "success": False,
            "error": {
                "name": "ZodError",
                "issues": [{"code": "invalid_type", "expected": expected, "received": received,
                            "path": [field], "message": "Required" if received == "undefined"
                            else f"Expected {expected}, received {received}"}],
            },
        }


def _js_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


class GitHubStandIn(StandIn):
    """core-github-api stand-in with one in-memory repository OWNER/REPO."""

    DEFAULT_MODES: dict[str, Any] = {
        # Sleep this long inside a write, between reading the branch head and moving
        # it; overlapping writes to one branch then fail with 409, as on GitHub.
        "write_latency": 0.0,
        # Issues/PRs younger than this many seconds are invisible to search (GitHub's
        # search index lags behind writes).
        "search_lag": 0.0,
        # files/tree answers `truncated: true` (entries intact) ...
        "tree_truncated": False,
        # ... or keeps only the first N entries of the full tree and says truncated.
        "tree_limit": None,
        # "passthrough": GitHub's status and JSON (the documented contract).
        # "wrapped": core-github-api lets Octokit's thrown error reach its error
        # handler -> 500 {"error": message}. Use it to check the Worker copes either way.
        "error_style": "passthrough",
        # Answer If-None-Match with 304 on GET proxy calls (the service's ETag cache).
        "etag": True,
    }

    def __init__(
        self,
        api_key: str | None = "test-gh-key",
        owner: str = "acme",
        repo: str = "templates",
        default_branch: str = "main",
        files: dict[str, str | bytes] | None = None,
    ) -> None:
        super().__init__()
        self.api_key = api_key
        self.owner = owner
        self.repo = repo
        self.default_branch = default_branch
        self._commits: dict[str, Commit] = {}
        self._branches: dict[str, str] = {}
        self._commit_counter = 0
        #: pull requests, as GitHub returns them from pulls/get (live dicts)
        self.prs: list[dict[str, Any]] = []
        #: issues (not PRs), as GitHub returns them from issues/get (live dicts)
        self.issues: list[dict[str, Any]] = []
        #: comments created through issues/createComment
        self.comments: list[dict[str, Any]] = []
        self._next_number = 1  # issues and PRs share one sequence, as on GitHub
        self._created_at: dict[int, float] = {}  # number -> monotonic creation time
        self._writes_in_flight = 0
        #: highest number of file writes seen in flight at once (should stay 1)
        self.max_parallel_writes = 0
        self._rate_remaining = 5000
        self._commit(default_branch, _as_bytes_map(files or {}), "Initial commit", parent=None)

    # ----- test helpers ----------------------------------------------------------

    def seed(self, files: dict[str, str | bytes | None], branch: str | None = None,
             message: str = "seed") -> str:
        """Commit `files` onto `branch` (created from the default branch if missing).
        A None value deletes that path. Returns the new commit sha."""
        branch = branch or self.default_branch
        with self._lock:
            if branch not in self._branches:
                self._branches[branch] = self._branches[self.default_branch]
            changes = {p: (None if v is None else _to_bytes(v)) for p, v in files.items()}
            return self._commit(branch, changes, message).sha

    def files(self, branch: str | None = None) -> dict[str, str]:
        """Current files of a branch as text."""
        with self._lock:
            head = self._head(branch or self.default_branch)
            return {p: d.decode("utf-8", errors="replace") for p, d in sorted(head.files.items())}

    def file(self, path: str, branch: str | None = None) -> str | None:
        return self.files(branch).get(path)

    def blob_sha(self, path: str, branch: str | None = None) -> str | None:
        with self._lock:
            data = self._head(branch or self.default_branch).files.get(path)
            return None if data is None else blob_sha(data)

    def rename(self, old: str, new: str, branch: str | None = None) -> str:
        """Move a file (e.g. to simulate the upstream template being restructured)."""
        branch = branch or self.default_branch
        with self._lock:
            data = self._head(branch).files[old]
            return self._commit(branch, {old: None, new: data}, f"Rename {old} to {new}").sha

    def delete(self, path: str, branch: str | None = None) -> str:
        with self._lock:
            return self._commit(branch or self.default_branch, {path: None}, f"Delete {path}").sha

    def branches(self) -> dict[str, str]:
        """Branch name -> head commit sha."""
        with self._lock:
            return dict(self._branches)

    def head_sha(self, branch: str | None = None) -> str:
        with self._lock:
            return self._branches[branch or self.default_branch]

    def commit_log(self, branch: str | None = None) -> list[dict[str, Any]]:
        """Commits reachable from the branch head, newest first: {sha, message, files}."""
        with self._lock:
            out = []
            sha: str | None = self._branches[branch or self.default_branch]
            while sha:
                c = self._commits[sha]
                out.append({"sha": c.sha, "message": c.message, "files": sorted(c.files)})
                sha = c.parent
            return out

    def create_branch(self, name: str, from_branch: str | None = None) -> str:
        with self._lock:
            self._branches[name] = self._branches[from_branch or self.default_branch]
            return self._branches[name]

    def add_issue(self, title: str, body: str | None = None, labels: list[str] | None = None,
                  state: str = "open") -> dict[str, Any]:
        """Pre-existing issue, as if someone opened it earlier (visible to search at once)."""
        with self._lock:
            issue = self._new_issue(title, body, labels or [])
            self._created_at[issue["number"]] = float("-inf")
            if state == "closed":
                self._close(issue)
            return issue

    def add_pr(self, head: str, title: str, base: str | None = None, body: str | None = None,
               state: str = "open") -> dict[str, Any]:
        """Pre-existing pull request (the head branch is created if missing)."""
        with self._lock:
            if head not in self._branches:
                self.create_branch(head)
            pr = self._new_pr(head, base or self.default_branch, title, body, draft=False)
            self._created_at[pr["number"]] = float("-inf")
            if state == "closed":
                self._close(pr)
            return pr

    def close_item(self, number: int, merged: bool = False) -> None:
        """Close an issue or PR (merging applies the head branch's files to the base)."""
        with self._lock:
            item = self._find_item(number)
            if merged and "head" in item:
                head_files = self._head(item["head"]["ref"]).files
                base = item["base"]["ref"]
                base_files = self._head(base).files
                changes: dict[str, bytes | None] = {p: d for p, d in head_files.items()}
                changes.update({p: None for p in base_files if p not in head_files})
                self._commit(base, changes, f"Merge pull request #{number}")
                item["merged"] = True
                item["merged_at"] = _now_iso()
            self._close(item)

    def reset(self) -> None:
        """Forget calls, failures, modes and write/rate counters; the repository, issues
        and PRs stay (build a new instance for a fresh repository)."""
        super().reset()
        with self._lock:
            self.max_parallel_writes = 0
            self._rate_remaining = 5000

    def rate_limit_next(self, n: int = 1, status: int = 403, retry_after: int = 1,
                        match: str | None = None) -> None:
        """The next n matching calls answer like GitHub's rate limiter."""
        reset = str(int(time.time()) + retry_after)
        self.fail_next(n, status=status, match=match, headers={
            "x-ratelimit-limit": "5000", "x-ratelimit-remaining": "0",
            "x-ratelimit-used": "5000", "x-ratelimit-reset": reset,
            "retry-after": str(retry_after), "content-type": "application/json; charset=utf-8",
        })

    def failure_body(self, status: int) -> Any:
        if status == 401:
            return {"error": "Unauthorized"}
        if status == 403:
            return {"message": "API rate limit exceeded for installation ID 4242.",
                    "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api"}
        if status == 429:
            return {"message": "You have exceeded a secondary rate limit. Please wait a few "
                               "minutes before you try again.",
                    "documentation_url": f"{DOCS}/overview/rate-limits-for-the-rest-api"}
        if status == 404:
            return {"message": "Not Found"}
        if status >= 500:
            return {"error": "Internal Server Error"}
        return {"message": f"injected failure ({status})"}

    # ----- HTTP entry point ------------------------------------------------------

    def handle(self, call: Call) -> Response:
        if call.path == "/healthz" and call.method in ("GET", "HEAD"):
            return Response(200, {"status": "ok", "service": "core-github-api (stand-in)"})
        if call.path in ("/openapi.json", "/openapi.yaml") and call.method == "GET":
            return Response(200, {"openapi": "3.1.0", "info": {"title": "core-github-api stand-in",
                                                              "version": "0"}, "paths": {}})
        if not call.path.startswith("/api/"):
            return Response(404, "404 Not Found")

        if not self.api_key:
            return Response(500, {"error": "Service misconfigured"})
        if not self._authorized(call):
            return Response(401, {"error": "Unauthorized"})

        m = re.fullmatch(r"/api/octokit/rest/([^/]+)/([^/]+)/?", call.path)
        if m and call.method in ("GET", "POST"):
            return self._proxy(call, m.group(1), m.group(2))
        tool = self.TOOLS.get(call.path)
        if tool is not None and call.method == "POST":
            return self._tool(call, tool)
        return Response(404, "404 Not Found")

    def _authorized(self, call: Call) -> bool:
        if call.header("x-api-key") == self.api_key:
            return True
        auth = call.header("authorization") or ""
        return auth.startswith("Bearer ") and auth[len("Bearer "):] == self.api_key

    # ----- generic Octokit proxy -------------------------------------------------

    def _proxy(self, call: Call, namespace: str, method: str) -> Response:
        impl = self.OCTOKIT.get((namespace, method))
        if impl is None:
            # Real service: 404 when octokit[namespace][method] does not exist. The
            # extra header tells a puzzled test author it may exist but is not stood in.
            return Response(404, {"error": "Not Found"},
                            {"x-standin-note": f"{namespace}/{method} not implemented by stand-in"})
        if call.method == "POST":
            body = call.body if isinstance(call.body, dict) else {}
            params = body.get("params") or {}
        else:
            params = dict(call.query)
        try:
            with self._lock:
                self._check_repo(params)
            status, data = impl(self, params)
            with self._lock:  # answers hold live dicts that other requests may mutate
                text = json.dumps(data)
        except GitHubError as e:
            return self._error(e)
        headers = self._rate_headers()
        if call.method == "GET" and status == 200 and self.modes["etag"]:
            etag = 'W/"' + hashlib.sha1(text.encode()).hexdigest() + '"'
            headers["etag"] = etag
            if call.header("if-none-match") == etag:
                return Response(304, None, headers)
        headers["content-type"] = "application/json; charset=utf-8"
        return Response(status, text, headers)

    def _error(self, e: GitHubError) -> Response:
        if self.modes["error_style"] == "wrapped":
            return Response(500, {"error": e.body["message"]})
        return Response(e.status, e.body, self._rate_headers())

    def _rate_headers(self) -> dict[str, str]:
        with self._lock:
            self._rate_remaining = max(0, self._rate_remaining - 1)
            remaining = self._rate_remaining
        return {"x-ratelimit-limit": "5000", "x-ratelimit-remaining": str(remaining),
                "x-ratelimit-used": str(5000 - remaining), "x-ratelimit-resource": "core",
                "x-ratelimit-reset": str(int(time.time()) + 3600)}

    def _check_repo(self, params: dict[str, Any]) -> None:
        # GitHub matches owner/repo case-insensitively; anything else is a 404.
        owner, repo = params.get("owner"), params.get("repo")
        if owner is None and repo is None and "q" in params:
            return  # search is not repository-scoped
        if str(owner).lower() != self.owner.lower() or str(repo).lower() != self.repo.lower():
            raise _not_found()

    def _repos_get(self, p: dict[str, Any]) -> tuple[int, Any]:
        return 200, {
            "id": 1296269, "node_id": "R_stand_in", "name": self.repo,
            "full_name": f"{self.owner}/{self.repo}", "private": False,
            "owner": {"login": self.owner, "type": "Organization"},
            "html_url": f"{WEB}/{self.owner}/{self.repo}", "url": self._api(""),
            "default_branch": self.default_branch, "visibility": "public",
            "archived": False, "disabled": False, "fork": False,
        }

    def _repos_get_content(self, p: dict[str, Any]) -> tuple[int, Any]:
        path = str(p.get("path") or "").strip("/")
        ref = p.get("ref")
        with self._lock:
            commit = self._resolve(ref)
            if commit is None:
                raise _not_found(f"No commit found for the ref {ref}")
            ref_name = ref or self.default_branch
            data = commit.files.get(path)
            if data is not None:
                return 200, self._content_obj(path, data, ref_name, inline=True)
            prefix = f"{path}/" if path else ""
            children: dict[str, Any] = {}
            for fp, fd in commit.files.items():
                if fp.startswith(prefix):
                    name = fp[len(prefix):].split("/", 1)[0]
                    children[name] = fd if "/" not in fp[len(prefix):] else None
            if not children:
                raise _not_found()
            listing = []
            for name in sorted(children):
                child_path = prefix + name
                if children[name] is None:
                    sub = {k[len(child_path) + 1:]: v for k, v in commit.files.items()
                           if k.startswith(child_path + "/")}
                    listing.append({"type": "dir", "name": name, "path": child_path,
                                    "sha": _tree_sha(_nest(sub)), "size": 0,
                                    "url": self._api(f"/contents/{child_path}?ref={ref_name}"),
                                    "html_url": f"{WEB}/{self.owner}/{self.repo}/tree/{ref_name}/{child_path}",
                                    "git_url": None, "download_url": None})
                else:
                    obj = self._content_obj(child_path, children[name], ref_name, inline=False)
                    listing.append(obj)
            return 200, listing

    def _content_obj(self, path: str, data: bytes, ref_name: str, inline: bool) -> dict[str, Any]:
        sha = blob_sha(data)
        obj: dict[str, Any] = {
            "type": "file", "name": path.rsplit("/", 1)[-1], "path": path, "sha": sha,
            "size": len(data), "url": self._api(f"/contents/{path}?ref={ref_name}"),
            "html_url": f"{WEB}/{self.owner}/{self.repo}/blob/{ref_name}/{path}",
            "git_url": self._api(f"/git/blobs/{sha}"),
            "download_url": f"https://raw.githubusercontent.com/{self.owner}/{self.repo}/{ref_name}/{path}",
        }
        obj["_links"] = {"self": obj["url"], "git": obj["git_url"], "html": obj["html_url"]}
        if inline:
            if len(data) > CONTENT_INLINE_LIMIT:
                obj.update(encoding="none", content="")
            else:
                obj.update(encoding="base64", content=github_base64(data))
        return obj

    def _git_get_ref(self, p: dict[str, Any]) -> tuple[int, Any]:
        ref = str(p.get("ref") or "")
        # GitHub builds /git/ref/{ref}; "refs/heads/x" there means refs/refs/heads/x -> 404.
        if not ref.startswith("heads/"):
            raise _not_found()
        with self._lock:
            sha = self._branches.get(ref[len("heads/"):])
            if sha is None:
                raise _not_found()
            return 200, self._ref_obj(ref[len("heads/"):], sha)

    def _git_create_ref(self, p: dict[str, Any]) -> tuple[int, Any]:
        ref, sha = p.get("ref"), p.get("sha")
        if not isinstance(ref, str) or not isinstance(sha, str):
            raise GitHubError(422, "Invalid request.\n\n\"ref\" and \"sha\" are required.")
        # Wording approximates GitHub's; the 422 is what clients rely on.
        if not ref.startswith("refs/") or ref.count("/") < 2:
            raise GitHubError(422, "Reference name must start with 'refs/' and have at least two slashes.")
        if not ref.startswith("refs/heads/"):
            raise GitHubError(422, "stand-in only models branches (refs/heads/...)")
        name = ref[len("refs/heads/"):]
        with self._lock:
            commit = self._commits.get(sha)
            if commit is None:
                raise GitHubError(422, "Object does not exist")
            if name in self._branches:
                raise GitHubError(422, "Reference already exists")
            self._branches[name] = commit.sha
            return 201, self._ref_obj(name, commit.sha)

    def _git_delete_ref(self, p: dict[str, Any]) -> tuple[int, Any]:
        ref = str(p.get("ref") or "")
        with self._lock:
            name = ref[len("heads/"):] if ref.startswith("heads/") else None
            if name is None or name not in self._branches or name == self.default_branch:
                raise GitHubError(422, "Reference does not exist")
            del self._branches[name]
            return 204, None

    def _ref_obj(self, branch: str, sha: str) -> dict[str, Any]:
        return {"ref": f"refs/heads/{branch}", "node_id": "REF_stand_in",
                "url": self._api(f"/git/refs/heads/{branch}"),
                "object": {"sha": sha, "type": "commit", "url": self._api(f"/git/commits/{sha}")}}

    def _create_or_update_file(self, p: dict[str, Any]) -> tuple[int, Any]:
        for required in ("path", "message", "content"):
            if not isinstance(p.get(required), str) or (required != "content" and not p[required]):
                raise GitHubError(422, f"Invalid request.\n\n\"{required}\" wasn't supplied.",
                                  documentation_url=f"{DOCS}/repos/contents#create-or-update-file-contents")
        try:
            # GitHub tolerates line breaks in the base64 but nothing else.
            data = base64.b64decode(re.sub(r"\s", "", p["content"]), validate=True)
        except (binascii.Error, ValueError):
            raise GitHubError(422, "content is not valid Base64")
        return self._write(p["path"], data, p["message"], p.get("branch"), p.get("sha"))

    def _write(self, path: str, data: bytes, message: str, branch: str | None,
               sha: str | None) -> tuple[int, Any]:
        branch = branch or self.default_branch
        with self._lock:
            self._writes_in_flight += 1
            self.max_parallel_writes = max(self.max_parallel_writes, self._writes_in_flight)
            observed = self._branches.get(branch)
            latency = float(self.modes["write_latency"] or 0)
        try:
            if observed is None:
                raise _not_found(f"Branch {branch} not found")
            if latency:
                time.sleep(latency)  # the window in which a parallel write can land
            with self._lock:
                current = self._branches.get(branch)
                if current != observed:
                    raise GitHubError(409, f"{branch} is at {current} but expected {observed}")
                existing = self._commits[current].files.get(path)
                if existing is not None:
                    if not sha:
                        raise GitHubError(422, "Invalid request.\n\n\"sha\" wasn't supplied.",
                                          documentation_url=f"{DOCS}/repos/contents#create-or-update-file-contents")
                    if sha != blob_sha(existing):
                        raise GitHubError(409, f"{path} does not match {sha}",
                                          documentation_url=f"{DOCS}/repos/contents#create-or-update-file-contents")
                commit = self._commit(branch, {path: data}, message)
                content = self._content_obj(path, data, branch, inline=False)
                return (201 if existing is None else 200), {
                    "content": content, "commit": self._commit_obj(commit)}
        finally:
            with self._lock:
                self._writes_in_flight -= 1

    def _commit_obj(self, c: Commit) -> dict[str, Any]:
        person = {"name": BOT["login"], "email": "bot@example.invalid", "date": c.date}
        return {
            "sha": c.sha, "node_id": "C_stand_in", "url": self._api(f"/git/commits/{c.sha}"),
            "html_url": f"{WEB}/{self.owner}/{self.repo}/commit/{c.sha}",
            "author": person, "committer": person, "message": c.message,
            "tree": {"sha": c.tree_sha, "url": self._api(f"/git/trees/{c.tree_sha}")},
            "parents": [] if not c.parent else [{
                "sha": c.parent, "url": self._api(f"/git/commits/{c.parent}"),
                "html_url": f"{WEB}/{self.owner}/{self.repo}/commit/{c.parent}"}],
            "verification": {"verified": False, "reason": "unsigned", "signature": None, "payload": None},
        }

    def _pulls_create(self, p: dict[str, Any]) -> tuple[int, Any]:
        head, base, title = p.get("head"), p.get("base"), p.get("title")
        if not title:
            raise _validation("PullRequest", code="missing_field", field="title")
        if not head:
            raise _validation("PullRequest", code="missing_field", field="head")
        if not base:
            raise _validation("PullRequest", code="missing_field", field="base")
        with self._lock:
            head_owner, _, head_ref = str(head).rpartition(":")
            if head_owner and head_owner.lower() != self.owner.lower():
                raise _validation("PullRequest", field="head", code="invalid")  # forks not modelled
            if head_ref not in self._branches:
                raise _validation("PullRequest", field="head", code="invalid")
            if base not in self._branches:
                raise _validation("PullRequest", field="base", code="invalid")
            for pr in self.prs:
                if pr["state"] == "open" and pr["head"]["ref"] == head_ref and pr["base"]["ref"] == base:
                    raise _validation("PullRequest", code="custom",
                                      message=f"A pull request already exists for {self.owner}:{head_ref}.")
            if self._is_ancestor(self._branches[head_ref], self._branches[base]):
                raise _validation("PullRequest", code="custom",
                                  message=f"No commits between {base} and {head_ref}")
            pr = self._new_pr(head_ref, base, title, p.get("body"), bool(p.get("draft")))
            return 201, pr

    def _pulls_list(self, p: dict[str, Any]) -> tuple[int, Any]:
        state = p.get("state") or "open"
        head = p.get("head")
        with self._lock:
            items = [pr for pr in self.prs if state == "all" or pr["state"] == state]
            # GitHub only honours head as "OWNER:BRANCH"; a bare branch name is ignored.
            if head and ":" in str(head):
                h_owner, _, h_ref = str(head).partition(":")
                items = [pr for pr in items if h_owner.lower() == self.owner.lower()
                         and pr["head"]["ref"] == h_ref]
            if p.get("base"):
                items = [pr for pr in items if pr["base"]["ref"] == p["base"]]
            items = sorted(items, key=lambda i: i["number"], reverse=(p.get("direction") or "desc") == "desc")
            return 200, _page(items, p)

    def _pulls_get(self, p: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            number = _int(p.get("pull_number"))
            for pr in self.prs:
                if pr["number"] == number:
                    return 200, pr
        raise _not_found()

    def _issues_create(self, p: dict[str, Any]) -> tuple[int, Any]:
        if not p.get("title"):
            raise _validation("Issue", code="missing_field", field="title")
        labels = p.get("labels", [])
        if not isinstance(labels, list):
            # e.g. "a,b": GitHub wants an array here (unlike issues/listForRepo).
            raise GitHubError(422, "Invalid request.\n\nFor 'properties/labels', "
                                   f"{json.dumps(labels)} is not an array.")
        names = [lab["name"] if isinstance(lab, dict) else str(lab) for lab in labels]
        with self._lock:
            return 201, self._new_issue(str(p["title"]), p.get("body"), names)

    def _issues_get(self, p: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            return 200, self._issue_view(self._find_item(_int(p.get("issue_number"))))

    def _issues_update(self, p: dict[str, Any]) -> tuple[int, Any]:
        with self._lock:
            item = self._find_item(_int(p.get("issue_number")))
            for key in ("title", "body"):
                if key in p:
                    item[key] = p[key]
            if "labels" in p:
                item["labels"] = [_label(lab["name"] if isinstance(lab, dict) else lab) for lab in p["labels"]]
            if p.get("state") == "closed":
                self._close(item)
            elif p.get("state") == "open":
                item.update(state="open", closed_at=None)
            item["updated_at"] = _now_iso()
            return 200, self._issue_view(item)

    def _issues_create_comment(self, p: dict[str, Any]) -> tuple[int, Any]:
        if not p.get("body"):
            raise _validation("IssueComment", code="missing_field", field="body")
        with self._lock:
            item = self._find_item(_int(p.get("issue_number")))
            cid = 9000 + len(self.comments) + 1
            comment = {"id": cid, "issue_number": item["number"], "body": p["body"], "user": BOT,
                       "html_url": f"{item['html_url']}#issuecomment-{cid}",
                       "created_at": _now_iso(), "updated_at": _now_iso()}
            self.comments.append(comment)
            item["comments"] = item.get("comments", 0) + 1
            return 201, comment

    def _issues_list_for_repo(self, p: dict[str, Any]) -> tuple[int, Any]:
        state = p.get("state") or "open"
        wanted = p.get("labels")
        if isinstance(wanted, str):
            wanted = [w.strip() for w in wanted.split(",") if w.strip()]
        with self._lock:
            items = [self._issue_view(i) for i in self.issues + self.prs]  # PRs too, as on GitHub
            items = [i for i in items if state == "all" or i["state"] == state]
            if wanted:
                items = [i for i in items
                         if all(w.lower() in {lab["name"].lower() for lab in i["labels"]} for w in wanted)]
            items.sort(key=lambda i: i["number"], reverse=(p.get("direction") or "desc") == "desc")
            return 200, _page(items, p)

    def _search_issues(self, p: dict[str, Any]) -> tuple[int, Any]:
        q = p.get("q")
        if not q:
            raise _validation("Search", field="q", code="missing")
        terms, quals = _parse_query(str(q))
        lag = float(self.modes["search_lag"] or 0)
        now = time.monotonic()
        with self._lock:
            items = []
            for item in self.issues + self.prs:
                if now - self._created_at.get(item["number"], float("-inf")) < lag:
                    continue  # not indexed yet
                view = self._issue_view(item)
                if _search_match(view, terms, quals, f"{self.owner}/{self.repo}"):
                    items.append({**view, "score": 1.0})
            items.sort(key=lambda i: i["number"], reverse=True)
            return 200, {"total_count": len(items), "incomplete_results": False, "items": _page(items, p)}

    OCTOKIT: dict[tuple[str, str], Callable[["GitHubStandIn", dict[str, Any]], tuple[int, Any]]] = {
        ("repos", "get"): _repos_get,
        ("repos", "getContent"): _repos_get_content,
        ("repos", "createOrUpdateFileContents"): _create_or_update_file,
        ("git", "getRef"): _git_get_ref,
        ("git", "createRef"): _git_create_ref,
        ("git", "deleteRef"): _git_delete_ref,
        ("pulls", "list"): _pulls_list,
        ("pulls", "create"): _pulls_create,
        ("pulls", "get"): _pulls_get,
        ("issues", "listForRepo"): _issues_list_for_repo,
        ("issues", "create"): _issues_create,
        ("issues", "get"): _issues_get,
        ("issues", "update"): _issues_update,
        ("issues", "createComment"): _issues_create_comment,
        ("search", "issuesAndPullRequests"): _search_issues,
    }

    # ----- dedicated tool routes -------------------------------------------------

    def _tool(self, call: Call, impl: Callable[["GitHubStandIn", dict[str, Any]], Any]) -> Response:
        body = call.body if isinstance(call.body, dict) else None
        if body is None:
            return Response(400, _ZodError("body", "object", _js_type(call.body)).body)
        body = {"owner": "jmbish04", **body}  # the service's zod default for owner
        try:
            with self._lock:
                self._check_repo(body)
            result = impl(self, body)
            with self._lock:
                return Response(200, json.loads(json.dumps(result)))
        except _ZodError as e:
            return Response(400, e.body)
        except GitHubError as e:
            return self._error(e)

    def _tool_tree(self, b: dict[str, Any]) -> dict[str, Any]:
        _require(b, repo=str)
        _optional(b, ref=str, path=str, recursive=bool)
        recursive = b.get("recursive", True)
        with self._lock:
            commit = self._resolve(b.get("ref") or "HEAD")
            if commit is None:
                raise _not_found()
            entries = self._git_tree(commit, recursive)
        truncated = bool(self.modes["tree_truncated"])
        limit = self.modes["tree_limit"]
        if limit is not None and len(entries) > limit:
            entries, truncated = entries[:limit], True  # GitHub truncates before the service filters
        norm = (b.get("path") or "").strip("/")
        if norm:
            entries = [e for e in entries if e["path"] == norm or e["path"].startswith(norm + "/")]
        entries.sort(key=lambda e: _locale_key(e["path"]))
        out = []
        for e in entries:
            if norm:
                segs = [] if e["path"] == norm else e["path"][len(norm) + 1:].split("/")
                depth = len(segs)
            else:
                segs = e["path"].split("/")
                depth = max(0, len(segs) - 1)
            suffix = "/" if e["type"] == "tree" else ""
            if norm and e["path"] == norm:
                display = "./"
            else:
                display = "  " * depth + segs[-1] + suffix
            out.append({**e, "depth": depth, "displayPath": display})
        header = "MODE     TYPE   SIZE      SHA                                      PATH"
        lines = [f"{e['mode']:<8} {e['type']:<5} {('-' if e['size'] is None else str(e['size'])):>8} "
                 f"{e['sha']} {e['displayPath']}" for e in out]
        return {"entries": out, "listing": "\n".join([header, *lines]), "truncated": truncated}

    def _git_tree(self, commit: Commit, recursive: bool) -> list[dict[str, Any]]:
        """Entries as GitHub's git/getTree returns them: blobs plus their directories."""
        root = _nest(commit.files)
        out: list[dict[str, Any]] = []

        def walk(node: dict[str, Any], prefix: str) -> None:
            for name, child in node.items():
                path = prefix + name
                if isinstance(child, dict):
                    sha = _tree_sha(child)
                    out.append({"path": path, "type": "tree", "mode": "040000", "sha": sha,
                                "size": None, "url": self._api(f"/git/trees/{sha}")})
                    if recursive:
                        walk(child, path + "/")
                else:
                    sha = blob_sha(child)
                    out.append({"path": path, "type": "blob", "mode": "100644", "sha": sha,
                                "size": len(child), "url": self._api(f"/git/blobs/{sha}")})

        walk(root, "")
        out.sort(key=lambda e: e["path"])
        return out

    def _tool_upsert(self, b: dict[str, Any]) -> dict[str, Any]:
        _require(b, repo=str, path=str, content=str, message=str)
        _optional(b, sha=str)
        # Plain text in, base64 by the service, always onto the default branch.
        _, data = self._write(b["path"], b["content"].encode("utf-8"), b["message"], None, b.get("sha"))
        c, k = data["content"], data["commit"]
        return {"content": {key: c[key] for key in ("name", "path", "sha", "size", "url", "html_url",
                                                    "git_url", "download_url", "type")},
                "commit": {"sha": k["sha"], "url": k["url"], "html_url": k["html_url"],
                           "message": k["message"]}}

    def _tool_pr(self, b: dict[str, Any]) -> dict[str, Any]:
        _require(b, repo=str, head=str, base=str, title=str)
        _optional(b, body=str)
        _, pr = self._pulls_create(b)
        return {k: pr[k] for k in ("id", "number", "html_url", "state", "title", "body")}

    def _tool_issue(self, b: dict[str, Any]) -> dict[str, Any]:
        _require(b, repo=str, title=str)
        _optional(b, body=str, labels=list)
        _, issue = self._issues_create(b)
        return {k: issue[k] for k in ("id", "number", "html_url", "state", "title", "body")}

    TOOLS: dict[str, Callable[["GitHubStandIn", dict[str, Any]], Any]] = {
        "/api/tools/files/tree": _tool_tree,
        "/api/tools/files/upsert": _tool_upsert,
        "/api/tools/prs/open": _tool_pr,
        "/api/tools/issues/create": _tool_issue,
    }

    # ----- repository internals (call with the lock held) -----------------------

    def _api(self, suffix: str) -> str:
        return f"{API}/repos/{self.owner}/{self.repo}{suffix}"

    def _head(self, branch: str) -> Commit:
        return self._commits[self._branches[branch]]

    def _resolve(self, ref: Any) -> Commit | None:
        """Branch name, heads/x, refs/heads/x, HEAD/None (default branch) or commit sha."""
        if ref is None or ref == "" or ref == "HEAD":
            return self._head(self.default_branch)
        ref = str(ref)
        for prefix in ("refs/heads/", "heads/", ""):
            if ref.startswith(prefix) and ref[len(prefix):] in self._branches:
                return self._head(ref[len(prefix):])
        if len(ref) >= 7 and re.fullmatch(r"[0-9a-f]+", ref):
            found = [c for sha, c in self._commits.items() if sha.startswith(ref)]
            if len(found) == 1:
                return found[0]
        return None

    def _commit(self, branch: str, changes: dict[str, bytes | None], message: str,
                parent: str | None | bool = True) -> Commit:
        parent_sha = self._branches.get(branch) if parent is True else parent
        files = dict(self._commits[parent_sha].files) if parent_sha else {}
        for path, data in changes.items():
            if data is None:
                files.pop(path, None)
            else:
                files[path] = data
        self._commit_counter += 1
        tree = _tree_sha(_nest(files))
        sha = hashlib.sha1(f"commit {tree} {parent_sha} {self._commit_counter}\n{message}".encode()).hexdigest()
        commit = Commit(sha, parent_sha, files, message, tree, _now_iso())
        self._commits[sha] = commit
        self._branches[branch] = sha
        for pr in self.prs:  # an open PR follows its head branch
            if pr["state"] == "open" and pr["head"]["ref"] == branch:
                pr["head"]["sha"] = sha
        return commit

    def _is_ancestor(self, maybe_ancestor: str, sha: str | None) -> bool:
        while sha:
            if sha == maybe_ancestor:
                return True
            sha = self._commits[sha].parent
        return False

    def _take_number(self) -> int:
        n = self._next_number
        self._next_number += 1
        self._created_at[n] = time.monotonic()
        return n

    def _new_issue(self, title: str, body: str | None, labels: list[str]) -> dict[str, Any]:
        n = self._take_number()
        issue = {
            "id": 700000 + n, "node_id": f"I_stand_in_{n}", "number": n, "title": title,
            "body": body, "state": "open", "state_reason": None, "locked": False,
            "labels": [_label(name) for name in labels], "assignees": [], "comments": 0,
            "user": BOT, "html_url": f"{WEB}/{self.owner}/{self.repo}/issues/{n}",
            "url": self._api(f"/issues/{n}"), "repository_url": self._api(""),
            "created_at": _now_iso(), "updated_at": _now_iso(), "closed_at": None,
        }
        self.issues.append(issue)
        return issue

    def _new_pr(self, head: str, base: str, title: str, body: str | None, draft: bool) -> dict[str, Any]:
        n = self._take_number()
        repo_obj = {"name": self.repo, "full_name": f"{self.owner}/{self.repo}",
                    "owner": {"login": self.owner}}
        pr = {
            "id": 800000 + n, "node_id": f"PR_stand_in_{n}", "number": n, "title": title,
            "body": body, "state": "open", "locked": False, "draft": draft, "merged": False,
            "labels": [], "user": BOT, "comments": 0,
            "html_url": f"{WEB}/{self.owner}/{self.repo}/pull/{n}", "url": self._api(f"/pulls/{n}"),
            "head": {"label": f"{self.owner}:{head}", "ref": head, "sha": self._branches[head],
                     "repo": repo_obj},
            "base": {"label": f"{self.owner}:{base}", "ref": base, "sha": self._branches[base],
                     "repo": repo_obj},
            "created_at": _now_iso(), "updated_at": _now_iso(), "closed_at": None, "merged_at": None,
        }
        self.prs.append(pr)
        return pr

    def _issue_view(self, item: dict[str, Any]) -> dict[str, Any]:
        """How the issues API shows an issue or PR (PRs carry a `pull_request` key)."""
        if "head" not in item:
            return item
        keys = ("id", "node_id", "number", "title", "body", "state", "locked", "labels", "user",
                "comments", "html_url", "created_at", "updated_at", "closed_at", "draft")
        view = {k: item[k] for k in keys}
        view["url"] = self._api(f"/issues/{item['number']}")
        view["pull_request"] = {"url": item["url"], "html_url": item["html_url"],
                                "merged_at": item["merged_at"]}
        return view

    def _find_item(self, number: int | None) -> dict[str, Any]:
        for item in self.issues + self.prs:
            if item["number"] == number:
                return item
        raise _not_found()

    def _close(self, item: dict[str, Any]) -> None:
        item.update(state="closed", closed_at=_now_iso(), updated_at=_now_iso())
        if "state_reason" in item:
            item["state_reason"] = "completed"


# ----- small helpers -------------------------------------------------------------


def _to_bytes(v: str | bytes) -> bytes:
    return v if isinstance(v, bytes) else v.encode("utf-8")


def _as_bytes_map(files: dict[str, str | bytes]) -> dict[str, bytes | None]:
    return {p: _to_bytes(v) for p, v in files.items()}


def _int(v: Any) -> int | None:
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _label(name: str) -> dict[str, Any]:
    return {"id": int(hashlib.sha1(name.encode()).hexdigest()[:8], 16), "name": name,
            "color": "ededed", "default": False, "description": None}


def _page(items: list[Any], p: dict[str, Any]) -> list[Any]:
    per_page = min(_int(p.get("per_page")) or 30, 100)
    page = max(_int(p.get("page")) or 1, 1)
    return items[(page - 1) * per_page: page * per_page]


def _require(b: dict[str, Any], **fields: type) -> None:
    for name, typ in fields.items():
        if not isinstance(b.get(name), typ):
            raise _ZodError(name, _js_type(typ()), "undefined" if name not in b else _js_type(b[name]))


def _optional(b: dict[str, Any], **fields: type) -> None:
    for name, typ in fields.items():
        if name in b and not isinstance(b[name], typ):
            raise _ZodError(name, _js_type(typ()), _js_type(b[name]))


def _parse_query(q: str) -> tuple[list[str], dict[str, list[str]]]:
    """Split a GitHub search query into free-text terms and qualifiers (key:value)."""
    terms: list[str] = []
    quals: dict[str, list[str]] = {}
    for m in re.finditer(r'(-?[\w.-]+):("[^"]*"|\S+)|"([^"]*)"|(\S+)', q):
        if m.group(1):
            quals.setdefault(m.group(1).lower(), []).append(m.group(2).strip('"'))
        else:
            terms.append((m.group(3) if m.group(3) is not None else m.group(4)).lower())
    return terms, quals


def _search_match(item: dict[str, Any], terms: list[str], quals: dict[str, list[str]], full: str) -> bool:
    if any(r.lower() != full.lower() for r in quals.get("repo", [])):
        return False
    is_pr = "pull_request" in item
    for v in quals.get("is", []) + quals.get("type", []) + quals.get("state", []):
        v = v.lower()
        if (v == "issue" and is_pr) or (v in ("pr", "pull-request") and not is_pr):
            return False
        if v in ("open", "closed") and item["state"] != v:
            return False
    names = {lab["name"].lower() for lab in item["labels"]}
    if any(lab.lower() not in names for lab in quals.get("label", [])):
        return False
    where = {w.lower() for w in quals.get("in", [])} or {"title", "body"}
    haystack = " ".join(str(item.get(w) or "") for w in ("title", "body") if w in where).lower()
    return all(t in haystack for t in terms)
