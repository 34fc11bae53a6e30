"""Deterministic git repositories and patches for swe-mini tasks (no Docker needed).

The base commit is made with a fixed author, committer, dates and message, an empty template directory and no
user or system git configuration, so its hash is the same on every machine with the same tree.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from srl_agent.env.patchsplit import split_patch
from srl_agent.swe_mini.spec import TaskSpec, make_base_tree

AUTHOR = ("swe-mini", "swe-mini@srl-agent.invalid")


def _git(repo: Path, *args: str, date: str = "2024-01-01T00:00:00Z") -> str:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(repo),  # no ~/.gitconfig
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_AUTHOR_NAME": AUTHOR[0],
        "GIT_AUTHOR_EMAIL": AUTHOR[1],
        "GIT_COMMITTER_NAME": AUTHOR[0],
        "GIT_COMMITTER_EMAIL": AUTHOR[1],
        "GIT_AUTHOR_DATE": date,
        "GIT_COMMITTER_DATE": date,
        "LC_ALL": "C",
    }
    res = subprocess.run(["git", "-C", str(repo), *args], env=env, capture_output=True, text=True)
    if res.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {repo}: {res.stderr.strip()}")
    return res.stdout


def build_repo(spec: TaskSpec, dest: Path) -> str:
    """Create the task's repository in `dest` (which must not exist) at its base commit; returns the commit hash.

    The repository has one commit and one branch (`main`): nothing after the base commit exists anywhere.
    """
    dest.mkdir(parents=True)
    make_base_tree(spec, dest)
    _git(dest, "init", "-q", "--template=", "-b", "main")
    _git(dest, "-c", "core.fileMode=false", "-c", "core.autocrlf=false", "add", "-A")
    _git(dest, "commit", "-q", "--no-verify", "-m", f"{spec.repo}: import", date=spec.created_at)
    return _git(dest, "rev-parse", "HEAD").strip()


def diff_against_fixed(spec: TaskSpec, repo: Path) -> str:
    """`git diff` from the base commit in `repo` to the repository's fixed tree (the full fix: source + tests)."""
    for path in sorted(spec.repo_dir.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts and ".pytest_cache" not in path.parts:
            target = repo / path.relative_to(spec.repo_dir)
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, target)
    _git(repo, "add", "-A")
    return _git(repo, "diff", "--cached", "--no-color", "--no-ext-diff", "--src-prefix=a/", "--dst-prefix=b/",
                "HEAD")


def task_patches(spec: TaskSpec) -> tuple[str, str, str]:
    """(base commit, gold patch, test patch) of a task, computed from its spec."""
    with tempfile.TemporaryDirectory(prefix="swe-mini-") as tmp:
        repo = Path(tmp, "repo")
        base = build_repo(spec, repo)
        gold, test = split_patch(diff_against_fixed(spec, repo))
    if not gold or not test:
        raise ValueError(f"{spec.name}: the fix must change both source files and tests")
    return base, gold, test


def repo_version(spec: TaskSpec) -> str:
    """The `version` in the repository's pyproject.toml (SWE-bench's `version` field)."""
    match = re.search(r'^version = "([^"]+)"', (spec.repo_dir / "pyproject.toml").read_text(), re.MULTILINE)
    return match.group(1) if match else "0"
