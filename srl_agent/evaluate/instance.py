"""One instance of an evaluation run: the agent's episode in its own sandbox, then (srl grader) grading in a fresh
one, recorded as an Episode; with a host pool, the hosts it ran on and a retry when one of them left the pool.

    evaluate_on_pool(task, policy, factory, config, batcher, pool)   # what the runner's worker threads call
      evaluate_instance(...)   # agent episode (or a prediction as submitted) -> grade -> Episode (never raises
                               # for infrastructure trouble: the error is data, written to logs/…/error.txt)
"""

from __future__ import annotations

import dataclasses
import json
import time
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

from srl_agent.agent.loop import AgentResult, Batcher, run_agent
from srl_agent.agent.policies import Policy
from srl_agent.env.grading import Fault
from srl_agent.env.task import Task
from srl_agent.episodes import Episode
from srl_agent.evaluate.official import instance_dir
from srl_agent.evaluate.predictions import Predictions

if TYPE_CHECKING:
    from srl_agent.evaluate.runner import EvalConfig


def evaluate_on_pool(task: Task, policy: Policy | Predictions, factory: Any, config: EvalConfig, batcher: Batcher | None,
                     pool: Any) -> Episode:
    """evaluate_instance, recording the hosts it ran on; an episode one of whose hosts left the pool (an
    infrastructure error) runs again, on the hosts still live, up to `config.retries` times."""
    if pool is None:
        return evaluate_instance(task, policy, factory, config, batcher)
    failed: list[dict[str, Any]] = []
    while True:
        with pool.placements() as hosts:
            episode = evaluate_instance(task, policy, factory, config, batcher)
        lost = episode.error is not None and any(pool.is_down(h) for h in hosts)
        if not lost or len(failed) >= config.retries:
            metadata = {**episode.metadata, "hosts": hosts, **({"failed_attempts": failed} if failed else {})}
            return dataclasses.replace(episode, metadata=metadata)
        failed.append({"hosts": hosts, "error": episode.error})
        error_log = instance_dir(config.output, config.resolved_run_id, policy.name, task.instance_id) / "error.txt"
        if error_log.is_file():  # kept beside the retry's logs, under the attempt's number
            error_log.rename(error_log.with_name(f"error.attempt-{len(failed)}.txt"))


def evaluate_instance(task: Task, policy: Policy | Predictions, factory: Any, config: EvalConfig, batcher: Batcher | None) -> Episode:
    """One instance: the agent episode in its own sandbox, then (srl grader) grading in a fresh one. Never raises
    for infrastructure trouble: it is recorded in the episode."""
    from srl_agent.env.grading import grade
    from srl_agent.env.swe_env import SWEEnv
    from srl_agent.evaluate.oracle import OracleFileEnv

    t0 = time.monotonic()
    logs = instance_dir(config.output, config.resolved_run_id, policy.name, task.instance_id)
    logs.mkdir(parents=True, exist_ok=True)
    if isinstance(policy, Predictions):  # graded as submitted: no agent, no container before grading
        result = AgentResult((), "submitted", policy.patches[task.instance_id] or "", None)
    else:
        env: Any = SWEEnv(task, factory, command_timeout=config.command_timeout_s)
        if config.setting == "oracle-file":
            env = OracleFileEnv(env)
        with batcher.episode() if batcher else nullcontext():
            result = run_agent(task, env, policy, config.agent)
    timing = {} if isinstance(policy, Predictions) else {"start_s": round(result.start_s, 3),
                                                          "agent_s": round(result.agent_s, 3)}
    metadata: dict[str, Any] = {"timing": timing, "problem_statement": task.problem_statement,
                                "history_verified": bool(result.issue),  # reset passed the contamination guard
                                "usage": episode_usage(result.turns, policy)}
    if config.setting == "oracle-file":
        from srl_agent.evaluate.harness import modified_files

        metadata["oracle_files"] = modified_files(task.patch)
    error, resolved, verdict = result.error, None, {}
    if error is not None:
        metadata["error_phase"] = "agent"
        (logs / "error.txt").write_text(result.error_detail or error, encoding="utf-8")
    else:
        (logs / "patch.diff").write_text(result.submission, encoding="utf-8", errors="surrogateescape")
        if not result.submission.strip():
            resolved = False
        elif config.grader == "srl":
            t = time.monotonic()
            g = grade(task, result.submission, factory, timeout=config.grade_timeout_s, harness=config.log_harness)
            timing["grade_s"] = round(time.monotonic() - t, 3)
            verdict = {"grader": "srl", "patch_applied": g.patch_applied, "apply_method": g.apply_method,
                       "report": g.report}
            (logs / "test_output.txt").write_text(g.log, encoding="utf-8", errors="surrogateescape")
            (logs / "report.json").write_text(json.dumps({task.instance_id: g.report}, indent=4), encoding="utf-8")
            if g.error is not None and g.fault is not Fault.PATCH_DID_NOT_APPLY:  # the model's fault, not infrastructure
                error, metadata["error_phase"] = f"grading: {g.error}", "grade"
                (logs / "error.txt").write_text(g.error, encoding="utf-8")
            else:
                resolved = g.resolved
    timing["total_s"] = round(time.monotonic() - t0, 3)
    return Episode(task.instance_id, config.bench, policy.name, config.setting, result.turns, result.stop_reason,
                   result.submission, resolved, error, timing["total_s"], verdict, metadata)


def episode_usage(turns: Any, policy: Any) -> dict[str, Any]:
    """Tokens the episode cost (and USD when the policy has prices, e.g. `--price` for a served model)."""
    prompt = sum(t.prompt_tokens or 0 for t in turns)
    completion = sum(t.completion_tokens or 0 for t in turns)
    usage: dict[str, Any] = {"calls": len(turns), "prompt_tokens": prompt, "completion_tokens": completion}
    cost = getattr(policy, "cost_usd", None)
    if cost is not None and cost(prompt, completion) is not None:
        usage["cost_usd"] = round(cost(prompt, completion), 6)
    return usage
