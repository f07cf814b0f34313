"""GET /api/tasks/:order_id and GET /api/task/:uuid, whose JSON SQLite builds in one statement:
the answers must be, byte for byte, what encoding the rows with a JSON library gives (the
columns openapi.yaml's Task lists, in its order, `null`s kept, strings escaped the standard
way), and conditional reads must never hide a write. Also: methods no route lists are 405,
never served as GET."""

from __future__ import annotations

import json

import yaml

from harness import ROOT
from orders import unique_factory
from test_validation import assert_error

# Strings that exercise every escaping rule: quotes, backslashes, control characters (short and
# \u forms), non-ASCII, a line separator, characters some encoders escape ('/', '<').
AWKWARD = [
    'say "hi" \\ back\\slash',
    "line\nbreak\ttab\rcr\bbs\ffeed",
    "ctrl \x01 \x1f end",
    "unicode é ü 漢字 🚀 \u2028 sep",
    "</script> & 'single' / slash",
]


def encode(value) -> str:
    """The JSON text a standard encoder gives (what the Worker sent before SQLite built it)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def task_keys() -> list[str]:
    """The task fields the document promises, in its order."""
    document = yaml.safe_load((ROOT / "openapi.yaml").read_text())
    return list(document["components"]["schemas"]["Task"]["properties"])


def task_rows(worker, where: str, param: str) -> list[dict]:
    """The documented columns of the matching tasks, rows in creation order."""
    columns = ", ".join(task_keys())
    return worker.query(f"SELECT {columns} FROM tasks WHERE {where} = ? ORDER BY rowid", (param,))


def awkward_order(worker) -> dict:
    body = {"factory": unique_factory("reads"),
            "files": [{"file_path": "src/a.ts",
                       "instructions": {f"P_{i}": text for i, text in enumerate(AWKWARD)}},
                      {"file_path": "src/b.ts", "instructions": {"Z_LAST": "z", "A_FIRST": "a"}}]}
    reply = worker.post("/api/orders", body)
    assert reply.status == 201, reply.text
    return reply.body


def test_task_list_is_the_rows_encoded(worker):
    created = awkward_order(worker)
    order_id = created["order_id"]
    # Nulls where rows written outside the API have them.
    worker.execute(f"UPDATE tasks SET status = NULL WHERE uuid = '{created['tasks'][1]['uuid']}'")
    reply = worker.get(f"/api/tasks/{order_id}")
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    order = worker.query("SELECT id, factory, created_at FROM orders WHERE id = ?", (order_id,))[0]
    expected = {"order_id": order["id"], "factory": order["factory"],
                "created_at": order["created_at"], "tasks": task_rows(worker, "order_id", order_id)}
    assert reply.text == encode(expected)
    # Creation order, as listed in the request (not sorted).
    assert [t["uuid"] for t in reply.body["tasks"]] == [t["uuid"] for t in created["tasks"]]
    assert reply.body["tasks"][1]["status"] is None
    assert [t["instruction"] for t in reply.body["tasks"][:len(AWKWARD)]] == AWKWARD


def test_single_task_is_the_row_encoded(worker):
    created = awkward_order(worker)
    # A leased task: its agent, expiry and (integer) token are shown too.
    claim = worker.post(f"/api/orders/{created['order_id']}/next", {"agent": "reads-agent"})
    assert claim.status == 200, claim.text
    for task in created["tasks"]:
        reply = worker.get(f"/api/task/{task['uuid']}")
        assert reply.status == 200
        assert reply.headers["content-type"].startswith("application/json")
        assert reply.text == encode(task_rows(worker, "uuid", task["uuid"])[0])
    leased = worker.get(f"/api/task/{claim.body['task']['uuid']}").body
    assert leased["claimed_by"] == "reads-agent" and isinstance(leased["lease_token"], int)


def test_order_without_tasks_lists_none(worker):
    order_id = "ORD-empty1"
    worker.execute(f"INSERT INTO orders (id, factory) VALUES ('{order_id}', 'hand-made')")
    reply = worker.get(f"/api/tasks/{order_id}")
    assert reply.status == 200
    assert reply.body["tasks"] == [] and reply.text.endswith('"tasks":[]}')


def test_unknown_ids_are_404(worker):
    assert_error(worker.get("/api/tasks/ORD-nothere"), 404, "not_found")
    assert_error(worker.get("/api/task/NOTHERE"), 404, "not_found")


def test_etag_revalidation_never_hides_a_write(worker):
    created = awkward_order(worker)
    path = f"/api/tasks/{created['order_id']}"
    first = worker.get(path)
    etag = first.headers["etag"]
    assert etag.startswith('"') and etag.endswith('"')
    assert first.headers["cache-control"] == "no-cache"

    same = worker.get(path, headers={"if-none-match": etag})
    assert same.status == 304 and same.text == ""
    assert same.headers["etag"] == etag
    assert worker.get(path, headers={"if-none-match": f'"other", W/{etag}'}).status == 304
    assert worker.get(path, headers={"if-none-match": '"other"'}).status == 200

    uuid = created["tasks"][0]["uuid"]
    assert worker.post(f"/api/task/{uuid}/status", {"status": "in_progress"}).status == 200
    changed = worker.get(path, headers={"if-none-match": etag})
    assert changed.status == 200
    assert changed.headers["etag"] != etag
    assert changed.body["tasks"][0]["status"] == "in_progress"


def test_unlisted_methods_are_405_with_allow(worker):
    for method, path, allow in [
        ("QUERY", "/health", "GET"),
        ("QUERY", "/openapi.json", "GET"),
        ("QUERY", "/api/tasks/ORD-abcdef", "GET"),
        ("PUT", "/api/task/ABCDEF", "GET"),
        ("QUERY", "/api/orders", "GET, POST"),
    ]:
        reply = worker.request(method, path)
        assert_error(reply, 405, "method_not_allowed")
        assert reply.headers.get("allow") == allow, (method, path)
    head = worker.request("HEAD", "/health")
    assert head.status == 200 and head.text == ""
