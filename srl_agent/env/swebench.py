"""SWE-bench instances made runnable here: the spec table (test command, eval commands) of a classic instance, its
official image name, the test command `grade` runs in it, and the conda PATH of those images. Used by the task-set
registry (srl_agent.tasksets) and by the bridge to the official harness (srl_agent.evaluate.harness).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

from srl_agent.env.swebench_specs import NON_TEST_EXTS, SPECS
from srl_agent.env.task import Task

CONDA_PATH = "/opt/miniconda3/envs/testbed/bin:/opt/miniconda3/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


def spec_for(task: Task) -> dict[str, Any] | None:
    """The classic spec fields (test_cmd, eval_commands, install) of a SWE-bench instance, None for other tasks."""
    for versions, spec in SPECS.get(task.repo, ()):
        if task.version in versions:
            return spec
    return None


DEFAULT_IMAGE_TEMPLATE = "{namespace}/sweb.eval.{arch}.{id}:latest"
_TEMPLATE_FIELDS = {"namespace", "arch", "id", "instance_id"}


def image_template(template: str | None = None, namespace: str | None = None) -> str | None:
    """The image-name template a run uses (None: the default, Docker Hub's `swebench/...`); checks its fields.

    Docker Hub cannot hold `__` in a repository name, so SWE-bench's images spell it `_1776_`: `{id}` is the
    instance id lowercased with that substitution, `{instance_id}` the id as it is."""
    import string

    from srl_agent.errors import UserError

    if template is None and namespace is None:
        return None
    template = template or DEFAULT_IMAGE_TEMPLATE
    names = {f for _, f, _, _ in string.Formatter().parse(template) if f is not None}
    unknown = names - _TEMPLATE_FIELDS
    if unknown or not names & {"id", "instance_id"}:
        raise UserError(f"--image-template {template!r}: use the fields {sorted(_TEMPLATE_FIELDS)}, with {{id}} or "
                        f"{{instance_id}} (got {sorted(names)})")
    if "namespace" in names and namespace is None:
        namespace = "swebench"
    elif namespace is not None and "namespace" not in names:
        raise UserError(f"--image-namespace {namespace} does nothing: --image-template {template!r} has no {{namespace}}")
    return template.replace("{namespace}", namespace or "")


def official_image(instance_id: str, template: str | None = None, arch: str = "x86_64") -> str:
    """The instance image the SWE-bench harness pulls (swebench 4.x `instance_image_key`): by default
    `swebench/sweb.eval.x86_64.<id with __ -> _1776_>:latest`, Docker Hub's naming."""
    template = template or DEFAULT_IMAGE_TEMPLATE.replace("{namespace}", "swebench")
    return template.format(arch=arch, id=instance_id.lower().replace("__", "_1776_"), instance_id=instance_id)


def test_directives(task: Task) -> list[str]:
    """The test files (django: dotted test modules) the test patch touches, as swebench passes them to test_cmd."""
    if task.repo == "swe-bench/humaneval":
        return ["test.py"]
    directives = re.findall(r"diff --git a/.* b/(.*)", task.test_patch)
    directives = [d for d in directives if not any(d.endswith(ext) for ext in NON_TEST_EXTS)]
    if task.repo == "django/django":
        directives = [d.removesuffix(".py").removeprefix("tests/").replace("/", ".") for d in directives]
    return directives


def official_test_command(task: Task) -> str:
    """What `srl_agent.env.grade` runs in the official image (it resets and applies the test patch itself): the eval
    script's environment set-up and test command. The `install` step is left out: it needs network (sandboxes have
    none) and only matters for patches to compiled code; `--grader swebench` runs the full script."""
    spec = spec_for(task)
    assert spec is not None
    lines = ["source /opt/miniconda3/bin/activate", "conda activate testbed", "cd /testbed",
             *spec.get("eval_commands", []), " ".join([spec["test_cmd"], *test_directives(task)])]
    return "\n".join(lines)


def as_swebench_task(task: Task, template: str | None = None) -> Task:
    """A classic SWE-bench instance made runnable here: its official image (named by `template`, see
    `image_template`), test command and log parser. Other tasks (their own `image`, or an unknown repo/version)
    are returned unchanged."""
    spec = spec_for(task)
    if task.image or spec is None or "test_cmd" not in spec:
        return task
    from swebench.harness.log_parsers.python import MAP_REPO_TO_PARSER_PY

    parser = MAP_REPO_TO_PARSER_PY.get(task.repo)
    return dataclasses.replace(task, image=official_image(task.instance_id, template),
                               test_cmd=official_test_command(task),
                               log_parser=task.log_parser or (parser.__name__ if parser else "parse_log_pytest"))


def is_official_image(image: str | None) -> bool:
    """An image in SWE-bench's layout (repo at /testbed, conda env `testbed`): named `.../sweb.eval.*`."""
    return bool(image) and "sweb.eval." in image  # type: ignore[operator]
