"""The agent loop: a policy works on one task in one environment, turn by turn, until it submits or a limit stops it.

    issue = env.reset()
    loop:
        prompt  = build_messages(issue, own steps so far)      # the exact SRL training format (last K steps)
        stop if the prompt is over the context limit
        text    = policy(prompt)                               # <think>…</think> + one action
        action  = parse_completion(text)                       # malformed → the error is the observation
        obs     = env.step(action)                             # bash / str_replace_editor / submit
    submission = the repository's diff against the base commit

Stop reasons: submitted, turn_limit, context_limit, format_errors (N in a row), error (the environment failed).
A submission is taken at every stop, like SWE-agent's autosubmit; the stop reason says how the episode ended.

Many episodes run at once, one thread each; `Batcher` gathers their prompts into one batched policy call.
"""

from __future__ import annotations

import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field

from srl_agent.actions import ToolCall
from srl_agent.agent.policies import Completion, Policy, PolicyRequest
from srl_agent.answer import FormatError, format_error_message, parse_completion
from srl_agent.data.prompts import PromptConfig, build_messages, truncate_middle
from srl_agent.env.swe_env import Env
from srl_agent.env.task import Task
from srl_agent.episodes import StopReason, Turn
from srl_agent.trajectory import Step


@dataclass(frozen=True, slots=True)
class AgentConfig:
    max_turns: int = 50
    max_prompt_tokens: int = 32768
    """Stop before a turn whose prompt (chat template applied) is longer than this."""
    max_format_errors: int = 3
    """Stop after this many malformed completions in a row."""
    prompt: PromptConfig = field(default_factory=PromptConfig)


@dataclass(frozen=True, slots=True)
class AgentResult:
    turns: tuple[Turn, ...]
    stop_reason: StopReason
    submission: str
    error: str | None  # the environment failed (infrastructure); traceback in `error_detail`
    error_detail: str = ""
    start_s: float = 0.0  # env.reset: container start, checkout, history scrub
    agent_s: float = 0.0  # the turns
    issue: str = ""  # what env.reset() returned: the issue as the policy saw it


def run_agent(task: Task, env: Env, policy: Policy, config: AgentConfig = AgentConfig()) -> AgentResult:
    """Run one episode. Environment and policy failures end it with stop reason "error"; nothing is raised."""
    t0 = time.monotonic()
    try:
        issue = env.reset()
    except Exception as e:  # noqa: BLE001 - recorded as the episode's error; the run goes on
        env.close()
        return AgentResult((), "error", "", _describe(e), traceback.format_exc(), time.monotonic() - t0)
    start_s = time.monotonic() - t0
    turns: list[Turn] = []
    steps: list[Step] = []  # the history the prompt shows: the policy's own (action, observation) pairs
    stop: StopReason | None = None
    submission: str | None = None
    error, detail = None, ""
    malformed_in_a_row = 0
    try:
        while stop is None:
            if len(turns) >= config.max_turns:
                stop = "turn_limit"
                break
            messages = build_messages(issue, steps, config.prompt)
            prompt_tokens = policy.count_prompt_tokens(messages)
            if prompt_tokens is not None and prompt_tokens > config.max_prompt_tokens:
                stop = "context_limit"
                break
            t = time.monotonic()
            completion = policy.complete([PolicyRequest(task, len(turns), messages)])[0]
            generate_s = time.monotonic() - t
            tokens = dict(prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens)
            try:
                parsed = parse_completion(completion.text)
            except FormatError as e:
                # The policy sees its own output and the error, then tries again (mini-swe-agent's recovery).
                observation = format_error_message(str(e))
                turns.append(Turn(len(turns), completion.text, "", None, observation, format_error=str(e),
                                  generate_s=generate_s, **tokens))
                steps.append(Step("", _malformed(completion.text), observation))
                malformed_in_a_row += 1
                if malformed_in_a_row >= config.max_format_errors:
                    stop = "format_errors"
                continue
            malformed_in_a_row = 0
            t = time.monotonic()
            result = env.step(parsed.action)
            turns.append(Turn(len(turns), completion.text, parsed.thought, parsed.action_text, result.observation,
                              generate_s=generate_s, execute_s=time.monotonic() - t, info=dict(result.info), **tokens))
            steps.append(Step(parsed.thought, parsed.action, result.observation))
            if result.done:
                stop, submission = "submitted", result.submission or ""
        if submission is None:
            submission = env.submission()
    except Exception as e:  # noqa: BLE001 - a dead container or a crashed policy ends this episode only
        stop, error, detail = "error", _describe(e), traceback.format_exc()
    finally:
        env.close()
    return AgentResult(tuple(turns), stop, submission or "", error, detail, start_s, time.monotonic() - t0 - start_s,
                       issue)


def _malformed(text: str) -> ToolCall:
    # build_messages shows past actions in canonical form; a malformed turn has none, so the policy is shown its raw
    # output (shortened) inside a placeholder call, and the format error as the observation.
    return ToolCall("malformed_output", (("text", truncate_middle(text, 1000) if len(text) > 1000 else text),))


def _describe(e: BaseException) -> str:
    return f"{type(e).__name__}: {e}"


class Batcher:
    """Lets the episode threads of a run share one batched policy (a `Policy` itself).

    A thread's `complete` waits until every thread inside `episode()` is waiting too (or `max_wait_s` passed: one
    thread may be busy with a long command), then one of them runs the whole batch. Threads outside `episode()`
    (starting a container, grading) do not hold a batch back.
    """

    def __init__(self, policy: Policy, max_wait_s: float = 0.5):
        self.policy, self.max_wait_s = policy, max_wait_s
        self.name, self.batched = policy.name, True
        self._cv = threading.Condition()
        self._live = 0
        self._queue: list[_Slot] = []
        self._running = False
        self.batch_sizes: list[int] = []

    @contextmanager
    def episode(self) -> Iterator[None]:
        with self._cv:
            self._live += 1
        try:
            yield
        finally:
            with self._cv:
                self._live -= 1
                self._cv.notify_all()

    def count_prompt_tokens(self, messages: list[dict[str, str]]) -> int | None:
        return self.policy.count_prompt_tokens(messages)

    def complete(self, requests: Sequence[PolicyRequest]) -> list[Completion]:
        slots = [_Slot(r) for r in requests]
        deadline = time.monotonic() + self.max_wait_s
        with self._cv:
            self._queue += slots
            self._cv.notify_all()
            while not all(s.done for s in slots):
                timeout = None  # a batch is generating (or ours was taken): its end notifies
                if not self._running and self._queue:
                    timeout = deadline - time.monotonic()
                    if len(self._queue) >= self._live or timeout <= 0:
                        batch, self._queue, self._running = self._queue, [], True
                        break
                self._cv.wait(timeout)
            else:
                return [s.result() for s in slots]
        self._run(batch)  # this thread leads: its own slots are in the batch
        return [s.result() for s in slots]

    def _run(self, batch: list[_Slot]) -> None:
        try:
            completions = self.policy.complete([s.request for s in batch])
            for slot, completion in zip(batch, completions, strict=True):
                slot.completion = completion
        except BaseException as e:  # every waiting episode gets the failure (each records it)
            for slot in batch:
                slot.exception = e
        finally:
            with self._cv:
                self._running = False
                self.batch_sizes.append(len(batch))
                for slot in batch:
                    slot.done = True
                self._cv.notify_all()


@dataclass(eq=False, slots=True)
class _Slot:
    request: PolicyRequest
    completion: Completion | None = None
    exception: BaseException | None = None
    done: bool = False

    def result(self) -> Completion:
        if self.exception is not None:
            raise self.exception
        assert self.completion is not None
        return self.completion

