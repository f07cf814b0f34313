"""Assertions shared by the integration tests: the API's one error shape."""

from __future__ import annotations


def assert_error(reply, status: int, code: str):
    """`reply` is the error shape `{"error": {"code", "message", "details"?}}` with `status`."""
    assert reply.status == status, reply.text
    assert reply.headers.get("content-type", "").startswith("application/json")
    assert set(reply.body) == {"error"}
    assert reply.body["error"]["code"] == code
    assert isinstance(reply.body["error"]["message"], str) and reply.body["error"]["message"]


def fields_of(reply) -> list[str]:
    """The fields a `validation_failed` error names, in its order."""
    return [d["field"] for d in reply.body["error"]["details"]]
