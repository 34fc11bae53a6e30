"""Reader for SWE-agent trajectories: `.traj` files (SWE-agent 1.x and 0.x, SWE-smith). nebius rows: `nebius.py`.

Command strings become typed actions in `sweagent_commands` (mapping documented there).
"""

from __future__ import annotations

import json
import re
from collections import deque
from pathlib import Path
from typing import Any

from srl_agent.actions import Action
from srl_agent.readers.sweagent_commands import action_from_tool_call, parse_command
from srl_agent.trajectory import DataError, Origin, Step, Trajectory

# The scaffold's wrapper around the issue text in the first user message, most specific first.
_ISSUE_TEMPLATES = (
    re.compile(r"ISSUE:\n(.*?)\n\nINSTRUCTIONS:", re.DOTALL),  # SWE-agent default instance template
    re.compile(r"<pr_description>(.*?)</pr_description>", re.DOTALL),  # SWE-smith, SWE-agent 1.x anthropic config
    re.compile(r"<issue_description>(.*?)</issue_description>", re.DOTALL),
    re.compile(r"<issue>(.*?)</issue>", re.DOTALL),
)
# Pseudo-actions SWE-agent appends when it stops the run (cost/context limit, errors); no agent produced them.
_EXIT_MARKER = re.compile(r"exit_[a-z_]+")


# ---------------------------------------------------------------------------------------------------------------
# Helpers shared with the mini-swe-agent reader


def strip_issue_template(text: str) -> str:
    """The issue text inside the scaffold's instance template, or the whole message if no template is recognised."""
    for pattern in _ISSUE_TEMPLATES:
        m = pattern.search(text)
        if m:
            return m.group(1).strip()
    return text.strip()


def message_text(content: Any) -> str | None:
    """Text of a chat message's content (a string or a list of `{"type": "text", "text": …}` parts); None if neither."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = [p["text"] for p in content if isinstance(p, dict) and isinstance(p.get("text"), str)]
        return "\n".join(parts)
    return None


def origin_stem(origin: Origin) -> str:
    """The file name without trajectory suffixes: the instance id by SWE-agent's naming convention."""
    name = Path(origin.path).name
    for suffix in (".traj.json", ".traj", ".json", ".jsonl"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
            break
    position = origin.index if origin.index is not None else origin.line
    return name if position is None else f"{name}_{position}"


def step_action(command: str, call: tuple[str, dict[str, Any]] | None, where: str, notes: list[str]) -> Action | None:
    """The typed action of one step, or None (with a note) when the step holds no agent action."""
    stripped = command.strip()
    if not stripped:
        notes.append(f"{where}: empty action skipped")
        return None
    if _EXIT_MARKER.fullmatch(stripped):
        notes.append(f"{where}: scaffold exit marker {stripped!r} skipped (not an agent action)")
        return None
    action, note = action_from_tool_call(*call, command) if call else parse_command(command)
    if note:
        notes.append(f"{where}: {note}")
    return action


def describe(value: Any) -> str:
    """For error messages: "missing" for None, else the type with an article ("a list", "an int")."""
    if value is None:
        return "missing"
    name = type(value).__name__
    return f"{'an' if name[0] in 'aeiou' else 'a'} {name}"


def _str_field(obj: dict[str, Any], key: str, where: str, origin: Origin) -> str:
    """An optional string field (None -> "")."""
    value = obj.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DataError(origin, f"{where}.{key} is {describe(value)}; expected a string")
    return value


def metadata(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v not in (None, [], "")}


# ---------------------------------------------------------------------------------------------------------------
# SWE-agent .traj


class SweAgentTrajReader:
    """SWE-agent `.traj` files: 1.x, 0.x and SWE-smith (which runs SWE-agent 1.x).

    One JSON object per file::

        {"trajectory": [{"thought": "Let me look.", "action": "str_replace_editor view /testbed/a.py",
                         "observation": "Here's the result of running `cat -n` …", "response": …, "state": …}, …],
         "history": [{"role": "system", …}, {"role": "user", "content": "…<pr_description>…"},
                     {"role": "assistant", "action": "…", "tool_calls": [{"function": {"name": "str_replace_editor",
                      "arguments": "{\\"command\\": \\"view\\", …}"}}]}, {"role": "tool", …}, …],
         "info": {"submission": "diff --git …", "exit_status": "submitted", "swe_agent_version": "1.0.1"},
         "replay_config": {"problem_statement": {"id": "…", "text": "…"}, "agent": {"model": {"name": …}}},
         "environment": "pandas-dev__pandas.95280573.pr_53652"}

    `replay_config` may be a JSON string and is absent in 0.x. Demonstration files have only `history`; their steps
    are the assistant messages (thought + action) with the following tool/user message as observation.

    Steps come from `trajectory` (thought, action, observation as recorded). Where the matching assistant message in
    `history` has exactly one tool call, its JSON arguments are used instead of re-parsing the rendered command
    string. `resolved` stays None: exit_status "submitted" only means a patch was produced.
    """

    name = "swe_agent"

    def sniff(self, record: Any) -> bool:
        if not isinstance(record, dict):
            return False
        if isinstance(record.get("trajectory"), list):
            return "history" in record or "info" in record
        history = record.get("history")
        return isinstance(history, list) and _first_assistant_has_action(history)

    def read(self, record: Any, origin: Origin) -> Trajectory:
        history = _history(record, origin)
        info = record.get("info") or {}
        if not isinstance(info, dict):
            raise DataError(origin, f"'info' is {describe(info)}; expected an object with submission/exit_status")
        replay = _replay_config(record, origin)
        notes: list[str] = []
        if "trajectory" in record:
            steps = _steps_from_trajectory(record["trajectory"], history, origin, notes)
        else:
            steps = _steps_from_history(history, origin, notes)
        return Trajectory(
            instance_id=_instance_id(record, replay, origin),
            problem_statement=_problem_statement(replay, history, origin),
            steps=tuple(steps),
            source_format=self.name,
            resolved=info.get("resolved") if isinstance(info.get("resolved"), bool) else None,
            metadata=metadata(
                submission=info.get("submission"),
                exit_status=info.get("exit_status"),
                model=_model_name(replay),
                scaffold_version=info.get("swe_agent_version"),
                notes=notes,
            ),
        )


def _first_assistant_has_action(history: list[Any]) -> bool:
    for msg in history:
        if isinstance(msg, dict) and msg.get("role") == "assistant":
            return "action" in msg
    return False


def _is_demo(msg: dict[str, Any]) -> bool:
    return bool(msg.get("is_demo"))


def _history(record: dict[str, Any], origin: Origin) -> list[dict[str, Any]]:
    history = record.get("history", [])
    if not isinstance(history, list):
        raise DataError(origin, f"'history' is {describe(history)}; expected a list of messages")
    for i, msg in enumerate(history):
        if not isinstance(msg, dict):
            raise DataError(origin, f"history[{i}] is {describe(msg)}; expected a message object with 'role'")
    return history


def _replay_config(record: dict[str, Any], origin: Origin) -> dict[str, Any]:
    replay = record.get("replay_config")
    if isinstance(replay, str):  # SWE-agent 1.x writes the config as a JSON string
        try:
            replay = json.loads(replay)
        except json.JSONDecodeError as e:
            raise DataError(origin, f"'replay_config' is not valid JSON ({e.msg}); expected a JSON object") from None
    if replay is None:
        return {}
    if not isinstance(replay, dict):
        raise DataError(origin, f"'replay_config' is {describe(replay)}; expected an object or a JSON string")
    return replay


def _tool_call(msg: dict[str, Any]) -> tuple[str, dict[str, Any]] | None:
    """(name, arguments) of the message's single tool call, None if it has none, several, or unreadable JSON."""
    calls = msg.get("tool_calls")
    if not (isinstance(calls, list) and len(calls) == 1 and isinstance(calls[0], dict)):
        return None
    function = calls[0].get("function")
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        return None
    arguments = function.get("arguments", {})
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments) if arguments.strip() else {}
        except json.JSONDecodeError:
            return None  # the command string is still there and gets parsed instead
    return (function["name"], arguments) if isinstance(arguments, dict) else None


def _calls_by_action(history: list[dict[str, Any]]) -> dict[str, deque[tuple[str, dict[str, Any]] | None]]:
    """Tool calls of the history's assistant messages, queued per action string in order.

    `history` may hold demonstrations and requeried responses that are not steps, so steps are matched to messages
    by their identical action string rather than by position.
    """
    queues: dict[str, deque[tuple[str, dict[str, Any]] | None]] = {}
    for msg in history:
        if msg.get("role") == "assistant" and isinstance(msg.get("action"), str) and not _is_demo(msg):
            queues.setdefault(msg["action"], deque()).append(_tool_call(msg))
    return queues


def _steps_from_trajectory(traj: Any, history: list[dict[str, Any]], origin: Origin, notes: list[str]) -> list[Step]:
    if not isinstance(traj, list):
        raise DataError(origin, f"'trajectory' is {describe(traj)}; expected a list of steps")
    calls = _calls_by_action(history)
    steps = []
    for i, raw in enumerate(traj):
        where = f"trajectory[{i}]"
        if not isinstance(raw, dict):
            raise DataError(origin, f"{where} is {describe(raw)}; expected an object with 'action', 'observation'")
        command = raw.get("action")
        if not isinstance(command, str):
            raise DataError(origin, f"{where}.action is {describe(command)}; expected the agent's command string")
        observation = _str_field(raw, "observation", where, origin)
        thought = _str_field(raw, "thought", where, origin)
        queue = calls.get(command)
        action = step_action(command, queue.popleft() if queue else None, where, notes)
        if action is not None:
            steps.append(Step(thought.strip(), action, observation))
    return steps


def _steps_from_history(history: list[dict[str, Any]], origin: Origin, notes: list[str]) -> list[Step]:
    """Steps of a history-only file (SWE-agent demonstrations): assistant message + the tool/user reply after it."""
    steps = []
    for i, msg in enumerate(history):
        if msg.get("role") != "assistant" or _is_demo(msg):
            continue
        where = f"history[{i}]"
        command = msg.get("action")
        if not isinstance(command, str):
            raise DataError(origin, f"{where}.action is {describe(command)}; expected the agent's command string")
        thought = _str_field(msg, "thought", where, origin) or (message_text(msg.get("content")) or "")
        observation = ""
        if i + 1 < len(history) and history[i + 1].get("role") in ("tool", "user"):
            content = history[i + 1].get("content")
            text = message_text(content)
            if text is None:
                raise DataError(origin, f"history[{i + 1}].content is {describe(content)}; expected text")
            observation = text
        action = step_action(command, _tool_call(msg), where, notes)
        if action is not None:
            steps.append(Step(thought.strip(), action, observation))
    if not steps:
        raise DataError(origin, "'history' holds no assistant actions; expected SWE-agent messages with 'action'")
    return steps


def _instance_id(record: dict[str, Any], replay: dict[str, Any], origin: Origin) -> str:
    problem = replay.get("problem_statement")
    if isinstance(problem, dict) and isinstance(problem.get("id"), str) and problem["id"]:
        return problem["id"]
    environment = record.get("environment")
    # 0.x writes a generic environment name ("swe_main"); SWE-smith writes the instance id, which always has "__".
    if isinstance(environment, str) and "__" in environment:
        return environment
    return origin_stem(origin)


def _problem_statement(replay: dict[str, Any], history: list[dict[str, Any]], origin: Origin) -> str:
    problem = replay.get("problem_statement")
    if isinstance(problem, dict) and isinstance(problem.get("text"), str) and problem["text"].strip():
        return problem["text"].strip()
    for i, msg in enumerate(history):
        if msg.get("role") == "user" and not _is_demo(msg):
            text = message_text(msg.get("content"))
            if text is None:
                raise DataError(origin, f"history[{i}].content is {describe(msg.get('content'))}; expected text")
            return strip_issue_template(text)
    raise DataError(
        origin, "no problem statement; expected replay_config.problem_statement.text or a user message in 'history'"
    )


def _model_name(replay: dict[str, Any]) -> str | None:
    agent = replay.get("agent")
    model = agent.get("model") if isinstance(agent, dict) else None
    return model.get("name") if isinstance(model, dict) and isinstance(model.get("name"), str) else None


READERS = [SweAgentTrajReader()]
