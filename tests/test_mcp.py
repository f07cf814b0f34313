"""POST /mcp: the MCP endpoint, driven by the official MCP Python SDK and by raw JSON-RPC.

Tool results must be exactly what the HTTP API answers, so most checks compare the two, and the
agent loop's effects are read back through the API and straight from D1.
"""

from __future__ import annotations

import json
import tomllib
from pathlib import Path

import anyio
import httpx2
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from orders import create_order, order_body

ROOT = Path(__file__).resolve().parent.parent
VERSIONS = ["2025-03-26", "2025-06-18", "2025-11-25"]
LATEST = "2025-11-25"
TOOLS = ["next_task", "get_task", "list_tasks", "heartbeat", "complete_task", "block_task",
         "ask_for_help"]


# -- helpers ------------------------------------------------------------------------------------

def rpc(worker, message, *, version: str | None = None, headers: dict | None = None, **kw):
    """POSTs one JSON-RPC message (or batch) to /mcp as an MCP client would."""
    hdrs = {"content-type": "application/json", "accept": "application/json, text/event-stream"}
    if version:
        hdrs["mcp-protocol-version"] = version
    hdrs.update(headers or {})
    return worker.request("POST", "/mcp", raw=json.dumps(message).encode(), headers=hdrs, **kw)


def request(method: str, params: dict | None = None, id: int | str = 1) -> dict:
    message = {"jsonrpc": "2.0", "id": id, "method": method}
    if params is not None:
        message["params"] = params
    return message


def call_tool(worker, name: str, arguments: dict, version: str = LATEST) -> dict:
    """A tools/call over raw JSON-RPC; returns the CallToolResult."""
    reply = rpc(worker, request("tools/call", {"name": name, "arguments": arguments}),
                version=version)
    assert reply.status == 200, reply.text
    assert "error" not in reply.body, reply.body
    return reply.body["result"]


def assert_rpc_error(reply, status: int, code: int, id=None) -> dict:
    assert reply.status == status, reply.text
    assert reply.body["jsonrpc"] == "2.0"
    assert reply.body["id"] == id, reply.body
    assert reply.body["error"]["code"] == code, reply.body
    assert reply.body["error"]["message"]
    return reply.body["error"]


def assert_tool_error(result: dict, code: str) -> dict:
    assert result["isError"] is True, result
    error = result["structuredContent"]["error"]
    assert error["code"] == code, result
    assert error["message"]
    assert json.loads(result["content"][0]["text"]) == result["structuredContent"]
    return error


def new_order(worker, tasks: int = 2) -> dict:
    reply = worker.post("/api/orders", order_body(tasks=tasks))
    assert reply.status == 201, reply.text
    return reply.body


def cargo_version() -> str:
    return tomllib.loads((ROOT / "Cargo.toml").read_text())["package"]["version"]


async def with_sdk_session(worker, body):
    """Runs `body(session)` in an initialised SDK session carrying the bearer token."""
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {worker.token}"}, timeout=30)
    async with http, streamable_http_client(f"{worker.base_url}/mcp", http_client=http) as (read, write):
        async with ClientSession(read, write) as session:
            init = await session.initialize()
            return init, await body(session)


# -- the official SDK client ---------------------------------------------------------------------

def test_sdk_initializes_and_lists_tools_with_schemas(worker):
    async def list_tools(session):
        await session.send_ping()
        return await session.list_tools()

    init, listed = anyio.run(with_sdk_session, worker, list_tools)
    assert init.protocol_version == LATEST
    assert init.server_info.name == "mission-control"
    assert init.server_info.version == cargo_version()
    assert init.capabilities.tools is not None
    assert "next_task" in init.instructions and "complete_task" in init.instructions
    assert [t.name for t in listed.tools] == TOOLS
    for tool in listed.tools:
        assert tool.description
        assert tool.input_schema["type"] == "object"
        assert tool.output_schema and tool.output_schema["type"] == "object"
    by_name = {t.name: t for t in listed.tools}
    assert by_name["next_task"].input_schema["required"] == ["order_id", "agent"]
    assert by_name["heartbeat"].input_schema["properties"]["lease_token"]["type"] == "integer"


def test_sdk_reads_tasks_and_gets_the_apis_answers(worker):
    order = new_order(worker, tasks=3)
    first = order["tasks"][0]["uuid"]

    async def read(session):
        got = await session.call_tool("get_task", {"uuid": first})
        listed = await session.call_tool("list_tasks", {"order_id": order["order_id"]})
        missing = await session.call_tool("get_task", {"uuid": "NOSUCH"})
        return got, listed, missing

    _, (got, listed, missing) = anyio.run(with_sdk_session, worker, read)
    assert not got.is_error
    assert got.structured_content == worker.get(f"/api/task/{first}").body
    assert json.loads(got.content[0].text) == got.structured_content
    assert listed.structured_content == worker.get(f"/api/tasks/{order['order_id']}").body
    assert missing.is_error
    assert missing.structured_content["error"]["code"] == "not_found"


def test_sdk_agent_loop_claim_heartbeat_help_complete(worker, upstreams):
    """next_task -> heartbeat -> ask_for_help -> complete_task, then read back through the API
    and D1."""
    order = new_order(worker, tasks=2)
    order_id, oldest = order["order_id"], order["tasks"][0]["uuid"]

    async def loop(session):
        claimed = await session.call_tool("next_task", {"order_id": order_id, "agent": "mcp-agent",
                                                        "lease_seconds": 120})
        task, lease = claimed.structured_content["task"], claimed.structured_content["lease"]
        beat = await session.call_tool("heartbeat", {"uuid": task["uuid"],
                                                     "lease_token": lease["token"],
                                                     "lease_seconds": 600})
        helped = await session.call_tool("ask_for_help", {
            "uuid": task["uuid"], "agent": "mcp-agent",
            "question": "How do I bind a D1 database to a Worker?"})
        done = await session.call_tool("complete_task", {"uuid": task["uuid"],
                                                         "lease_token": lease["token"],
                                                         "note": "implemented over MCP"})
        return claimed, beat, helped, done

    _, (claimed, beat, helped, done) = anyio.run(with_sdk_session, worker, loop)
    for result in (claimed, beat, helped, done):
        assert not result.is_error, result
        assert json.loads(result.content[0].text) == result.structured_content

    task, lease = claimed.structured_content["task"], claimed.structured_content["lease"]
    assert task["uuid"] == oldest and task["status"] == "in_progress"
    assert task["claimed_by"] == "mcp-agent" and task["lease_token"] == lease["token"]
    assert lease["agent"] == "mcp-agent"
    assert beat.structured_content["uuid"] == oldest
    assert beat.structured_content["lease"]["token"] == lease["token"]
    assert beat.structured_content["lease"]["expires_at"] > lease["expires_at"]
    assert helped.structured_content["uuid"] == oldest
    assert helped.structured_content["agent_name"] == "mcp-agent"
    assert helped.structured_content["ai_guidance"] and not helped.structured_content["degraded"]
    assert done.structured_content == {"uuid": oldest, "status": "complete",
                                       "previous_status": "in_progress"}

    # Through the HTTP API: the task is done, its lease ended, the other task untouched.
    stored = worker.get(f"/api/task/{oldest}").body
    assert stored["status"] == "complete"
    assert stored["claimed_by"] is None and stored["lease_expires_at"] is None
    overview = worker.get(f"/api/orders/{order_id}").body
    assert overview["counts"]["complete"] == 1 and overview["counts"]["pending"] == 1
    assert overview["active_leases"] == []
    # In D1: one claim, one help request and one status change by this agent, with the note.
    logs = worker.query("SELECT operation, details FROM operation_logs WHERE task_uuid = ? "
                        "AND operation IN ('task_claimed', 'help_request', 'task_status_changed') "
                        "ORDER BY id", (oldest,))
    assert [l["operation"] for l in logs] == ["task_claimed", "help_request", "task_status_changed"]
    details = [json.loads(l["details"]) for l in logs]
    assert details[0]["agent"] == "mcp-agent" and details[0]["lease_seconds"] == 120
    assert details[1]["agent_name"] == "mcp-agent"
    assert details[2]["agent"] == "mcp-agent" and details[2]["lease_token"] == lease["token"]
    assert details[2]["note"] == "implemented over MCP" and details[2]["to"] == "complete"
    assert worker.query("SELECT status FROM tasks WHERE uuid = ?", (oldest,)) == [
        {"status": "complete"}]


# -- raw JSON-RPC: transport ---------------------------------------------------------------------

def test_initialize_echoes_each_supported_version_and_offers_the_latest_otherwise(worker):
    for version in VERSIONS:
        reply = rpc(worker, request("initialize", {"protocolVersion": version, "capabilities": {},
                                                   "clientInfo": {"name": "t", "version": "1"}}))
        assert reply.status == 200, reply.text
        assert reply.headers["content-type"].startswith("application/json")
        assert reply.body["id"] == 1
        assert reply.body["result"]["protocolVersion"] == version
    for unknown in ["2024-11-05", "2099-01-01", "v1"]:
        reply = rpc(worker, request("initialize", {"protocolVersion": unknown, "capabilities": {}}))
        assert reply.body["result"]["protocolVersion"] == LATEST
    result = reply.body["result"]
    assert result["serverInfo"] == {"name": "mission-control", "title": "Mission Control",
                                    "version": cargo_version()}
    assert "tools" in result["capabilities"]
    assert "lease" in result["instructions"]


def test_unsupported_protocol_version_header_is_400(worker):
    for bad in ["2024-11-05", "2099-01-01", "latest"]:
        reply = rpc(worker, request("ping"), version=bad)
        error = assert_rpc_error(reply, 400, -32600)
        assert bad in error["message"]
    for good in VERSIONS:
        reply = rpc(worker, request("ping"), version=good)
        assert reply.status == 200 and reply.body == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_ping_ignores_a_session_id(worker):
    reply = rpc(worker, request("ping", id="p-1"), version=LATEST,
                headers={"mcp-session-id": "never-issued"})
    assert reply.status == 200
    assert reply.body == {"jsonrpc": "2.0", "id": "p-1", "result": {}}
    assert "mcp-session-id" not in reply.headers


def test_notifications_and_responses_are_202_without_body(worker):
    for message in [
        {"jsonrpc": "2.0", "method": "notifications/initialized"},
        {"jsonrpc": "2.0", "method": "notifications/cancelled", "params": {"requestId": 3}},
        {"jsonrpc": "2.0", "method": "notifications/made-up"},
        {"jsonrpc": "2.0", "id": 9, "result": {}},
    ]:
        reply = rpc(worker, message, version=LATEST)
        assert reply.status == 202, (message, reply.text)
        assert reply.text == ""


def test_malformed_json_is_32700(worker):
    for raw in [b'{"jsonrpc": "2.0", "id": 1, "method": ', b"not json", b""]:
        reply = worker.request("POST", "/mcp", raw=raw,
                               headers={"content-type": "application/json"})
        assert_rpc_error(reply, 400, -32700)


def test_invalid_requests_are_32600(worker):
    cases = [
        ({"id": 1, "method": "ping"}, 1),                      # no "jsonrpc"
        ({"jsonrpc": "1.0", "id": 2, "method": "ping"}, 2),
        ({"jsonrpc": "2.0", "id": 3}, 3),                      # no method, no result
        ({"jsonrpc": "2.0", "id": 4, "method": 7}, 4),
        ({"jsonrpc": "2.0", "id": None, "method": "ping"}, None),
        ({"jsonrpc": "2.0", "id": 5, "method": "ping", "params": [1]}, 5),
        ("ping", None),
    ]
    for message, id in cases:
        assert_rpc_error(rpc(worker, message, version=LATEST), 400, -32600, id=id)


def test_unknown_method_is_32601(worker):
    for method in ["resources/list", "prompts/list", "tools/delete", "notifications/initialized"]:
        reply = rpc(worker, request(method, id=11), version=LATEST)
        assert_rpc_error(reply, 200, -32601, id=11)


def test_invalid_params_are_32602(worker):
    cases = [
        request("initialize", {"capabilities": {}}),
        request("tools/call", {"arguments": {}}),
        request("tools/call", {"name": "no_such_tool", "arguments": {}}),
        request("tools/call", {"name": "get_task", "arguments": "ABC123"}),
    ]
    for message in cases:
        for version in VERSIONS:
            assert_rpc_error(rpc(worker, message, version=version), 200, -32602, id=1)


def test_arguments_that_miss_the_schema_by_version(worker):
    """A protocol error up to 2025-06-18; from 2025-11-25 a tool error the model can read."""
    bad = request("tools/call", {"name": "next_task",
                                 "arguments": {"order_id": 5, "lease_seconds": "60", "x": 1}})
    for version in ["2025-03-26", "2025-06-18"]:
        error = assert_rpc_error(rpc(worker, bad, version=version), 200, -32602, id=1)
        fields = [d["field"] for d in error["data"]["details"]]
        assert fields == ["x", "order_id", "agent", "lease_seconds"]
    reply = rpc(worker, bad, version="2025-11-25")
    assert reply.status == 200
    error = assert_tool_error(reply.body["result"], "validation_failed")
    assert [d["field"] for d in error["details"]] == ["x", "order_id", "agent", "lease_seconds"]


def test_wrong_content_type_is_415(worker):
    reply = worker.request("POST", "/mcp", raw=json.dumps(request("ping")).encode(),
                           headers={"content-type": "text/plain"})
    assert_rpc_error(reply, 415, -32600)


def test_batches_only_where_the_version_has_them(worker):
    batch = [request("ping", id=1),
             {"jsonrpc": "2.0", "method": "notifications/initialized"},
             request("tools/list", id=2),
             {"jsonrpc": "2.0", "id": 3},
             request("initialize", {"protocolVersion": "2025-03-26"}, id=4)]
    # 2025-03-26, named or assumed (no header): answers in order, none for the notification.
    for version in [None, "2025-03-26"]:
        reply = rpc(worker, batch, version=version)
        assert reply.status == 200, reply.text
        assert [a["id"] for a in reply.body] == [1, 2, 3, 4]
        assert reply.body[0]["result"] == {}
        assert [t["name"] for t in reply.body[1]["result"]["tools"]] == TOOLS
        assert reply.body[2]["error"]["code"] == -32600
        assert reply.body[3]["error"]["code"] == -32600  # initialize must not be batched
    only_notifications = [{"jsonrpc": "2.0", "method": "notifications/initialized"}]
    reply = rpc(worker, only_notifications, version="2025-03-26")
    assert reply.status == 202 and reply.text == ""
    assert_rpc_error(rpc(worker, [], version="2025-03-26"), 400, -32600)
    # Removed in 2025-06-18.
    for version in ["2025-06-18", "2025-11-25"]:
        error = assert_rpc_error(rpc(worker, batch, version=version), 400, -32600)
        assert "batch" in error["message"]


def test_get_and_delete_are_405(worker):
    for method in ["GET", "DELETE"]:
        reply = worker.request(method, "/mcp", headers={"accept": "text/event-stream"})
        assert reply.status == 405, reply.text
        assert reply.headers["allow"] == "POST"


def test_token_is_required(worker):
    for token in [None, "wrong-token"]:
        reply = rpc(worker, request("tools/list"), version=LATEST, token=token)
        assert reply.status == 401, reply.text
        assert reply.headers["www-authenticate"].startswith("Bearer")
        assert "tools" not in reply.text


def test_foreign_browser_origin_is_403_own_origin_is_allowed(worker):
    for origin in ["http://evil.example", "http://localhost:1", "null"]:
        for token in [True, None]:
            reply = rpc(worker, request("tools/list"), version=LATEST, token=token,
                        headers={"origin": origin})
            assert_rpc_error(reply, 403, -32600)
    reply = rpc(worker, request("tools/list"), version=LATEST, headers={"origin": worker.base_url})
    assert reply.status == 200, reply.text
    assert len(reply.body["result"]["tools"]) == len(TOOLS)


def test_tools_list_is_lean(worker):
    reply = rpc(worker, request("tools/list"), version=LATEST)
    assert len(reply.text.encode()) < 6 * 1024
    for tool in reply.body["result"]["tools"]:
        assert tool["inputSchema"]["type"] == "object"
        assert tool["outputSchema"]["type"] == "object"


# -- raw JSON-RPC: tools -------------------------------------------------------------------------

def test_tool_results_are_the_apis_answers(worker):
    order = new_order(worker, tasks=2)
    uuid = order["tasks"][0]["uuid"]
    got = call_tool(worker, "get_task", {"uuid": uuid})
    assert got["isError"] is False
    assert got["structuredContent"] == worker.get(f"/api/task/{uuid}").body
    assert len(got["content"]) == 1 and got["content"][0]["type"] == "text"
    assert json.loads(got["content"][0]["text"]) == got["structuredContent"]


def test_list_tasks_filters_by_status(worker):
    order = new_order(worker, tasks=3)
    done = order["tasks"][1]["uuid"]
    assert worker.post(f"/api/task/{done}/status", {"status": "complete"}).status == 200
    everything = call_tool(worker, "list_tasks", {"order_id": order["order_id"]})
    assert everything["structuredContent"] == worker.get(f"/api/tasks/{order['order_id']}").body
    complete = call_tool(worker, "list_tasks", {"order_id": order["order_id"], "status": "complete"})
    assert [t["uuid"] for t in complete["structuredContent"]["tasks"]] == [done]
    pending = call_tool(worker, "list_tasks", {"order_id": order["order_id"], "status": "pending"})
    assert len(pending["structuredContent"]["tasks"]) == 2
    assert_tool_error(call_tool(worker, "list_tasks", {"order_id": "ORD-nosuch"}), "not_found")


def test_complete_and_block_without_a_lease(worker):
    order = new_order(worker, tasks=2)
    first, second = (t["uuid"] for t in order["tasks"])
    done = call_tool(worker, "complete_task", {"uuid": first, "note": "implemented"})
    assert done["structuredContent"] == {"uuid": first, "status": "complete",
                                         "previous_status": "pending"}
    blocked = call_tool(worker, "block_task", {"uuid": second, "reason": "the file is missing"})
    assert blocked["structuredContent"]["status"] == "blocked"
    rows = worker.query("SELECT uuid, status FROM tasks WHERE order_id = ? ORDER BY rowid",
                        (order["order_id"],))
    assert rows == [{"uuid": first, "status": "complete"}, {"uuid": second, "status": "blocked"}]


def test_domain_failures_are_tool_errors(worker):
    assert_tool_error(call_tool(worker, "get_task", {"uuid": "NOSUCH"}), "not_found")
    assert_tool_error(call_tool(worker, "complete_task", {"uuid": "NOSUCH"}), "not_found")
    # Path segments are encoded: an id cannot reach another route.
    for uuid in ["../orders", "A/status", "A?x=1", "%2e%2e"]:
        assert_tool_error(call_tool(worker, "get_task", {"uuid": uuid}), "not_found")
    # Values the schema cannot judge are the API's validation errors.
    uuid = new_order(worker, tasks=1)["tasks"][0]["uuid"]
    error = assert_tool_error(call_tool(worker, "ask_for_help", {"uuid": uuid, "agent": "a" * 101}),
                              "validation_failed")
    assert error["details"][0]["field"] == "agent_name"
    assert worker.get(f"/api/task/{uuid}").body["status"] == "pending"


def test_ask_for_help_is_the_help_route(worker, upstreams):
    uuid = new_order(worker, tasks=1)["tasks"][0]["uuid"]
    result = call_tool(worker, "ask_for_help", {"uuid": uuid, "agent": "mcp-agent",
                                                "question": "How do I query D1?"})
    body = result["structuredContent"]
    assert result["isError"] is False
    assert body["uuid"] == uuid and body["agent_name"] == "mcp-agent"
    assert body["question"] == "How do I query D1?" and body["ai_guidance"]
    logs = worker.query("SELECT details FROM operation_logs WHERE task_uuid = ? "
                        "AND operation = 'help_request'", (uuid,))
    assert [json.loads(r["details"])["agent_name"] for r in logs] == ["mcp-agent"]


def test_lease_failures_are_tool_errors(worker):
    order = new_order(worker, tasks=1)
    order_id, uuid = order["order_id"], order["tasks"][0]["uuid"]
    # Out of range for the API, not for the schema: the API's validation error.
    error = assert_tool_error(call_tool(worker, "next_task", {"order_id": order_id, "agent": "a",
                                                              "lease_seconds": 5}),
                              "validation_failed")
    assert error["details"][0]["field"] == "lease_seconds"
    claimed = call_tool(worker, "next_task", {"order_id": order_id, "agent": "first"})
    token = claimed["structuredContent"]["lease"]["token"]
    assert_tool_error(call_tool(worker, "next_task", {"order_id": order_id, "agent": "second"}),
                      "no_pending_task")
    assert_tool_error(call_tool(worker, "next_task", {"order_id": "ORD-nosuch", "agent": "a"}),
                      "not_found")
    assert_tool_error(call_tool(worker, "heartbeat", {"uuid": uuid, "lease_token": token + 1}),
                      "lease_lost")
    assert_tool_error(call_tool(worker, "complete_task", {"uuid": uuid, "lease_token": token + 1}),
                      "lease_lost")
    assert_tool_error(call_tool(worker, "block_task", {"uuid": uuid, "reason": "stuck",
                                                       "lease_token": token + 1}), "lease_lost")
    assert_tool_error(call_tool(worker, "heartbeat", {"uuid": "NOSUCH", "lease_token": 1}),
                      "not_found")
    # None of that changed the claim; the holder blocks it with its token.
    stored = worker.get(f"/api/task/{uuid}").body
    assert stored["status"] == "in_progress" and stored["claimed_by"] == "first"
    blocked = call_tool(worker, "block_task", {"uuid": uuid, "reason": "template file missing",
                                               "lease_token": token})
    assert blocked["structuredContent"]["status"] == "blocked"
    log = worker.query("SELECT details FROM operation_logs WHERE task_uuid = ? AND "
                       "operation = 'task_status_changed'", (uuid,))
    assert [json.loads(r["details"])["note"] for r in log] == ["template file missing"]
