"""`srl-agent env shell --bench BENCH INSTANCE_ID`: a shell in a task's scrubbed environment (real Docker)."""

import subprocess
import sys

import pytest
from _docker_env import require_docker


@pytest.mark.docker
def test_task_shell_opens_the_repo_at_its_base_commit():
    require_docker()
    script = "pwd\ngit log --all --oneline | wc -l\ngit tag | wc -l\n"
    proc = subprocess.run(
        [sys.executable, "-m", "srl_agent.cli", "env", "shell", "--bench", "swe-mini", "swe-mini__evictkit-1"],
        input=script, capture_output=True, text=True, timeout=300,
    )
    assert proc.returncode == 0, proc.stderr
    assert "<issue>" not in proc.stdout and "swe-mini__evictkit-1: repo at" in proc.stdout
    answers = [line.removeprefix("sandbox$ ").strip() for line in proc.stdout.splitlines() if line.startswith("sandbox$ ")]
    assert answers[:3] == ["/testbed", "1", "0"]  # one commit reachable, no tags


def test_task_shell_needs_bench_and_instance():
    proc = subprocess.run([sys.executable, "-m", "srl_agent.cli", "env", "shell", "--bench", "swe-mini"], capture_output=True, text=True)
    assert proc.returncode == 2 and "needs both --bench" in proc.stderr


def test_unknown_instance_lists_what_exists():
    proc = subprocess.run(
        [sys.executable, "-m", "srl_agent.cli", "env", "shell", "--bench", "swe-mini", "nope"], capture_output=True, text=True
    )
    assert proc.returncode == 2 and "swe-mini__argkit-1" in proc.stderr
