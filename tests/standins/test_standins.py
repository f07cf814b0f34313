"""Self-tests for the stand-ins, over real HTTP (urllib), fast."""

from __future__ import annotations

import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from email.message import Message
from typing import Any, Iterator

import pytest

from .docs_mcp import DocsMcpStandIn, result_block
from .github import GitHubStandIn, blob_sha
from .model import ModelStandIn
from .server import Call, Response, StandIn

# ----- a tiny client ---------------------------------------------------------------


@dataclass
class Resp:
    status: int
    headers: Message
    raw: bytes

    @property
    def text(self) -> str:
        return self.raw.decode()

    def json(self) -> Any:
        return json.loads(self.raw)


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None,
         timeout: float = 5.0) -> Resp:
    hdrs = dict(headers or {})
    data = None
    if body is not None:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        hdrs.setdefault("content-type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=hdrs)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return Resp(r.status, r.headers, r.read())
    except urllib.error.HTTPError as e:
        return Resp(e.code, e.headers, e.read())


KEY = {"x-api-key": "test-gh-key"}


def gh_get(gh: GitHubStandIn, method: str, headers: dict[str, str] | None = None, **params: Any) -> Resp:
    params = {"owner": "acme", "repo": "templates", **params}
    return http("GET", f"{gh.url}/api/octokit/rest/{method}?{urllib.parse.urlencode(params)}",
                headers=KEY if headers is None else headers)


def gh_post(gh: GitHubStandIn, method: str, **params: Any) -> Resp:
    params = {"owner": "acme", "repo": "templates", **params}
    return http("POST", f"{gh.url}/api/octokit/rest/{method}", {"params": params}, KEY)


def tool(gh: GitHubStandIn, route: str, **body: Any) -> Resp:
    return http("POST", f"{gh.url}/api/tools/{route}", {"owner": "acme", "repo": "templates", **body}, KEY)


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.fixture
def gh() -> Iterator[GitHubStandIn]:
    with GitHubStandIn(files={"README.md": "# templates\n", "wrangler.toml": "name = 'x'\n",
                              "src/index.ts": "export default {}\n"}) as s:
        yield s
    assert not s.errors, s.errors


# ----- base machinery ------------------------------------------------------------------


class Echo(StandIn):
    def handle(self, call: Call) -> Response:
        return Response(200, {"path": call.path})


def test_base_records_calls_and_lifecycle() -> None:
    with Echo() as s:
        assert s.url.startswith("http://127.0.0.1:") and not s.url.endswith("/")
        r = http("POST", f"{s.url}/a%20b?x=1&y=2&y=3", {"k": [1]}, {"X-Thing": "v"})
        assert r.status == 200 and r.json() == {"path": "/a b"}
        (c,) = s.calls
        assert (c.method, c.path, c.query, c.body, c.status) == ("POST", "/a b", {"x": "1", "y": ["2", "3"]}, {"k": [1]}, 200)
        assert c.headers["x-thing"] == "v" and c.header("X-THING") == "v"
        http("PUT", f"{s.url}/raw", b"not json", {"content-type": "text/plain"})
        assert s.calls[-1].body == "not json"
        s.fail_next(1)
        s.reset()
        assert s.calls == [] and s.pending_failures() == 0
        url = s.url
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=1)


def test_fail_next_counts_matches_and_headers() -> None:
    with Echo() as s:
        s.fail_next(2, status=429, headers={"retry-after": "1"}, match="/slow")
        assert http("GET", f"{s.url}/fast").status == 200  # not matching: untouched
        r = http("GET", f"{s.url}/slow/x")
        assert r.status == 429 and r.headers["retry-after"] == "1"
        assert http("GET", f"{s.url}/slow/y").status == 429
        assert http("GET", f"{s.url}/slow/z").status == 200  # n exhausted
        assert [c.injected for c in s.calls] == [False, True, True, False]
        s.fail_always(503, body="down")
        assert http("GET", f"{s.url}/a").text == "down" and http("GET", f"{s.url}/b").status == 503
        s.clear_failures()
        assert http("GET", f"{s.url}/c").status == 200


def test_hang_does_not_block_other_requests_and_drop() -> None:
    with Echo() as s:
        s.fail_next(1, status=None, delay=3, match="/hang")
        errors: list[BaseException] = []

        def slow() -> None:
            try:
                http("GET", f"{s.url}/hang", timeout=0.6)
            except BaseException as e:  # noqa: BLE001 - expecting a timeout
                errors.append(e)

        t = threading.Thread(target=slow)
        started = time.monotonic()
        t.start()
        s.wait_for_calls(1, "/hang", timeout=2)
        assert http("GET", f"{s.url}/other", timeout=2).status == 200
        assert time.monotonic() - started < 0.5  # served while /hang was still hanging
        t.join()
        assert errors and isinstance(errors[0], (TimeoutError, socket.timeout, urllib.error.URLError))
        assert s.calls_to("/hang")[0].status is None

        s.fail_next(1, drop=True)
        with pytest.raises((urllib.error.URLError, ConnectionError, OSError)):
            http("GET", f"{s.url}/dropped", timeout=2)
        assert http("GET", f"{s.url}/after").status == 200
    # stop() returned promptly although the hung handler was still asleep


def test_chunked_request_body() -> None:
    # workerd sends streamed bodies with Transfer-Encoding: chunked
    import http.client

    with Echo() as s:
        conn = http.client.HTTPConnection("127.0.0.1", s.port, timeout=5)
        conn.request("POST", "/c", body=iter([b'{"a": ', b'[1, 2]}']),
                     headers={"content-type": "application/json"}, encode_chunked=True)
        assert conn.getresponse().status == 200
        conn.close()
        (c,) = s.calls
        assert c.headers["transfer-encoding"] == "chunked" and c.body == {"a": [1, 2]}


def test_set_mode_rejects_unknown() -> None:
    with pytest.raises(KeyError):
        GitHubStandIn().set_mode(nope=1)


# ----- core-github-api ---------------------------------------------------------------


def test_github_auth(gh: GitHubStandIn) -> None:
    assert http("GET", f"{gh.url}/healthz").status == 200  # no key needed
    assert gh_get(gh, "repos/get", headers={}).json() == {"error": "Unauthorized"}
    assert gh_get(gh, "repos/get", headers={"x-api-key": "nope"}).status == 401
    assert gh_get(gh, "repos/get", headers={"authorization": "Bearer nope"}).status == 401
    assert gh_get(gh, "repos/get", headers={"authorization": "Bearer test-gh-key"}).json()["default_branch"] == "main"
    r = tool(gh, "files/tree")
    assert r.status == 200
    with GitHubStandIn(api_key=None) as bare:
        assert http("GET", f"{bare.url}/api/octokit/rest/repos/get", headers=KEY).json() == {"error": "Service misconfigured"}


def test_get_content_base64_wrapped_at_60(gh: GitHubStandIn) -> None:
    text = "line of template text\n" * 20
    gh.seed({"big.txt": text})
    r = gh_get(gh, "repos/getContent", path="big.txt")
    data = r.json()
    assert r.status == 200 and data["type"] == "file" and data["encoding"] == "base64"
    lines = data["content"].split("\n")
    assert data["content"].endswith("\n") and lines[-1] == ""
    assert all(len(line) == 60 for line in lines[:-2]) and 0 < len(lines[-2]) <= 60
    assert base64.b64decode(data["content"]).decode() == text  # decoders must drop the newlines
    assert data["sha"] == blob_sha(text) == gh.blob_sha("big.txt") and data["size"] == len(text)
    assert gh_get(gh, "repos/getContent", path="nope.txt").json()["message"] == "Not Found"
    assert gh_get(gh, "repos/getContent", path="README.md", ref="no-such-branch").status == 404
    listing = gh_get(gh, "repos/getContent", path="").json()
    assert {(e["name"], e["type"]) for e in listing} >= {("src", "dir"), ("README.md", "file")}
    assert gh_get(gh, "repos/getContent", path="README.md", owner="other").status == 404


def test_refs(gh: GitHubStandIn) -> None:
    head = gh_get(gh, "git/getRef", ref="heads/main").json()
    assert head["ref"] == "refs/heads/main" and head["object"]["sha"] == gh.head_sha()
    assert gh_get(gh, "git/getRef", ref="refs/heads/main").status == 404  # no refs/ prefix here
    r = gh_post(gh, "git/createRef", ref="refs/heads/fix-1", sha=head["object"]["sha"])
    assert r.status == 201 and r.json()["ref"] == "refs/heads/fix-1"
    again = gh_post(gh, "git/createRef", ref="refs/heads/fix-1", sha=head["object"]["sha"])
    assert again.status == 422 and again.json()["message"] == "Reference already exists"
    assert gh_post(gh, "git/createRef", ref="heads/fix-2", sha=head["object"]["sha"]).status == 422
    assert gh_post(gh, "git/createRef", ref="refs/heads/fix-3", sha="0" * 40).status == 422
    assert set(gh.branches()) == {"main", "fix-1"}


def test_create_or_update_file_rules(gh: GitHubStandIn) -> None:
    gh.create_branch("fix")
    new = gh_post(gh, "repos/createOrUpdateFileContents", path="docs/new.md", message="add",
                  content=b64("hello\n"), branch="fix")
    assert new.status == 201 and new.json()["content"]["sha"] == blob_sha("hello\n")
    assert new.json()["commit"]["html_url"].startswith("https://github.com/acme/templates/commit/")
    no_sha = gh_post(gh, "repos/createOrUpdateFileContents", path="README.md", message="m",
                     content=b64("new\n"), branch="fix")
    assert no_sha.status == 422 and "sha" in no_sha.json()["message"]
    stale = gh_post(gh, "repos/createOrUpdateFileContents", path="README.md", message="m",
                    content=b64("new\n"), branch="fix", sha=blob_sha("something else"))
    assert stale.status == 409
    ok = gh_post(gh, "repos/createOrUpdateFileContents", path="README.md", message="fix readme",
                 content=b64("new\n"), branch="fix", sha=blob_sha("# templates\n"))
    assert ok.status == 200
    assert gh.files("fix")["README.md"] == "new\n" and gh.files()["README.md"] == "# templates\n"
    assert gh.commit_log("fix")[0]["message"] == "fix readme"
    bad = gh_post(gh, "repos/createOrUpdateFileContents", path="x", message="m", content="%%%", branch="fix")
    assert bad.status == 422


def test_parallel_writes_collide(gh: GitHubStandIn) -> None:
    gh.set_mode(write_latency=0.3)
    results: list[int] = []

    def write(i: int) -> None:
        results.append(gh_post(gh, "repos/createOrUpdateFileContents", path=f"f{i}.txt", message="m",
                               content=b64("x"), branch="main").status)

    threads = [threading.Thread(target=write, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [201, 409] and gh.max_parallel_writes == 2


def test_pull_requests(gh: GitHubStandIn) -> None:
    gh.create_branch("fix")
    empty = gh_post(gh, "pulls/create", head="fix", base="main", title="t")
    assert empty.status == 422 and "No commits between" in empty.text
    gh.seed({"README.md": "fixed\n"}, branch="fix")
    gh.add_issue("older issue")  # numbers are shared with issues
    pr = gh_post(gh, "pulls/create", head="fix", base="main", title="Fix", body="b")
    assert pr.status == 201 and pr.json()["number"] == 2
    assert pr.json()["html_url"] == "https://github.com/acme/templates/pull/2"
    assert gh_post(gh, "pulls/create", head="fix", base="main", title="dup").status == 422
    gh.add_pr("other", "someone else's PR")
    by_head = gh_get(gh, "pulls/list", head="acme:fix", state="open").json()
    assert [p["number"] for p in by_head] == [2] and by_head[0]["state"] == "open"
    assert len(gh_get(gh, "pulls/list", head="fix", state="open").json()) == 2  # bare head ignored
    assert gh_get(gh, "pulls/list", head="acme:nope").json() == []
    gh.close_item(2, merged=True)
    assert gh_get(gh, "pulls/list", head="acme:fix").json() == []
    assert gh.files()["README.md"] == "fixed\n"


def test_issues_and_search(gh: GitHubStandIn) -> None:
    r = gh_post(gh, "issues/create", title="Template drift: wrangler.toml", body="details",
                labels=["mission-control", "drift"])
    assert r.status == 201 and r.json()["html_url"] == "https://github.com/acme/templates/issues/1"
    assert gh_post(gh, "issues/create", title="t", labels="a,b").status == 422  # must be an array
    gh.add_pr("feature", "Some PR")
    listed = gh_get(gh, "issues/listForRepo", labels="mission-control,drift", state="open").json()
    assert [i["number"] for i in listed] == [1]
    everything = gh_get(gh, "issues/listForRepo", state="all").json()
    assert any("pull_request" in i for i in everything)  # GitHub lists PRs as issues too
    found = gh_get(gh, "search/issuesAndPullRequests",
                   q='repo:acme/templates is:issue is:open in:title "template drift"').json()
    assert found["total_count"] == 1 and found["items"][0]["number"] == 1
    assert gh_get(gh, "search/issuesAndPullRequests", q="repo:acme/templates is:pr drift").json()["total_count"] == 0
    gh.set_mode(search_lag=60)
    gh_post(gh, "issues/create", title="Fresh drift")
    assert gh_get(gh, "search/issuesAndPullRequests", q="Fresh drift").json()["total_count"] == 0
    comment = gh_post(gh, "issues/createComment", issue_number=1, body="again")
    assert comment.status == 201 and gh.comments[0]["issue_number"] == 1


def test_tool_routes(gh: GitHubStandIn) -> None:
    tree = tool(gh, "files/tree", ref="main").json()
    paths = [e["path"] for e in tree["entries"]]
    assert paths == ["README.md", "src", "src/index.ts", "wrangler.toml"] and tree["truncated"] is False
    src = tree["entries"][1]
    assert (src["type"], src["size"], src["displayPath"], src["depth"]) == ("tree", None, "src/", 0)
    assert tree["entries"][2]["displayPath"] == "  index.ts"
    assert tree["listing"].splitlines()[0].startswith("MODE")
    assert [e["path"] for e in tool(gh, "files/tree", path="src").json()["entries"]] == ["src", "src/index.ts"]
    assert [e["path"] for e in tool(gh, "files/tree", recursive=False).json()["entries"]] == [
        "README.md", "src", "wrangler.toml"]
    gh.set_mode(tree_limit=2)
    assert tool(gh, "files/tree").json()["truncated"] is True
    assert tool(gh, "files/tree", recursive="yes").status == 400  # zod: boolean expected
    assert http("POST", f"{gh.url}/api/tools/files/tree", {"repo": "templates"}, KEY).status == 404  # owner defaults to jmbish04

    up = tool(gh, "files/upsert", path="NEW.md", content="plain text\n", message="add")
    assert up.status == 200 and up.json()["content"]["sha"] == blob_sha("plain text\n")
    assert tool(gh, "files/upsert", path="NEW.md", content="v2", message="m").status == 422
    assert tool(gh, "files/upsert", path="NEW.md", content="v2", message="m", sha=blob_sha("plain text\n")).status == 200
    assert gh.files()["NEW.md"] == "v2"
    assert tool(gh, "files/upsert", path="x").status == 400

    issue = tool(gh, "issues/create", title="Hello", labels=["x"]).json()
    assert set(issue) == {"id", "number", "html_url", "state", "title", "body"}
    gh.seed({"a.txt": "a"}, branch="fix")
    pr = tool(gh, "prs/open", head="fix", base="main", title="PR").json()
    assert pr["number"] == 2 and pr["html_url"].endswith("/pull/2")


def test_github_failure_modes(gh: GitHubStandIn) -> None:
    gh.rate_limit_next(1, status=403, retry_after=1, match="getContent")
    r = gh_get(gh, "repos/getContent", path="README.md")
    assert r.status == 403 and r.headers["x-ratelimit-remaining"] == "0" and r.headers["retry-after"] == "1"
    assert gh_get(gh, "repos/getContent", path="README.md").status == 200
    gh.fail_next(1, status=401)
    assert gh_get(gh, "repos/get").json() == {"error": "Unauthorized"}
    assert gh_get(gh, "nope/method").json() == {"error": "Not Found"}
    first = gh_get(gh, "repos/get")
    etag = first.headers["etag"]
    assert gh_get(gh, "repos/get", headers={**KEY, "if-none-match": etag}).status == 304
    gh.set_mode(error_style="wrapped")
    assert gh_post(gh, "git/createRef", ref="refs/heads/main", sha=gh.head_sha()).status == 500


# ----- docs MCP ----------------------------------------------------------------------

CORPUS = [
    {"url": "https://developers.cloudflare.com/d1/worker-api/prepared-statements/",
     "title": "Prepared statement methods", "text": "D1 prepared statements bind parameters with bind()."},
    {"url": "https://developers.cloudflare.com/kv/", "title": "Workers KV", "text": "KV is a key-value store."},
] + [{"url": f"https://developers.cloudflare.com/filler/{i}/", "title": f"Filler {i}", "text": "unrelated"}
     for i in range(12)]

MCP_HEADERS = {"accept": "application/json, text/event-stream"}


def mcp(s: DocsMcpStandIn, method: str = "tools/call", params: Any = None, path: str = "/mcp",
        headers: dict[str, str] | None = None, timeout: float = 5.0) -> Resp:
    if params is None and method == "tools/call":
        params = {"name": "search_cloudflare_documentation", "arguments": {"query": "D1 prepared statements bind"}}
    body = {"jsonrpc": "2.0", "id": 7, "method": method, "params": params or {}}
    return http("POST", s.url + path, body, MCP_HEADERS if headers is None else headers, timeout)


def rpc(r: Resp) -> dict[str, Any]:
    """Decode either answer format, as the Worker must."""
    if r.headers["content-type"].startswith("text/event-stream"):
        data = [line[len("data: "):] for line in r.text.split("\n") if line.startswith("data: ")]
        return json.loads(data[0])
    return r.json()


@pytest.fixture
def docs() -> Iterator[DocsMcpStandIn]:
    with DocsMcpStandIn(CORPUS) as s:
        yield s
    assert not s.errors, s.errors


def test_docs_sse_structured(docs: DocsMcpStandIn) -> None:
    r = mcp(docs, path="/sse")
    assert r.status == 200 and r.headers["content-type"] == "text/event-stream"
    assert r.text.startswith("event: message\ndata: {") and r.text.endswith("\n\n")
    res = rpc(r)["result"]
    hits = res["structuredContent"]["results"]
    assert len(hits) == 10 and hits[0]["url"] == CORPUS[0]["url"]
    assert set(hits[0]) == {"similarity", "id", "url", "title", "text"} and hits[0]["similarity"] > hits[1]["similarity"]
    assert res["content"][0]["text"].startswith(result_block(hits[0]))
    assert docs.queries == ["D1 prepared statements bind"]


def test_docs_json_text_only_and_per_call(docs: DocsMcpStandIn) -> None:
    docs.set_mode(format="json", structured=False)
    r = mcp(docs)
    assert r.headers["content-type"] == "application/json"
    res = r.json()["result"]
    assert "structuredContent" not in res
    assert res["content"][0]["text"].startswith(
        f"<result>\n<url>{CORPUS[0]['url']}</url>\n<title>{CORPUS[0]['title']}</title>\n<text>\n{CORPUS[0]['text']}\n</text>\n</result>\n<result>")
    docs.answer_next(1, format="sse", structured=True)
    assert "structuredContent" in rpc(mcp(docs))["result"]
    assert mcp(docs).headers["content-type"] == "application/json"  # override used up
    docs.set_mode(only_matching=True)
    assert len(rpc(mcp(docs))["result"]["content"]) == 1
    with DocsMcpStandIn(CORPUS, format="json", structured=False) as s2:
        assert "structuredContent" not in mcp(s2).json()["result"]


def test_docs_protocol_edges(docs: DocsMcpStandIn) -> None:
    assert http("GET", f"{docs.url}/mcp").status == 405
    assert mcp(docs, headers={"accept": "application/json"}).status == 406
    assert rpc(mcp(docs, params={"name": "nope", "arguments": {}}))["error"]["code"] == -32602
    assert rpc(mcp(docs, "initialize", {"protocolVersion": "2025-03-26"}))["result"]["protocolVersion"] == "2025-03-26"
    assert rpc(mcp(docs, "tools/list"))["result"]["tools"][0]["name"] == "search_cloudflare_documentation"
    note = http("POST", f"{docs.url}/mcp", {"jsonrpc": "2.0", "method": "notifications/initialized"}, MCP_HEADERS)
    assert note.status == 202
    assert "mcp-session-id" not in mcp(docs).headers  # stateless


def test_docs_failure_modes(docs: DocsMcpStandIn) -> None:
    docs.tool_error_next(1, "rpc_error", "boom", code=-32603)
    assert rpc(mcp(docs))["error"] == {"code": -32603, "message": "boom"}
    docs.tool_error_next(1, "is_error", "search failed")
    res = rpc(mcp(docs))["result"]
    assert res["isError"] is True and res["content"][0]["text"] == "search failed"
    docs.fail_next(1, status=500)
    assert mcp(docs).status == 500
    docs.hang_next(1, delay=3)
    with pytest.raises((TimeoutError, socket.timeout, urllib.error.URLError)):
        mcp(docs, timeout=0.4)
    assert rpc(mcp(docs))["result"]["structuredContent"]["results"]  # healthy again
    # the 500 never reached the tool, and the hung call is still asleep
    assert len(docs.calls) == 5 and len(docs.queries) == 3


# ----- model -------------------------------------------------------------------------


def chat(s: ModelStandIn, path: str = "/v1/chat/completions", key: str = "test-ai-key", **body: Any) -> Resp:
    body = {"model": "m", "messages": [{"role": "user", "content": "hello there"}], **body}
    return http("POST", s.url + path, body, {"authorization": f"Bearer {key}"})


def test_model_answers_and_records() -> None:
    with ModelStandIn() as ai:
        assert chat(ai, key="wrong").status == 401
        ai.respond_with("fixed answer")
        r = chat(ai).json()
        assert r["object"] == "chat.completion" and r["choices"][0]["message"] == {"role": "assistant", "content": "fixed answer"}
        assert r["choices"][0]["finish_reason"] == "stop" and r["usage"]["total_tokens"] > 0
        ai.respond_with(lambda req: "echo: " + req["messages"][-1]["content"])
        assert chat(ai, path="/compat/chat/completions").json()["choices"][0]["message"]["content"] == "echo: hello there"
        ai.respond_with(["one", "two"])
        assert [chat(ai).json()["choices"][0]["message"]["content"] for _ in range(3)] == ["one", "two", "two"]
        assert chat(ai, messages=[]).status == 400
        assert len(ai.requests) == 5 and ai.prompts()[0] == "hello there"
        stream = chat(ai, stream=True)
        assert stream.headers["content-type"] == "text/event-stream" and stream.text.endswith("data: [DONE]\n\n")
        ai.fail_next(1, status=429, headers={"retry-after": "1"})
        limited = chat(ai)
        assert limited.status == 429 and limited.json()["error"]["code"] == "rate_limit_exceeded"
        ai.reset()
        assert ai.requests == [] and chat(ai).json()["choices"][0]["message"]["content"] == "stand-in reply"
