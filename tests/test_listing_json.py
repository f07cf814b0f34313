"""GET /api/ops/logs, GET /api/followups and GET/PATCH /api/followups/:id, whose JSON SQLite
builds in one statement: each answer must be what encoding the stored rows gives (fields in the
documented order, JSON text columns shown as JSON, anything else as the string it is), and
paging must visit every row once, newest first, with the last page's cursor null."""

from __future__ import annotations

import json
import uuid

from test_reads import AWKWARD, encode


def as_json_or_text(stored):
    """A stored JSON text column as the answer shows it."""
    if stored is None:
        return None
    try:
        return json.loads(stored)
    except ValueError:
        return stored


def pages(worker, path: str, key: str) -> list[dict]:
    """Every item of a listing, following `next_cursor` with pages of two."""
    items, cursor = [], None
    for _ in range(50):
        sep = "&" if "?" in path else "?"
        url = f"{path}{sep}limit=2" + (f"&cursor={cursor}" if cursor else "")
        reply = worker.get(url)
        assert reply.status == 200, reply.text
        assert list(reply.body) == [key, "next_cursor"]
        page = reply.body[key]
        assert len(page) <= 2
        cursor = reply.body["next_cursor"]
        items += page
        if cursor is None:
            return items
        assert cursor == str(page[-1]["id"]), "the cursor is the last id shown"
    raise AssertionError("paging did not end")


LOG_KEYS = ["id", "ts", "source", "order_id", "task_uuid", "operation", "level", "details"]


def log_rows(worker, source: str) -> list[dict]:
    return worker.query(f"SELECT {', '.join(LOG_KEYS)} FROM operation_logs WHERE source = ? "
                        "ORDER BY id DESC", (source,))


def test_log_pages_are_the_rows_encoded(worker):
    source = f"listing-{uuid.uuid4().hex[:6]}"
    for i, text in enumerate(AWKWARD):
        body = {"source": source, "operation": f"op-{i}", "level": "warn",
                "order_id": "ORD-abc123", "details": {"text": text, "n": i, "nested": [1, {"b": None}]}}
        assert worker.post("/api/ops/log", body).status == 200
    # Rows written outside this Worker: details that are not JSON, or JSON scalars.
    for details in ["plain text", "{broken", "", "42", '"a string"', "null", "[1,2]"]:
        worker.execute("INSERT INTO operation_logs (source, operation, level, details) "
                       f"VALUES ('{source}', 'outside', 'info', '{details}')")

    listed = pages(worker, f"/api/ops/logs?source={source}", "logs")
    expected = [{**row, "details": as_json_or_text(row["details"])} for row in log_rows(worker, source)]
    assert len(expected) == len(AWKWARD) + 7
    assert listed == expected
    assert all(list(item) == LOG_KEYS for item in listed)

    # Rows this Worker wrote: byte for byte what a JSON encoder gives.
    reply = worker.get(f"/api/ops/logs?source={source}&limit=100&level=warn")
    assert reply.status == 200
    warned = [row for row in expected if row["level"] == "warn"]
    assert reply.text == encode({"logs": warned, "next_cursor": None})


FOLLOWUP_KEYS = ["id", "ts", "order_id", "task_uuid", "type", "impact_level", "status", "note",
                 "github_issue_id", "github_kind", "github_number", "github_repo", "github_url",
                 "updated_at", "data"]


def followup_view(row: dict) -> dict:
    issue = row["github_issue_id"]
    view = dict(row)
    view["github_url"] = issue if isinstance(issue, str) and issue.startswith("https://") else None
    view["data"] = as_json_or_text(row["data"])
    return {key: view[key] for key in FOLLOWUP_KEYS}


def followup_rows(worker, order_id: str) -> list[dict]:
    columns = ", ".join(k for k in FOLLOWUP_KEYS if k != "github_url")
    return worker.query(f"SELECT {columns} FROM followups WHERE order_id = ? ORDER BY id DESC",
                        (order_id,))


def test_followup_pages_and_single_reads_are_the_rows_encoded(worker):
    order_id = f"ORD-{uuid.uuid4().hex[:6]}"
    cases = [
        ("https://github.com/o/r/issues/7", "issue", 7, '{"diff": "@@ -1 +1 @@", "files": ["a"]}'),
        ("HTTPS://GITHUB.COM/o/r/pull/8", "pull", 8, "not json"),
        ("12345", None, None, None),
        (None, None, None, json.dumps({"awkward": AWKWARD})),
    ]
    for n, (issue, kind, number, data) in enumerate(cases):
        values = ", ".join("NULL" if v is None else (str(v) if isinstance(v, int) else
                           "'" + str(v).replace("'", "''") + "'")
                           for v in (order_id, f"task-{n}", "warning", 3, "open",
                                     f"note {n}", issue, kind, number, data))
        worker.execute("INSERT INTO followups (order_id, task_uuid, type, impact_level, status, "
                       "note, github_issue_id, github_kind, github_number, data) "
                       f"VALUES ({values})")

    expected = [followup_view(row) for row in followup_rows(worker, order_id)]
    assert len(expected) == len(cases)
    listed = pages(worker, f"/api/followups?order_id={order_id}", "followups")
    assert listed == expected
    assert all(list(item) == FOLLOWUP_KEYS for item in listed)

    for view in expected:
        single = worker.get(f"/api/followups/{view['id']}")
        assert single.status == 200, single.text
        assert single.body == view
        assert list(single.body) == FOLLOWUP_KEYS

    # PATCH answers the row after the change, in the same shape.
    target = expected[0]["id"]
    patched = worker.request("PATCH", f"/api/followups/{target}", {"status": "triaging"})
    assert patched.status == 200, patched.text
    [after] = [followup_view(r) for r in followup_rows(worker, order_id) if r["id"] == target]
    assert after["status"] == "triaging"
    assert patched.body == after
    assert list(patched.body) == FOLLOWUP_KEYS
