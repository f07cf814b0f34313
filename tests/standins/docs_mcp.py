"""Stand-in for Cloudflare's documentation MCP server (docs.mcp.cloudflare.com).

The contract it reproduces is docs/upstreams/docs-mcp.md. Stateless MCP over streamable
HTTP: `POST /mcp` (alias `/sse`) with a JSON-RPC 2.0 body; `tools/call` of
`search_cloudflare_documentation` ranks a small corpus owned by the test.

Like the MCP SDK transport the real server uses, it insists on
`Content-Type: application/json` (415) and an `Accept` naming both
`application/json` and `text/event-stream` (406); switch that off with
`set_mode(strict_headers=False)` if a test needs to.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .server import Call, Response, StandIn, sse_event

TOOL_NAME = "search_cloudflare_documentation"
PATHS = ("/mcp", "/mcp/", "/sse", "/sse/")
_STOPWORDS = {
    "a", "an", "and", "are", "as", "at", "be", "by", "can", "do", "does", "for", "from", "how",
    "i", "in", "is", "it", "my", "of", "on", "or", "the", "to", "what", "when", "with", "you",
}


def words(text: str) -> list[str]:
    return [w for w in re.findall(r"[a-z0-9]+", text.lower()) if w not in _STOPWORDS]


def result_block(r: dict[str, Any]) -> str:
    """One search hit in the text form every server version returns."""
    return (f"<result>\n<url>{r['url']}</url>\n<title>{r['title']}</title>\n"
            f"<text>\n{r['text']}\n</text>\n</result>")


class DocsMcpStandIn(StandIn):
    DEFAULT_MODES: dict[str, Any] = {
        "format": "sse",  # "sse" (what the production server sends) or "json"
        "structured": True,  # include result.structuredContent (newer servers)
        "strict_headers": True,  # 406/415 on a wrong Accept / Content-Type, as the SDK does
        "top_k": 10,  # the real server always returns its top 10 chunks
        # Vector search always returns k neighbours, related or not. True drops hits
        # without any word overlap (handy for "nothing found" tests).
        "only_matching": False,
    }

    def __init__(self, corpus: list[dict[str, Any]] | None = None, *, format: str = "sse",
                 structured: bool = True) -> None:
        super().__init__()
        self._default_modes.update(format=format, structured=structured)
        self.modes.update(format=format, structured=structured)
        self.corpus: list[dict[str, Any]] = []
        self.set_corpus(corpus or [])
        #: query strings received by the search tool, in order
        self.queries: list[str] = []
        self._answer_overrides: list[dict[str, Any]] = []
        self._tool_failures: list[dict[str, Any]] = []

    # ----- test helpers ----------------------------------------------------------

    def set_corpus(self, corpus: list[dict[str, Any]]) -> None:
        """Entries {url, title, text[, id]}; a missing id is derived from url and text."""
        with self._lock:
            self.corpus = [
                {"id": d.get("id") or "chunk-" + hashlib.sha1((d["url"] + d["text"]).encode()).hexdigest()[:12],
                 "url": d["url"], "title": d["title"], "text": d["text"]}
                for d in corpus
            ]

    def search(self, query: str) -> list[dict[str, Any]]:
        """The ranking the tool answers with: word overlap, title words count double."""
        terms = set(words(query))
        with self._lock:
            scored = []
            for i, doc in enumerate(self.corpus):
                title, text = set(words(doc["title"])), set(words(doc["text"]))
                score = sum(2 * (t in title) + (t in text) for t in terms)
                scored.append((-score, i, score, doc))
            scored.sort(key=lambda s: (s[0], s[1]))
            out = []
            for _, _, score, doc in scored:
                if self.modes["only_matching"] and score == 0:
                    continue
                sim = score / (3 * len(terms)) if terms else 0.0
                out.append({"similarity": round(sim, 4), **doc})
            return out[: int(self.modes["top_k"])]

    def answer_next(self, n: int = 1, *, format: str | None = None,
                    structured: bool | None = None) -> None:
        """Override format/structured for the next n search-tool answers only."""
        with self._lock:
            self._answer_overrides.append({"remaining": n, "format": format, "structured": structured})

    def tool_error_next(self, n: int = 1, kind: str = "rpc_error", message: str | None = None,
                        code: int = -32603) -> None:
        """The next n search calls fail inside the protocol (HTTP 200):
        kind "rpc_error" -> JSON-RPC {"error": {code, message}};
        kind "is_error"  -> result {isError: true, content: [{type: text, text: message}]}."""
        if kind not in ("rpc_error", "is_error"):
            raise ValueError(kind)
        with self._lock:
            self._tool_failures.append({
                "remaining": n, "kind": kind, "code": code,
                "message": message or ("Internal error" if kind == "rpc_error"
                                       else "Error: AutoRAG search failed (injected)"),
            })

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.queries.clear()
            self._answer_overrides.clear()
            self._tool_failures.clear()

    def failure_body(self, status: int) -> Any:
        return "Internal Server Error" if status >= 500 else f"injected failure ({status})"

    # ----- HTTP ------------------------------------------------------------------

    def handle(self, call: Call) -> Response:
        if call.path not in PATHS:
            return Response(404, "Not Found")
        if call.method != "POST":
            return Response(405, _rpc_error(None, -32000, "Method not allowed."), {"allow": "POST"})
        if self.modes["strict_headers"]:
            accept = (call.header("accept") or "").lower()
            if "application/json" not in accept or "text/event-stream" not in accept:
                return Response(406, _rpc_error(None, -32000, "Not Acceptable: Client must accept "
                                                "both application/json and text/event-stream"))
            if "application/json" not in (call.header("content-type") or "").lower():
                return Response(415, _rpc_error(None, -32000, "Unsupported Media Type: "
                                                "Content-Type must be application/json"))
        if not isinstance(call.body, (dict, list)):
            return Response(400, _rpc_error(None, -32700, "Parse error: Invalid JSON"))

        batch = call.body if isinstance(call.body, list) else [call.body]
        replies: list[dict[str, Any]] = []
        fmt = self.modes["format"]
        for msg in batch:
            if not isinstance(msg, dict) or msg.get("jsonrpc") != "2.0" or "method" not in msg:
                return Response(400, _rpc_error(None, -32600, "Invalid Request"))
            if "id" not in msg:
                continue  # a notification: nothing to answer
            reply, fmt_override = self._dispatch(msg)
            fmt = fmt_override or fmt
            replies.append(reply)
        if not replies:
            return Response(202, None)

        if fmt == "json":
            payload = replies if isinstance(call.body, list) else replies[0]
            return Response(200, payload, {"content-type": "application/json"})
        text = "".join(sse_event(r) for r in replies)
        return Response(200, text, {"content-type": "text/event-stream", "cache-control": "no-cache"})

    def _dispatch(self, msg: dict[str, Any]) -> tuple[dict[str, Any], str | None]:
        mid, method, params = msg["id"], msg["method"], msg.get("params") or {}
        if method == "initialize":
            return _rpc_result(mid, {
                "protocolVersion": params.get("protocolVersion") or "2025-06-18",
                "capabilities": {"tools": {"listChanged": False}},
                "serverInfo": {"name": "docs-ai-search (stand-in)", "version": "0.0.0"},
            }), None
        if method == "ping":
            return _rpc_result(mid, {}), None
        if method == "tools/list":
            tool: dict[str, Any] = {
                "name": TOOL_NAME,
                "description": "Search the Cloudflare documentation.",
                "inputSchema": {"type": "object", "properties": {"query": {"type": "string"}},
                                "required": ["query"], "additionalProperties": False},
            }
            return _rpc_result(mid, {"tools": [tool]}), None
        if method != "tools/call":
            return _rpc_error(mid, -32601, "Method not found"), None

        name = params.get("name")
        if name != TOOL_NAME:
            return _rpc_error(mid, -32602, f"MCP error -32602: Tool {name} not found"), None
        query = (params.get("arguments") or {}).get("query")
        if not isinstance(query, str):
            return _rpc_error(mid, -32602, f"MCP error -32602: Invalid arguments for tool {TOOL_NAME}: "
                                           "query: Required"), None

        with self._lock:
            self.queries.append(query)
            override = _take(self._answer_overrides)
            failure = _take(self._tool_failures)
        fmt = override.get("format") if override else None
        structured = override.get("structured") if override else None
        if structured is None:
            structured = self.modes["structured"]

        if failure and failure["kind"] == "rpc_error":
            return _rpc_error(mid, failure["code"], failure["message"]), fmt
        if failure:
            return _rpc_result(mid, {"content": [{"type": "text", "text": failure["message"]}],
                                     "isError": True}), fmt

        results = self.search(query)
        result: dict[str, Any] = {
            "content": [{"type": "text", "text": "\n".join(result_block(r) for r in results)}]
        }
        if structured:
            result["structuredContent"] = {"results": results}
        return _rpc_result(mid, result), fmt


def _take(queue: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Consume one use of the first armed entry of a queue."""
    for entry in queue:
        if entry["remaining"] > 0:
            entry["remaining"] -= 1
            return entry
    return None


def _rpc_result(mid: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": mid, "result": result}


def _rpc_error(mid: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": mid, "error": {"code": code, "message": message}}


__all__ = ["DocsMcpStandIn", "TOOL_NAME", "result_block", "words"]
