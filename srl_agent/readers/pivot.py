"""Reader for PivotRL rows (NVIDIA NeMo Gym `swe_pivot`): a Responses-API context and the expert's next tool call.

One object per pivot::

    {"uuid": "example_1",
     "responses_create_params": {"input": [
         {"role": "system", "content": "You are a coding agent …"},
         {"role": "user", "content": "In /workspace/proj/foo.py, the function `total` returns None …"},
         {"type": "function_call", "name": "execute_bash", "arguments": "{\\"command\\": \\"ls\\"}", "call_id": "c1"},
         {"type": "function_call_output", "call_id": "c1", "output": "foo.py"}]},
     "expected_action": {"type": "function_call", "name": "str_replace_editor",
                         "arguments": "{\\"command\\": \\"str_replace\\", \\"path\\": …}"},
     "pivot_tags": ["P1"], "metadata": {"category": "edit"}}

The first user message is the issue; each earlier `function_call` of the input is a context step (its
`function_call_output` the observation, assistant text or reasoning before it the thought, a later user message
appended to the observation); `expected_action` is the one target step (`Trajectory.first_target`). Tools map onto
srl-agent's actions like every other format: `execute_bash` -> bash, `str_replace_editor` -> the editor, `finish` ->
submit, any other tool is kept as a tool call.

The trajectory id groups the pivots of one expert run: the row's `instance_id` / `trajectory_id` / `task_id` (top
level or in `metadata`) when present, else `pivot-` + a hash of the issue text, so that `data split` never puts two
pivots of one issue on different sides. A scored rollout file (`example_rollouts.jsonl`: a `response`, no
`expected_action`) is not training data (srl_agent.reward_pivot rescores it).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from srl_agent.actions import Action, ActionParseError, action_from_call
from srl_agent.readers.sweagent import describe, metadata
from srl_agent.trajectory import DataError, Origin, Step, Trajectory

_ID_KEYS = ("instance_id", "trajectory_id", "task_id")
_REPO_KEYS = ("repo", "repository")


def _text(content: Any) -> str:
    """A Responses message's content: a string, or a list of parts with `text`."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(str(p.get("text", "")) for p in content if isinstance(p, dict) and p.get("text"))
    return ""


def _field(row: dict[str, Any], keys: tuple[str, ...]) -> str | None:
    meta = row.get("metadata") if isinstance(row.get("metadata"), dict) else {}
    for source in (row, meta):
        for key in keys:
            value = source.get(key)
            if isinstance(value, str) and value:
                return value
    return None


def _action(call: dict[str, Any], where: str, origin: Origin) -> Action:
    name, raw = call.get("name"), call.get("arguments", "")
    if not isinstance(name, str) or not name:
        raise DataError(origin, f"{where}.name is {describe(name)}; expected the tool name")
    try:
        args = json.loads(raw) if isinstance(raw, str) and raw.strip() else (raw or {})
    except json.JSONDecodeError as e:
        raise DataError(origin, f"{where}.arguments is not JSON ({e.msg}); expected a JSON object string") from None
    if not isinstance(args, dict):
        raise DataError(origin, f"{where}.arguments is {describe(args)}; expected a JSON object")
    if name == "str_replace_editor":  # newer OpenHands adds a risk label to every call; it is no editor argument
        args = {k: v for k, v in args.items() if k != "security_risk"}
    try:
        return action_from_call(name, args)
    except ActionParseError as e:
        raise DataError(origin, f"{where}: {e}") from None


def _context(items: list[Any], origin: Origin) -> tuple[str, list[Step]]:
    """(issue, context steps) from the Responses `input` items."""
    problem: str | None = None
    steps: list[Step] = []
    thought: list[str] = []
    call_ids: dict[str, int] = {}
    for i, item in enumerate(items):
        where = f"responses_create_params.input[{i}]"
        if not isinstance(item, dict):
            raise DataError(origin, f"{where} is {describe(item)}; expected a message or function_call object")
        kind, role = item.get("type", "message"), item.get("role")
        if kind == "function_call":
            steps.append(Step("\n".join(thought).strip(), _action(item, where, origin), ""))
            thought = []
            call_ids[str(item.get("call_id", ""))] = len(steps) - 1
        elif kind == "function_call_output":
            k = call_ids.get(str(item.get("call_id", "")), len(steps) - 1)
            if k < 0:
                raise DataError(origin, f"{where}: a function_call_output before any function_call")
            output = item.get("output")
            steps[k] = Step(steps[k].thought, steps[k].action, _text(output) if not isinstance(output, str) else output)
        elif kind == "reasoning":
            thought += [_text(item.get("summary")), _text(item.get("content"))]
        elif role == "user" and problem is None:
            problem = _text(item.get("content"))
        elif role == "user" and steps:
            last = steps[-1]
            steps[-1] = Step(last.thought, last.action, f"{last.observation}\n{_text(item.get('content'))}".strip())
        elif role == "user":
            problem = f"{problem}\n\n{_text(item.get('content'))}"
        elif role == "assistant":
            thought.append(_text(item.get("content")))
        # system / developer messages: the scaffold's prompt, replaced by srl-agent's own
    if not problem:
        raise DataError(origin, "no user message in responses_create_params.input; expected the issue as the first one")
    return problem, steps


class PivotReader:
    """PivotRL / NeMo Gym swe_pivot rows: Responses-API context + `expected_action` (one target step per row)."""

    name = "nemo_pivot"

    def sniff(self, record: Any) -> bool:
        # A scored rollout (`response`, no `expected_action`) is not training data: left unrecognised.
        return isinstance(record, dict) and isinstance(record.get("responses_create_params"), dict) and (
            "expected_action" in record)

    def read(self, record: Any, origin: Origin) -> Trajectory:
        expected = record.get("expected_action")
        if not isinstance(expected, dict) or expected.get("type") != "function_call":
            raise DataError(origin, f"'expected_action' is {describe(expected)}; expected a function_call object")
        items = record["responses_create_params"].get("input")
        if isinstance(items, str):
            items = [{"role": "user", "content": items}]
        if not isinstance(items, list):
            raise DataError(origin, f"'responses_create_params.input' is {describe(items)}; expected a list of items")
        problem, steps = _context(items, origin)
        target = Step("", _action(expected, "expected_action", origin), "")
        instance_id = _field(record, _ID_KEYS) or "pivot-" + hashlib.sha1(problem.encode()).hexdigest()[:12]
        return Trajectory(
            instance_id=instance_id,
            problem_statement=problem,
            steps=(*steps, target),
            source_format=self.name,
            repo=_field(record, _REPO_KEYS),
            first_target=len(steps),
            metadata=metadata(uuid=record.get("uuid"), pivot_tags=record.get("pivot_tags"),
                              category=(record.get("metadata") or {}).get("category")),
        )


READERS = [PivotReader()]
