"""Counterfactual replay: rebuild an episode's sandbox, replay its recorded actions up to step k, then run a
different action at k (typed by the user, or proposed by a policy) and see what changes.

    session = LiveSession.open(item, bench="swe-mini", experts=lookup)
    session.replay_to(3)                           # the recorded actions of steps 1..3, in a fresh sandbox
    step = session.execute("<function=bash>\\n<parameter=command>ls</parameter>\\n</function>")
    step.observation, step.repo_diff, step.reward  # new output, `git diff` of the repository, SRL reward vs expert k

No UI here: the Textual screen (live_screen.py) and the tests drive this class. Every call blocks on the sandbox.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from srl_agent.actions import Action, ActionParseError, parse_action, render_action
from srl_agent.answer import THINK_OPEN, FormatError, parse_completion, render_completion
from srl_agent.env.swe_env import SandboxFactory, SWEEnv
from srl_agent.env.task import Task
from srl_agent.errors import UserError
from srl_agent.replay.model import Item
from srl_agent.reward import srl_reward
from srl_agent.trajectory import Step, Trajectory

EDITED_THOUGHT = "(action written by the user in srl-agent replay --live)"


@dataclass(frozen=True, slots=True)
class LiveStep:
    """One executed step of a live session. `origin`: replayed (the recording's action), edited, or policy."""

    index: int
    origin: str
    action: str
    thought: str
    observation: str
    repo_diff: str  # `git diff` against the base commit after this step
    repo_changed: bool  # this step changed the repository
    expert_action: str | None = None
    reward: float | None = None
    recorded_observation: str | None = None  # replayed steps: what the recording saw
    done: bool = False
    info: dict[str, Any] = field(default_factory=dict)

    @property
    def diverged(self) -> bool:
        """The sandbox answered differently from the recording (nondeterminism, or a different environment)."""
        rec = self.recorded_observation
        return rec is not None and rec.strip() != self.observation.strip()


def recorded_actions(item: Item) -> list[str | None]:
    """The action text of each step (None: a format failure, which executed nothing)."""
    return [s.action for s in item.steps]


def expert_actions(item: Item, expert: Trajectory | None) -> list[str]:
    """What step k is scored against: an expert trajectory is its own expert; an episode uses the expert trajectory of
    its task, step by step by position."""
    if item.kind == "trajectories":
        return [s.action or "" for s in item.steps]
    return [render_action(s.action) for s in expert.steps] if expert else []


def resolve_task(bench: str, instance_id: str) -> tuple[Task, SandboxFactory]:
    from srl_agent.tasksets import find_task, load_bench, sandbox_factory

    task = find_task(load_bench(bench), instance_id, bench)
    return task, sandbox_factory(bench)  # type: ignore[return-value]


class LiveSession:
    """One rebuilt sandbox for one item; `history` holds every step executed in it, replayed or new."""

    def __init__(self, item: Item, task: Task, factory: SandboxFactory, experts: list[str], **env_options: Any) -> None:
        self.item, self.task, self.factory, self.experts = item, task, factory, experts
        self.recorded = recorded_actions(item)
        self.env = SWEEnv(task, factory, **env_options)
        self.history: list[LiveStep] = []
        self.problem_statement = ""
        self._diff = ""

    @classmethod
    def open(cls, item: Item, bench: str | None = None, experts: Callable[[str], Trajectory | None] | None = None,
             **env_options: Any) -> LiveSession:
        """Resolve the item's task (its `bench` field for episodes; `bench` overrides, swe-mini is the default)."""
        if item.kind == "samples":
            raise UserError("live replay needs an episode or a trajectory; samples hold one step of many prompts "
                            "(open the expert trajectory file with --live instead)")
        facts = dict(item.facts)
        bench = bench or facts.get("bench") or "swe-mini"
        instance_id = item.summary.instance_id
        task, factory = resolve_task(bench, instance_id)
        expert = experts(instance_id) if experts and item.kind == "episodes" else None
        return cls(item, task, factory, expert_actions(item, expert), **env_options)

    @property
    def k(self) -> int:
        """The index of the next step to execute."""
        return len(self.history)

    @property
    def done(self) -> bool:
        return bool(self.history) and self.history[-1].done

    def start(self) -> None:
        self.problem_statement = self.env.reset()
        self.history.clear()
        self._diff = ""

    def recorded_action(self, k: int | None = None) -> str | None:
        k = self.k if k is None else k
        return self.recorded[k] if k < len(self.recorded) else None

    def expert_action(self, k: int | None = None) -> str | None:
        k = self.k if k is None else k
        return self.experts[k] if k < len(self.experts) else None

    def replay_to(self, k: int, progress: Callable[[int], None] | None = None) -> list[LiveStep]:
        """Execute the recording's actions until `k` steps are done (format failures replay as no-ops)."""
        while self.k < min(k, len(self.recorded)) and not self.done:
            text = self.recorded[self.k]
            recorded_obs = self.item.steps[self.k].observation
            if text is None:
                step = LiveStep(self.k, "replayed", "", self.item.steps[self.k].thought, recorded_obs, self._diff,
                                False, self.expert_action(), None, recorded_obs, info={"skipped": "format failure"})
                self.history.append(step)
            else:
                self._run(parse_action(text), text, "replayed", self.item.steps[self.k].thought, None,
                          recorded=recorded_obs)
            if progress:
                progress(self.k)
        return self.history

    def execute(self, text: str, origin: str = "edited") -> LiveStep:
        """Run `text` as step k: a bare action (canonical function call), or a completion `<think>…</think>` + action.
        Raises UserError (the text is shown back to the user) when it does not parse."""
        if self.done:
            raise UserError("the episode is done (it submitted); go back and branch again")
        stripped = text.strip()
        try:
            if stripped.startswith(THINK_OPEN):
                parsed = parse_completion(stripped)
                action, thought, completion = parsed.action, parsed.thought, stripped
            else:
                action, thought = parse_action(stripped), EDITED_THOUGHT
                completion = render_completion(thought, action)
        except (ActionParseError, FormatError) as e:
            raise UserError(f"cannot run this: {e}") from None
        return self._run(action, render_action(action), origin, thought, completion)

    def _run(self, action: Action, text: str, origin: str, thought: str, completion: str | None,
             recorded: str | None = None) -> LiveStep:
        expert = self.expert_action()
        result = self.env.step(action)
        diff = result.submission if result.done else self.env.submission()
        reward = None
        if expert is not None:
            scored = completion if completion is not None else render_completion(thought, text)
            reward = srl_reward(scored, expert)
        step = LiveStep(self.k, origin, text, thought, result.observation, diff or "", (diff or "") != self._diff,
                        expert, reward, recorded, result.done, dict(result.info))
        self._diff = diff or ""
        self.history.append(step)
        return step

    def messages(self) -> list[dict[str, str]]:
        """The prompt a policy sees for step k: the issue and this session's own history (the training format)."""
        from srl_agent.data.prompts import build_messages

        steps = [Step(s.thought, parse_action(s.action), s.observation) for s in self.history if s.action]
        return build_messages(self.problem_statement, steps)

    def grade(self) -> Any:
        """Grade the repository as it stands now (the submission a `submit` here would make), in a fresh sandbox."""
        from srl_agent.env.grading import grade

        return grade(self.task, self._diff if self.done else self.env.submission(), self.factory)

    def close(self) -> None:
        self.env.close()


class Policy:
    """A model that proposes step k's completion from the session's prompt (`--model tiny|PATH`)."""

    def __init__(self, name: str, max_tokens: int = 512, temperature: float = 1.0, seed: int = 0) -> None:
        from srl_agent.models.load import load_base_model, load_tokenizer
        from srl_agent.rollout.hf import HFEngine

        self.name, self.max_tokens, self.temperature, self.seed = name, max_tokens, temperature, seed
        self.tokenizer = load_tokenizer(name)
        self.engine = HFEngine(load_base_model(name, tokenizer=self.tokenizer), self.tokenizer, batch_size=1)

    def propose(self, messages: list[dict[str, str]]) -> str:
        from srl_agent.answer import encode_prompt
        from srl_agent.rollout import SamplingParams

        ids = encode_prompt(self.tokenizer, messages)
        [[sample]] = self.engine.generate([ids], 1, SamplingParams(self.temperature, self.max_tokens), self.seed)
        self.seed += 1  # a second ask gives a second sample
        return sample.text
