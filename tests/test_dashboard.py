"""The operator's dashboard (`dashboard/`, Workers Static Assets at `/`) in headless Chromium.

Each browser test prepares data through the HTTP API, then runs one scenario of
`tests/browser/scenarios.mjs` (Node 22 + playwright-core driving Debian's /usr/bin/chromium)
against the Worker in workerd, and checks through the API what the page did.

The dashboard's scenarios run against their own Worker (token auth), so the fleet and the
README's screenshot show only the data made here. `UPDATE_SCREENSHOT=1` (or a missing file)
writes that screenshot to docs/dashboard.png; otherwise it goes to the test's temporary
directory, so a test run leaves the repository as it was.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from harness import BIN, ROOT, TEST_TOKEN, WorkerProcess
from orders import create_order

NODE = BIN / "node"
RUNNER = ROOT / "tests" / "browser" / "run.mjs"
SCREENSHOT = ROOT / "docs" / "dashboard.png"
XSS = "<img src=x onerror=alert(1)>"
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'none'")


@pytest.fixture(scope="module")
def dash(upstream_vars):
    with WorkerProcess({"API_TOKEN": TEST_TOKEN, **upstream_vars}, name="dash") as proc:
        yield proc


def browse(scenario: str, worker: WorkerProcess, data: dict | None = None) -> str:
    """Runs one browser scenario; fails with everything it printed when a check fails."""
    assert Path("/usr/bin/chromium").exists(), "chromium missing: run `bash scripts/setup.sh --test`"
    env = {**os.environ, "BASE_URL": worker.base_url, "API_TOKEN": worker.token or "",
           "SCENARIO_DATA": json.dumps(data or {})}
    done = subprocess.run([str(NODE), str(RUNNER), scenario], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0 and done.stdout.strip().endswith(f"ok {scenario}"), (
        f"browser scenario '{scenario}' failed (exit {done.returncode}):\n"
        f"{done.stdout}\n{done.stderr}\n--- wrangler log (tail) ---\n{worker.log()[-3000:]}")
    return done.stdout


def require_route(worker: WorkerProcess, method: str, path: str, body=None) -> None:
    """Skips, saying so, while the orchestrator does not serve a route the scenario needs."""
    reply = worker.request(method, path, body)
    if reply.status in (404, 405) and reply.error_code() in ("route_not_found", "method_not_allowed"):
        pytest.skip(f"{method} {path.split('?')[0]} is not served by this build yet "
                    f"({reply.status} {reply.error_code()}); the dashboard needs it")


def warn(worker, order: dict, task: dict, message: str) -> int:
    """An INJECT_FAILED report: a `warning` follow-up (impact 3). Returns its id."""
    reply = worker.post("/api/factory/errors", {"errors": [{
        "order_id": order["order_id"], "factory": order["factory"], "task_uuid": task["uuid"],
        "file_path": task["file_path"], "placeholder": task["placeholder"],
        "error_code": "INJECT_FAILED", "message": message}]})
    assert reply.status == 200, reply.text
    return reply.body["remediation"][0]["followup_id"]


def set_status(worker, uuid: str, status: str) -> None:
    reply = worker.post(f"/api/task/{uuid}/status", {"status": status})
    assert reply.status == 200, reply.text


@pytest.fixture(scope="module")
def showcase(dash):
    """A small fleet in several states, as an operator would see it."""
    def order(factory: str, files: dict[str, list[str]], complete: int = 0, claims: list[str] = (),
              blocked: int = 0) -> dict:
        body = {"factory": factory, "files": [
            {"file_path": path, "instructions": {ph: f"Implement {ph.lower()}." for ph in names}}
            for path, names in files.items()]}
        reply = dash.post("/api/orders", body)
        assert reply.status == 201, reply.text
        made = {**reply.body, "factory": factory}
        tasks = made["tasks"]
        for t in tasks[:complete]:
            set_status(dash, t["uuid"], "complete")
        for t in tasks[complete:complete + blocked]:
            set_status(dash, t["uuid"], "blocked")
        for agent in claims:  # each claims the oldest pending task, with a lease
            claimed = dash.post(f"/api/orders/{made['order_id']}/next", {"agent": agent})
            assert claimed.status == 200, claimed.text
        return made

    made = [
        order("agent-factory", {"worker/agents/agent_gmail.ts": ["AGENT_INIT", "AGENT_LOGIC"],
                                "worker/agents/agent_calendar.ts": ["AGENT_INIT", "AGENT_SYNC"]}),
        order("mobile-factory", {"app/screens/Inbox.tsx": ["INBOX_LIST", "INBOX_EMPTY"],
                                 "app/screens/Settings.tsx": ["SETTINGS_FORM"],
                                 "app/api/client.ts": ["API_CLIENT"]},
              complete=2, blocked=1, claims=["mobile-agent-2"]),
        order("search-factory", {"src/index/build.rs": ["TOKENIZE", "INDEX_WRITE", "INDEX_MERGE"],
                                 "src/query/parse.rs": ["QUERY_PARSE", "QUERY_PLAN", "QUERY_RANK"]},
              complete=1, claims=["search-agent-1"]),
        order("billing-factory", {"src/invoices/render.ts": ["INVOICE_HEADER", "INVOICE_LINES"],
                                  "src/invoices/send.ts": ["SEND_EMAIL"]}, complete=3),
        order("docs-factory", {"docs/guide.md": ["INTRO", "SETUP", "FAQ"]},
              complete=1, claims=["docs-agent-1"]),
        order("agent-factory", {"worker/agents/agent_drive.ts": ["AGENT_INIT", "AGENT_LOGIC"],
                                "worker/tools/registry.ts": ["TOOL_REGISTRY"],
                                "worker/agents/agent_slack.ts": ["AGENT_INIT", "AGENT_LOGIC"]},
              complete=2, claims=["gmail-agent-1", "calendar-agent-3"]),
    ]
    agents = made[-1]
    stuck = agents["tasks"][4]
    warn(dash, agents, stuck, "write failed: permission denied on worker/agents/agent_slack.ts")
    # A missing file GitHub cannot place: an issue is opened, the task blocked (impact 1).
    reply = dash.post("/api/factory/errors", {"errors": [{
        "order_id": agents["order_id"], "factory": agents["factory"], "task_uuid": stuck["uuid"],
        "file_path": stuck["file_path"], "placeholder": stuck["placeholder"],
        "error_code": "FILE_NOT_FOUND", "message": "no such file in the checkout"}]})
    assert reply.status == 200, reply.text
    dash.post("/api/ops/log", {"source": "factory-init", "operation": "fetch_tasks", "level": "info",
                               "order_id": agents["order_id"], "details": {"tasks": 5}})
    return {"orders": made, "agents": agents}


def test_page_and_api_share_the_origin(dash):
    page = dash.get("/", token=None)
    assert page.status == 200
    assert page.headers["content-type"].startswith("text/html")
    assert page.headers["content-security-policy"] == CSP
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<script type="module" src="app.js">' in page.text
    script = dash.get("/app.js", token=None)
    assert script.status == 200 and "javascript" in script.headers["content-type"]
    assert script.headers["content-security-policy"] == CSP
    # The API still answers as before: JSON, the token checked, its own 404s.
    assert dash.get("/health", token=None).body["status"] == "ok"
    assert "paths" in dash.get("/openapi.json", token=None).body
    assert dash.get("/api/tasks/ORD-nosuch").error_code() == "not_found"
    assert dash.get("/api/tasks/ORD-nosuch", token=None).error_code() == "unauthorized"
    assert dash.get("/api/nosuch").error_code() == "route_not_found"
    assert dash.get("/nosuch.html", token=None).error_code() == "route_not_found"
    # The headers file configures the assets; it is not one.
    assert dash.get("/_headers", token=None).error_code() == "route_not_found"


def test_screenshot_of_the_fleet_with_real_data(dash, showcase, tmp_path):
    require_route(dash, "GET", "/api/orders?limit=1")
    update = os.environ.get("UPDATE_SCREENSHOT") == "1" or not SCREENSHOT.exists()
    path = SCREENSHOT if update else tmp_path / "dashboard.png"
    path.parent.mkdir(exist_ok=True)
    browse("screenshot", dash, {"path": str(path), "orders": len(showcase["orders"])})
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert path.stat().st_size > 20_000, "a real page, not a blank one"


def test_open_mode_loads_every_view_without_console_errors(start_worker):
    worker = start_worker({"AUTH_MODE": "open"}, name="dash-open")
    require_route(worker, "GET", "/api/orders?limit=1")
    order = create_order(worker, {"src/app.ts": ["A", "B", "C"]}, "open")
    followup = warn(worker, order, order["tasks"][0], "could not write A")
    browse("open", worker, {"order_id": order["order_id"], "tasks": 3, "followup_id": followup})


def test_sign_in_with_a_wrong_then_the_right_token(dash):
    browse("sign_in", dash)


def test_order_progress_follows_task_changes(dash):
    require_route(dash, "GET", "/api/orders?limit=1")
    order = create_order(dash, {"src/progress/a.ts": ["P0", "P1"], "src/progress/b.ts": ["P2", "P3"]},
                         "progress")
    browse("progress", dash, {"order_id": order["order_id"], "factory": order["factory"],
                              "tasks": [t["uuid"] for t in order["tasks"]]})
    counts = {t["status"] for t in dash.get(f"/api/tasks/{order['order_id']}").body["tasks"]}
    assert counts == {"complete", "in_progress", "blocked", "pending"}


def test_order_view_tasks_log_and_markup_as_text(dash):
    reply = dash.post("/api/orders", {"factory": "xss-factory", "files": [
        {"file_path": "src/probe.ts", "instructions": {"XSS_PROBE": XSS, "PLAIN": "Write the plain part."}}]})
    assert reply.status == 201, reply.text
    order_id = reply.body["order_id"]
    tasks = dash.get(f"/api/tasks/{order_id}").body["tasks"]
    set_status(dash, next(t["uuid"] for t in tasks if t["placeholder"] == "XSS_PROBE"), "in_progress")
    for operation, level in [("first-step", "info"), ("second-step", "warn"), ("third-step", "error")]:
        logged = dash.post("/api/ops/log", {"source": "browser-test", "operation": operation, "level": level,
                                            "order_id": order_id, "details": {"said": XSS}})
        assert logged.status == 200, logged.text
    browse("order_view", dash, {"order_id": order_id, "tasks": [
        {k: t[k] for k in ("uuid", "file_path", "placeholder", "instruction")} for t in tasks]})


def test_followups_triaged_and_fixed_from_the_page(dash):
    order = create_order(dash, {"src/fu/one.ts": ["FIX_ME", "TRIAGE_ME"]}, "human")
    fix_id = warn(dash, order, order["tasks"][0], f"write failed {XSS}")
    triage_id = warn(dash, order, order["tasks"][1], "write failed: disk full")
    require_route(dash, "PATCH", "/api/followups/0", {"status": "open"})
    listed = dash.get(f"/api/followups?order_id={order['order_id']}").body["followups"]
    fix_note_of = {f["id"]: f["note"] for f in listed}
    browse("followups", dash, {"fix_id": fix_id, "triage_id": triage_id, "fix_note": fix_note_of[fix_id]})
    statuses = {f["id"]: f["status"] for f in dash.get(f"/api/followups?order_id={order['order_id']}").body["followups"]}
    assert statuses == {fix_id: "fixed", triage_id: "triaging"}


def test_phone_width_has_no_horizontal_scroll(dash, showcase, tmp_path):
    require_route(dash, "GET", "/api/orders?limit=1")
    browse("phone", dash, {"order_id": showcase["agents"]["order_id"], "out_dir": str(tmp_path)})
    assert (tmp_path / "phone-order.png").stat().st_size > 10_000
