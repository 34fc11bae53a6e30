"""Executed step equivalence: at expert states of held-out tasks, does the model's next action *do* what the
expert's next action does? A measure of step quality that does not use the SRL training reward.

For each chosen state k of an expert trajectory (the expert's steps 0..k-1 done):
1. the model writes step k from the training prompt of that state (the issue + the expert's recent steps);
2. in a fresh sandbox the expert's prefix is replayed for real (`replay.live.LiveSession`) and the model's action
   is run; the expert's own step k was run the same way, in one sandbox that replays the whole trajectory;
3. the two executions are compared: exit code, output (whitespace and timings normalised), and the repository
   diff after the action. The step is *equivalent* when all three agree.

The format and the action are judged apart. `format_error` is the trained format's verdict (`<think>…</think>` +
one action, as the reward and the agent loop parse it). A completion without the think block whose whole text is one
well-formed action (an instruct model that was never taught the block writes these) is still executed and compared:
the measure is about what the step does. A completion with no runnable action is not equivalent. A sandbox that
fails is an infrastructure error: recorded with its message, left out of every rate, and the run goes on. A state
whose replayed prefix answered differently from the recording is flagged (`prefix_diverged`) but kept: both
actions still start from the same replayed state.

The SRL reward of the completion against the expert step is recorded next to it, for reference only.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

from srl_agent.agent.policies import Policy, PolicyRequest
from srl_agent.answer import FormatError, parse_completion
from srl_agent.data.prompts import PromptConfig, build_messages
from srl_agent.env.task import Task
from srl_agent.reward import srl_reward
from srl_agent.trajectory import Trajectory

_DURATION = re.compile(r"\b\d+(\.\d+)?(s|ms| seconds?)\b")
_ADDRESS = re.compile(r"\b0x[0-9a-fA-F]{6,}\b")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one executed action did."""

    exit_code: int | None  # bash only; None for the editor and submit
    output: str  # normalised (see `normalise_output`)
    repo_diff: str  # `git diff` of the repository against the base commit after the action
    done: bool  # the action submitted


@dataclass(frozen=True, slots=True)
class StepCheck:
    """One state: the expert's step k against the model's."""

    instance_id: str
    step: int
    expert_action: str
    completion: str
    format_error: str | None  # the trained format's verdict (reward.parse_completion)
    executed: bool  # a runnable action was found (with or without the think block) and run
    srl_reward: float
    expert: Outcome | None
    model: Outcome | None
    same_exit: bool
    same_output: bool
    same_diff: bool
    equivalent: bool
    prefix_diverged: bool = False
    error: str | None = None  # infrastructure failure: not scored

    def to_json(self) -> dict:
        return asdict(self)


@dataclass(frozen=True, slots=True)
class EquivalenceSummary:
    states: int  # scored (no infrastructure error)
    errors: int
    equivalent: float  # fraction of scored states
    equivalent_ci: tuple[float, float]  # 95% percentile bootstrap over states
    same_exit: float
    same_output: float
    same_diff: float
    format_errors: float  # trained format (think block + action)
    not_runnable: float  # no action at all
    mean_srl_reward: float  # reference only: the training objective of SRL


def normalise_output(text: str) -> str:
    """Outputs compared as text, minus what differs between two runs of the same command (timings, addresses)."""
    text = _ADDRESS.sub("0x…", _DURATION.sub("<t>", text))
    return "\n".join(line.rstrip() for line in text.strip().splitlines())


def choose_states(trajectories: Sequence[Trajectory], per_task: int | None, seed: int = 0) -> list[tuple[int, int]]:
    """(trajectory index, step k) pairs: every step of every trajectory, or `per_task` steps of each drawn with
    `seed` (sorted, so one trajectory's states replay in order)."""
    rng = random.Random(seed)
    states = []
    for t, traj in enumerate(trajectories):
        ks = list(range(traj.first_target, len(traj.steps)))
        if per_task is not None and per_task < len(ks):
            ks = sorted(rng.sample(ks, per_task))
        states += [(t, k) for k in ks]
    return states


def prompt_at(traj: Trajectory, k: int, prompt: PromptConfig) -> list[dict[str, str]]:
    """The training prompt of expert state k: what SRL, SFT and the eval loop all show the model."""
    return build_messages(traj.problem_statement, traj.steps[:k], prompt)


def runnable(completion: str) -> bool:
    """The completion holds one action the sandbox can run: the trained format, or a bare well-formed action."""
    from srl_agent.actions import ActionParseError, parse_action

    try:
        parse_completion(completion)
        return True
    except FormatError:
        pass
    if "<think>" in completion or "</think>" in completion:
        return False  # a broken think block: which part is the action is ambiguous
    try:
        parse_action(completion.strip())
        return True
    except ActionParseError:
        return False


def _outcome(step) -> Outcome:
    return Outcome(step.info.get("exit_code"), normalise_output(step.observation), step.repo_diff, step.done)


def compare(expert: Outcome, model: Outcome) -> tuple[bool, bool, bool]:
    return expert.exit_code == model.exit_code, expert.output == model.output, expert.repo_diff == model.repo_diff


def expert_outcomes(traj: Trajectory, task: Task, factory, upto: int | None = None,
                    **env: object) -> tuple[list[Outcome], list[bool]]:
    """Replay the trajectory (its first `upto` steps) in one sandbox: step k's outcome, and whether the replay
    answered differently from the recording before k (outputs normalised, as in the comparison)."""
    from srl_agent.replay.live import LiveSession
    from srl_agent.replay.model import from_trajectory

    item = from_trajectory(traj, traj.instance_id)
    session = LiveSession(item, task, factory, [s.action or "" for s in item.steps], **env)
    try:
        session.start()
        history = session.replay_to(len(item.steps) if upto is None else upto)
    finally:
        session.close()
    diverged, seen = [], False
    for step in history:
        diverged.append(seen)  # state k is the prefix 0..k-1
        recorded = step.recorded_observation
        seen = seen or (recorded is not None and normalise_output(recorded) != normalise_output(step.observation))
    return [_outcome(s) for s in history], diverged


def model_outcome(traj: Trajectory, k: int, completion: str, task: Task, factory, **env: object) -> Outcome:
    """A fresh sandbox, the expert's prefix 0..k-1 replayed, then the model's completion as step k."""
    from srl_agent.replay.live import LiveSession
    from srl_agent.replay.model import from_trajectory

    item = from_trajectory(traj, traj.instance_id)
    session = LiveSession(item, task, factory, [s.action or "" for s in item.steps], **env)
    try:
        session.start()
        session.replay_to(k)
        return _outcome(session.execute(completion, origin="policy"))
    finally:
        session.close()


def check_states(trajectories: Sequence[Trajectory], states: Sequence[tuple[int, int]], completions: Sequence[str],
                 tasks: dict[str, Task], factory, progress: Callable[[], None] | None = None,
                 **env: object) -> list[StepCheck]:
    """Execute and compare every state; `completions[i]` is the model's text for `states[i]`."""
    from srl_agent.actions import render_action

    experts: dict[int, tuple[list[Outcome], list[bool]] | str] = {}
    upto: dict[int, int] = {}
    for t, k in states:
        upto[t] = max(upto.get(t, 0), k + 1)
    checks = []
    for (t, k), completion in zip(states, completions, strict=True):
        traj = trajectories[t]
        expert_text = render_action(traj.steps[k].action)
        reward = srl_reward(completion, expert_text)
        try:
            parse_completion(completion)
            format_error = None
        except FormatError as e:
            format_error = str(e)
        run = runnable(completion)
        base = dict(instance_id=traj.instance_id, step=k, expert_action=expert_text, completion=completion,
                    format_error=format_error, executed=run, srl_reward=reward)
        task = tasks[traj.instance_id]
        try:
            if t not in experts:
                try:
                    experts[t] = expert_outcomes(traj, task, factory, upto[t], **env)
                except Exception as e:  # noqa: BLE001 - recorded per state below, never scored
                    experts[t] = f"expert replay: {type(e).__name__}: {e}"
            if isinstance(experts[t], str):
                raise RuntimeError(experts[t])
            outcomes, diverged = experts[t]  # type: ignore[misc]
            expert = outcomes[k]
            if not run:
                checks.append(StepCheck(**base, expert=expert, model=None, same_exit=False, same_output=False,
                                        same_diff=False, equivalent=False, prefix_diverged=diverged[k]))
            else:
                model = model_outcome(traj, k, completion, task, factory, **env)
                same = compare(expert, model)
                checks.append(StepCheck(**base, expert=expert, model=model, same_exit=same[0], same_output=same[1],
                                        same_diff=same[2], equivalent=all(same), prefix_diverged=diverged[k]))
        except Exception as e:  # noqa: BLE001 - an infrastructure failure is data, not a zero
            checks.append(StepCheck(**base, expert=None, model=None, same_exit=False, same_output=False,
                                    same_diff=False, equivalent=False, error=f"{type(e).__name__}: {e}"))
        if progress:
            progress()
    return checks


def summarise(checks: Sequence[StepCheck]) -> EquivalenceSummary:
    from srl_agent.evaluate.repeats import bootstrap_ci

    scored = [c for c in checks if c.error is None]
    n = max(len(scored), 1)

    def rate(flag: str) -> float:
        return sum(bool(getattr(c, flag)) for c in scored) / n

    eq = [float(c.equivalent) for c in scored]
    return EquivalenceSummary(
        states=len(scored), errors=len(checks) - len(scored), equivalent=rate("equivalent"),
        equivalent_ci=bootstrap_ci(eq), same_exit=rate("same_exit"), same_output=rate("same_output"),
        same_diff=rate("same_diff"), format_errors=sum(c.format_error is not None for c in scored) / n,
        not_runnable=sum(not c.executed for c in scored) / n,
        mean_srl_reward=sum(c.srl_reward for c in scored) / n)


def run_step_equivalence(trajectories: Sequence[Trajectory], policy: Policy, tasks: dict[str, Task], factory,
                         prompt: PromptConfig = PromptConfig(), per_task: int | None = None, seed: int = 0,
                         batch: int = 16, progress: Callable[[], None] | None = None,
                         **env: object) -> tuple[list[StepCheck], EquivalenceSummary]:
    """Generate the model's step at every chosen state (batched), then execute and compare them."""
    states = choose_states(trajectories, per_task, seed)
    requests = [PolicyRequest(tasks[trajectories[t].instance_id], k, prompt_at(trajectories[t], k, prompt))
                for t, k in states]
    completions: list[str] = []
    for start in range(0, len(requests), batch):
        completions += [c.text for c in policy.complete(requests[start : start + batch])]
    checks = check_states(trajectories, states, completions, tasks, factory, progress, **env)
    return checks, summarise(checks)
