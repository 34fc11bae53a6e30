"""The scripted expert's plan for one swe-mini task: explore, reproduce, edit, verify, clean up, submit.

The plan is a generator of (thought, action) pairs that receives each observation back, so later steps can depend
on what the sandbox really answered. Exploration varies between tasks (seeded by the instance id): how the
repository is listed, how code is searched, whether a file is read whole or around the bug, where the reproduction
script lives, which tests are run.
"""

from __future__ import annotations

import random
import re
from collections.abc import Generator
from pathlib import PurePosixPath

from srl_agent.actions import Action, Bash, Edit, Submit
from srl_agent.env.grading import test_patch_files
from srl_agent.env.task import Task
from srl_agent.expert.edits import Replacement
from srl_agent.swe_mini.spec import TaskSpec

Plan = Generator[tuple[str, Action], str, None]
ROOT = "/testbed"

_OPENERS = [
    "I'll start by getting an overview of the repository layout.",
    "Let me first look at how the repository is organised.",
    "First, let's explore the repository structure to find the code related to the issue.",
]


def _repro_code(problem_statement: str) -> str:
    match = re.search(r"```python\n(.*?)```", problem_statement, re.DOTALL)
    if not match:
        raise ValueError("the issue has no ```python reproduction block")
    return match.group(1)


def _grep(term: str, where: str, rng: random.Random) -> str:
    flag = "-rnE" if "|" in term else "-rn"
    quoted = term.replace('"', '\\"')
    style = rng.randrange(3)
    if style == 0:
        return f'grep {flag} "{quoted}" {where} --include="*.py"'
    if style == 1:
        return f'cd {ROOT} && git grep -n{"E" if "|" in term else ""} "{quoted}" -- "*.py"'
    return f'grep {flag} "{quoted}" {where} | grep -v "/tests/"'


def expert_plan(task: Task, spec: TaskSpec, edits: list[Replacement], file_lines: dict[str, int]) -> Plan:
    """Yield the expert's steps; `edits` come from the gold patch, `file_lines` gives each edited file's length."""
    rng = random.Random(task.instance_id)
    src_layout = any(e.path.startswith("src/") for e in edits)
    package = PurePosixPath(edits[0].path).parts[1 if src_layout else 0]
    pkg_dir = f"{ROOT}/src/{package}" if src_layout else f"{ROOT}/{package}"

    # 1. Layout
    opener = rng.choice(_OPENERS)
    layout = rng.randrange(3)
    if layout == 0:
        yield opener, Edit("view", ROOT)
    elif layout == 1:
        yield opener, Bash(f"find {ROOT} -name '*.py' -not -path '*/.git/*' | sort")
    else:
        yield opener, Bash(f"cd {ROOT} && git ls-files && cat README.md")
    if src_layout:
        note = f"The package lives under `src/{package}` (a src layout), and the tests are in `tests/`."
    else:
        note = f"The package is `{package}/` at the top level, with the tests in `tests/`."

    # 2. Search for the code the issue talks about
    term = spec.search[0] if spec.search else package
    title = spec.problem_statement.splitlines()[0].rstrip(".")
    yield (f'{note} The issue ("{title}") points at specific behaviour; let me search for the code behind it.',
           Bash(_grep(term, pkg_dir, rng)))
    if len(spec.search) > 1 and rng.random() < 0.5:
        yield "Let me also check where the related code is used.", Bash(_grep(spec.search[1], pkg_dir, rng))

    # 3. Read the code around each place that will change
    seen: set[str] = set()
    for edit in edits:
        if edit.path in seen:
            continue
        seen.add(edit.path)
        path = f"{ROOT}/{edit.path}"
        n = file_lines[edit.path]
        if n <= 120 or rng.random() < 0.4:
            yield f"Let's read `{edit.path}` in full.", Edit("view", path)
        else:
            lo = max(1, edit.line - rng.randint(15, 30))
            hi = min(n, edit.line + rng.randint(20, 35))
            yield f"The match is around line {edit.line} of `{edit.path}`; let me view that part.", \
                Edit("view", path, view_range=(lo, hi))

    test_file = test_patch_files(task.test_patch)[0]  # an existing test file of the module under repair
    if rng.random() < 0.5:
        yield ("Before changing anything, let me see how the existing tests exercise this module.",
               Bash(f"cd {ROOT} && ls tests && grep -n 'def test_' {test_file} | head -n 20"))

    # 4. Reproduce
    name = rng.choice(["reproduce.py", "reproduce_issue.py", "repro.py", "reproduce_bug.py"])
    script = f"{ROOT}/{name}"
    yield ("Now I'll write a script with the reproduction from the issue, to confirm the behaviour before fixing it.",
           Edit("create", script, file_text=_repro_code(task.problem_statement)))
    run = f"cd {ROOT} && python3 {name}"
    obs = yield "Let's run it.", Bash(run)
    if "ModuleNotFoundError" in obs:
        run = f"cd {ROOT} && PYTHONPATH=src python3 {name}"
        yield ("The package is not installed and sits under `src/`, so Python cannot import it from the "
               "repository root. I'll put `src` on PYTHONPATH."), Bash(run)

    # 5. Fix
    yield (f"The script shows the problem described in the issue. {spec.analysis}",
           _edit(edits[0]))
    for edit in edits[1:]:
        yield "Now the remaining part of the change.", _edit(edit)

    # 6. Verify: the reproduction, then the test suite
    yield "Let's rerun the reproduction script to confirm the fix.", Bash(run)
    if rng.random() < 0.5:
        cmd = f"cd {ROOT} && python3 -m pytest -q -p no:cacheprovider"
        why = "The output now matches the expectation. Let me run the whole test suite to check for regressions."
    else:
        cmd = f"cd {ROOT} && python3 -m pytest -q -p no:cacheprovider {test_file} && python3 -m pytest -q -p no:cacheprovider"
        why = (f"That is the expected output now. Let me run the tests of this module (`{test_file}`), then the rest "
               "of the suite.")
    yield why, Bash(cmd)

    # 7. Clean up and submit
    yield "All tests pass. I'll remove the reproduction script so that only the fix remains.", \
        Bash(f"rm {script} && cd {ROOT} && git status --short")
    yield ("The fix is in place, the issue's example behaves as expected and the test suite passes. "
           "Submitting."), Submit()


def _edit(edit: Replacement) -> Edit:
    return Edit("str_replace", f"{ROOT}/{edit.path}", old_str=edit.old, new_str=edit.new)
