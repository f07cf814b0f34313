"""scripts/seed_orders_and_tasks.py: the requests it makes and its exit codes."""

from __future__ import annotations

import json

from fake_orchestrator import closed_port_url
from script_helpers import write


def test_creates_the_sample_order(seed, fake, capsys, clean_env, monkeypatch):
    fake.token = "tok"
    monkeypatch.setenv("MISSION_CONTROL_TOKEN", "tok")
    assert seed.main([fake.base_url + "/api"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("[CREATE ORDER] 201 ")
    post = fake.requests_to("POST", "/api/orders")[0]
    assert post["body"] == seed.SAMPLE_ORDER
    assert post["headers"]["idempotency-key"].startswith("seed-")
    assert post["headers"]["authorization"] == "Bearer tok"
    order_id = json.loads(out.splitlines()[0].split(" ", 3)[3])["order_id"]
    assert f"factory_init.py {order_id} {fake.base_url}" in out
    assert "FINAL_MILE_PROMPT__AGENT_INIT" in out and "FINAL_MILE_PROMPT__AGENT_LOGIC" in out


def test_order_from_file_and_json_output(seed, fake, tmp_path, capsys, clean_env, monkeypatch):
    order = {"factory": "f2", "files": [{"file_path": "a.py", "instructions": {"X": "do x"}}]}
    path = write(tmp_path / "order.json", json.dumps(order))
    monkeypatch.setenv("MISSION_CONTROL_URL", fake.base_url)
    assert seed.main(["--file", str(path), "--json", "--idempotency-key", "k1"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["order"]["tasks_created"] == 1
    assert doc["tasks"]["tasks"][0]["placeholder"] == "X"
    assert fake.requests_to("POST", "/api/orders")[0]["headers"]["idempotency-key"] == "k1"


def test_failures_exit_non_zero(seed, fake, tmp_path, capsys, clean_env):
    assert seed.main([closed_port_url()]) == 1
    assert "cannot reach" in capsys.readouterr().err
    fake.token = "tok"
    assert seed.main([fake.base_url]) == 1
    assert "MISSION_CONTROL_TOKEN" in capsys.readouterr().err
    assert seed.main([fake.base_url, "--file", str(tmp_path / "missing.json")]) == 2
    bad = write(tmp_path / "bad.json", "{nope")
    assert seed.main([fake.base_url, "--file", str(bad)]) == 2
    assert seed.main(["not a url"]) == 2
