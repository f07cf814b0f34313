"""Every rejection: a clear 4xx in the one error shape, and nothing written."""

from __future__ import annotations

import json

import pytest

from helpers import assert_error, fields_of
from orders import order_body, unique_factory


def one_file(file_path="a.ts", instructions=None, factory=None):
    return {"factory": factory or unique_factory("bad"),
            "files": [{"file_path": file_path, "instructions": instructions or {"X": "do x"}}]}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"files": one_file()["files"]}, "factory"),
        ({"factory": 5, "files": one_file()["files"]}, "factory"),
        ({"factory": "has space", "files": one_file()["files"]}, "factory"),
        ({"factory": "f"}, "files"),
        ({"factory": "f", "files": {}}, "files"),
        ({"factory": "f", "files": []}, "files"),
        (one_file(file_path="/etc/passwd"), "files[0].file_path"),
        (one_file(file_path="../outside.ts"), "files[0].file_path"),
        (one_file(file_path="a/../../b.ts"), "files[0].file_path"),
        (one_file(file_path="C:/x.ts"), "files[0].file_path"),
        (one_file(file_path="a\\b.ts"), "files[0].file_path"),
        (one_file(file_path="x" * 600), "files[0].file_path"),
        (one_file(file_path=7), "files[0].file_path"),
        (one_file(instructions={"BAD NAME": "x"}), "files[0].instructions key 'BAD NAME'"),
        (one_file(instructions={"###X###": "x"}), "files[0].instructions key '###X###'"),
        (one_file(instructions={"X": "   "}), "files[0].instructions.X"),
        (one_file(instructions={"X": 1}), "files[0].instructions.X"),
        (one_file(instructions={"X": "x" * 20000}), "files[0].instructions.X"),
        ({"factory": "f", "files": [{"file_path": "a.ts", "instructions": {}}]}, "files[0].instructions"),
        ({"factory": "f", "files": [{"file_path": "a.ts"}]}, "files[0].instructions"),
        ([1, 2], "body"),
    ],
)
def test_invalid_orders_are_422_with_the_field(worker, body, field):
    before = worker.query("SELECT COUNT(*) AS n FROM orders")[0]["n"]
    reply = worker.post("/api/orders", body)
    assert_error(reply, 422, "validation_failed")
    assert field in fields_of(reply)
    assert worker.query("SELECT COUNT(*) AS n FROM orders")[0]["n"] == before


def test_duplicate_file_placeholder_pairs_are_refused(worker):
    body = {"factory": unique_factory(), "files": [
        {"file_path": "a.ts", "instructions": {"X": "one"}},
        {"file_path": "./a.ts", "instructions": {"X": "two"}},
    ]}
    reply = worker.post("/api/orders", body)
    assert_error(reply, 422, "validation_failed")
    assert fields_of(reply) == ["files[1].instructions.X"]


def test_too_many_files_and_tasks(worker):
    assert_error(worker.post("/api/orders", order_body(tasks=501, files=501)), 422, "validation_failed")
    assert_error(worker.post("/api/orders", order_body(tasks=2001, files=100)), 422, "validation_failed")


def test_all_problems_are_reported_at_once(worker):
    body = {"factory": "", "files": [{"file_path": "../x", "instructions": {"A B": "x"}}]}
    reply = worker.post("/api/orders", body)
    assert fields_of(reply) == ["factory", "files[0].file_path", "files[0].instructions key 'A B'"]


def test_malformed_json_is_400(worker):
    reply = worker.post("/api/orders", raw=b'{"factory": ', headers={"content-type": "application/json"})
    assert_error(reply, 400, "invalid_json")
    reply = worker.post("/api/orders", raw=b"", headers={"content-type": "application/json"})
    assert_error(reply, 400, "invalid_json")


def test_wrong_content_type_is_415(worker):
    raw = json.dumps(order_body()).encode()
    assert_error(worker.post("/api/orders", raw=raw, headers={"content-type": "text/plain"}), 415,
                 "unsupported_media_type")
    assert_error(worker.post("/api/orders", raw=raw), 415, "unsupported_media_type")


def test_oversized_body_is_413(worker):
    raw = b'{"factory": "f", "pad": "' + b"x" * (1024 * 1024) + b'"}'
    reply = worker.post("/api/orders", raw=raw, headers={"content-type": "application/json"})
    assert_error(reply, 413, "payload_too_large")


def test_bad_idempotency_key_is_422(worker):
    reply = worker.post("/api/orders", order_body(), headers={"Idempotency-Key": "x" * 300})
    assert_error(reply, 422, "validation_failed")
    assert fields_of(reply) == ["Idempotency-Key"]


def test_unknown_route_and_method(worker):
    assert_error(worker.get("/api/nope"), 404, "route_not_found")
    # `/` is the dashboard (a static asset); a path no file matches reaches the Worker.
    assert_error(worker.get("/nope"), 404, "route_not_found")
    # GET /api/orders is the orders overview since the leases issue; DELETE is no route.
    reply = worker.request("DELETE", "/api/orders")
    assert_error(reply, 405, "method_not_allowed")
    assert reply.headers.get("allow") == "GET, POST"
    assert_error(worker.request("DELETE", "/api/task/ABCDEF"), 405, "method_not_allowed")
