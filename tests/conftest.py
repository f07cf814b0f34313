"""Fixtures: the Worker in workerd with a fresh D1, and the upstream stand-ins it talks to."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from corpus import CORPUS  # noqa: E402
from harness import TEST_TOKEN, WorkerProcess  # noqa: E402
from standins.docs_mcp import DocsMcpStandIn  # noqa: E402
from standins.github import GitHubStandIn  # noqa: E402
from standins.model import ModelStandIn  # noqa: E402


@pytest.fixture(scope="session")
def github():
    with GitHubStandIn(api_key="test-gh-key") as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def docs():
    with DocsMcpStandIn(corpus=CORPUS) as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def model():
    with ModelStandIn(api_key="test-ai-key") as stand_in:
        yield stand_in


@pytest.fixture(scope="session")
def upstream_vars(github, docs, model) -> dict[str, str]:
    """The vars that point a Worker at the stand-ins."""
    return {
        "CORE_GITHUB_API": github.url,
        "GITHUB_API_KEY": github.api_key,
        "GITHUB_OWNER": github.owner,
        "GITHUB_REPO": github.repo,
        "DOCS_MCP_URL": f"{docs.url}/mcp",
        # Short enough that the hang tests are quick, long for a loopback stand-in.
        "DOCS_TIMEOUT_MS": "2000",
        "AI_BASE_URL": f"{model.url}/v1",
        "AI_API_KEY": model.api_key,
        "AI_MODEL": "stand-in-model",
    }


# The main Worker's webhook secret (a test value, not a secret), so /api/github/webhook is
# configured there as in production.
WEBHOOK_SECRET = "test-webhook-secret"


@pytest.fixture(scope="session")
def worker(upstream_vars):
    """The Worker as production runs it: token auth, upstreams named in its vars."""
    with WorkerProcess({"API_TOKEN": TEST_TOKEN, "GITHUB_WEBHOOK_SECRET": WEBHOOK_SECRET,
                        **upstream_vars}, name="main") as proc:
        yield proc


@pytest.fixture
def start_worker():
    """Starts extra Workers with other vars (auth modes); stopped after the test."""
    started: list[WorkerProcess] = []

    def start(vars: dict[str, str], name: str = "extra", queue: bool = True) -> WorkerProcess:
        proc = WorkerProcess(vars, name=name, queue=queue).start()
        started.append(proc)
        return proc

    yield start
    for proc in started:
        proc.stop()


@pytest.fixture
def upstreams(github, docs, model):
    """Resets the stand-ins' calls, failures and modes around a test (their data stays)."""
    for stand_in in (github, docs, model):
        stand_in.reset()
    docs.set_corpus(CORPUS)
    yield
    for stand_in in (github, docs, model):
        assert not stand_in.errors, f"{type(stand_in).__name__} crashed: {stand_in.errors}"
        stand_in.reset()
