"""Contract: schemathesis drives every route of openapi.yaml against the running Worker and
checks that no answer is a 5xx and every answer matches the documented status codes, content
types and schemas."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from harness import ROOT

CHECKS = ",".join([
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
])


def test_openapi_contract(worker, tmp_path):
    st = Path(sys.executable).parent / "schemathesis"
    cmd = [
        str(st), "run", str(ROOT / "openapi.yaml"),
        "--url", worker.base_url,
        "-H", f"Authorization: Bearer {worker.token}",
        "--checks", CHECKS,
        "--max-examples", os.environ.get("CONTRACT_MAX_EXAMPLES", "40"),
        "--seed", "20261124",
        "--workers", "2",
        "--request-timeout", "30",
        "--suppress-health-check", "all",
        "--report", "junit", "--report-dir", str(tmp_path),
    ]
    run = subprocess.run(cmd, capture_output=True, text=True, timeout=900,
                         env={**os.environ, "NO_COLOR": "1", "SCHEMATHESIS_HOOKS": ""})
    assert run.returncode == 0, f"{run.stdout[-12000:]}\n{run.stderr[-3000:]}\n{worker.log()[-3000:]}"
