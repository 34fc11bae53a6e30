"""Shared helpers for the environment tests: real sandboxes (LocalSandbox, DockerSandbox) and a tiny real git repo.

Docker tests skip only when CI is unset and Docker (or the base image) is unavailable; in CI they fail instead.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

from srl_agent.env.task import Task
from srl_agent.sandbox.base import Sandbox

KINDS = ["local", pytest.param("docker", marks=pytest.mark.docker)]


def _docker_image() -> str:
    """The base image the sandbox layer provides (python3, git, patch, pytest)."""
    override = os.environ.get("SRL_TEST_IMAGE")
    if override:
        return override
    try:
        from srl_agent.sandbox.baseimage import BASE_LATEST

        return BASE_LATEST
    except ImportError:
        from srl_agent.sandbox.config import DEFAULT_IMAGE

        return DEFAULT_IMAGE


def _docker_or_skip() -> str:
    reason = None
    image = _docker_image()
    try:
        from srl_agent.sandbox.docker import docker_client

        client = docker_client()
        client.ping()
        try:
            client.images.get(image)
        except Exception as e:  # noqa: BLE001 - reported through skip/fail below
            reason = f"Docker image {image!r} not available ({type(e).__name__}); build it with `srl-agent env build-base`"
    except Exception as e:  # noqa: BLE001
        reason = f"Docker not reachable: {type(e).__name__}: {e}"
    if reason:
        if os.environ.get("CI"):
            pytest.fail(f"CI must run the Docker tests: {reason}")
        pytest.skip(reason)
    return image


def sandbox_factory(kind: str) -> Callable[[], Sandbox]:
    """A function that starts a fresh sandbox of `kind` (skips/fails the test if Docker is unavailable)."""
    from srl_agent.sandbox.config import SandboxConfig

    if kind == "local":
        from srl_agent.sandbox.local import LocalSandbox

        return lambda: LocalSandbox(SandboxConfig())
    image = _docker_or_skip()
    from srl_agent.sandbox.docker import DockerSandbox

    return lambda: DockerSandbox(SandboxConfig(image=image))


def repo_dir_for(kind: str, sandbox: Sandbox) -> str:
    """/testbed in Docker (the real default); a directory under the sandbox's temp root locally."""
    if kind == "docker":
        return "/testbed"
    return sandbox.root + "/testbed"


@pytest.fixture(params=KINDS)
def sandbox_kind(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def sandbox(sandbox_kind: str) -> Iterator[Sandbox]:
    with sandbox_factory(sandbox_kind)() as sb:
        yield sb


# ---------------------------------------------------------------------------------------------------------------
# A tiny Python package with a bug (add subtracts), its fix, a test patch, and history after the base commit.

BASE_FILES = {
    "calc/__init__.py": "def add(a, b):\n    return a - b\n\n\ndef sub(a, b):\n    return a - b\n",
    "tests/test_calc.py": "from calc import sub\n\n\ndef test_sub():\n    assert sub(3, 1) == 2\n",
    "README.md": "# calc\n",
}
GOLD_PATCH = """diff --git a/calc/__init__.py b/calc/__init__.py
--- a/calc/__init__.py
+++ b/calc/__init__.py
@@ -1,5 +1,5 @@
 def add(a, b):
-    return a - b
+    return a + b
 
 
 def sub(a, b):
"""
# Same fix, but the last context line is off: `git apply` (and --reject) refuse it, `patch --fuzz` takes it.
FUZZY_PATCH = GOLD_PATCH.replace(" def sub(a, b):", " def sub(x, y):")
# Breaks the passing test instead of fixing the failing one.
BAD_PATCH = """diff --git a/calc/__init__.py b/calc/__init__.py
--- a/calc/__init__.py
+++ b/calc/__init__.py
@@ -3,4 +3,4 @@ def add(a, b):
 
 
 def sub(a, b):
-    return a - b
+    return a * b
"""
TEST_PATCH = """diff --git a/tests/test_calc.py b/tests/test_calc.py
--- a/tests/test_calc.py
+++ b/tests/test_calc.py
@@ -1,5 +1,9 @@
-from calc import sub
+from calc import add, sub
 
 
 def test_sub():
     assert sub(3, 1) == 2
+
+
+def test_add():
+    assert add(2, 2) == 4
"""


@dataclass(frozen=True)
class BuiltRepo:
    path: str
    base: str
    future: tuple[str, ...]  # commits after base (fix on main, feature branch, stash, notes)


def build_repo(sandbox: Sandbox, path: str) -> BuiltRepo:
    """Create the calc repo in the sandbox with fixed identities and dates (same hashes in every sandbox), two
    base commits, then a future: the fix on main, a tag, a feature branch, a stash, a note, a remote, packed refs."""
    for rel, text in BASE_FILES.items():
        sandbox.write_file(f"{path}/{rel}", text)
    q = shlex.quote(path)
    script = f"""(
set -e
export GIT_AUTHOR_NAME=t GIT_AUTHOR_EMAIL=t@example.com GIT_COMMITTER_NAME=t GIT_COMMITTER_EMAIL=t@example.com
export GIT_AUTHOR_DATE=2020-01-01T00:00:00Z GIT_COMMITTER_DATE=2020-01-01T00:00:00Z
cd {q}
git init -q -b main . && git config commit.gpgsign false
git add calc tests && git commit -qm initial
git add README.md && git commit -qm docs
echo "BASE $(git rev-parse HEAD)"
printf 'def add(a, b):\n    return a + b\n\n\ndef sub(a, b):\n    return a - b\n' > calc/__init__.py
git commit -qam 'fix add (FUTURE)' && echo "FUTURE $(git rev-parse HEAD)"
git tag -a v1.0 -m 'release with the fix'
git checkout -q -b feature && echo '# feature' >> README.md && git commit -qam 'feature (FUTURE)'
echo "FUTURE $(git rev-parse HEAD)"
git checkout -q main && echo 'x = 1' > stashed.py && git add stashed.py && git stash -q
echo "FUTURE $(git rev-parse refs/stash)"
git notes add -m 'the fix is a + b' HEAD
git clone -q --bare . ../calc-remote.git
git remote add origin ../calc-remote.git
git fetch -q origin
git pack-refs --all
)"""
    res = sandbox.run(script, timeout=120)
    assert res.exit_code == 0, res.output
    lines = res.output.split()
    base = lines[lines.index("BASE") + 1]
    future = tuple(lines[i + 1] for i, w in enumerate(lines) if w == "FUTURE")
    return BuiltRepo(path, base, future)


def calc_task(base: str, **kw) -> Task:
    return Task(
        instance_id="calc__calc-1",
        repo="test/calc",
        base_commit=base,
        problem_statement="add() subtracts instead of adding.",
        patch=GOLD_PATCH,
        test_patch=TEST_PATCH,
        FAIL_TO_PASS=("tests/test_calc.py::test_add",),
        PASS_TO_PASS=("tests/test_calc.py::test_sub",),
        **kw,
    )
