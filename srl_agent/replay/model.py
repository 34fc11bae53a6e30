"""What the viewer shows, whatever the input: an `Item` (one episode, one expert trajectory, or one GRPO group of
training samples) made of `StepView`s, plus a one-row `Summary` for the list. Converters from the three inputs."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from typing import Any

from srl_agent.actions import render_action
from srl_agent.episodes import Episode
from srl_agent.trajectory import Trajectory

KINDS = ("episodes", "samples", "trajectories")


@dataclass(frozen=True, slots=True)
class StepView:
    """One step as displayed. `problem` marks what `e` jumps to: a format failure, a timeout, a failed command."""

    index: int
    thought: str
    action: str | None  # canonical action text; None when the completion was malformed
    observation: str
    observation_label: str = "observation"
    completion: str | None = None  # the raw policy output (episodes and samples)
    format_error: str | None = None
    problem: str | None = None
    expert_action: str | None = None  # samples: the target; episodes: the aligned expert step when one is known
    reward: float | None = None  # as recorded (samples); None when the input carries none
    reward_mode: str | None = None  # samples: the reward the run trained with (rescoring uses it); None: difflib
    format_penalty: float = -1.0
    facts: tuple[tuple[str, str], ...] = ()

    def text(self) -> str:
        """Everything searchable in the step."""
        parts = (self.thought, self.action or "", self.observation, self.completion or "", self.format_error or "")
        return "\n".join(parts)


@dataclass(frozen=True, slots=True)
class Summary:
    """One row of the list. `failed` is what the "errors" filter keeps."""

    instance_id: str
    status: str
    resolved: bool | None
    steps: int
    reward: float | None
    problems: int
    failed: bool
    reward_estimated: bool = False  # episodes without recorded rewards: the fast estimate against the expert


@dataclass(frozen=True, slots=True)
class Item:
    kind: str
    origin: str  # file:line of the (first) record
    summary: Summary
    facts: tuple[tuple[str, str], ...]
    problem_statement: str
    submission: str
    steps: tuple[StepView, ...]
    raw: Any = field(default=None, compare=False, repr=False)


def _mean(values: list[float]) -> float | None:
    return statistics.fmean(values) if values else None


def _turn_problem(format_error: str | None, info: dict[str, Any]) -> str | None:
    if format_error:
        return f"format error: {format_error}"
    if info.get("timed_out"):
        return "timed out"
    code = info.get("exit_code")
    if isinstance(code, int) and code != 0:
        return f"exit code {code}"
    return None


def _seconds(value: Any) -> str:
    return f"{value:.2f} s" if isinstance(value, int | float) else str(value)


def from_episode(ep: Episode, origin: str, expert: Trajectory | None = None) -> Item:
    """An eval episode. With the expert trajectory of the same task, each turn k is shown beside the expert's step k."""
    expert_actions = [render_action(s.action) for s in expert.steps] if expert else []
    steps = []
    for k, t in enumerate(ep.turns):
        facts = [("tool", str(t.info.get("action", "—")))]
        if "exit_code" in t.info:
            facts.append(("exit", str(t.info["exit_code"])))
        facts += [("generate", _seconds(t.generate_s)), ("execute", _seconds(t.execute_s))]
        if t.completion_tokens is not None:
            facts.append(("tokens", f"{t.prompt_tokens or 0}+{t.completion_tokens}"))
        reward = t.info.get("reward")
        steps.append(StepView(
            index=k, thought=t.thought, action=t.action, observation=t.observation, completion=t.completion,
            format_error=t.format_error, problem=_turn_problem(t.format_error, t.info),
            expert_action=expert_actions[k] if k < len(expert_actions) else None,
            reward=float(reward) if isinstance(reward, int | float) else None, facts=tuple(facts)))
    rewards = [s.reward for s in steps if s.reward is not None]
    estimated = not rewards and bool(expert_actions)
    if estimated:  # the list needs a number per row, fast: rapidfuzz (>= difflib, usually within 0.02; docs/replay.md)
        rewards = [r for s in steps if (r := _fast_reward(s)) is not None]
    problems = sum(s.problem is not None for s in steps) + (ep.error is not None)
    failed = ep.error is not None or ep.stop_reason in ("error", "format_errors") or ep.num_format_errors > 0
    summary = Summary(ep.instance_id, ep.stop_reason, ep.resolved, len(steps), _mean(rewards), problems, failed,
                      estimated)
    facts = [("policy", ep.policy), ("bench", ep.bench), ("setting", ep.setting), ("stop", ep.stop_reason),
             ("resolved", _yes_no(ep.resolved)), ("duration", _seconds(ep.duration_s))]
    if ep.error:
        facts.append(("error", ep.error))
    if ep.grade:
        facts.append(("grade", ", ".join(f"{k}={v}" for k, v in ep.grade.items() if isinstance(v, str | int | float | bool))))
    problem = str(ep.metadata.get("problem_statement", ""))
    return Item("episodes", origin, summary, tuple(facts), problem, ep.submission, tuple(steps), ep)


def from_trajectory(traj: Trajectory, origin: str) -> Item:
    steps = tuple(
        StepView(index=k, thought=s.thought, action=render_action(s.action), observation=s.observation)
        for k, s in enumerate(traj.steps)
    )
    summary = Summary(traj.instance_id, traj.source_format, traj.resolved, len(steps), None, 0, False)
    facts = [("format", traj.source_format), ("resolved", _yes_no(traj.resolved))]
    facts += [(k, str(v)) for k, v in traj.metadata.items() if k in ("model", "exit_status", "run_id")]
    submission = str(traj.metadata.get("patch") or traj.metadata.get("submission") or "")
    return Item("trajectories", origin, summary, tuple(facts), traj.problem_statement, submission, steps, traj)


def from_samples(rows: list[dict[str, Any]], origin: str) -> Item:
    """A group of training samples: each completion is a step, shown against the expert action with its reward."""
    from srl_agent.reward import FormatError, parse_completion

    steps = []
    for k, row in enumerate(rows):
        completion = str(row.get("completion", ""))
        try:
            thought = parse_completion(completion).thought
        except (FormatError, ValueError):
            thought = ""
        prompt = row.get("prompt") or []
        context = str(prompt[-1].get("content", "")) if prompt and isinstance(prompt[-1], dict) else ""
        reward = row.get("reward")
        error = row.get("format_error")
        steps.append(StepView(
            index=k, thought=thought, action=row.get("parsed_action"), observation=context,
            observation_label="context (last prompt message)", completion=completion, format_error=error,
            problem=f"format error: {error}" if error else None, expert_action=row.get("expert_action"),
            reward=float(reward) if isinstance(reward, int | float) else None,
            reward_mode=row.get("reward_mode"), format_penalty=float(row.get("format_penalty", -1.0)),
            facts=(("tokens", str(row.get("completion_tokens", "—"))),)))
    first = rows[0]
    errors = sum(s.format_error is not None for s in steps)
    rewards = [s.reward for s in steps if s.reward is not None]
    instance = f"{first.get('instance_id')} #{first.get('step_index')}"
    summary = Summary(instance, f"train step {first.get('step')}", None, len(steps), _mean(rewards), errors, errors > 0)
    spread = f"{min(rewards):.3f} … {max(rewards):.3f}" if rewards else "—"
    facts = (("train step", str(first.get("step"))), ("instance", str(first.get("instance_id"))),
             ("step index", str(first.get("step_index"))), ("completions", str(len(rows))),
             ("rewards", spread), ("reward mode", str(first.get("reward_mode") or "difflib")),
             ("format errors", str(errors)))
    prompt = first.get("prompt") or []
    issue = next((str(m.get("content", "")) for m in prompt if isinstance(m, dict) and m.get("role") == "user"), "")
    return Item("samples", origin, summary, facts, issue, "", tuple(steps), rows)


def _fast_reward(step: StepView) -> float | None:
    if step.expert_action is None or step.completion is None:
        return None
    from srl_agent.actions import ActionParseError
    from srl_agent.reward import srl_reward

    try:
        return srl_reward(step.completion, step.expert_action, mode="rapidfuzz")
    except ActionParseError:
        return None


def step_reward(step: StepView) -> float | None:
    """The recorded reward, else the SRL reward of the policy's completion against the aligned expert action, with
    the reward mode the run trained with (samples.jsonl records it; difflib, the paper's, otherwise)."""
    if step.reward is not None or step.expert_action is None or step.completion is None:
        return step.reward
    from srl_agent.actions import ActionParseError
    from srl_agent.reward import srl_reward

    try:
        return srl_reward(step.completion, step.expert_action, mode=step.reward_mode or "difflib",  # type: ignore[arg-type]
                          format_penalty=step.format_penalty)
    except ActionParseError:  # an expert action outside the canonical form cannot be scored
        return None


def _yes_no(value: bool | None) -> str:
    return "—" if value is None else ("yes" if value else "no")


def reward_text(value: float | None) -> str:
    return "—" if value is None else f"{value:.3f}"
