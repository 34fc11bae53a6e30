"""Where GRPO groups come from. A `GroupSource` turns items (prompts, tasks) into scored groups of G members; one
dynamic-sampling loop (`fill`) serves every source, and the GRPO step (grpo.py) never knows which one it trains on.

    SRLSource    single-turn: an SRL instance's prompt -> G completions -> SRL reward (similarity to the expert action)
    RLVRSource   multi-turn: a task -> G agent episodes in Docker sandboxes -> graded (1 resolved / 0; None = masked)

A group keeps its prompt and its members' completions apart (never pre-concatenated): an SRL group's G completions
all answer `prompt_ids`, so a trainer can run that prompt once per group. An RLVR member has one sequence per turn,
each with the prompt the agent loop built for that turn.
"""

from __future__ import annotations

import statistics
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any, Protocol, get_args

from srl_agent.episodes import StopReason
from srl_agent.rollout import RolloutEngine, Sample
from srl_agent.train.config import TrainConfig


@dataclass(frozen=True)
class Member:
    """One of a group's G attempts: the token sequences to train and its reward."""

    sequences: tuple[Sample, ...]  # SRL: its one completion; RLVR: every turn (prompt ids as sampled, sampled ids)
    reward: float | None  # None: masked (an infrastructure failure): left out of the group's statistics and the loss
    detail: Any = None  # the source's own record of the attempt (RLVR: its Rollout)


@dataclass(frozen=True)
class Group:
    """G scored attempts at one item. `kept`: it survived dynamic sampling and is trained on."""

    item: Any  # SRL: a TrainPrompt; RLVR: a Task
    prompt_ids: tuple[int, ...]  # SRL: the prompt every member answers; RLVR: () (every turn has its own prompt)
    members_G: tuple[Member, ...]
    kept: bool = False

    @property
    def valid(self) -> list[Member]:
        return [m for m in self.members_G if m.reward is not None]


class GroupSource(Protocol):
    unit: str  # what one group is, in metric names: "prompts" | "tasks"
    n_items: int  # the sampler draws indices in [0, n_items)
    max_member_tokens: int  # the longest a member's sampled tokens can be (dr_grpo's constant normaliser)

    def collect(self, indices: list[int], seed: int, note: Callable[[str], None]) -> tuple[list[Group], dict[str, float]]:
        """One group per index, scored; and the round's timings. `note` reports progress within the round."""
        ...

    def metrics(self, groups: list[Group]) -> dict[str, float]:
        """Reward statistics of a step over every sampled group, kept or not: the policy's own performance."""
        ...

    def records(self, groups: list[Group], step: int, limit: int) -> list[dict[str, Any]]:
        """Rows for samples.jsonl (the replay viewer)."""
        ...


def step_seed(seed: int, step: int, round_: int, rank: int) -> int:
    """Sampling seed of one generation round: a pure function of the position, so a resumed run samples the same."""
    return (seed * 1_000_003 + step * 1009 + round_ * 17 + rank) % (2**31)


def keep_group(rewards: list[float], dynamic_sampling: bool, filter_eps: float = 1e-4) -> bool:
    """At least two valid members to compare, and (dynamic sampling) rewards that differ: a group of equal rewards has
    zero advantage everywhere, so it would cost a forward/backward and contribute no gradient. Population std (divide
    by G), as the SRL paper writes it; for 0/1 rewards (RLVR) this is DAPO's 0 < #resolved < #valid."""
    if len(rewards) < 2:
        return False
    return not dynamic_sampling or statistics.pstdev(rewards) > filter_eps


def fill(source: GroupSource, sampler: Any, cfg: TrainConfig, step: int, batch: int, rank: int,
         note: Callable[[str], None] = lambda _: None) -> tuple[list[Group], dict[str, float]]:
    """Dynamic sampling: draw items until `batch` groups are kept or `max_sampling_rounds` rounds ran, whichever comes
    first (so a step may train on a partly filled batch: `fill_ratio` says how full). Returns every sampled group
    (each marked kept or not) and the step's sampling metrics."""
    groups: list[Group] = []
    kept = rounds = 0
    timings: Counter[str] = Counter()
    while kept < batch and rounds < cfg.max_sampling_rounds:
        indices = sampler.take(batch - kept)
        note(f"round {rounds + 1}/{cfg.max_sampling_rounds}: {len(indices)} {source.unit}, {kept}/{batch} kept")
        collected, took = source.collect(indices, step_seed(cfg.seed, step, rounds, rank), note)
        for g in collected:
            keep = keep_group([m.reward for m in g.valid], cfg.dynamic_sampling, cfg.filter_eps)  # type: ignore[misc]
            groups.append(replace(g, kept=keep))
            kept += keep
        timings.update(took)
        rounds += 1
    u = source.unit
    # fill_ratio < 1: the rounds ran out before the batch was full; the step trains on the groups it has.
    return groups, {**source.metrics(groups), f"{u}_sampled": len(groups), f"{u}_filtered": len(groups) - kept,
                    "filtered_fraction": (len(groups) - kept) / max(1, len(groups)), f"{u}_kept": kept,
                    "fill_ratio": min(kept, batch) / batch, "sampling_rounds": rounds, **timings}


# ---------------------------------------------------------------------------------------------------------------
# SRL: single-turn groups scored by the SRL reward


class SRLSource:
    """Prompts -> G completions each -> the SRL reward against the expert's action (reward_mode, format_penalty)."""

    unit = "prompts"

    def __init__(self, cfg: TrainConfig, engine: RolloutEngine, prompts: list[Any]):
        self.cfg, self.engine, self.prompts = cfg, engine, prompts
        self.n_items, self.max_member_tokens = len(prompts), cfg.max_completion_tokens

    def collect(self, indices: list[int], seed: int, note: Callable[[str], None]) -> tuple[list[Group], dict[str, float]]:
        from srl_agent.reward import srl_rewards

        cfg = self.cfg
        batch = [self.prompts[i] for i in indices]
        if hasattr(self.engine, "on_batch"):  # the hf engine generates in chunks: show each one
            self.engine.on_batch = lambda done, total: note(f"sampling {done}/{total} completions")
        t0 = time.perf_counter()
        samples_P_G = self.engine.generate([p.prompt_ids for p in batch], cfg.group_size, cfg.sampling, seed)
        t1 = time.perf_counter()
        groups = []
        for prompt, samples_G in zip(batch, samples_P_G, strict=True):
            rewards_G = srl_rewards([s.text for s in samples_G], [prompt.instance.expert_action] * len(samples_G),
                                    mode=cfg.reward_mode, format_penalty=cfg.format_penalty,  # type: ignore[arg-type]
                                    min_thought_chars=cfg.min_thought_chars)
            members = tuple(Member((s,), r) for s, r in zip(samples_G, rewards_G, strict=True))
            groups.append(Group(prompt, prompt.prompt_ids, members))
        return groups, {"time_generate_s": t1 - t0, "time_score_s": time.perf_counter() - t1}

    def metrics(self, groups: list[Group]) -> dict[str, float]:
        from srl_agent.reward import is_malformed

        cfg = self.cfg
        rewards = [m.reward for g in groups for m in g.members_G]
        tokens = sum(len(m.sequences[0].completion_ids) for g in groups for m in g.members_G)
        malformed = sum(is_malformed(m.sequences[0].text, g.item.instance.expert_action, mode=cfg.reward_mode,  # type: ignore[arg-type]
                                     min_thought_chars=cfg.min_thought_chars) for g in groups for m in g.members_G)
        return {
            "reward_mean": statistics.fmean(rewards) if rewards else 0.0,  # every sampled completion: the policy's reward
            "reward_std": statistics.pstdev(rewards) if rewards else 0.0,  # type: ignore[arg-type]
            "format_error_rate": malformed / max(1, len(rewards)),
            "completion_tokens": tokens,
            "completion_len_mean": tokens / max(1, len(rewards)),
        }

    def records(self, groups: list[Group], step: int, limit: int) -> list[dict[str, Any]]:
        """The kept groups' completions: prompt, completion, parsed action, expert action, reward, reward mode."""
        from srl_agent.answer import FormatError, parse_completion

        rows = []
        for g in groups:
            if not g.kept:
                continue
            for m in g.members_G:
                if len(rows) >= limit:
                    return rows
                sample = m.sequences[0]
                try:
                    action, error = parse_completion(sample.text).action_text, None
                except FormatError as e:
                    action, error = None, str(e)
                inst = g.item.instance
                rows.append({"step": step, "instance_id": inst.instance_id, "step_index": inst.step_index,
                             "prompt": list(inst.prompt), "completion": sample.text, "parsed_action": action,
                             "format_error": error, "expert_action": inst.expert_action, "reward": m.reward,
                             "reward_mode": self.cfg.reward_mode, "format_penalty": self.cfg.format_penalty,
                             "completion_tokens": len(sample.completion_ids)})
        return rows


# ---------------------------------------------------------------------------------------------------------------
# RLVR: multi-turn agent episodes, graded in Docker (train/rlvr.py runs them)


class RLVRSource:
    """Tasks -> G agent episodes each (`cfg.rlvr.workers` sandboxes at once, turns batched) -> resolved or not."""

    unit = "tasks"

    def __init__(self, cfg: TrainConfig, engine: RolloutEngine, tokenizer: Any, tasks: list[Any], factory: Any):
        self.cfg, self.engine, self.tokenizer, self.tasks, self.factory = cfg, engine, tokenizer, tasks, factory
        self.n_items, self.max_member_tokens = len(tasks), cfg.max_completion_tokens * cfg.rlvr.agent.max_turns

    def collect(self, indices: list[int], seed: int, note: Callable[[str], None]) -> tuple[list[Group], dict[str, float]]:
        from srl_agent.train.rlvr import run_round

        t0 = time.perf_counter()
        batch = [self.tasks[i] for i in indices]
        rollouts = run_round(batch, self.cfg, self.engine, self.tokenizer, self.factory, seed, note)
        G = self.cfg.group_size
        groups = [Group(t, (), tuple(Member(r.turns, r.reward, r) for r in rollouts[i * G : (i + 1) * G]))
                  for i, t in enumerate(batch)]
        return groups, {"time_episodes_s": time.perf_counter() - t0}

    def metrics(self, groups: list[Group]) -> dict[str, float]:
        every = [m.detail for g in groups for m in g.members_G]
        valid = [r for r in every if r.reward is not None]
        turns = [t for r in every for t in r.turns]
        infra = sum(r.status == "infra" for r in every)
        stops = Counter(r.stop_reason for r in every)
        return {
            "reward_mean": statistics.fmean(r.reward for r in valid) if valid else 0.0,  # = resolved rate of valid episodes
            "episodes": len(every), "episodes_infra_failed": infra, "infra_failure_rate": infra / max(1, len(every)),
            "episodes_overlong_masked": sum(r.status == "overlong" for r in every),
            "tasks_all_masked": sum(not g.valid for g in groups),
            "turns_mean": len(turns) / max(1, len(every)), "turns_truncated": sum(not t.finished for t in turns),
            "completion_tokens": sum(len(t.completion_ids) for t in turns),
            # Every stop reason, 0 included: each rank's row has the same keys (DDP reduces them by key).
            **{f"stop_{reason}": stops[reason] for reason in get_args(StopReason)},
            "time_grade_s_sum": sum(r.grade_s for r in every),
        }

    def records(self, groups: list[Group], step: int, limit: int) -> list[dict[str, Any]]:
        """Every sampled episode (kept or not): turn texts, reward, status, stop reason."""
        rows = []
        for g in groups:
            for m in g.members_G:
                if len(rows) >= limit:
                    return rows
                r = m.detail
                rows.append({"step": step, "instance_id": r.instance_id, "group_kept": g.kept, "status": r.status,
                             "reward": r.reward, "stop_reason": r.stop_reason, "error": r.error,
                             "turns": [t.text for t in r.turns],
                             "completion_tokens": sum(len(t.completion_ids) for t in r.turns)})
        return rows
