"""Helpers shared by the script tests (files, tasks.json, running taskctl.sh)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPTS = REPO / "scripts"
TASKCTL = SCRIPTS / "taskctl.sh"


def write(path: Path, text: str | bytes, mode: int | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_bytes(text.encode("utf-8"))
    if mode is not None:
        path.chmod(mode)
    return path


def tasks_doc(tasks: list[dict], order_id: str = "ORD-TEST01", url: str | None = None) -> dict:
    doc: dict = {"order_id": order_id, "factory": "test-factory",
                 "created_at": "2025-01-01 00:00:00", "tasks": []}
    for t in tasks:
        doc["tasks"].append({"order_id": order_id, "instruction": f"Do {t['uuid']}",
                             "status": "pending", "file_path": "src/a.ts",
                             "placeholder": f"P_{t['uuid']}", **t})
    if url:
        doc["orchestrator_url"] = url
    return doc


def write_tasks_json(root: Path, doc: dict) -> Path:
    return write(root / ".mission_control" / "tasks.json", json.dumps(doc, indent=2))


def read_tasks_json(root: Path) -> dict:
    return json.loads((root / ".mission_control" / "tasks.json").read_text())


def run_taskctl(root: Path, *args: str, url: str | None = None, token: str | None = None,
                env: dict | None = None, cwd: Path | None = None,
                timeout: float = 60) -> subprocess.CompletedProcess:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("MISSION_CONTROL_")}
    full_env["MISSION_CONTROL_TIMEOUT"] = "5"
    if url is not None:
        full_env["MISSION_CONTROL_URL"] = url
    if token is not None:
        full_env["MISSION_CONTROL_TOKEN"] = token
    full_env.update(env or {})
    return subprocess.run(["bash", str(TASKCTL), *args], cwd=cwd or root, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
