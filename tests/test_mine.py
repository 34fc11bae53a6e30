"""`srl-agent env mine` on a repository the test builds: fix commits become tasks, the rest are skipped with a reason."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from srl_agent.env.mine import MineConfig, MineReport, candidates
from srl_agent.env.patchsplit import is_test_path, split_patch

CALC_V1 = '''\
def add(a, b):
    return a + b


def divide(a, b):
    return a / b


def countdown(n):
    out = []
    while n != 0:
        out.append(n)
        n -= 1
    return out
'''
TESTS_V1 = '''\
from calc import add, countdown, divide


def test_add():
    assert add(2, 3) == 5


def test_divide():
    assert divide(6, 3) == 2


def test_countdown():
    assert countdown(3) == [3, 2, 1]
'''


def _commit(repo: Path, files: dict[str, str], message: str) -> str:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
    env = {"GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z", "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z", "PATH": "/usr/bin:/bin",
           "HOME": str(repo), "GIT_CONFIG_NOSYSTEM": "1"}
    for cmd in (["add", "-A"], ["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", message]):
        subprocess.run(["git", "-C", str(repo), *cmd], check=True, env=env)
    return subprocess.run(["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True,
                          check=True).stdout.strip()


@pytest.fixture(scope="module")
def history(tmp_path_factory) -> tuple[Path, dict[str, str]]:
    """A src-layout library with six commits: two real fixes (one of them a hang), and four that must be skipped."""
    repo = tmp_path_factory.mktemp("calc")
    subprocess.run(["git", "init", "-q", "-b", "main", str(repo)], check=True)
    c = {}
    c["init"] = _commit(repo, {"src/calc/__init__.py": CALC_V1, "tests/test_calc.py": TESTS_V1}, "Initial version")
    c["div"] = _commit(repo, {
        "src/calc/__init__.py": CALC_V1.replace("    return a / b", "    if b == 0:\n        return None\n    return a / b"),
        "tests/test_calc.py": TESTS_V1 + "\n\ndef test_divide_by_zero():\n    assert divide(1, 0) is None\n",
    }, "Fix crash when dividing by zero")
    c["docs"] = _commit(repo, {"README.md": "calc\n"}, "Add a README")
    c["tests_only"] = _commit(repo, {"tests/test_calc.py": (repo / "tests/test_calc.py").read_text() + "\n# typo\n"},
                              "Fix a typo in the tests")
    calc = (repo / "src/calc/__init__.py").read_text()
    c["hang"] = _commit(repo, {
        "src/calc/__init__.py": calc.replace("    while n != 0:", "    while n > 0:"),
        "tests/test_calc.py": (repo / "tests/test_calc.py").read_text()
        + "\n\ndef test_countdown_negative():\n    assert countdown(-1) == []\n",
    }, "Fix countdown hanging on negative numbers")
    calc = (repo / "src/calc/__init__.py").read_text()
    c["refactor"] = _commit(repo, {
        "src/calc/__init__.py": calc.replace("def add(a, b):\n    return a + b", "def add(a, b):\n    return sum((a, b))"),
        "tests/test_calc.py": (repo / "tests/test_calc.py").read_text() + "\n\ndef test_add_zero():\n    assert add(0, 0) == 0\n",
    }, "Fix style of add (no behaviour change)")
    return repo, c


def test_split_patch_and_test_paths():
    assert is_test_path("tests/test_x.py") and is_test_path("pkg/tests/helpers.py") and is_test_path("conftest.py")
    assert not is_test_path("src/pkg/testing_utils.py") and not is_test_path("pkg/core.py")
    diff = ("diff --git a/pkg/a.py b/pkg/a.py\n--- a/pkg/a.py\n+++ b/pkg/a.py\n@@ -1 +1 @@\n-x\n+y\n"
            "diff --git a/tests/test_a.py b/tests/test_a.py\n--- a/tests/test_a.py\n+++ b/tests/test_a.py\n"
            "@@ -1 +1 @@\n-x\n+y\n")
    gold, test = split_patch(diff)
    assert gold.startswith("diff --git a/pkg/a.py") and "tests/" not in gold
    assert test.startswith("diff --git a/tests/test_a.py") and gold + test == diff


def test_a_carriage_return_inside_a_file_survives_the_split(tmp_path):
    """A test data file holding a bare "\r" (tomli's history has one): the patches keep it byte for byte."""
    from srl_agent.env.mine import _git

    subprocess.run(["git", "init", "-q", "-b", "main", str(tmp_path)], check=True)
    _commit(tmp_path, {"pkg/a.py": "x = 1\n"}, "init")
    _commit(tmp_path, {"pkg/a.py": "x = 2\n", "tests/data/cr.toml": 's = """a\rb"""\n'}, "Fix CR handling")
    diff = _git(tmp_path, "diff", "--no-color", "HEAD~1", "HEAD")
    gold, test = split_patch(diff)
    assert gold + test == diff and '+s = """a\rb"""' in test and "pkg/a.py" in gold


def test_candidates_filter_messages(history):
    repo, c = history
    report = MineReport()
    found = [x.commit for x in candidates(repo, MineConfig(), report)]
    assert found == [c["div"], c["tests_only"], c["hang"], c["refactor"]]
    assert report.skipped[c["init"]] == "root or merge commit"
    assert report.skipped[c["docs"]] == "message does not look like a fix"


@pytest.mark.docker
def test_mine_end_to_end(history, tmp_path):
    from _docker_env import base_image

    from srl_agent.cli import main
    from srl_agent.env.grading import grade
    from srl_agent.env.repo import find_future_history
    from srl_agent.env.swe_env import SWEEnv
    from srl_agent.env.task import load_tasks
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.docker import DockerSandbox

    base_image()
    repo, c = history
    out = tmp_path / "bench"
    code = main(["env", "mine", "--repo", str(repo), "--output", str(out), "--src", "src", "--per-test-timeout", "3"])
    assert code == 0
    tasks = load_tasks(out / "tasks.jsonl")
    report = json.loads((out / "mine_report.json").read_text())
    assert [t.base_commit for t in tasks] == [c["init"], c["tests_only"]]  # base = parent of each fix
    div, hang = tasks
    assert div.FAIL_TO_PASS == ("tests/test_calc.py::test_divide_by_zero",)
    assert hang.FAIL_TO_PASS == ("tests/test_calc.py::test_countdown_negative",)  # the hang hit the per-test timeout
    assert "tests/test_calc.py::test_add" in div.PASS_TO_PASS
    assert div.problem_statement == "Fix crash when dividing by zero\n" and "src/calc" in div.patch
    assert report["skipped"][c["tests_only"]] == "does not touch both source and tests"
    assert report["skipped"][c["refactor"]] == "no FAIL_TO_PASS test"

    def factory(task):
        return DockerSandbox(SandboxConfig(image=task.image, workdir="/testbed"))

    assert grade(hang, hang.patch, factory).resolved
    assert not grade(hang, "", factory).resolved
    with SWEEnv(div, factory) as env:  # the image holds the whole history; reset must hide the future
        env.reset()
        assert find_future_history(env.sandbox, "/testbed", div.base_commit) == []
        assert "return None" not in env.sandbox.read_file("/testbed/src/calc/__init__.py").decode()
