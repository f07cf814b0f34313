"""Fixtures for the factory-side script tests (scripts/factory_init.py, taskctl.sh, seed)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
SCRIPTS = REPO / "scripts"

sys.path.insert(0, str(HERE))

from fake_orchestrator import FakeOrchestrator  # noqa: E402


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "e2e: needs the real Worker (the `worker` fixture from tests/conftest.py)")


def load_script(name: str) -> ModuleType:
    """Import a script from scripts/ by path (they are not a package)."""
    path = SCRIPTS / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"mc_{name}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while it executes
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def fi() -> ModuleType:
    module = load_script("factory_init")
    module.RETRY_DELAY = 0.01  # keep retry paths fast in tests
    module.OPS_LOG_TIMEOUT = 0.5
    return module


def load_taskctl() -> ModuleType:
    """The Python embedded in taskctl.sh (the heredoc it hands to python3), as a module."""
    text = (SCRIPTS / "taskctl.sh").read_text(encoding="utf-8")
    source = text.split("<<'PY'\n", 1)[1].split("\nPY\n", 1)[0]
    module = ModuleType("mc_taskctl")
    module.__file__ = str(SCRIPTS / "taskctl.sh")
    sys.modules[module.__name__] = module
    exec(compile(source, str(SCRIPTS / "taskctl.sh"), "exec"), module.__dict__)
    return module


@pytest.fixture(scope="session")
def tc() -> ModuleType:
    return load_taskctl()


@pytest.fixture(scope="session")
def seed() -> ModuleType:
    module = load_script("seed_orders_and_tasks")
    module.RETRY_DELAY = 0.01
    return module


@pytest.fixture
def fake():
    server = FakeOrchestrator().start()
    yield server
    server.stop()


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("MISSION_CONTROL_URL", "MISSION_CONTROL_TOKEN", "MISSION_CONTROL_DIR",
                 "MISSION_CONTROL_AGENT"):
        monkeypatch.delenv(name, raising=False)
