"""One RLVR step, top to bottom: agent episodes -> grade -> mask -> DAPO filter -> advantages -> clipped surrogate.

Shapes: T tasks in a round, G episodes per task, a varying number of turns per episode.

    1. Episodes: G per task, each in its own Docker sandbox, driven by the evaluator's `run_agent` (same prompt
       builder, history window, limits and stop reasons as `srl-agent eval`). All episodes of a round run at once;
       their turns are batched into one generate call.
    2. Reward: the episode's final diff is graded in a fresh sandbox, 1 if it resolves the task, else 0.
    3. Mask: an episode that failed for an infrastructure reason (image missing, container died, grading could not
       run) has no reward. It is left out of its group's statistics (counting it as 0 would teach the policy that
       whatever it did caused the crash) and reported as `infra_failure_rate`. `cfg.overlong` decides the fate of
       episodes stopped by the turn or context limit.
    4. Dynamic sampling (DAPO): keep a task only if 0 < #resolved < #valid episodes: an all-0 or all-1 group has zero
       advantage everywhere. Sample more tasks until `batch_size` tasks are kept (or `max_sampling_rounds` ran).
    5. Advantages: grpo.group_advantages over the valid episodes; every turn of an episode carries its advantage.
    6. Loss: grpo.train_on_sequences, one sequence per turn, token in / token out: the turn's prompt ids as the policy
       saw them and the ids it sampled (with the sampler's logprobs). Turns are never decoded and re-encoded; each
       turn's prompt is rebuilt by the agent loop (a window over past steps), so turn t+1 does not extend turn t.
       loss_agg=grpo weighs each episode equally (token mean over all its turns, then mean over episodes).
"""

from __future__ import annotations

import math
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from srl_agent.agent.policies import Completion, PolicyRequest
from srl_agent.env.grading import Fault
from srl_agent.rollout import RolloutEngine, Sample, SamplingParams
from srl_agent.train.config import TrainConfig
from srl_agent.train.grpo import group_advantages, step_seed, token_weights, train_on_sequences

OVERLONG = ("turn_limit", "context_limit")


@dataclass(frozen=True)
class Rollout:
    """One episode: every turn as sampled, and its outcome. `reward` is None when the episode is masked."""

    instance_id: str
    turns: tuple[Sample, ...]  # per turn: prompt ids (as the policy saw them), sampled ids, their logprobs
    status: str  # ok | infra (masked) | overlong (masked when cfg.overlong == "mask")
    reward: float | None
    stop_reason: str
    error: str | None = None
    episode_s: float = 0.0
    grade_s: float = 0.0


@dataclass(frozen=True)
class TaskGroup:
    instance_id: str
    rollouts_G: tuple[Rollout, ...]

    @property
    def valid(self) -> list[Rollout]:
        return [r for r in self.rollouts_G if r.reward is not None]


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


def keep_group(rewards: list[float], dynamic_sampling: bool) -> bool:
    """DAPO: 0 < #resolved < #valid. At least two valid episodes are needed to compare anything."""
    if len(rewards) < 2:
        return False
    return 0 < sum(rewards) < len(rewards) if dynamic_sampling else True


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
        from srl_agent.answer import encode_prompt

        return len(encode_prompt(self.tokenizer, messages))

    def complete(self, requests: list[PolicyRequest]) -> list[Completion]:
        from srl_agent.answer import encode_prompt

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


def agent_config(cfg: TrainConfig) -> Any:
    from srl_agent.agent.loop import AgentConfig
    from srl_agent.data.prompts import PromptConfig

    return AgentConfig(max_turns=cfg.max_turns, max_prompt_tokens=cfg.max_prompt_tokens, max_format_errors=cfg.max_format_errors,
                       prompt=PromptConfig(history_window=cfg.history_window, max_observation_chars=cfg.max_observation_chars))


def run_episode(task: Any, factory: Any, shared: EngineTurns, batcher: Any, cfg: TrainConfig) -> Rollout:
    from srl_agent.agent.loop import run_agent
    from srl_agent.env.grading import grade
    from srl_agent.env.swe_env import SWEEnv

    t0 = time.monotonic()
    recorder = TurnRecorder(shared, batcher)
    with batcher.episode():
        result = run_agent(task, SWEEnv(task, factory, command_timeout=cfg.command_timeout_s), recorder, agent_config(cfg))
    t1 = time.monotonic()
    verdict = None  # graded outside batcher.episode(): a grading thread does not hold back the next batch
    needs_grade = result.error is None and result.submission.strip() and (result.stop_reason not in OVERLONG or cfg.overlong == "grade")
    if needs_grade:
        verdict = grade(task, result.submission, factory, timeout=cfg.grade_timeout_s)
    status, reward = outcome(result.error, result.stop_reason, result.submission, verdict, cfg.overlong)
    error = result.error or (verdict.error if status == "infra" and verdict is not None else None)
    turns = tuple(recorder.turns) if len(recorder.turns) == len(result.turns) else ()  # a crash mid-turn: untrainable
    return Rollout(task.instance_id, turns, status, reward, result.stop_reason, error, t1 - t0, time.monotonic() - t1)


def run_round(tasks: list[Any], cfg: TrainConfig, engine: RolloutEngine, tokenizer: Any, factory: Any, seed: int) -> list[TaskGroup]:
    """G episodes of every task, `cfg.workers` at once, turns batched across episodes."""
    from srl_agent.agent.loop import Batcher

    shared = EngineTurns(engine, tokenizer, SamplingParams(cfg.temperature, cfg.max_completion_tokens), seed)
    batcher = Batcher(shared)
    jobs = [t for t in tasks for _ in range(cfg.group_size)]
    with ThreadPoolExecutor(max_workers=cfg.workers, thread_name_prefix="rlvr") as pool:
        rollouts = list(pool.map(lambda t: run_episode(t, factory, shared, batcher, cfg), jobs))
    G = cfg.group_size
    return [TaskGroup(t.instance_id, tuple(rollouts[i * G : (i + 1) * G])) for i, t in enumerate(tasks)]


# ---------------------------------------------------------------------------------------------------------------
# 5-6. Advantages and the turn sequences


def turn_minibatches(groups: list[TaskGroup], cfg: TrainConfig) -> list[list[tuple[Sample, float, float]]]:
    """(turn sample, its episode's advantage, token weight) per mini-batch; mini-batches hold whole tasks."""
    per_mini = math.ceil(len(groups) / cfg.mini_batches)
    minis = []
    for start in range(0, len(groups), per_mini):
        episodes = []
        for g in groups[start : start + per_mini]:
            (advantages_G,) = group_advantages([[r.reward for r in g.valid]], cfg.scale_rewards)  # type: ignore[misc]
            episodes += [(r, a) for r, a in zip(g.valid, advantages_G, strict=True) if r.turns]
        # An episode is one "o_i" of Eq. 1: all its sampled tokens, whichever turn they belong to.
        lens = [sum(len(t.completion_ids) for t in r.turns) for r, _ in episodes]
        weights = token_weights(lens, cfg.loss_agg, cfg.max_completion_tokens * cfg.max_turns)
        minis.append([(turn, a, w) for (r, a), w in zip(episodes, weights, strict=True) for turn in r.turns])
    return minis


# ---------------------------------------------------------------------------------------------------------------
# The step


def rlvr_step(cfg: TrainConfig, step: int, run: Any, engine: RolloutEngine, tasks: list[Any], sampler: Any,
              factory: Any) -> tuple[dict[str, float], list[TaskGroup], list[list[tuple[Sample, float, float]]]]:
    """Collect `batch_size` kept tasks (at most `max_sampling_rounds` rounds), then one update per mini-batch.
    Returns the metrics, every sampled group (kept or not) and the trained (turn, advantage, weight) mini-batches."""
    t0 = time.perf_counter()
    kept: list[TaskGroup] = []
    groups: list[TaskGroup] = []
    every: list[Rollout] = []
    sampled = filtered = all_masked = rounds = 0
    local_batch = max(1, cfg.batch_size // run.accelerator.num_processes)
    while len(kept) < local_batch and rounds < cfg.max_sampling_rounds:
        batch = [tasks[i] for i in sampler.take(local_batch - len(kept))]
        seed = step_seed(cfg.seed, step, rounds, run.accelerator.process_index)
        for g in run_round(batch, cfg, engine, run.tokenizer, factory, seed):
            groups.append(g)
            every += g.rollouts_G
            sampled += 1
            all_masked += not g.valid
            if keep_group([r.reward for r in g.valid], cfg.dynamic_sampling):  # type: ignore[misc]
                kept.append(g)
            else:
                filtered += 1
        rounds += 1
    t1 = time.perf_counter()
    valid = [r for r in every if r.reward is not None]
    turns = [t for r in every for t in r.turns]
    stops = Counter(r.stop_reason for r in every)
    metrics: dict[str, float] = {
        "reward_mean": statistics.fmean(r.reward for r in valid) if valid else 0.0,  # = resolved rate of valid episodes
        "episodes": len(every),
        "episodes_infra_failed": sum(r.status == "infra" for r in every),
        "infra_failure_rate": sum(r.status == "infra" for r in every) / max(1, len(every)),
        "episodes_overlong_masked": sum(r.status == "overlong" for r in every),
        "tasks_sampled": sampled, "tasks_filtered": filtered, "tasks_all_masked": all_masked,
        "filtered_fraction": filtered / max(1, sampled), "tasks_kept": len(kept), "sampling_rounds": rounds,
        "turns_mean": len(turns) / max(1, len(every)),
        "turns_truncated": sum(not t.finished for t in turns),
        "completion_tokens": sum(len(t.completion_ids) for t in turns),
        **{f"stop_{reason}": n for reason, n in stops.items()},
        "time_episodes_s": t1 - t0, "time_grade_s_sum": sum(r.grade_s for r in every),
    }
    from srl_agent.train.distributed import max_over_ranks

    minis = turn_minibatches(kept, cfg) if kept else []
    # DDP: every rank makes as many updates as the rank with the most; the others join with empty mini-batches.
    n_minis = max_over_ranks(run.accelerator, len(minis))
    if n_minis:
        minis += [[] for _ in range(n_minis - len(minis))]
        metrics.update(train_on_sequences(cfg, run.model, None, run.optimizer, run.scheduler, run.accelerator, minis,
                                          run.tokenizer.pad_token_id))
        engine.sync_weights(run.model)
    else:  # nothing to learn from: every task was all-0, all-1 or masked
        metrics.update(loss=0.0, kl=0.0, clip_fraction=0.0, logprob_diff=0.0, grad_norm=0.0, trained_tokens=0)
    metrics["lr"] = run.scheduler.get_last_lr()[0]
    metrics["time_step_s"] = time.perf_counter() - t0
    return metrics, groups, minis
