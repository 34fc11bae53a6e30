"""The SWE task environment: one task attempt in one sandbox, driven by typed actions.

The agent loop is not here (a later issue); this module only turns actions into observations:

    env = SWEEnv(task, sandbox_factory)
    prompt = env.reset()                 # repo at base commit in /testbed, history scrubbed; returns the issue text
    result = env.step(Bash("ls"))        # StepResult(observation, done, info)
    patch = env.submission()             # binary-safe git diff against the base commit
    env.close()
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from srl_agent.actions import Action, Bash, Edit, Submit, ToolCall, action_type
from srl_agent.env.editor import Editor, EditorStyle
from srl_agent.env.repo import checkout_base, scrub_future_history, submission_diff
from srl_agent.env.task import Task
from srl_agent.sandbox.base import Sandbox

_SANDBOX_TIMEOUT_NOTE = re.compile(r"\[command timed out after [0-9.e+-]+s and was interrupted\]\n?")

REPO_DIR = "/testbed"
SandboxFactory = Callable[[Task], Sandbox]
"""Returns a started sandbox whose `/testbed` (or the env's `repo_dir`) holds the task's git repository."""


@dataclass(frozen=True, slots=True)
class StepResult:
    """What one action produced. `info` holds exit_code, timed_out, truncated, duration_s and action (its type label);
    `submission` is the patch, set on the step that submitted (done), None before."""

    observation: str
    done: bool
    info: dict[str, Any] = field(default_factory=dict)
    submission: str | None = None


class Env(Protocol):
    """The environment interface the agent loop will drive."""

    def reset(self) -> str:
        """Start a fresh attempt; returns the task prompt."""
        ...

    def step(self, action: Action) -> StepResult: ...

    def submission(self) -> str:
        """The patch the attempt produced so far (may be empty)."""
        ...

    def close(self) -> None: ...


class EpisodeError(RuntimeError):
    """The environment was driven out of order (step before reset, or after done)."""


def timeout_message(command: str, timeout: float) -> str:
    # SWE-agent's wording, which the SWE-smith trajectories carry.
    return (
        f"The command '{command}' was cancelled because it took more than {timeout:g} seconds. "
        "Please try a different command that completes more quickly."
    )


class SWEEnv:
    """One task attempt. Not thread-safe; one per rollout."""

    def __init__(
        self,
        task: Task,
        sandbox_factory: SandboxFactory,
        *,
        repo_dir: str = REPO_DIR,
        command_timeout: float = 120.0,
        editor_style: EditorStyle = "sweagent",
        scrub_history: bool = True,
    ):
        self.task = task
        self._factory = sandbox_factory
        self.repo_dir = repo_dir
        self.command_timeout = command_timeout
        self.editor_style = editor_style
        self.scrub_history = scrub_history
        self._sandbox: Sandbox | None = None
        self._editor: Editor | None = None
        self.done = False

    @property
    def sandbox(self) -> Sandbox:
        if self._sandbox is None:
            raise EpisodeError("call reset() first")
        return self._sandbox

    def reset(self) -> str:
        """A fresh sandbox with the repository at the base commit and no later history; returns the issue text."""
        self.close()
        self._sandbox = self._factory(self.task)
        try:
            checkout_base(self._sandbox, self.repo_dir, self.task.base_commit)
            if self.scrub_history:
                scrub_future_history(self._sandbox, self.repo_dir, self.task.base_commit)
            self._sandbox.run(f"cd {shlex.quote(self.repo_dir)}")
        except BaseException:
            self.close()
            raise
        self._editor = Editor(self._sandbox, self.editor_style)
        self.done = False
        return self.task.problem_statement

    def step(self, action: Action) -> StepResult:
        if self.done:
            raise EpisodeError("the episode is done (submitted); call reset() for a new attempt")
        sandbox = self.sandbox
        info: dict[str, Any] = {"action": action_type(action)}
        if isinstance(action, Bash):
            res = sandbox.run(action.command, timeout=self.command_timeout)
            info.update(exit_code=res.exit_code, timed_out=res.timed_out, truncated=res.truncated,
                        duration_s=res.duration_s)
            obs = res.output
            if res.timed_out:
                # The agent sees the scaffold's message (what expert observations contain), not the sandbox's note.
                obs = _SANDBOX_TIMEOUT_NOTE.sub("", obs)
                obs = (obs.rstrip("\n") + "\n" if obs.strip() else "") + timeout_message(action.command,
                                                                                         self.command_timeout)
            return StepResult(obs, False, info)
        if isinstance(action, Edit):
            assert self._editor is not None
            return StepResult(self._editor(action), False, info)
        if isinstance(action, Submit):
            patch = self.submission()
            self.done = True
            return StepResult(patch, True, info, submission=patch)
        assert isinstance(action, ToolCall)
        return StepResult(
            f"Unknown tool {action.name!r}. The available tools are: bash, str_replace_editor, submit.", False, info
        )

    def submission(self) -> str:
        return submission_diff(self.sandbox, self.repo_dir, self.task.base_commit)

    def close(self) -> None:
        sandbox, self._sandbox, self._editor = self._sandbox, None, None
        if sandbox is not None:
            sandbox.close()

    def __enter__(self) -> SWEEnv:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
