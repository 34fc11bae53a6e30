"""Task specifications of swe-mini: how each task's buggy base is derived from its repository's fixed source tree.

A spec (`envs/swe-mini/tasks/<repo>-<n>.toml`) holds the issue text, the `[[revert]]` edits that turn the fixed
tree into the buggy base (each `fixed` snippet must occur exactly once in its file), the tests the fix adds
(`remove_tests`, removed from the base), and hints for the scripted expert. Everything else — the git repository,
the base commit, the gold and test patches, FAIL_TO_PASS and PASS_TO_PASS — is computed from the spec.
"""

from __future__ import annotations

import ast
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

BENCH_NAME = "swe-mini"


def swe_mini_dir() -> Path:
    """The `envs/swe-mini` folder of the source checkout (override with SRL_AGENT_SWE_MINI)."""
    env = os.environ.get("SRL_AGENT_SWE_MINI")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "envs" / "swe-mini"


@dataclass(frozen=True, slots=True)
class Revert:
    """Replace `fixed` (unique in `path`) by `buggy` to produce the base commit's version of the file."""

    path: str
    fixed: str
    buggy: str


@dataclass(frozen=True, slots=True)
class TaskSpec:
    """One swe-mini task as written by its author."""

    name: str  # e.g. "argkit-2"
    repo: str  # folder under envs/swe-mini/repos
    problem_statement: str
    created_at: str
    reverts: tuple[Revert, ...]
    remove_tests: tuple[str, ...]  # pytest node ids "tests/test_x.py::test_name"
    search: tuple[str, ...] = ()  # what the expert greps for
    analysis: str = ""  # the expert's explanation of the root cause

    @property
    def instance_id(self) -> str:
        """SWE-bench style id: owner__repo-number."""
        return f"{BENCH_NAME}__{self.name}"

    @property
    def full_repo(self) -> str:
        return f"{BENCH_NAME}/{self.repo}"

    @property
    def repo_dir(self) -> Path:
        return swe_mini_dir() / "repos" / self.repo


def load_spec(path: Path) -> TaskSpec:
    """Parse one spec file (raises ValueError naming the file on a malformed spec)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
        expert = data.get("expert", {})
        return TaskSpec(
            name=path.stem,
            repo=data["repo"],
            problem_statement=data["problem_statement"].strip() + "\n",
            created_at=data["created_at"],
            reverts=tuple(Revert(r["path"], r["fixed"], r["buggy"]) for r in data["revert"]),
            remove_tests=tuple(data.get("remove_tests", ())),
            search=tuple(expert.get("search", ())),
            analysis=" ".join(expert.get("analysis", "").split()),
        )
    except (KeyError, TypeError, tomllib.TOMLDecodeError) as e:
        raise ValueError(f"{path}: malformed swe-mini task spec ({type(e).__name__}: {e})") from None


def load_specs(names: list[str] | None = None) -> list[TaskSpec]:
    """All specs in `envs/swe-mini/tasks`, sorted by repository then number (or only `names`)."""
    paths = sorted((swe_mini_dir() / "tasks").glob("*.toml"), key=lambda p: (p.stem.rsplit("-", 1)[0],
                                                                              int(p.stem.rsplit("-", 1)[1])))
    specs = [load_spec(p) for p in paths]
    if names is not None:
        wanted = {n.removeprefix(f"{BENCH_NAME}__") for n in names}
        specs = [s for s in specs if s.name in wanted]
    return specs


def _remove_function(source: str, name: str, where: str) -> str:
    """Delete a top-level test function (with its decorators and the blank lines before it)."""
    tree = ast.parse(source)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            lines = source.splitlines(keepends=True)
            start = min([node.lineno] + [d.lineno for d in node.decorator_list]) - 1
            end = node.end_lineno or node.lineno
            while start > 0 and not lines[start - 1].strip():
                start -= 1
            return "".join(lines[:start] + lines[end:])
    raise ValueError(f"{where}: no top-level test function {name!r}")


def make_base_tree(spec: TaskSpec, dest: Path) -> None:
    """Write the task's base (buggy) tree into `dest`: the repository's fixed tree with the reverts applied and the
    new tests removed. Every file gets mode 0644 so that git records the same tree on every machine."""
    files = {p.relative_to(spec.repo_dir).as_posix(): p.read_text(encoding="utf-8")
             for p in sorted(spec.repo_dir.rglob("*"))
             if p.is_file() and "__pycache__" not in p.parts and ".pytest_cache" not in p.parts}
    for revert in spec.reverts:
        text = files.get(revert.path)
        where = f"{spec.name}: {revert.path}"
        if text is None:
            raise ValueError(f"{where}: no such file in {spec.repo_dir}")
        if text.count(revert.fixed) != 1:
            raise ValueError(f"{where}: the `fixed` snippet occurs {text.count(revert.fixed)} times, must be once")
        files[revert.path] = text.replace(revert.fixed, revert.buggy)
    for node_id in spec.remove_tests:
        path, _, name = node_id.partition("::")
        files[path] = _remove_function(files[path], name, f"{spec.name}: {path}")
    for rel, text in files.items():
        target = dest / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        target.chmod(0o644)
