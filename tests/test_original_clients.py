"""The TypeScript original's own clients, as written, against the real Worker.

The TypeScript/Hono orchestrator this Worker ports came with clients that our Worker must keep
serving unchanged:

* its `seed_orders_and_tasks.py`: POST /api/orders with the sample payload, reads
  `order_id`, then GET /api/tasks/{order_id} and prints the JSON.
* its first `factory_init.py`: GET /api/tasks/{order_id}, dumps the answer to
  .mission_control/tasks.json, reads `tasks[].file_path`, `.uuid`, `.placeholder` and injects
  `/* TASK_ID:... */` above `###PLACEHOLDER###`.
* its `taskctl.sh`: jq over that tasks.json: `.tasks[].uuid`, `.instruction`, `.status`,
  `.file_path`; `complete` rewrites `.status` locally.
* the help curl of its test walkthrough: POST /api/task/:uuid/help with
  {agent_name, question, error}; the original promises original instruction, agent name, question,
  a docs snippet and a summary in the answer.
* its second `factory_init.py` (with error reporting): fire-and-forget POST /api/ops/log
  {source, order_id, operation, level, details:{url}}, GET /api/tasks/{order_id}, then one
  POST /api/factory/errors {errors:[ErrorItem...]} whose JSON answer it prints (the original's
  RemediationResponse: {ok, remediation:[{task_uuid, ok, action, note}]}).

None of them sends an Authorization header, so they run against a Worker of their own in
AUTH_MODE=open. Python clients are reproduced with `requests` (what they import); the curl
example and taskctl's jq lines run literally in a subprocess. Each test names the client and
the part of it that it mirrors. A request the Worker refuses is a Worker bug to fix, not
something to work around here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid as uuidlib
from pathlib import Path

import pytest
import requests  # what the original Python clients import; declared in requirements.txt

from harness import WorkerProcess
from orders import SAMPLE_ORDER

# The sample order of seed_orders_and_tasks.py, shared with test_orders.py.
SEED_PAYLOAD = SAMPLE_ORDER

# The original taskctl.sh, one line per command, run with bash as `taskctl <cmd> <task_id>`.
TASKCTL_PRELUDE = 'TASKS_FILE=".mission_control/tasks.json"\n'
TASKCTL = {
    "get": """jq -r --arg ID "$2" '.tasks[] | select(.uuid==$ID) | .instruction' $TASKS_FILE""",
    "status": """jq -r --arg ID "$2" '.tasks[] | select(.uuid==$ID) | .status' $TASKS_FILE""",
    "complete": """TMP=$(mktemp)
jq --arg ID "$2" '(.tasks[] | select(.uuid==$ID) | .status) = "complete"' $TASKS_FILE > $TMP && mv $TMP $TASKS_FILE""",
    "list": """jq -r '.tasks[] | [.uuid, .file_path, .status] | @tsv' $TASKS_FILE""",
}


# -- the Worker the original's clients talk to --------------------------------------------------


@pytest.fixture(scope="module")
def open_worker(upstream_vars):
    """Same upstreams as the session Worker in conftest.py, but AUTH_MODE=open and no token."""
    with WorkerProcess({"AUTH_MODE": "open", **upstream_vars}, name="original-clients") as proc:
        yield proc


def unique(prefix: str) -> str:
    return f"{prefix}{uuidlib.uuid4().hex[:8]}"


def no_auth(resp) -> None:
    """The request really went out as the original's client sends it: no Authorization header."""
    assert "Authorization" not in resp.request.headers, resp.request.headers


def client_post_json(url: str, payload: dict):
    """`requests.post(url, json=payload)`, as every original Python client posts."""
    resp = requests.post(url, json=payload)
    no_auth(resp)
    assert resp.request.headers["Content-Type"] == "application/json"
    return resp


def client_get(url: str):
    """`requests.get(url)`, as seed_orders_and_tasks.py and factory_init.py read."""
    resp = requests.get(url)
    no_auth(resp)
    return resp


def seed_order(base_url: str, payload: dict) -> dict:
    """seed_orders_and_tasks.py: `requests.post(f"{API_BASE}/orders", json=payload)`."""
    res = client_post_json(f"{base_url}/api/orders", payload)
    assert res.ok, (res.status_code, res.text)
    body = res.json()
    assert isinstance(body["order_id"], str) and body["order_id"]
    return body


def pull_tasks(base_url: str, order_id: str, cwd: Path) -> dict:
    """factory_init.py (v1 and v2) main(): GET /api/tasks/{order_id}, `resp.json()`, and
    `json.dump(data, f, indent=2)` into .mission_control/tasks.json."""
    resp = client_get(f"{base_url}/api/tasks/{order_id}")
    data = resp.json()  # the client reads the body whatever the status
    assert resp.status_code == 200, resp.text
    (cwd / ".mission_control").mkdir(exist_ok=True)
    with open(cwd / ".mission_control/tasks.json", "w") as f:
        json.dump(data, f, indent=2)
    return data


def assert_task_fields(task: dict) -> None:
    """What factory_init.py (`file_path`, `uuid`, `placeholder`) and taskctl.sh (`uuid`,
    `instruction`, `status`, `file_path`) read from each task of the list."""
    for field in ("uuid", "file_path", "placeholder", "instruction", "status"):
        assert isinstance(task.get(field), str) and task[field], (field, task)


# -- seed_orders_and_tasks.py -------------------------------------------------------------------


def test_seed_script_creates_and_lists_the_sample_order(open_worker):
    # Mirrors seed_orders_and_tasks.py whole: POST {API_BASE}/orders with the sample
    # payload, print(res.status_code, res.json()), res.json()["order_id"], then
    # requests.get(f"{API_BASE}/tasks/{order_id}").json() and json.dumps(tasks, indent=2).
    api_base = f"{open_worker.base_url}/api"
    res = client_post_json(f"{api_base}/orders", SEED_PAYLOAD)
    assert 200 <= res.status_code < 300, res.text
    created = res.json()
    order_id = created["order_id"]
    assert isinstance(order_id, str) and re.fullmatch(r"ORD-[A-Za-z0-9_-]+", order_id)
    # Printed by the script, not read; the count is what the original's route returns.
    assert created["tasks_created"] == 2

    tasks = client_get(f"{api_base}/tasks/{order_id}").json()
    json.dumps(tasks, indent=2)
    assert tasks["order_id"] == order_id
    instructions = SEED_PAYLOAD["files"][0]["instructions"]
    assert {t["placeholder"]: t["instruction"] for t in tasks["tasks"]} == instructions
    for task in tasks["tasks"]:
        assert_task_fields(task)
        assert task["file_path"] == "worker/agents/agent_gmail.ts"
        assert task["status"] == "pending"  # the original's D1 default


# -- factory_init.py v1 -------------------------------------------------------------------------


def test_factory_init_v1_pulls_tasks_and_injects_comments(open_worker, tmp_path):
    # Mirrors the first factory_init.py: main() GETs {orchestrator_url}/api/tasks/{order_id},
    # saves the JSON, and for task in data["tasks"] calls inject_task_comment(task["file_path"],
    # task["uuid"], task["placeholder"]), which opens file_path relative to the factory checkout
    # and substitutes the regex ###{placeholder}###.
    x = unique("v1")
    payload = {"factory": "agent-factory", "files": [
        {"file_path": f"{x}/agents/agent_gmail.ts", "instructions": {
            "FINAL_MILE_PROMPT__AGENT_INIT": "Initialize agent state.",
            "FINAL_MILE_PROMPT__AGENT_LOGIC": "Implement core logic."}},
        {"file_path": f"{x}/config/app.yaml", "instructions": {"APP_CONFIG": "Fill in config."}},
    ]}
    order_id = seed_order(open_worker.base_url, payload)["order_id"]
    agent = tmp_path / x / "agents" / "agent_gmail.ts"
    agent.parent.mkdir(parents=True)
    agent.write_text("init() {\n  ###FINAL_MILE_PROMPT__AGENT_INIT###\n}\n"
                     "run() {\n  ###FINAL_MILE_PROMPT__AGENT_LOGIC###\n}\n")
    config = tmp_path / x / "config" / "app.yaml"
    config.parent.mkdir(parents=True)
    config.write_text("app:\n  ###APP_CONFIG###\n")

    data = pull_tasks(open_worker.base_url, order_id, tmp_path)

    assert isinstance(data["tasks"], list) and len(data["tasks"]) == 3
    for task in data["tasks"]:
        file_path, uuid, placeholder = task["file_path"], task["uuid"], task["placeholder"]
        assert_task_fields(task)
        path = tmp_path / file_path  # Path(file_path) from the checkout root
        assert path.exists(), f"[WARN] File not found: {file_path}"
        text = path.read_text()
        pattern = re.compile(f"###{placeholder}###")
        assert pattern.search(text), (placeholder, text)
        comment = (f"/* TASK_ID:{uuid} \u2013 see .mission_control/tasks.json */\n"
                   f"###{placeholder}###")
        path.write_text(pattern.sub(comment, text))
    ids = {t["placeholder"]: t["uuid"] for t in data["tasks"]}
    assert f"/* TASK_ID:{ids['FINAL_MILE_PROMPT__AGENT_LOGIC']} " in agent.read_text()
    assert f"/* TASK_ID:{ids['APP_CONFIG']} " in config.read_text()
    saved = json.loads((tmp_path / ".mission_control/tasks.json").read_text())
    assert saved == data


# -- taskctl.sh ---------------------------------------------------------------------------------


def taskctl(cwd: Path, command: str, task_id: str = "") -> subprocess.CompletedProcess:
    """One taskctl.sh case, its lines verbatim, with `$1`/`$2` as the script gets them."""
    return subprocess.run(["bash", "-c", TASKCTL_PRELUDE + TASKCTL[command], "taskctl",
                           command, task_id], cwd=cwd, capture_output=True, text=True,
                          timeout=30)


def test_taskctl_reads_the_manifest_factory_init_saved(open_worker, tmp_path):
    # Mirrors the original taskctl.sh, all four commands, over the tasks.json that factory_init.py
    # wrote from the Worker's GET /api/tasks/{order_id} answer.
    if shutil.which("jq") is None:
        pytest.skip("jq is not installed; taskctl.sh is a jq script")
    order_id = seed_order(open_worker.base_url, SEED_PAYLOAD)["order_id"]
    data = pull_tasks(open_worker.base_url, order_id, tmp_path)
    instructions = SEED_PAYLOAD["files"][0]["instructions"]

    listed = taskctl(tmp_path, "list")
    assert listed.returncode == 0, listed.stderr
    rows = [line.split("\t") for line in listed.stdout.splitlines()]
    assert rows == [[t["uuid"], "worker/agents/agent_gmail.ts", "pending"] for t in data["tasks"]]

    for task in data["tasks"]:
        got = taskctl(tmp_path, "get", task["uuid"])
        assert got.returncode == 0, got.stderr
        assert got.stdout == instructions[task["placeholder"]] + "\n"
        status = taskctl(tmp_path, "status", task["uuid"])
        assert (status.returncode, status.stdout) == (0, "pending\n"), status.stderr

    first, second = (t["uuid"] for t in data["tasks"])
    done = taskctl(tmp_path, "complete", first)
    assert done.returncode == 0, done.stderr
    assert taskctl(tmp_path, "status", first).stdout == "complete\n"
    assert taskctl(tmp_path, "status", second).stdout == "pending\n"


def test_statuses_the_original_clients_write_locally_are_worker_statuses(open_worker):
    # Not a request any original client makes: a consistency check that the statuses tasks.json
    # holds in the original's flow ("pending" from D1, "complete" from `taskctl complete`,
    # "blocked" as the v2 remediation tells the factory) are ones POST /api/task/:uuid/status
    # accepts, so an agent can report the same value to the orchestrator.
    order_id = seed_order(open_worker.base_url, SEED_PAYLOAD)["order_id"]
    uuid = client_get(f"{open_worker.base_url}/api/tasks/{order_id}").json()["tasks"][0]["uuid"]
    previous = "pending"
    for status in ("complete", "blocked", "pending"):
        resp = client_post_json(f"{open_worker.base_url}/api/task/{uuid}/status", {"status": status})
        assert resp.status_code == 200, resp.text
        assert resp.json() == {"uuid": uuid, "status": status, "previous_status": previous}
        previous = status


# -- the test walkthrough's help curl -------------------------------------------------------------


def help_curl(base_url: str, uuid: str) -> tuple[int, str]:
    """The original's curl, verbatim but for the host and task id; `-sS -w` only adds the status
    code to the output and changes nothing in the request."""
    res = subprocess.run(
        ["curl", "-sS", "-w", "\n%{http_code}", "-X", "POST", f"{base_url}/api/task/{uuid}/help",
         "-H", "Content-Type: application/json",
         "-d", '{"agent_name": "gmail-agent", "question": "How to connect D1?", '
               '"error": "fetchD1Record not found"}'],
        capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    body, _, code = res.stdout.rpartition("\n")
    return int(code), body


def test_help_curl_example(open_worker, upstreams):
    # Mirrors the walkthrough's help step: `curl -X POST .../api/task/A1F2/help -H 'Content-Type:
    # application/json' -d '{"agent_name": ..., "question": ..., "error": ...}'`, and what the
    # original says the answer includes: original instruction, agent name + question, a Cloudflare
    # Docs snippet (ai_guidance) and a guidance summary.
    if shutil.which("curl") is None:
        pytest.skip("curl is not installed; the original's help example is a curl command")
    order_id = seed_order(open_worker.base_url, SEED_PAYLOAD)["order_id"]
    tasks = client_get(f"{open_worker.base_url}/api/tasks/{order_id}").json()["tasks"]
    task = next(t for t in tasks if t["placeholder"] == "FINAL_MILE_PROMPT__AGENT_LOGIC")

    status, text = help_curl(open_worker.base_url, task["uuid"])
    assert status == 200, text
    body = json.loads(text)
    assert body["uuid"] == task["uuid"]
    assert body["original_instruction"] == task["instruction"]
    assert body["agent_name"] == "gmail-agent"
    assert body["question"] == "How to connect D1?"
    assert body["error"] == "fetchD1Record not found"
    assert isinstance(body["ai_guidance"], str) and body["ai_guidance"].strip()
    assert body["degraded"] is False and body["sources"], body  # grounded in the docs search
    assert isinstance(body["summary"], str) and "gmail-agent" in body["summary"]

    # The example's own id, A1F2, names no task in a fresh D1: the original answers 404 there.
    status, text = help_curl(open_worker.base_url, "A1F2")
    assert status == 404, text
    json.loads(text)


# -- factory_init.py v2 -------------------------------------------------------------------------


def v2_inject_and_collect_errors(data: dict, cwd: Path, order_id: str,
                                 factory_name: str) -> list[dict]:
    """factory_init.py v2: the `for task in data["tasks"]` loop over inject_task_comment(),
    which appends the original's exact ErrorItem shapes to ERRORS instead of stopping."""
    errors: list[dict] = []
    for task in data["tasks"]:
        file_path, uuid, placeholder = task["file_path"], task["uuid"], task["placeholder"]
        assert_task_fields(task)
        path = cwd / file_path
        if not path.exists():
            errors.append({"order_id": order_id, "factory": factory_name, "file_path": file_path,
                           "placeholder": placeholder, "task_uuid": uuid,
                           "error_code": "FILE_NOT_FOUND",
                           "message": f"File not found: {file_path}", "context": {}})
            continue
        text = path.read_text()
        tag = f"###{placeholder}###"
        if tag not in text:
            errors.append({"order_id": order_id, "factory": factory_name, "file_path": file_path,
                           "placeholder": placeholder, "task_uuid": uuid,
                           "error_code": "PLACEHOLDER_NOT_FOUND",
                           "message": f"Placeholder not found: {placeholder}",
                           "context": {"preview": text[:400]}})
            continue
        comment = f"/* TASK_ID:{uuid} \u2013 see .mission_control/tasks.json */\n{tag}"
        path.write_text(text.replace(tag, comment, 1))
    return errors


def assert_remediation_response(resp, errors: list[dict]) -> list[dict]:
    """factory_init.py v2: `rem = requests.post(...).json()`, `json.dumps(rem, indent=2)`, and
    the original's RemediationResponse: {ok, remediation: [{task_uuid, ok, action, note}]}."""
    rem = resp.json()
    json.dumps(rem, indent=2)
    assert resp.status_code == 200, resp.text[:2000]
    assert rem["ok"] is True
    remediation = rem["remediation"]
    assert isinstance(remediation, list) and len(remediation) == len(errors)
    for answer, sent in zip(remediation, errors):
        assert answer["task_uuid"] == sent["task_uuid"]
        assert isinstance(answer["ok"], bool)
        assert isinstance(answer["action"], str) and answer["action"]
        assert isinstance(answer["note"], str) and answer["note"]
    return remediation


def test_factory_init_v2_fetch_tasks_log_is_accepted_and_stored(open_worker):
    # Mirrors factory_init.py v2 main(), its first request: the fire-and-forget
    # requests.post(f"{orchestrator_url}/api/ops/log", json={source, order_id, operation,
    # level, details: {url}}). The client ignores the answer; the original's contract is 200 {ok}.
    order_id = seed_order(open_worker.base_url, SEED_PAYLOAD)["order_id"]
    tasks_url = f"{open_worker.base_url}/api/tasks/{order_id}"
    resp = client_post_json(f"{open_worker.base_url}/api/ops/log", {
        "source": "factory-init",
        "order_id": order_id,
        "operation": "fetch_tasks",
        "level": "info",
        "details": {"url": tasks_url},
    })
    assert resp.status_code == 200, resp.text
    assert resp.json()["ok"] is True
    rows = open_worker.query("SELECT source, operation, level, details FROM operation_logs "
                             "WHERE order_id = ? AND operation = 'fetch_tasks'", (order_id,))
    assert len(rows) == 1
    assert (rows[0]["source"], rows[0]["level"]) == ("factory-init", "info")
    assert json.loads(rows[0]["details"]) == {"url": tasks_url}


def test_factory_init_v2_full_run_reports_its_error_batch(open_worker, github, upstreams, tmp_path):
    # Mirrors factory_init.py v2 main() end to end: ops/log, GET /api/tasks/{order_id},
    # inject_task_comment() per task appending FILE_NOT_FOUND / PLACEHOLDER_NOT_FOUND items to
    # ERRORS (its exact item shape), then requests.post(f"{orchestrator_url}/api/factory/errors",
    # json={"errors": ERRORS}).json() and json.dumps(rem, indent=2); the original's
    # RemediationResponse is {ok, remediation: [{task_uuid, ok, action, note}]}.
    x = unique("v2")
    base = open_worker.base_url
    factory_name = "agent-factory"  # the script's third argument
    ok_path = f"{x}/agents/agent_ok.ts"
    moved_old = f"{x}/agents/agent_gmail_relay.ts"
    moved_new = f"{x}/integrations/agents/gmail_relay_agent.ts"
    gone_path = f"{x}/vanished/qz{x}.ts"
    edited_path = f"{x}/handlers/handler.ts"
    # The templates repository: the gmail agent moved upstream, the handler template still
    # has its placeholder, the vanished file is nowhere.
    github.seed({moved_new: "export class GmailAgent {\n  ###AGENT_LOGIC###\n}\n",
                 edited_path: "export function handler() {\n  ###HANDLER_BODY###\n}\n"})
    order_id = seed_order(base, {"factory": factory_name, "files": [
        {"file_path": ok_path, "instructions": {"AGENT_OK": "Fine as is."}},
        {"file_path": moved_old, "instructions": {"AGENT_LOGIC": "Implement the logic."}},
        {"file_path": gone_path, "instructions": {f"GONE_{x.upper()}": "Cannot be done."}},
        {"file_path": edited_path, "instructions": {"HANDLER_BODY": "Write the handler."}},
    ]})["order_id"]
    # The factory checkout: one good file, the moved and vanished files missing, and the
    # handler edited so that its placeholder is gone.
    for rel, text in {ok_path: "// ok\n###AGENT_OK###\n",
                      edited_path: "export function handler() {\n  return 1\n}\n"}.items():
        (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / rel).write_text(text)

    tasks_url = f"{base}/api/tasks/{order_id}"
    log = client_post_json(f"{base}/api/ops/log", {"source": "factory-init", "order_id": order_id,
                                                "operation": "fetch_tasks", "level": "info",
                                                "details": {"url": tasks_url}})
    assert log.status_code == 200, log.text
    data = pull_tasks(base, order_id, tmp_path)

    errors = v2_inject_and_collect_errors(data, tmp_path, order_id, factory_name)
    ids = {t["placeholder"]: t["uuid"] for t in data["tasks"]}
    assert [(e["task_uuid"], e["error_code"]) for e in errors] == [
        (ids["AGENT_LOGIC"], "FILE_NOT_FOUND"),
        (ids[f"GONE_{x.upper()}"], "FILE_NOT_FOUND"),
        (ids["HANDLER_BODY"], "PLACEHOLDER_NOT_FOUND"),
    ]

    resp = client_post_json(f"{base}/api/factory/errors", {"errors": errors})
    remediation = assert_remediation_response(resp, errors)
    moved, gone, edited = remediation
    # The original's actions: update_file_path when the file was renamed upstream, patch_ready
    # when a patched file can be sent, blocked (mark the task blocked locally) otherwise.
    assert (moved["action"], moved["ok"]) == ("update_file_path", True), moved
    assert (gone["action"], gone["ok"]) == ("blocked", False), gone
    assert (edited["action"], edited["ok"]) == ("patch_ready", True), edited

    # What the Worker recorded from the batch, as the original's route does.
    events = open_worker.query("SELECT task_uuid, factory, error_code FROM error_events "
                               "WHERE order_id = ? ORDER BY id", (order_id,))
    assert [(e["task_uuid"], e["factory"], e["error_code"]) for e in events] == [
        (e["task_uuid"], factory_name, e["error_code"]) for e in errors]
    blocked = open_worker.query("SELECT type, impact_level, status FROM followups "
                                "WHERE task_uuid = ? AND type = 'blocked'", (gone["task_uuid"],))
    assert blocked == [{"type": "blocked", "impact_level": 1, "status": "open"}]
    assert f"/* TASK_ID:{ids['AGENT_OK']} " in (tmp_path / ok_path).read_text()


def test_factory_init_v2_sends_all_its_errors_in_one_batch(open_worker, tmp_path):
    # Mirrors factory_init.py v2 main() when many tasks fail, e.g. run from a checkout that
    # lacks the order's directory: every task becomes a FILE_NOT_FOUND item and the client
    # posts the whole ERRORS list in ONE requests.post(.../api/factory/errors,
    # json={"errors": ERRORS}), without chunking. Orders may hold far more than 100 tasks.
    x = unique("many")
    factory_name = "agent-factory"
    order_id = seed_order(open_worker.base_url, {"factory": factory_name, "files": [
        {"file_path": f"{x}/module_{f}/file_{f}.ts",
         "instructions": {f"STEP_{f}_{t}": f"Implement step {t}." for t in range(10)}}
        for f in range(11)]})["order_id"]  # 110 tasks, no file of which is checked out
    data = pull_tasks(open_worker.base_url, order_id, tmp_path)
    errors = v2_inject_and_collect_errors(data, tmp_path, order_id, factory_name)
    assert len(errors) == 110 and {e["error_code"] for e in errors} == {"FILE_NOT_FOUND"}

    resp = client_post_json(f"{open_worker.base_url}/api/factory/errors", {"errors": errors})
    assert_remediation_response(resp, errors)
