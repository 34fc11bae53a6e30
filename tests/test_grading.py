"""Grading: swebench semantics on our logs, exact reproduction of the real SWE-smith report.json files, and
end-to-end grading of good / bad / fuzzy / broken patches in a fresh sandbox (Docker and local)."""

from __future__ import annotations

import json
import posixpath
import shlex
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from envkit import BAD_PATCH, FUZZY_PATCH, GOLD_PATCH, build_repo, calc_task, sandbox_factory, sandbox_kind  # noqa: F401

from srl_agent.env import Task, eval_command, grade, grade_log, load_tasks, parse_log
from srl_agent.env.logs import END_TEST_OUTPUT, START_TEST_OUTPUT

SMITH = "swebench/eval/swe-smith_logs"
SMITH_IDS = [
    "getmoto__moto.694ce1f4.pr_7331",
    "pandas-dev__pandas.95280573.pr_53652",
    "pandas-dev__pandas.95280573.pr_53856",
    "pydantic__pydantic.acb0f10f.pr_8316",
]


def smith_case(shared: Path, iid: str) -> tuple[Task, str, dict]:
    run = shared / SMITH / "run_evaluation" / iid
    ref = json.loads((run / "report.json").read_text())
    instance = shared / SMITH / f"{iid}.instance.json"
    if instance.exists():
        task = load_tasks(instance)[0]
    else:  # only one instance file is shipped: the gold test lists are exactly the report's success + failure lists
        ts = ref["tests_status"]
        task = Task(
            instance_id=iid,
            repo="swesmith/" + iid.rsplit(".", 1)[0],
            base_commit="0" * 40,
            problem_statement="-",
            FAIL_TO_PASS=tuple(ts["FAIL_TO_PASS"]["success"] + ts["FAIL_TO_PASS"]["failure"]),
            PASS_TO_PASS=tuple(ts["PASS_TO_PASS"]["success"] + ts["PASS_TO_PASS"]["failure"]),
        )
    return task, (run / "test_output.txt").read_text(), ref


@pytest.mark.parametrize("iid", SMITH_IDS)
def test_swesmith_reports_reproduce_exactly(shared_data, iid):
    task, log, ref = smith_case(shared_data, iid)
    expected = {k: v for k, v in ref.items() if k != "model_name_or_path"}
    assert grade_log(task, log, harness="swesmith") == expected


@pytest.mark.parametrize("iid", SMITH_IDS)
def test_swesmith_logs_under_swebench_parsers(shared_data, iid):
    """Why swebench's own parsers cannot grade these logs: they were run with `pytest --verbose` and no `-rA`."""
    task, log, ref = smith_case(shared_data, iid)
    default = parse_log(task, log)  # parse_log_pytest: only lines that *start* with a status
    v2 = grade_log(replace(task, log_parser="parse_log_pytest_v2"), log)  # also lines that *end* with one
    if iid == "pandas-dev__pandas.95280573.pr_53856":
        # Failures show up in pytest's default short summary ("FAILED id - msg"), passes only as verbose lines.
        assert default and set(default.values()) <= {"FAILED", "ERROR"}
    else:
        assert default == {}
    if iid.startswith("pandas"):  # `id PASSED` lines: v2 reads them and agrees with SWE-smith
        assert v2["tests_status"] == ref["tests_status"] and v2["resolved"] == ref["resolved"]
    else:  # `id PASSED [ 10%]` progress suffix: nothing parses, swebench calls the run invalid
        assert v2["resolved"] is False and "tests_status" not in v2


def _log(body: str) -> str:
    return f"setup\n{START_TEST_OUTPUT}\n{body}\n{END_TEST_OUTPUT}\n"


def test_swebench_semantics_missing_and_skipped_tests():
    task = Task("i", "test/calc", "0" * 40, "-", FAIL_TO_PASS=("t.py::a", "t.py::b"), PASS_TO_PASS=("t.py::c",))
    ok = grade_log(task, _log("PASSED t.py::a\nPASSED t.py::b\nPASSED t.py::c"))
    assert ok["resolved"] is True and ok["patch_successfully_applied"] is True
    missing = grade_log(task, _log("PASSED t.py::a\nPASSED t.py::c"))  # b never ran: a failure for swebench
    assert missing["resolved"] is False and missing["tests_status"]["FAIL_TO_PASS"]["failure"] == ["t.py::b"]
    assert grade_log(task, _log("PASSED t.py::a\nPASSED t.py::b\nSKIPPED t.py::c"))["resolved"] is True
    assert grade_log(task, _log("PASSED t.py::a\nSKIPPED t.py::b\nPASSED t.py::c"))["resolved"] is False
    assert grade_log(task, "no markers at all")["resolved"] is False
    assert grade_log(task, _log("PASSED t.py::a") + ">>>>> Patch Apply Failed\n")["patch_successfully_applied"] is False
    # SWE-smith counts the never-run test as passed.
    smith_log = f"+ : '{START_TEST_OUTPUT}'\nt.py::a PASSED\nt.py::c PASSED\n+ : '{END_TEST_OUTPUT}'\n"
    assert grade_log(task, smith_log, harness="swesmith")["resolved"] is True


def test_test_command():
    task = calc_task("0" * 40)
    assert eval_command(task) == "python3 -m pytest -rA tests/test_calc.py"
    assert eval_command(replace(task, test_cmd="tox -e py")) == "tox -e py"


@pytest.fixture
def grading(sandbox_kind, tmp_path):  # noqa: F811
    """(task, factory, repo_dir): every factory call is a FRESH sandbox with the calc repo at its future HEAD."""
    make = sandbox_factory(sandbox_kind)
    repo_dir = "/testbed" if sandbox_kind == "docker" else str(tmp_path / "testbed")
    built = {}

    def factory(task: Task):
        sb = make()
        sb.run(f"rm -rf {shlex.quote(repo_dir)} {shlex.quote(posixpath.dirname(repo_dir))}/calc-remote.git")
        built["base"] = build_repo(sb, repo_dir).base
        return sb

    factory(calc_task("0" * 40)).close()
    # Locally, run pytest with this interpreter (the host's python3 may lack pytest); Docker uses the image's.
    extra = {} if sandbox_kind == "docker" else {"test_cmd": f"{sys.executable} -m pytest -rA tests/test_calc.py"}
    return calc_task(built["base"], **extra), factory, repo_dir


def test_grade_gold_bad_fuzzy_and_broken_patches(grading):
    task, factory, repo_dir = grading
    good = grade(task, GOLD_PATCH, factory, repo_dir=repo_dir, timeout=120)
    assert good.error is None, good.log
    assert good.resolved and good.patch_applied and good.apply_method == "git apply"
    assert good.tests_status == {"tests/test_calc.py::test_sub": "PASSED", "tests/test_calc.py::test_add": "PASSED"}
    assert good.report["tests_status"]["FAIL_TO_PASS"]["success"] == ["tests/test_calc.py::test_add"]

    bad = grade(task, BAD_PATCH, factory, repo_dir=repo_dir, timeout=120)
    assert bad.patch_applied and not bad.resolved and bad.error is None
    assert bad.tests_status == {"tests/test_calc.py::test_sub": "FAILED", "tests/test_calc.py::test_add": "FAILED"}
    assert bad.report["tests_status"]["PASS_TO_PASS"]["failure"] == ["tests/test_calc.py::test_sub"]

    fuzzy = grade(task, FUZZY_PATCH, factory, repo_dir=repo_dir, timeout=120)
    assert fuzzy.resolved and fuzzy.apply_method == "patch --fuzz", fuzzy.log

    # A candidate that also edits the test file: the test file is reset to base before the test patch applies.
    tamper = GOLD_PATCH + TAMPER_TESTS
    tampered = grade(task, tamper, factory, repo_dir=repo_dir, timeout=120)
    assert tampered.resolved and tampered.error is None, tampered.log

    broken = grade(task, "diff --git a/nope.py b/nope.py\n--- a/nope.py\n+++ b/nope.py\n@@ -1 +1 @@\n-x\n+y\n",
                   factory, repo_dir=repo_dir, timeout=120)
    assert not broken.patch_applied and not broken.resolved and broken.apply_method is None
    assert broken.error == "patch did not apply" and ">>>>> Patch Apply Failed" in broken.log

    assert grade(task, "", factory, repo_dir=repo_dir).error == "empty patch"


TAMPER_TESTS = """diff --git a/tests/test_calc.py b/tests/test_calc.py
--- a/tests/test_calc.py
+++ b/tests/test_calc.py
@@ -1,5 +1,5 @@
 from calc import sub
 
 
 def test_sub():
-    assert sub(3, 1) == 2
+    assert True
"""


def test_grade_records_infrastructure_failures():
    def broken_factory(task):
        raise RuntimeError("engine unreachable")

    res = grade(calc_task("0" * 40), GOLD_PATCH, broken_factory)
    assert not res.resolved and res.error == "sandbox start failed: RuntimeError: engine unreachable"


@pytest.mark.parametrize("sandbox_kind", ["local"])
def test_grade_missing_base_commit_is_recorded(grading):
    task, factory, repo_dir = grading
    res = grade(replace(task, base_commit="f" * 40), GOLD_PATCH, factory, repo_dir=repo_dir)
    assert not res.resolved and res.error is not None and "not in repo" in res.error
