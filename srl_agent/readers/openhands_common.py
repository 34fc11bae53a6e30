"""Building blocks shared by the OpenHands-family readers (chat `tool_calls`, in-text function calls, events).

Every reader turns its record into one linear stream (assistant text, tool calls, observations, extra user messages)
and feeds it to a `StepBuilder`, so that the same trajectory encoded two ways yields identical steps. The policies
that keep them identical live here:

* Assistant text without a function call (a progress report, a "final answer" before `finish`) is not an action.
  It is prepended to the *next* step's thought, since it is the reasoning that led to that action; text after the
  last action is kept in `metadata["final_message"]`.
* User messages after the task (e.g. OpenHands' "Please continue working on the task…" nudges) are kept in
  `metadata["user_messages"]` as `{"before_step": i, "text": …}`.
* An action whose observation never arrived is an error, except at the very end of a trajectory (the run stopped
  after issuing it: max iterations, budget) and for `Submit`, which gets no answer: those observe "" and the trailing
  ones are listed in `metadata["unobserved_steps"]`.
* Arguments that the typed action cannot carry (`execute_bash`'s `is_input`/`timeout`, `finish`'s `message`) are
  listed in `metadata["dropped_arguments"]`; a `str_replace_editor` call with a valid command but invalid other
  arguments is kept as a ToolCall and listed in `metadata["invalid_calls"]`.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from srl_agent.actions import (
    EDIT_COMMANDS,
    EDITOR_TOOL,
    Action,
    ActionParseError,
    Submit,
    ToolCall,
    action_from_call,
    action_params,
    tool_name,
)
from srl_agent.trajectory import DataError, Origin, Step, Trajectory

_ISSUE_RE = re.compile(r"<(pr_description|issue_description)>(.*?)</\1>", re.DOTALL)
# Scaffold prefixes of observations: OpenHands / SWE-smith ("OBSERVATION:\n"), SWE-agent's truncated-output template
# ("Observation: "), and the ADP ShareGPT converter ("EXECUTION RESULT of [tool]:\n").
_OBSERVATION_PREFIX_RE = re.compile(r"(?:OBSERVATION:\n|Observation: |EXECUTION RESULT of \[[^\]\n]*\]:\n)")


def problem_statement(first_user_message: str, fallback: str | None = None) -> str:
    """The issue text inside `<pr_description>`/`<issue_description>`, else `fallback`, else the whole message."""
    match = _ISSUE_RE.search(first_user_message)
    if match:
        return match.group(2).strip()
    return fallback.strip() if fallback else first_user_message.strip()


def strip_observation_prefix(text: str) -> str:
    match = _OBSERVATION_PREFIX_RE.match(text)
    return text[match.end() :] if match else text


def text_of(content: Any) -> str:
    """Message content as text: a string, None, or a list of `{"type": "text", "text": …}` blocks."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "".join(block.get("text", "") for block in content if isinstance(block, dict))
    return str(content)


def decode_json_field(record: dict[str, Any], key: str, origin: Origin, expected: str) -> Any:
    """record[key], decoding it when a Hugging Face export stored it as a JSON string."""
    if key not in record:
        raise DataError(origin, f"missing {key!r}; expected {expected}")
    value = record[key]
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError as e:
            raise DataError(
                origin, f"{key!r} is a string that is not valid JSON ({e.msg}); expected {expected}"
            ) from None
    if not isinstance(value, list) or not value:
        raise DataError(origin, f"{key!r} is {type(value).__name__ if value else 'empty'}; expected {expected}")
    return value


def instance_id(record: dict[str, Any], origin: Origin, *keys: str) -> str:
    for key in keys:
        value = record.get(key)
        if isinstance(value, str) and value:
            return value
    raise DataError(origin, f"missing instance id; expected a non-empty string in one of {list(keys)}")


def resolved_flag(record: dict[str, Any]) -> bool | None:
    """`resolved`, else `test_result.report.resolved`; None when absent or not a boolean."""
    value = record.get("resolved")
    if value is None:
        test_result = record.get("test_result")
        report = test_result.get("report") if isinstance(test_result, dict) else None
        value = report.get("resolved") if isinstance(report, dict) else None
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value if isinstance(value, bool) else None


def patch_of(record: dict[str, Any]) -> str | None:
    test_result = record.get("test_result")
    patch = test_result.get("git_patch") if isinstance(test_result, dict) else None
    patch = patch or record.get("patch") or record.get("git_patch")
    return patch if isinstance(patch, str) and patch else None


def build_action(name: str, arguments: dict[str, Any] | list[tuple[str, str]], where: str, origin: Origin) -> Action:
    """`action_from_call`, with the OpenHands-specific policy for bad calls (see the module docstring).

    JSON nulls mean "not given" (OpenHands writes `"view_range": null`), so they are removed first.
    """
    if isinstance(arguments, dict):
        arguments = {k: v for k, v in arguments.items() if v is not None}
    try:
        return action_from_call(name, arguments)
    except ActionParseError as e:
        args = dict(arguments)
        # OpenHands rejects an editor call with an unknown command before running it, so one in a record means
        # the record is corrupt; other bad arguments reach the tool, which answers with an error: real behaviour.
        if name != EDITOR_TOOL or args.get("command") not in EDIT_COMMANDS:
            raise DataError(origin, f"{where}: invalid {name} call ({e}); expected a valid {name} call") from None
        items = [(k, v if isinstance(v, str) else json.dumps(v)) for k, v in args.items()]
        return ToolCall(name, tuple(items))


@dataclass
class _Pending:
    thought: str
    action: Action
    observation: str | None
    where: str


class StepBuilder:
    """Collects one trajectory's steps from a linear stream of turns (policies: see the module docstring)."""

    def __init__(self, origin: Origin):
        self.origin = origin
        self.metadata: dict[str, Any] = {}
        self._steps: list[_Pending] = []
        self._carried: list[str] = []

    def __len__(self) -> int:
        return len(self._steps)

    def message(self, text: str) -> None:
        """Assistant text that is not an action."""
        if text.strip():
            self._carried.append(text.strip())

    def user(self, text: str) -> None:
        self._note("user_messages", {"before_step": len(self._steps), "text": text})

    def call(self, thought: str, action: Action, arguments: dict[str, Any] | list[tuple[str, str]], where: str) -> int:
        """Add a step; `arguments` are the raw call arguments, to record those the action cannot carry."""
        parts = [*self._carried, thought.strip()]
        self._carried = []
        index = len(self._steps)
        self._steps.append(_Pending("\n\n".join(p for p in parts if p), action, None, where))
        self._record_dropped(index, action, arguments)
        return index

    def observe(self, index: int, text: str) -> None:
        step = self._steps[index]
        step.observation = text if step.observation is None else f"{step.observation}\n{text}"

    def note(self, key: str, value: Any) -> None:
        self._note(key, value)

    def build(self) -> tuple[Step, ...]:
        if not self._steps:
            raise DataError(self.origin, "no actions found; expected at least one tool or function call")
        last_observed = max((i for i, s in enumerate(self._steps) if s.observation is not None), default=-1)
        for i, step in enumerate(self._steps):
            if step.observation is None and i < last_observed and not isinstance(step.action, Submit):
                raise DataError(self.origin, f"{step.where} has no observation; expected a tool result for it")
        unobserved = [
            i for i, s in enumerate(self._steps) if s.observation is None and not isinstance(s.action, Submit)
        ]
        if unobserved:
            self.metadata["unobserved_steps"] = unobserved
        if self._carried:
            self.metadata["final_message"] = "\n\n".join(self._carried)
        return tuple(Step(s.thought, s.action, s.observation or "") for s in self._steps)

    def _note(self, key: str, value: Any) -> None:
        self.metadata.setdefault(key, []).append(value)

    def _record_dropped(self, index: int, action: Action, arguments: dict[str, Any] | list[tuple[str, str]]) -> None:
        items = arguments.items() if isinstance(arguments, dict) else arguments
        kept = {name for name, _ in action_params(action)}
        dropped = {k: v for k, v in items if k not in kept and v is not None}
        if isinstance(action, ToolCall) and action.name == EDITOR_TOOL:
            self._note("invalid_calls", {"step": index, "arguments": dict(action.arguments)})
        elif dropped:
            self._note("dropped_arguments", {"step": index, "tool": tool_name(action), "arguments": dropped})


# ---------------------------------------------------------------------------------------------------------------
# Chat records (`messages` lists) -> Trajectory


def chat_metadata(record: dict[str, Any], builder: StepBuilder) -> dict[str, Any]:
    metadata = {key: record[key] for key in ("model", "run_id", "traj_id") if record.get(key)}
    patch = patch_of(record)
    if patch:
        metadata["patch"] = patch
    metadata.update(builder.metadata)
    return metadata


def chat_trajectory(
    reader: str, record: dict[str, Any], origin: Origin, first_user: str | None, builder: StepBuilder, *id_keys: str
) -> Trajectory:
    if first_user is None:
        raise DataError(origin, "no user message; expected the task as the first user message")
    steps = builder.build()
    return Trajectory(
        instance_id=instance_id(record, origin, *id_keys),
        problem_statement=problem_statement(first_user),
        steps=steps,
        source_format=reader,
        resolved=resolved_flag(record),
        metadata=chat_metadata(record, builder),
    )


def messages_if_list(record: Any) -> list[Any] | None:
    if not isinstance(record, dict):
        return None
    messages = record.get("messages")
    if isinstance(messages, str) and messages.startswith("["):
        try:
            messages = json.loads(messages)
        except json.JSONDecodeError:
            return None
    return messages if isinstance(messages, list) else None
