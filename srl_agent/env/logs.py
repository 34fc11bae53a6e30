"""Log markers and SWE-smith's grading semantics (for reproducing SWE-smith report.json files exactly).

SWE-smith's `swesmith.harness.grading.get_eval_report` differs from swebench's in ways that change verdicts:

* the log is cut between the literal ``+ : '>>>>> Start Test Output'`` and ``+ : '>>>>> End Test Output'`` lines
  (bash -x trace of the eval script);
* its pytest parser matches ``^(\\S+)(\\s+)STATUS`` per line, i.e. the *verbose* form ``path::test PASSED [ 10%]``
  (swebench's parse_log_pytest only reads ``-rA`` summary lines that start with the status);
* a F2P/P2P test that does not appear in the log counts as **passed** (swebench: failed);
* `patch_successfully_applied` is initialised False and never set, so every SWE-smith report says False.
"""

from __future__ import annotations

import re
from typing import Any

from srl_agent.env.task import Task

START_TEST_OUTPUT = ">>>>> Start Test Output"
END_TEST_OUTPUT = ">>>>> End Test Output"
APPLY_PATCH_FAIL = ">>>>> Patch Apply Failed"
APPLY_PATCH_PASS = ">>>>> Applied Patch"
TESTS_TIMEOUT = ">>>>> Tests Timed Out"
STATUSES = ("FAILED", "PASSED", "SKIPPED", "ERROR", "XFAIL")  # swebench TestStatus, in its declaration order
_VERBOSE_RES = [(s, re.compile(rf"^(\S+)(\s+){s}")) for s in STATUSES]


def parse_log_pytest_verbose(log: str) -> dict[str, str]:
    """SWE-smith's pytest parser: ``<test id> <STATUS>`` lines (pytest -v), later statuses win like theirs."""
    status_map: dict[str, str] = {}
    for line in log.split("\n"):
        for status, regex in _VERBOSE_RES:
            m = regex.match(line)
            if m:
                status_map[m.group(1)] = status
    return status_map


def swesmith_test_output(content: str) -> tuple[str | None, bool]:
    """SWE-smith's `read_test_output`: (sliced log, found)."""
    if APPLY_PATCH_FAIL in content or TESTS_TIMEOUT in content:
        return None, False
    if START_TEST_OUTPUT not in content or END_TEST_OUTPUT not in content:
        return content, False
    start_sep, end_sep = f"+ : '{START_TEST_OUTPUT}'", f"+ : '{END_TEST_OUTPUT}'"
    start, end = content.find(start_sep), content.find(end_sep)
    if start > end:
        raise ValueError("Invalid test output - Start and end markers are not in correct order")
    return content[start:end][len(start_sep) :], True


def swesmith_report(task: Task, log_text: str, model_patch: str | None) -> dict[str, Any]:
    """The report dict SWE-smith writes (without the `model_name_or_path` key its caller adds)."""
    report: dict[str, Any] = {
        "patch_is_None": False,
        "patch_exists": False,
        "patch_successfully_applied": False,
        "resolved": False,
    }
    if model_patch is None:
        report["patch_is_None"] = True
        return report
    report["patch_exists"] = True
    sliced, found = swesmith_test_output(log_text)
    if not found or sliced is None:
        return report
    status_map = parse_log_pytest_verbose(sliced)

    def passed(case: str) -> bool:
        return case not in status_map or status_map[case] in ("PASSED", "XFAIL")

    def failed(case: str) -> bool:
        return case in status_map and status_map[case] in ("FAILED", "ERROR")

    tests: dict[str, dict[str, list[str]]] = {}
    for key, cases in (("FAIL_TO_PASS", task.FAIL_TO_PASS), ("PASS_TO_PASS", task.PASS_TO_PASS)):
        tests[key] = {"success": [c for c in cases if passed(c)], "failure": [c for c in cases if failed(c)]}
    tests["FAIL_TO_FAIL"] = {"success": [], "failure": []}
    tests["PASS_TO_FAIL"] = {"success": [], "failure": []}
    from swebench.harness.grading import get_resolution_status

    report["resolved"] = get_resolution_status(tests) == "RESOLVED_FULL"
    report["tests_status"] = tests
    return report
