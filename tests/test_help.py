"""POST /api/task/:uuid/help against the docs MCP and model stand-ins."""

from __future__ import annotations

import json

import pytest

from corpus import D1_BATCH, D1_PREPARED
from orders import unique_factory
from helpers import assert_error

INSTRUCTION = "/* Implement core logic: fetch D1 record, process inputs, stream results via WebSocket. */"


def new_task(worker, instruction: str = INSTRUCTION) -> dict:
    body = {"factory": unique_factory("help"),
            "files": [{"file_path": "worker/agents/agent.ts", "instructions": {"LOGIC": instruction}}]}
    reply = worker.post("/api/orders", body)
    assert reply.status == 201
    return reply.body["tasks"][0]


def ask(worker, uuid: str, **body):
    body.setdefault("agent_name", "gmail-agent")
    return worker.post(f"/api/task/{uuid}/help", body)


def help_logs(worker, uuid: str) -> list[dict]:
    rows = worker.query("SELECT source, level, details FROM operation_logs "
                        "WHERE task_uuid = ? AND operation = 'help_request' ORDER BY id", (uuid,))
    return [{**r, "details": json.loads(r["details"])} for r in rows]


def test_answer_is_grounded_in_deduplicated_sources(worker, docs, model, upstreams):
    model.respond_with(f"Prepare the query and bind its values [{D1_PREPARED}].")
    task = new_task(worker)
    reply = ask(worker, task["uuid"], question="How do I bind D1 prepared statements?",
                error="TypeError: fetchD1Record is not a function")
    assert reply.status == 200, reply.text
    body = reply.body
    assert body["uuid"] == task["uuid"] and body["agent_name"] == "gmail-agent"
    assert body["question"] == "How do I bind D1 prepared statements?"
    assert body["error"] == "TypeError: fetchD1Record is not a function"
    assert body["original_instruction"] == INSTRUCTION
    assert body["degraded"] is False and body["cached"] is False
    urls = [s["url"] for s in body["sources"]]
    assert D1_PREPARED in urls
    assert len(urls) == len(set(u.split("#")[0].rstrip("/") for u in urls)), urls
    assert all(s["title"] and s["excerpt"] for s in body["sources"])
    assert D1_PREPARED in body["ai_guidance"]
    assert "gmail-agent" in body["summary"]
    # Several focused queries, concurrently, none with the comment markers.
    assert 1 < len(docs.queries) <= 3
    assert not any("/*" in q or "*/" in q for q in docs.queries)
    # The model saw the sources it was asked to cite, and the key.
    prompt = model.prompts()[-1]
    assert D1_PREPARED in prompt
    assert model.last_request["model"] == "stand-in-model"
    logs = help_logs(worker, task["uuid"])
    assert len(logs) == 1 and logs[0]["level"] == "info" and logs[0]["source"] == "agent"
    details = logs[0]["details"]
    assert details["agent_name"] == "gmail-agent" and details["cache_hit"] is False
    assert D1_PREPARED in details["sources"] and details["guidance"] == "synthesis"
    assert isinstance(details["duration_ms"], int)


@pytest.mark.parametrize("fmt, structured", [("json", True), ("json", False), ("sse", True), ("sse", False)])
def test_both_answer_formats(worker, docs, model, upstreams, fmt, structured):
    docs.set_mode(format=fmt, structured=structured)
    model.respond_with(f"Use db.batch [{D1_BATCH}]")
    task = new_task(worker, "Write all rows in one D1 batch")
    reply = ask(worker, task["uuid"], question=f"D1 batch statements transaction {fmt} {structured}")
    assert reply.status == 200, reply.text
    assert reply.body["degraded"] is False
    assert D1_BATCH.split("#")[0] in [s["url"].split("#")[0] for s in reply.body["sources"]]


def test_without_a_model_the_best_excerpt_is_the_guidance(start_worker, docs, upstreams):
    no_model = start_worker({"AUTH_MODE": "open", "DOCS_MCP_URL": f"{docs.url}/mcp"}, name="no-model")
    task = new_task(no_model)
    reply = ask(no_model, task["uuid"], question="How do I bind D1 prepared statements?")
    assert reply.status == 200, reply.text
    best = reply.body["sources"][0]
    assert best["url"] in reply.body["ai_guidance"]
    assert best["excerpt"][:40] in reply.body["ai_guidance"]


def test_model_failure_falls_back_to_the_excerpt(worker, model, upstreams):
    model.fail_always(500)
    task = new_task(worker)
    reply = ask(worker, task["uuid"], question="How do I bind D1 prepared statements?")
    assert reply.status == 200
    assert reply.body["degraded"] is False
    assert reply.body["sources"][0]["url"] in reply.body["ai_guidance"]
    assert help_logs(worker, task["uuid"])[0]["level"] == "warn"


def test_repeated_question_is_served_from_the_cache(worker, docs, model, upstreams):
    model.respond_with(f"Bind values [{D1_PREPARED}]")
    task = new_task(worker)
    first = ask(worker, task["uuid"], question="How do I bind D1 values?")
    calls = len(docs.calls)
    assert calls > 0
    again = ask(worker, task["uuid"], question="  how do I bind   D1 values? ", agent_name="other-agent")
    assert again.status == 200
    assert len(docs.calls) == calls, "the docs server was asked again"
    assert again.body["cached"] is True
    assert again.body["ai_guidance"] == first.body["ai_guidance"]
    assert again.body["sources"] == first.body["sources"]
    assert again.body["agent_name"] == "other-agent" and "other-agent" in again.body["summary"]
    assert [l["details"]["cache_hit"] for l in help_logs(worker, task["uuid"])] == [False, True]


FAILURES = {
    "rpc_error": lambda docs: docs.tool_error_next(10, kind="rpc_error"),
    "is_error": lambda docs: docs.tool_error_next(10, kind="is_error"),
    "http_500": lambda docs: docs.fail_always(500),
    "hang": lambda docs: docs.hang_next(10, delay=6),
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_docs_failure_gives_a_degraded_answer(worker, docs, upstreams, failure):
    FAILURES[failure](docs)
    task = new_task(worker)
    reply = ask(worker, task["uuid"], question=f"How do I bind D1? ({failure})")
    assert reply.status == 200, reply.text
    assert reply.body["degraded"] is True
    assert reply.body["sources"] == []
    assert reply.body["original_instruction"] == INSTRUCTION
    assert "unavailable" in reply.body["ai_guidance"]
    assert "Implement core logic" in reply.body["ai_guidance"]
    logs = help_logs(worker, task["uuid"])
    assert logs[0]["level"] == "warn" and logs[0]["details"]["degraded"] is True
    assert logs[0]["details"]["problems"]
    # A degraded answer is not cached: once the docs are back, they are asked again.
    docs.reset()
    docs.set_corpus(__import__("corpus").CORPUS)
    healed = ask(worker, task["uuid"], question=f"How do I bind D1? ({failure})")
    assert healed.body["degraded"] is False and healed.body["cached"] is False
    assert docs.calls


def test_unknown_task_and_bad_bodies(worker, upstreams):
    assert_error(ask(worker, "NOSUCH", question="x"), 404, "not_found")
    task = new_task(worker)
    assert_error(worker.post(f"/api/task/{task['uuid']}/help", {"question": "no agent"}), 422, "validation_failed")
    assert_error(ask(worker, task["uuid"], question=7), 422, "validation_failed")
    assert_error(ask(worker, task["uuid"], question="q" * 5000), 422, "validation_failed")
    assert_error(worker.post(f"/api/task/{task['uuid']}/help", raw=b"{", headers={"content-type": "application/json"}),
                 400, "invalid_json")
    assert help_logs(worker, task["uuid"]) == []
