"""Mining tasks from a local git repository's history (offline, like SWE-Gym / SWE-smith / R2E-Gym task collection).

For each candidate commit — one parent, a message that says it fixes something, a diff that touches both source and
test files — the parent is the base commit, the diff is split with `unidiff` into the test patch and the gold patch,
and the tests the test patch touches are run in the sandbox before and after the gold patch (both with the test
patch applied) to compute FAIL_TO_PASS / PASS_TO_PASS. Commits with at least one FAIL_TO_PASS test become tasks.

The issue text is the commit message. That is weaker than a real issue: it often names the fix instead of the
symptom, and it can be a single line. Mined benches are for training signal, not for comparable evaluation.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from srl_agent.env.grading import parse_log, test_patch_files
from srl_agent.env.patchsplit import split_patch
from srl_agent.env.repo import apply_patch, checkout_base
from srl_agent.env.task import Task

FIX_WORDS = r"\b(fix(e[sd])?|bug|issue|error|crash(es)?|regression|wrong|broken|incorrect|handle[sd]?)\b"
PLUGIN_DIR = "/opt/srl-agent/pytest"


@dataclass(frozen=True)
class MineConfig:
    """How to find candidates and run a repository's tests."""

    max_tasks: int | None = None
    message_pattern: str | None = FIX_WORDS
    """Regex (case-insensitive) a commit message must match; None keeps every commit that touches source and tests."""
    src_dirs: tuple[str, ...] = ()
    """Folders put on PYTHONPATH for the tests (e.g. "src" for a src layout)."""
    setup: tuple[str, ...] = ()
    """Shell commands run before the tests, e.g. "pip install -e ." or "pip install hypothesis" (offline wheels)."""
    exclude_tests: tuple[str, ...] = ()
    """pytest node ids or test files never run (flaky, slow, or needing the network)."""
    per_test_timeout_s: int = 60
    run_timeout_s: int = 900
    base_image: str | None = None
    """Image the repository image is built on (default: srl-agent/base:latest)."""


@dataclass(frozen=True)
class Candidate:
    commit: str
    parent: str
    message: str
    date: str


@dataclass
class MineReport:
    """What happened to every commit looked at (kept, or why not)."""

    kept: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)


def _git(repo: Path, *args: str) -> str:
    """git's output as written: no newline translation (text=True would turn a "\r" inside a file into "\n" and
    corrupt the patch)."""
    out = subprocess.run(["git", "-C", str(repo), *args], capture_output=True, check=True).stdout
    return out.decode("utf-8", errors="replace")


def candidates(repo: Path, config: MineConfig, report: MineReport) -> list[Candidate]:
    """Non-merge commits, oldest first, whose message matches `config.message_pattern`."""
    out = _git(repo, "log", "--reverse", "--format=%H%x00%P%x00%cI%x00%B%x1e", "HEAD")
    pattern = re.compile(config.message_pattern, re.IGNORECASE) if config.message_pattern else None
    found = []
    for entry in filter(str.strip, out.split("\x1e")):
        commit, parents, date, message = entry.strip("\n").split("\x00", 3)
        if len(parents.split()) != 1:
            report.skipped[commit] = "root or merge commit"
        elif pattern and not pattern.search(message):
            report.skipped[commit] = "message does not look like a fix"
        else:
            found.append(Candidate(commit, parents.split()[0], message.strip(), date))
    return found


def test_command(config: MineConfig, files: list[str]) -> str:
    """The task's test command: setup, then pytest on the test files with a per-test and an overall timeout."""
    path = ":".join([PLUGIN_DIR, *config.src_dirs])
    deselect = " ".join(f"--deselect {shlex.quote(t)}" for t in config.exclude_tests)
    run = (f"PYTHONPATH={path}${{PYTHONPATH:+:$PYTHONPATH}} SRL_TEST_TIMEOUT={config.per_test_timeout_s} "
           f"timeout -k 10 {config.run_timeout_s} python3 -m pytest -rA -p no:cacheprovider -p srl_pytest_timeout "
           f"{deselect} {' '.join(shlex.quote(f) for f in files)}").replace("  ", " ")
    return " && ".join([*config.setup, run])


def repo_image(repo: Path, config: MineConfig, log: Callable[[str], None] | None = None) -> str:
    """Build the repository's image (content-hash cached): a clean clone of `repo` in /testbed."""
    from srl_agent.sandbox.baseimage import BASE_LATEST
    from srl_agent.sandbox.images import build_image, docker_dir

    with tempfile.TemporaryDirectory(prefix="srl-mine-") as tmp:
        clone = Path(tmp, "testbed")
        subprocess.run(["git", "clone", "-q", "--no-hardlinks", str(repo), str(clone)], check=True)
        # A local clone copies a partial clone's `.promisor` markers. The image's copy is complete (complete_history)
        # and has no promisor remote: unmarked, its packs are ordinary, and the history scrub can prune them.
        for marker in (clone / ".git" / "objects" / "pack").glob("*.promisor"):
            marker.unlink()
        (clone / ".git" / "index").unlink(missing_ok=True)  # holds timestamps: would defeat the content hash
        subprocess.run(["rm", "-rf", str(clone / ".git" / "logs"), str(clone / ".git" / "hooks")], check=True)
        name = re.sub(r"[^a-z0-9_.-]+", "-", repo.resolve().name.lower()).strip("-.") or "repo"
        return build_image(docker_dir() / "mined", f"srl-agent/mined.{name}",
                            build_args={"BASE_IMAGE": config.base_image or BASE_LATEST},
                            extra_context={"testbed": clone}, log=log)


def promisor_remotes(repo: Path) -> list[str]:
    """The promisor remotes of a partial clone (`git clone --filter=...`); [] for a complete repository. A pack
    with a `.promisor` file and no promisor remote still counts (it was copied from one): name it "-"."""
    config = subprocess.run(["git", "-C", str(repo), "config", "--get-regexp", r"^remote\..*\.promisor$"],
                            capture_output=True, text=True).stdout.split("\n")
    remotes = [line.split(" ", 1)[0].split(".", 1)[1].rsplit(".", 1)[0] for line in config
               if line.strip().endswith(" true")]
    git_dir = Path(_git(repo, "rev-parse", "--absolute-git-dir").strip())
    if not remotes and any((git_dir / "objects" / "pack").glob("*.promisor")):
        remotes = ["-"]
    return remotes


def missing_objects(repo: Path) -> list[str]:
    """Objects the history refers to that the repository does not hold (a partial clone's lazily fetched blobs)."""
    out = _git(repo, "rev-list", "--objects", "--all", "--missing=print")
    return [line[1:] for line in out.splitlines() if line.startswith("?")]


def complete_history(repo: Path, log: Callable[[str], None] | None = None) -> int:
    """Fetch, in one batch, what a partial clone lacks, as git's own lazy fetch does (the sandbox has no network and
    no promisor remote: a task whose base needs a missing blob could never be checked out). Returns the count."""
    from srl_agent.errors import UserError

    remotes = promisor_remotes(repo)
    if not remotes:
        return 0
    missing = missing_objects(repo)
    fetched = len(missing)
    if missing and remotes[0] != "-":
        if log:
            log(f"{repo} is a partial clone: fetching its {len(missing)} missing object(s) from {remotes[0]}")
        subprocess.run(["git", "-C", str(repo), "-c", "fetch.negotiationAlgorithm=noop", "fetch", remotes[0],
                        "--no-tags", "--no-write-fetch-head", "--recurse-submodules=no", "--filter=blob:none",
                        "--stdin"], input="\n".join(missing) + "\n", capture_output=True, text=True)
        missing = missing_objects(repo)
    if missing:
        raise UserError(f"--repo {repo} is a partial clone missing {len(missing)} object(s) (e.g. {missing[0]}) that "
                        f"its promisor remote {remotes[0]!r} did not provide; tasks from it could never be checked out"
                        f" in a sandbox. Make it complete first: clone it again without --filter, or `git -C {repo} "
                        f"config --unset remote.{remotes[0]}.partialclonefilter && git -C {repo} fetch --refetch "
                        f"{remotes[0]}`")
    return fetched


def _run(sandbox, task: Task, timeout: float) -> dict[str, str]:
    res = sandbox.run(f"cd /testbed && {task.test_cmd}", timeout=timeout)
    return {} if res.timed_out else parse_log(task, res.output)


def evaluate(repo: Path, candidate: Candidate, image: str, config: MineConfig, factory) -> Task | str:
    """The task for one candidate, or the reason it was dropped."""
    import dataclasses

    diff = _git(repo, "diff", "--no-color", "--no-ext-diff", "--binary", "--src-prefix=a/", "--dst-prefix=b/",
                candidate.parent, candidate.commit)
    gold, test = split_patch(diff)
    if not gold.strip() or not test.strip():
        return "does not touch both source and tests"
    files = [f for f in test_patch_files(test) if f.endswith(".py") and f not in config.exclude_tests]
    if not files:
        return "no Python test files in the test patch"
    task = Task(instance_id=f"local__{repo.name}-{candidate.commit[:10]}", repo=f"local/{repo.name}", base_commit=candidate.parent,
                problem_statement=candidate.message + "\n", patch=gold, test_patch=test,
                created_at=candidate.date, environment_setup_commit=candidate.parent, image=image,
                test_cmd=test_command(config, files), log_parser="parse_log_pytest")
    timeout = config.run_timeout_s + 30.0
    with factory(task) as sandbox:
        checkout_base(sandbox, "/testbed", task.base_commit)
        if apply_patch(sandbox, "/testbed", test)[0] is None:
            return "test patch does not apply to the parent"
        before = _run(sandbox, task, timeout)
        if apply_patch(sandbox, "/testbed", gold)[0] is None:
            return "gold patch does not apply"
        after = _run(sandbox, task, timeout)
    f2p = [t for t, s in after.items() if s == "PASSED" and before.get(t) != "PASSED"]
    p2p = [t for t, s in after.items() if s == "PASSED" and before.get(t) == "PASSED"]
    if not f2p:
        return "no FAIL_TO_PASS test"
    return dataclasses.replace(task, FAIL_TO_PASS=tuple(f2p), PASS_TO_PASS=tuple(p2p))


def mine(repo: str | Path, output: str | Path, config: MineConfig = MineConfig(), factory=None,
         log: Callable[[str], None] = print) -> tuple[list[Task], MineReport]:
    """Mine `repo` into the bench directory `output`: tasks.jsonl (SWE-bench schema) and mine_report.json."""
    from srl_agent.sandbox.config import SandboxConfig
    from srl_agent.sandbox.docker import DockerSandbox

    repo, output = Path(repo).resolve(), Path(output)
    report = MineReport()
    complete_history(repo, log)
    image = repo_image(repo, config, log)
    factory = factory or (lambda task: DockerSandbox(SandboxConfig(image=task.image, workdir="/testbed")))
    tasks: list[Task] = []
    for cand in candidates(repo, config, report):
        if config.max_tasks is not None and len(tasks) >= config.max_tasks:
            break
        result = evaluate(repo, cand, image, config, factory)
        if isinstance(result, str):
            report.skipped[cand.commit] = result
            log(f"skip {cand.commit[:10]}: {result}")
        else:
            tasks.append(result)
            report.kept.append(cand.commit)
            log(f"task {result.instance_id}: {len(result.FAIL_TO_PASS)} FAIL_TO_PASS, "
                f"{len(result.PASS_TO_PASS)} PASS_TO_PASS")
    output.mkdir(parents=True, exist_ok=True)
    with open(output / "tasks.jsonl", "w", encoding="utf-8") as f:
        for task in tasks:
            f.write(json.dumps(task.to_dict(), ensure_ascii=False) + "\n")
    (output / "mine_report.json").write_text(json.dumps({"repo": str(repo), "image": image, "kept": report.kept,
                                                         "skipped": report.skipped}, indent=2) + "\n")
    return tasks, report
