"""Stand-in for an OpenAI-compatible chat-completions endpoint.

Answers `POST .../chat/completions` (any prefix: /v1, /compat, /openai/...), checks
`Authorization: Bearer <key>`, validates the request the way OpenAI does for the
fields that matter, and replies with text from a test-settable responder.
Supports `"stream": true` (SSE chunks ending in `data: [DONE]`).
"""

from __future__ import annotations

import itertools
import re
import time
from typing import Any, Callable, Union

from .server import Call, Response, StandIn, sse_event

#: A responder returns the assistant text, or a dict of message fields
#: (e.g. {"content": None, "tool_calls": [...]}) for anything richer.
Reply = Union[str, dict]
Responder = Union[str, Reply, Callable[[dict[str, Any]], Reply], list]

_ROLES = {"system", "developer", "user", "assistant", "tool", "function"}


def _openai_error(message: str, type_: str, code: str | None = None,
                  param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": type_, "param": param, "code": code}}


class ModelStandIn(StandIn):
    def __init__(self, api_key: str | None = "test-ai-key", model: str = "stand-in-model",
                 reply: Responder = "stand-in reply") -> None:
        super().__init__()
        self.api_key = api_key
        self.model = model
        self._responder: Responder = reply
        self._default_responder: Responder = reply
        self._queue: list[Reply] = []
        self._ids = itertools.count(1)
        #: bodies of accepted chat-completion requests, in order
        self.requests: list[dict[str, Any]] = []

    # ----- test helpers ----------------------------------------------------------

    def respond_with(self, responder: Responder) -> None:
        """Fixed text, a dict of message fields, a callable(request_json) -> str | dict,
        or a list: answered in order, the last one repeating."""
        with self._lock:
            if isinstance(responder, list):
                if not responder:
                    raise ValueError("empty list of replies")
                self._queue = list(responder)
                self._responder = responder[-1]
            else:
                self._queue = []
                self._responder = responder

    @property
    def last_request(self) -> dict[str, Any] | None:
        with self._lock:
            return self.requests[-1] if self.requests else None

    def prompts(self, role: str = "user") -> list[str]:
        """Text of every message with `role` across all requests, in order."""
        with self._lock:
            return [_text(m.get("content")) for r in self.requests for m in r["messages"]
                    if m.get("role") == role]

    def reset(self) -> None:
        super().reset()
        with self._lock:
            self.requests.clear()
            self._queue = []
            self._responder = self._default_responder

    def failure_body(self, status: int) -> Any:
        if status == 401:
            return _openai_error("Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if status == 429:
            return _openai_error("Rate limit reached for requests.", "requests", "rate_limit_exceeded")
        if status >= 500:
            return _openai_error("The server had an error while processing your request.", "server_error")
        return _openai_error(f"injected failure ({status})", "invalid_request_error")

    # ----- HTTP ------------------------------------------------------------------

    def handle(self, call: Call) -> Response:
        is_chat = call.path.rstrip("/").endswith("/chat/completions")
        is_models = call.path.rstrip("/").endswith("/models")
        if not (is_chat or is_models):
            return Response(404, _openai_error(f"Invalid URL ({call.method} {call.path})",
                                               "invalid_request_error"))
        auth = call.header("authorization") or ""
        if not self.api_key or auth != f"Bearer {self.api_key}":
            return Response(401, self.failure_body(401))
        if is_models:
            if call.method != "GET":
                return Response(405, _openai_error("Method not allowed", "invalid_request_error"))
            return Response(200, {"object": "list", "data": [
                {"id": self.model, "object": "model", "created": 0, "owned_by": "stand-in"}]})
        if call.method != "POST":
            return Response(405, _openai_error("Method not allowed", "invalid_request_error"))

        req = call.body
        problem = _validate(req)
        if problem:
            return Response(400, _openai_error(problem[0], "invalid_request_error", None, problem[1]))
        with self._lock:
            self.requests.append(req)
            if self._queue:
                responder: Responder = self._queue.pop(0)
            else:
                responder = self._responder
        reply = responder(req) if callable(responder) else responder
        message: dict[str, Any] = {"role": "assistant", "content": None}
        if isinstance(reply, dict):
            message.update(reply)
        else:
            message["content"] = str(reply)
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        model = req.get("model") or self.model
        cid = f"chatcmpl-standin-{next(self._ids)}"
        created = int(time.time())
        prompt_tokens = sum(len(_text(m.get("content")).split()) for m in req["messages"])
        completion_tokens = len(_text(message.get("content")).split())
        usage = {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": prompt_tokens + completion_tokens}

        if req.get("stream"):
            return Response(200, _stream(cid, created, model, message, finish, usage, req),
                            {"content-type": "text/event-stream", "cache-control": "no-cache"})
        return Response(200, {
            "id": cid, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
            "usage": usage,
        })


def _validate(req: Any) -> tuple[str, str | None] | None:
    if not isinstance(req, dict):
        return "We could not parse the JSON body of your request.", None
    if not req.get("model"):
        return "you must provide a model parameter", "model"
    messages = req.get("messages")
    if not isinstance(messages, list) or not messages:
        return "'messages' must be a non-empty array", "messages"
    for i, m in enumerate(messages):
        if not isinstance(m, dict) or m.get("role") not in _ROLES:
            return f"Invalid value for 'messages[{i}].role'", f"messages[{i}].role"
        if "content" not in m and not m.get("tool_calls"):
            return f"Missing required parameter: 'messages[{i}].content'.", f"messages[{i}].content"
    return None


def _text(content: Any) -> str:
    """Message content may be a string or a list of parts ({type: text, text})."""
    if content is None:
        return ""
    if isinstance(content, list):
        return " ".join(p.get("text", "") for p in content if isinstance(p, dict))
    return str(content)


def _stream(cid: str, created: int, model: str, message: dict[str, Any], finish: str,
            usage: dict[str, Any], req: dict[str, Any]) -> str:
    def chunk(delta: dict[str, Any], finish_reason: str | None = None) -> dict[str, Any]:
        return {"id": cid, "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

    out = [sse_event(chunk({"role": "assistant", "content": ""}), event=None)]
    # Split on word boundaries so a client that only reads the first chunk gets caught.
    for piece in re.findall(r"\S+\s*|\s+", message.get("content") or ""):
        out.append(sse_event(chunk({"content": piece}), event=None))
    if message.get("tool_calls"):
        calls = [{**c, "index": i} for i, c in enumerate(message["tool_calls"])]
        out.append(sse_event(chunk({"tool_calls": calls}), event=None))
    out.append(sse_event(chunk({}, finish), event=None))
    if (req.get("stream_options") or {}).get("include_usage"):
        out.append(sse_event({"id": cid, "object": "chat.completion.chunk", "created": created,
                              "model": model, "choices": [], "usage": usage}, event=None))
    out.append("data: [DONE]\n\n")
    return "".join(out)
