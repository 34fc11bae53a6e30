"""Grading a candidate patch in a fresh sandbox, and grading a test log the way swebench (or SWE-smith) does.

`grade` never raises for infrastructure trouble (sandbox start, git, timeouts): the failure is recorded in the
GradeResult so that an evaluation over many tasks goes on. swebench is imported lazily (its import costs ~2 s).
"""

from __future__ import annotations

import os
import re
import shlex
import tempfile
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Literal

from srl_agent.env.logs import (
    APPLY_PATCH_FAIL,
    APPLY_PATCH_PASS,
    END_TEST_OUTPUT,
    START_TEST_OUTPUT,
    TESTS_TIMEOUT,
    parse_log_pytest_verbose,
    swesmith_report,
)
from srl_agent.env.repo import GIT, RepoError, apply_patch, checkout_base, sh
from srl_agent.env.swe_env import REPO_DIR, SandboxFactory
from srl_agent.env.task import Task

Harness = Literal["swebench", "swesmith"]
_DIFF_FILE_RE = re.compile(r"^diff --git a/(\S+) b/(\S+)$", re.MULTILINE)


class Fault(Enum):
    """Why a patch was not graded cleanly. Only INFRA is nobody's doing: the others are the patch's (reward 0)."""

    NONE = "none"
    EMPTY_PATCH = "empty patch"
    PATCH_DID_NOT_APPLY = "patch did not apply"
    TESTS_TIMED_OUT = "tests timed out"
    INFRA = "infrastructure"  # the sandbox did not start, git or the container failed

    @property
    def policy_fault(self) -> bool:
        """The patch caused it (empty, does not apply, hangs the tests): a real outcome, scored 0."""
        return self in (Fault.EMPTY_PATCH, Fault.PATCH_DID_NOT_APPLY, Fault.TESTS_TIMED_OUT)


@dataclass(frozen=True, slots=True)
class GradeResult:
    """The verdict on one patch. `tests_status` maps each parsed test id to its status (PASSED, FAILED, ...);
    `report` is swebench's per-instance report dict; `error` says what went wrong in words (None when clean) and
    `fault` which kind of failure it was (decide on `fault`, never on the wording of `error`)."""

    instance_id: str
    resolved: bool
    patch_applied: bool
    apply_method: str | None
    tests_status: dict[str, str] = field(default_factory=dict)
    report: dict[str, Any] = field(default_factory=dict)
    log: str = ""
    error: str | None = None
    fault: Fault = Fault.NONE


def test_patch_files(test_patch: str) -> list[str]:
    """Files a test patch touches, in order (the test directives swebench derives for pytest repos)."""
    return list(dict.fromkeys(b for _a, b in _DIFF_FILE_RE.findall(test_patch)))


def eval_command(task: Task) -> str:
    """The task's own command, else `pytest -rA` on the test patch's files (-rA: every result in the summary)."""
    if task.test_cmd:
        return task.test_cmd
    return "python3 -m pytest -rA " + " ".join(shlex.quote(f) for f in test_patch_files(task.test_patch))


def parser_name(task: Task) -> str:
    """The swebench log-parser name for a task: its own, the classic per-repo parser, or parse_log_pytest."""
    if task.log_parser:
        return task.log_parser
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    parser = MAP_REPO_TO_PARSER_PY.get(task.repo)
    return parser.__name__ if parser is not None else "parse_log_pytest"


def parse_log(task: Task, log_text: str, harness: Harness = "swebench") -> dict[str, str]:
    """Test id -> status from the part of the log between the start/end markers (swebench's parser for the task,
    or SWE-smith's verbose-pytest parser)."""
    sliced = log_text.split(START_TEST_OUTPUT, 1)[-1].split(END_TEST_OUTPUT, 1)[0]
    if harness == "swesmith":
        return parse_log_pytest_verbose(sliced)
    from swebench.harness.log_parsers import PARSER_REGISTRY

    return PARSER_REGISTRY[parser_name(task)](sliced, _test_spec(task))


def _test_spec(task: Task) -> Any:
    from swebench.types import TestSpec

    return TestSpec(
        instance_id=task.instance_id,
        image=task.image or "-",
        eval_script_list=[],
        repo=task.repo,
        version=task.version,
        FAIL_TO_PASS=list(task.FAIL_TO_PASS),
        PASS_TO_PASS=list(task.PASS_TO_PASS),
        log_parser=parser_name(task),
        eval_type="pass_and_fail",
    )


def grade_log(task: Task, log_text: str, *, model_patch: str | None = "-", harness: Harness = "swebench") -> dict:
    """The per-instance report swebench (or SWE-smith) writes to report.json, computed from a test log.

    `harness="swebench"` calls `swebench.harness.grading.get_eval_report` itself (5.x semantics: a test missing from
    the log fails, SKIPPED fails F2P, exit-code cross-check). `harness="swesmith"` reproduces SWE-smith's
    `swesmith.harness.grading.get_eval_report`: its verbose-pytest parser, missing tests count as passed, and
    `patch_successfully_applied` is never set (see srl_agent.env.logs).
    """
    if harness == "swesmith":
        return swesmith_report(task, log_text, model_patch)
    from swebench.harness.grading import get_eval_report

    prediction = {"instance_id": task.instance_id, "model_name_or_path": "-", "model_patch": model_patch}
    fd, path = tempfile.mkstemp(suffix=".txt", prefix="srl_test_output_")
    try:
        with os.fdopen(fd, "w", encoding="utf-8", errors="surrogateescape") as f:
            f.write(log_text)
        return get_eval_report(_test_spec(task), prediction, path, include_tests_status=True)[task.instance_id]
    finally:
        os.unlink(path)


def _reset_and_apply_test_patch(sandbox, repo_dir: str, task: Task) -> str:
    # Test files go back to the base version first (a candidate patch may have edited them), as swebench's eval
    # script does with `git checkout <base> <test files>`; files new in the test patch are removed.
    q, base = shlex.quote(repo_dir), shlex.quote(task.base_commit)
    lines = [f"cd {q}"]
    for f in test_patch_files(task.test_patch):
        qf = shlex.quote(f)
        lines.append(
            f"if {GIT} cat-file -e {base}:{qf} 2>/dev/null; then {GIT} checkout -q {base} -- {qf}; else rm -rf {qf}; fi"
        )
    path = "/tmp/.srl_test.patch"
    sandbox.write_file(path, task.test_patch.encode("utf-8", errors="surrogateescape"))
    lines.append(f"{GIT} apply -v {path}")
    return sh(sandbox, "\n".join(lines), "applying the test patch").output


def grade(
    task: Task,
    patch: str,
    sandbox_factory: SandboxFactory,
    *,
    repo_dir: str = REPO_DIR,
    timeout: float = 1800.0,
    harness: Harness = "swebench",
) -> GradeResult:
    """Apply `patch` to the base commit in a fresh sandbox, apply the test patch, run the tests, grade the log."""
    iid = task.instance_id
    if not patch.strip():
        return GradeResult(iid, False, False, None, error="empty patch", fault=Fault.EMPTY_PATCH)
    log: list[str] = []
    try:
        sandbox = sandbox_factory(task)
    except Exception as e:  # noqa: BLE001 - recorded in the result: an eval over many tasks goes on
        return GradeResult(iid, False, False, None, error=f"sandbox start failed: {type(e).__name__}: {e}",
                           fault=Fault.INFRA)
    method: str | None = None
    error: str | None = None
    fault = Fault.NONE
    with sandbox:
        try:
            checkout_base(sandbox, repo_dir, task.base_commit)
            method, apply_log = apply_patch(sandbox, repo_dir, patch)
            log.append(apply_log)
            if method is None:
                log.append(APPLY_PATCH_FAIL)
                error, fault = Fault.PATCH_DID_NOT_APPLY.value, Fault.PATCH_DID_NOT_APPLY
            else:
                log.append(f"{APPLY_PATCH_PASS} ({method})")
                if task.test_patch.strip():
                    log.append(_reset_and_apply_test_patch(sandbox, repo_dir, task))
                out = "/tmp/.srl_test_output.txt"
                res = sandbox.run(
                    f"cd {shlex.quote(repo_dir)} && ( {eval_command(task)} ) > {out} 2>&1; "
                    f"echo \"SRL_EXIT=$?\"",
                    timeout=timeout,
                )
                test_out = sandbox.read_file(out).decode("utf-8", errors="replace")
                log += [START_TEST_OUTPUT, test_out.rstrip("\n"), END_TEST_OUTPUT]
                if res.timed_out:
                    log.append(TESTS_TIMEOUT)
                    error, fault = f"tests timed out after {timeout:g} s", Fault.TESTS_TIMED_OUT
                else:
                    code = re.search(r"SRL_EXIT=(\d+)", res.output)
                    log.append(f">>>>> Test Exit Code: {code.group(1) if code else 'unknown'}")
        except (RepoError, OSError, RuntimeError) as e:
            error, fault = f"{type(e).__name__}: {e}", Fault.INFRA
    text = "\n".join(log) + "\n"
    report = grade_log(task, text, model_patch=patch, harness=harness)
    status = parse_log(task, text, harness) if method is not None and error is None else {}
    resolved = bool(report.get("resolved")) and error is None
    return GradeResult(iid, resolved, method is not None, method, status, report, text, error, fault)
