"""RLVR episodes (method=rlvr): G agent episodes per task in Docker sandboxes, graded, masked, for `RLVRSource`.

    1. Episodes: G per task, each in its own Docker sandbox, driven by the evaluator's `run_agent` (same prompt
       builder, history window, limits and stop reasons as `srl-agent eval`). All episodes of a round run at once;
       their turns are batched into one generate call.
    2. Reward: the episode's final diff is graded in a fresh sandbox, 1 if it resolves the task, else 0.
    3. Mask: an episode that failed for an infrastructure reason (image missing, container died, grading could not
       run: `Fault.INFRA`) has no reward. It is left out of its group's statistics (counting it as 0 would teach the
       policy that whatever it did caused the crash) and reported as `infra_failure_rate`. `cfg.rlvr.overlong`
       decides the fate of episodes stopped by the turn or context limit.

Dynamic sampling, advantages and the loss are the GRPO step's (sources.fill, grpo.py), the same as SRL's. Token in /
token out: a member's sequences are its turns with the prompt ids as the policy saw them and the ids it sampled (with
the sampler's logprobs), never decoded and re-encoded; each turn's prompt is rebuilt by the agent loop (a window over
past steps), so turn t+1 does not extend turn t. loss_agg=grpo weighs each episode equally (token mean over all its
turns, then mean over episodes).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from srl_agent.agent.policies import Completion, PolicyRequest
from srl_agent.answer import encode_prompt
from srl_agent.env.grading import Fault
from srl_agent.rollout import RolloutEngine, Sample, SamplingParams
from srl_agent.train.config import TrainConfig

OVERLONG = ("turn_limit", "context_limit")


@dataclass(frozen=True)
class Rollout:
    """One episode: every turn as sampled, and its outcome. `reward` is None when the episode is masked."""

    instance_id: str
    turns: tuple[Sample, ...]  # per turn: prompt ids (as the policy saw them), sampled ids, their logprobs
    status: str  # ok | infra (masked) | overlong (masked when cfg.rlvr.overlong == "mask")
    reward: float | None
    stop_reason: str
    error: str | None = None
    episode_s: float = 0.0
    grade_s: float = 0.0


def outcome(error: str | None, stop_reason: str, submission: str, grade: Any, overlong: str) -> tuple[str, float | None]:
    """(status, reward) of an episode; `grade` is the GradeResult of its submission (None when not graded)."""
    if error is not None:
        return "infra", None
    if stop_reason in OVERLONG and overlong != "grade":
        return ("overlong", None) if overlong == "mask" else ("ok", 0.0)
    if not submission.strip() or grade is None:
        return "ok", 0.0
    if grade.fault is Fault.NONE:
        return "ok", float(grade.resolved)
    if grade.fault.policy_fault:
        return "ok", 0.0  # a patch that does not apply or hangs the tests is the policy's doing
    return "infra", None


# ---------------------------------------------------------------------------------------------------------------
# 1. Episodes: a Policy over the rollout engine that keeps each turn's Sample


class EngineTurns:
    """The batched policy of a round: encodes each turn's prompt once, samples, returns the text to the agent loop
    and keeps the Sample (ids + logprobs) under the request, for the episode's `TurnRecorder` to collect."""

    name, batched = "rlvr-policy", True

    def __init__(self, engine: RolloutEngine, tokenizer: Any, params: SamplingParams, seed: int):
        self.engine, self.tokenizer, self.params, self.seed = engine, tokenizer, params, seed
        self.calls = 0
        self.samples: dict[int, Sample] = {}  # id(request) -> its sample; the request is alive until collected

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return len(encode_prompt(self.tokenizer, messages))

    def complete(self, requests: list[PolicyRequest]) -> list[Completion]:
        prompts = [encode_prompt(self.tokenizer, r.messages) for r in requests]
        self.calls += 1
        samples = [s[0] for s in self.engine.generate(prompts, 1, self.params, self.seed + 7919 * self.calls)]
        for request, sample in zip(requests, samples, strict=True):
            self.samples[id(request)] = sample
        return [Completion(s.text, len(s.prompt_ids), len(s.completion_ids)) for s in samples]


class TurnRecorder:
    """One episode's view of the shared batched policy: the turns' Samples, in order."""

    name, batched = "rlvr-policy", True

    def __init__(self, shared: EngineTurns, batcher: Any):
        self.shared, self.batcher, self.turns = shared, batcher, []

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return self.shared.count_prompt_tokens(messages)

    def complete(self, requests: list[PolicyRequest]) -> list[Completion]:
        out = self.batcher.complete(requests)
        self.turns += [self.shared.samples.pop(id(r)) for r in requests]
        return out


def run_episode(task: Any, factory: Any, shared: EngineTurns, batcher: Any, cfg: TrainConfig) -> Rollout:
    from srl_agent.agent.loop import run_agent
    from srl_agent.env.grading import grade
    from srl_agent.env.swe_env import SWEEnv

    rl = cfg.rlvr  # the agent's limits, overlong, command and grade timeouts
    t0 = time.monotonic()
    recorder = TurnRecorder(shared, batcher)
    with batcher.episode():
        result = run_agent(task, SWEEnv(task, factory, command_timeout=rl.command_timeout_s), recorder, rl.agent)
    t1 = time.monotonic()
    verdict = None  # graded outside batcher.episode(): a grading thread does not hold back the next batch
    needs_grade = result.error is None and result.submission.strip() and (result.stop_reason not in OVERLONG or rl.overlong == "grade")
    if needs_grade:
        verdict = grade(task, result.submission, factory, timeout=rl.grade_timeout_s)
    status, reward = outcome(result.error, result.stop_reason, result.submission, verdict, rl.overlong)
    error = result.error or (verdict.error if status == "infra" and verdict is not None else None)
    turns = tuple(recorder.turns) if len(recorder.turns) == len(result.turns) else ()  # a crash mid-turn: untrainable
    return Rollout(task.instance_id, turns, status, reward, result.stop_reason, error, t1 - t0, time.monotonic() - t1)


def run_round(tasks: list[Any], cfg: TrainConfig, engine: RolloutEngine, tokenizer: Any, factory: Any, seed: int,
              note: Callable[[str], None] = lambda _: None) -> list[Rollout]:
    """G episodes of every task (task by task, G in a row), `cfg.rlvr.workers` at once, turns batched across episodes."""
    from srl_agent.agent.loop import Batcher

    shared = EngineTurns(engine, tokenizer, cfg.sampling, seed)
    batcher = Batcher(shared)
    jobs = [t for t in tasks for _ in range(cfg.group_size)]
    done: list[Rollout] = []

    def one(task: Any) -> Rollout:
        rollout = run_episode(task, factory, shared, batcher, cfg)
        done.append(rollout)
        note(f"{len(done)}/{len(jobs)} episodes")
        return rollout

    with ThreadPoolExecutor(max_workers=cfg.rlvr.workers, thread_name_prefix="rlvr") as pool:
        return list(pool.map(one, jobs))
