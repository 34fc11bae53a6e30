"""Shared test fixtures. Real data lives in ../shared/data beside the repository (never copied in)."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("OMP_NUM_THREADS", "1")
# The harness self-check cache (srl_agent.evaluate.selfcheck): per test session, never the user's ~/.cache.
os.environ.setdefault("SRL_AGENT_CACHE_DIR", tempfile.mkdtemp(prefix="srl-agent-test-cache-"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("SRL_SHARED_DATA", REPO.parent / "shared" / "data"))
TRAJ_DIR = SHARED_DATA / "trajectories"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Path to ../shared/data; skips (with the reason) when it is absent, which only happens outside CI."""
    if not SHARED_DATA.is_dir():
        if os.environ.get("CI"):
            pytest.fail(f"CI must have the shared data at {SHARED_DATA}")
        pytest.skip(f"shared data not found at {SHARED_DATA} (set SRL_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def traj_dir(shared_data: Path) -> Path:
    return shared_data / "trajectories"


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    """In CI a skipped Docker test is a failure: the Docker tests must really run there."""
    if not os.environ.get("CI"):
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = reporter.stats.get("skipped", []) if reporter else []
    docker_skips = [r for r in skipped if "docker" in getattr(r, "keywords", {})]
    if docker_skips:
        print(f"\nCI: {len(docker_skips)} Docker test(s) were skipped; Docker tests must run in CI")
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
