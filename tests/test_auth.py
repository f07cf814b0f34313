"""Bearer-token auth on /api/*, the 503 of an unconfigured Worker, and AUTH_MODE=open."""

from __future__ import annotations

from harness import TEST_TOKEN
from orders import order_body
from helpers import assert_error


def test_api_needs_the_token(worker):
    for token in [None, "wrong", TEST_TOKEN[:-1], TEST_TOKEN + "x"]:
        reply = worker.get("/api/tasks/ORD-abcdef", token=token)
        assert_error(reply, 401, "unauthorized")
        assert reply.headers.get("www-authenticate", "").startswith("Bearer")
    assert TEST_TOKEN not in worker.get("/api/tasks/x", token="wrong").text


def test_rejected_request_writes_nothing(worker):
    body = order_body()
    assert_error(worker.post("/api/orders", body, token="wrong"), 401, "unauthorized")
    assert worker.query("SELECT * FROM orders WHERE factory = ?", (body["factory"],)) == []


def test_health_and_openapi_are_open(worker):
    assert worker.get("/health", token=None).status == 200
    doc = worker.get("/openapi.json", token=None)
    assert doc.status == 200
    assert doc.body["openapi"].startswith("3.")


def test_unconfigured_and_open_modes(start_worker):
    closed = start_worker({}, name="no-token")
    reply = closed.get("/api/tasks/ORD-abcdef", token=None)
    assert_error(reply, 503, "auth_not_configured")
    assert "wrangler secret put API_TOKEN" in reply.body["error"]["message"]
    assert closed.get("/health", token=None).status == 200

    open_worker = start_worker({"AUTH_MODE": "open"}, name="open")
    created = open_worker.post("/api/orders", order_body(), token=None)
    assert created.status == 201
    assert open_worker.get(f"/api/tasks/{created.body['order_id']}", token=None).status == 200
