"""One implementation of the checkout's state protocol, carried by each script.

factory_init.py holds the shared block; taskctl.sh embeds a verbatim copy so that each script
works alone in a factory checkout. These tests keep the copy honest and check that each script
really runs without the other beside it."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from script_helpers import SCRIPTS, tasks_doc, write_tasks_json


def test_taskctl_carries_the_shared_block_of_factory_init_verbatim():
    res = subprocess.run([sys.executable, str(SCRIPTS / "embed_shared.py"), "--check"],
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr


def test_the_check_notices_a_stale_copy(tmp_path):
    for name in ("embed_shared.py", "factory_init.py", "taskctl.sh"):
        shutil.copy(SCRIPTS / name, tmp_path / name)
    taskctl = tmp_path / "taskctl.sh"
    taskctl.write_text(taskctl.read_text().replace('QUEUE_FILE_NAME = "queue.jsonl"',
                                                   'QUEUE_FILE_NAME = "queue2.jsonl"'))
    check = [sys.executable, str(tmp_path / "embed_shared.py"), "--check"]
    res = subprocess.run(check, capture_output=True, text=True)
    assert res.returncode == 1 and "taskctl.sh" in res.stderr
    subprocess.run([sys.executable, str(tmp_path / "embed_shared.py")], check=True,
                   capture_output=True)
    assert subprocess.run(check).returncode == 0
    assert 'QUEUE_FILE_NAME = "queue.jsonl"' in taskctl.read_text()


def test_each_script_works_alone_in_a_checkout(tmp_path, fake):
    """Copied alone into a folder, without the other script or this repository nearby."""
    fake.add_order("ORD-ALONE1", "f", [("AAA111", "src/a.ts", "P1")])
    root = tmp_path / "checkout"
    (root / "src").mkdir(parents=True)
    (root / "src/a.ts").write_text("###P1###\n")
    init = shutil.copy(SCRIPTS / "factory_init.py", tmp_path / "factory_init.py")
    res = subprocess.run([sys.executable, init, "ORD-ALONE1", fake.base_url, "-q"], cwd=root,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    other = tmp_path / "elsewhere"
    other.mkdir()
    taskctl = shutil.copy(SCRIPTS / "taskctl.sh", other / "taskctl.sh")
    res = subprocess.run(["bash", taskctl, "complete", "AAA111"], cwd=root,
                         capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert fake.tasks["AAA111"]["status"] == "complete"


def test_taskctl_ignores_modules_in_the_working_folder(tmp_path):
    """A checkout's own json.py must not shadow the standard library inside taskctl."""
    root = tmp_path / "factory"
    write_tasks_json(root, tasks_doc([{"uuid": "AAA111"}]))
    (root / "json.py").write_text("raise SystemExit('shadowed')\n")
    res = subprocess.run(["bash", str(SCRIPTS / "taskctl.sh"), "status", "AAA111"], cwd=root,
                         capture_output=True, text=True)
    assert res.returncode == 0 and res.stdout == "pending\n", res.stderr


def test_both_scripts_write_tasks_json_in_one_format(tmp_path, fi, tc):
    doc = tasks_doc([{"uuid": "AAA111"}, {"uuid": "BBB222"}])
    assert fi.dump_json(doc) == tc.dump_json(doc)
    assert json.loads(tc.dump_json(doc)) == doc


def test_a_torn_queue_line_cannot_swallow_the_next_entry(tmp_path, tc):
    path = tmp_path / "queue.jsonl"
    path.write_text('{"id":"1","uuid":"A"}\n{"id": "torn", "uu')
    tc.append_jsonl(str(path), {"id": "2", "uuid": "B"})
    assert [e["id"] for e in tc.read_queue(str(path))] == ["1", "2"]


def test_describe_expiry(tc):
    assert tc.describe_expiry("2025-01-01 12:00:00", now=1735732800 - 125) == \
        "2025-01-01 12:00:00 UTC (in 2m 5s)"
    assert tc.describe_expiry("2025-01-01 12:00:00", now=1735732800 + 7300) == \
        "2025-01-01 12:00:00 UTC (expired 2h 1m ago)"
    assert tc.describe_expiry(None) == "an unknown time"
