"""The official SWE-bench output layout and run-report fields, and what a leaderboard submission records with them
(`official_report`: versions, image digests, limits; `history_guard`: the contamination guard's record).

    OUTPUT/logs/run_evaluation/<run_id>/<model>/<instance_id>/   patch.diff, test_output.txt, report.json, error.txt
    OUTPUT/<model>.<run_id>.json                                 swebench's run report, field for field (schema 2)

`<model>` is `model_name_or_path` with `/` replaced by `__`, as swebench names the folder. The field set is swebench
5.0.2's `make_run_report`: the 2.x fields (the names sb-cli's report uses) plus the infrastructure-failure
classification of #586 (`infra_failure_*`, `ambiguous_failure_*`, `failure_reasons`). Our own errors (image missing,
container died, tests timed out) are infrastructure by construction and are always in `infra_failure_ids`; an
unresolved instance whose test log carries one of swebench's failure signatures is classified by swebench's own
`classify_logs`.
"""

from __future__ import annotations

import json
import platform
from collections.abc import Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from srl_agent.env.task import Task
from srl_agent.episodes import Episode
from srl_agent.evaluate.predictions import Predictions

SWEBENCH_FIELDS = (
    "total_instances", "submitted_instances", "completed_instances", "resolved_instances", "unresolved_instances",
    "infra_failure_instances", "ambiguous_failure_instances", "empty_patch_instances", "error_instances",
    "completed_ids", "incomplete_ids", "empty_patch_ids", "submitted_ids", "resolved_ids", "unresolved_ids",
    "infra_failure_ids", "ambiguous_failure_ids", "failure_reasons", "error_ids", "schema_version",
)
PACKAGES = ("srl-agent", "swebench", "torch", "transformers", "vllm", "docker")


def model_dir(name: str) -> str:
    """swebench's folder name for a model: `model_name_or_path` with `/` -> `__`."""
    return name.replace("/", "__")


def instance_dir(output: Path, run_id: str, model: str, instance_id: str) -> Path:
    return output / "logs" / "run_evaluation" / run_id / model_dir(model) / instance_id


def classify_failures(report: dict[str, Any], output: Path, run_id: str, model: str) -> dict[str, Any]:
    """swebench's failure fields for a report: errors are infrastructure; unresolved logs go through `classify_logs`."""
    from swebench.harness.infra_failure import TIER_ENVIRONMENT, classify_logs

    reasons = {iid: "srl_agent_infrastructure_error" for iid in report["error_ids"]}
    infra, ambiguous = set(report["error_ids"]), set()
    for iid in report["unresolved_ids"]:
        logs = instance_dir(output, run_id, model, iid)
        found = classify_logs(logs / "test_output.txt", logs / "run_instance.log")
        if found:
            reasons[iid], tier = found
            (infra if tier == TIER_ENVIRONMENT else ambiguous).add(iid)
    return {"infra_failure_instances": len(infra), "ambiguous_failure_instances": len(ambiguous),
            "infra_failure_ids": sorted(infra), "ambiguous_failure_ids": sorted(ambiguous),
            "failure_reasons": dict(sorted(reasons.items()))}


def write_run_report(report: dict[str, Any], output: Path, run_id: str, model: str) -> Path:
    """`<model>.<run_id>.json` with exactly swebench's fields, in its order."""
    path = output / f"{model_dir(model)}.{run_id}.json"
    path.write_text(json.dumps({k: report[k] for k in SWEBENCH_FIELDS}, indent=4) + "\n", encoding="utf-8")
    return path


def versions() -> dict[str, str | None]:
    """The harness: Python, the packages that grade or generate, and the Docker engine."""
    out: dict[str, str | None] = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    try:
        from srl_agent.sandbox.docker import docker_client

        out["docker_engine"] = docker_client().version().get("Version")
    except Exception as e:  # noqa: BLE001 - recorded: the report is still written without the engine version
        out["docker_engine"] = f"unavailable ({type(e).__name__})"
    return out


def image_digests(images: Sequence[str]) -> dict[str, dict[str, Any]]:
    """image -> its local id and registry digests (what was actually run), or why it could not be read."""
    import docker
    from srl_agent.sandbox.docker import docker_client

    client = docker_client()
    out: dict[str, dict[str, Any]] = {}
    for image in sorted(set(images)):
        try:
            found = client.images.get(image)
            out[image] = {"id": found.id, "repo_digests": found.attrs.get("RepoDigests", [])}
        except docker.errors.ImageNotFound:
            out[image] = {"id": None, "error": "not on this machine"}
    return out


def official_report(report: dict[str, Any], config: Any, policy: Any, tasks: Sequence[Task]) -> dict[str, Any]:
    """Add swebench's failure classification, write `<model>.<run_id>.json`, and record what the result depends
    on: versions, the images run (with digests), the limits."""
    run_id = config.resolved_run_id
    report = {**report, **classify_failures(report, config.output, run_id, policy.name)}
    write_run_report(report, config.output, run_id, policy.name)
    images = [t.image for t in tasks if t.image]
    limits = {"max_turns": config.agent.max_turns, "max_prompt_tokens": config.agent.max_prompt_tokens,
              "max_format_errors": config.agent.max_format_errors,
              "history": config.agent.prompt.history_window,
              "max_observation_chars": config.agent.prompt.max_observation_chars,
              "max_new_tokens": getattr(policy, "max_new_tokens", None),
              "temperature": getattr(policy, "temperature", None), "seed": config.seed,
              "command_timeout_s": config.command_timeout_s, "grade_timeout_s": config.grade_timeout_s}
    if isinstance(policy, Predictions):
        limits = {"agent": "none: --predictions graded as they are", "grade_timeout_s": config.grade_timeout_s}
    return {**report, "model_name_or_path": policy.name, "run_id": run_id, "harness": versions(),
            "images": image_digests(images) if images else {}, "limits": limits}


def history_guard(episodes: dict[str, Episode]) -> dict[str, Any]:
    """The contamination guard's record: every episode's reset scrubs the repository to the base commit and verifies
    that no later commit is readable (srl_agent.env.repo.scrub_future_history); a leak ends the episode as an error."""
    leaked = sorted(e.instance_id for e in episodes.values() if (e.error or "").startswith("ContaminationError"))
    verified = sum(bool(e.metadata.get("history_verified")) for e in episodes.values())
    return {"verified": verified, "episodes": len(episodes), "leaked_ids": leaked,
            "what": "no commit after the base readable in the agent's sandbox (checked at every reset)"}
