"""The bridge to the official SWE-bench harness: eval scripts, instance images, and `run_evaluation` on our predictions.

Eval scripts are generated exactly as swebench 4.1.0's `make_eval_script_list` does for classic instances (the
byte-identical output on all 300 Lite instances is tested), from the spec table in `env/swebench_specs.py`, with no
network: 4.1.0's `make_test_spec` also builds the environment script, which downloads requirements files from GitHub.
Tasks that are not SWE-bench instances (swe-mini, mined) get a script of the same shape around their own test command,
so the official harness can grade them too.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from srl_agent.env.swebench import spec_for, test_directives
from srl_agent.env.task import Task
from srl_agent.errors import UserError

HEREDOC = "EOF_114329324912"
START, END = ">>>>> Start Test Output", ">>>>> End Test Output"


def modified_files(patch: str) -> list[str]:
    """Files a patch changes that exist before it (swebench's get_modified_files: unidiff, sources only)."""
    from unidiff import PatchSet

    sources = [f.source_file for f in PatchSet(patch) if f.source_file != "/dev/null"]
    return [s[2:] for s in sources if s.startswith("a/")]


def eval_script(task: Task, repo_dir: str = "/testbed", env_name: str = "testbed") -> str:
    """The eval.sh the official harness runs in the instance container after applying the model patch."""
    spec = spec_for(task)
    test_files = modified_files(task.test_patch)
    reset = f"git checkout {task.base_commit} {' '.join(test_files)}"
    apply = f"git apply -v - <<'{HEREDOC}'\n{task.test_patch}\n{HEREDOC}"
    if spec is None:  # our own tasks: no conda, the task's command (eval_command: its test_cmd or pytest -rA)
        from srl_agent.env.grading import eval_command

        lines = [f"cd {repo_dir}", f"git config --global --add safe.directory {repo_dir}", "git status",
                 f"git -c core.fileMode=false diff {task.base_commit}", reset, apply, f": '{START}'",
                 eval_command(task), f": '{END}'", reset]
    else:
        activate = ["source /opt/miniconda3/bin/activate", f"conda activate {env_name}"]
        lines = [*activate, f"cd {repo_dir}", *spec.get("eval_commands", []),
                 f"git config --global --add safe.directory {repo_dir}", f"cd {repo_dir}", "git status", "git show",
                 f"git -c core.fileMode=false diff {task.base_commit}", *activate]
        if "install" in spec:
            lines.append(spec["install"])
        test_cmd = " ".join([spec["test_cmd"], *test_directives(task)])
        lines += [reset, apply, f": '{START}'", test_cmd, f": '{END}'", reset]
    return "\n".join(["#!/bin/bash", "set -uxo pipefail", *lines]) + "\n"


# -- `--grader swebench`: swebench.harness.run_evaluation on preds.jsonl -------------------------------------------


def harness_instance(task: Task) -> dict[str, Any]:
    """The 5.x dataset row: the classic fields plus what its make_test_spec needs (image, eval_script, parser)."""
    from srl_agent.env.grading import parser_name

    if not task.image:
        raise UserError(f"task {task.instance_id} has no image; the official harness needs one")
    row = task.to_dict()
    row.update(image=task.image, eval_script=eval_script(task), log_parser=parser_name(task), eval_type="pass_and_fail")
    return row


def check_harness_can_run(tasks: list[Task]) -> None:
    """Fail before any work when swebench's run_evaluation cannot run: no Docker, or images it cannot get."""
    from srl_agent.sandbox.base import SandboxError
    from srl_agent.sandbox.client import docker_client
    from srl_agent.sandbox.images import pull_image

    docker_client()
    missing = []
    for task in tasks:
        try:
            pull_image(task.image or "")
        except SandboxError as e:
            missing.append((task.instance_id, str(e)))
    if missing:
        iid, why = missing[0]
        raise UserError(
            f"--grader swebench cannot run: {len(missing)} of {len(tasks)} instance image(s) are unavailable "
            f"(first: {iid}: {why}). The official harness needs Docker and every instance image, pulled from a registry "
            "or built with `python -m swebench.harness.prepare_images`; here use the default grader (--grader srl)"
        )


def run_official(tasks: list[Task], preds_path: Path, out_dir: Path, workers: int, timeout: int) -> dict[str, dict]:
    """Run `python -m swebench.harness.run_evaluation` in a subprocess (it works relative to its cwd and sets
    rlimits) under `out_dir`; returns instance id -> its report.json entry, for the instances it completed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    dataset = out_dir / "dataset.jsonl"
    dataset.write_text("".join(json.dumps(harness_instance(t)) + "\n" for t in tasks), encoding="utf-8")
    argv = [sys.executable, "-m", "swebench.harness.run_evaluation", "--dataset_name", str(dataset.resolve()),
            "--predictions_path", str(preds_path.resolve()), "--max_workers", str(workers), "--timeout", str(timeout),
            "--run_id", "srl-agent", "--report_dir", "."]
    with (out_dir / "run_evaluation.log").open("w") as log:
        log.write(shlex.join(argv) + "\n")
        log.flush()
        code = subprocess.call(argv, cwd=out_dir, stdout=log, stderr=subprocess.STDOUT)
    if code != 0:
        raise UserError(f"swebench.harness.run_evaluation exited with {code}; see {out_dir / 'run_evaluation.log'}")
    reports = {}
    for path in (out_dir / "logs" / "run_evaluation" / "srl-agent").glob("*/*/report.json"):
        reports.update(json.loads(path.read_text()))
    return reports
