"""Reader for raw OpenHands event streams (evaluation `output.jsonl` rows with `history`, or a bare event list)."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

from srl_agent.actions import EDITOR_TOOL, Action, Bash, Submit, ToolCall
from srl_agent.readers.openhands_common import (
    StepBuilder,
    build_action,
    patch_of,
    problem_statement,
    resolved_flag,
    text_of,
)
from srl_agent.trajectory import DataError, Origin, Trajectory

# Actions that are scaffolding, not agent decisions; they are counted in metadata["skipped_events"].
_SCAFFOLD_ACTIONS = frozenset(
    {"system", "recall", "change_agent_state", "condensation", "condensation_request", "null", "reject", "pause"}
)
# Event `args` fields that OpenHands' runtime adds (not chosen by the model); ignored when rebuilding a call from args.
_RUNTIME_ARGS = frozenset(
    {
        "thought",
        "impl_source",
        "blocking",
        "is_static",
        "cwd",
        "hidden",
        "confirmation_state",
        "security_risk",
        "translated_ipython_code",
        "include_extra",
        "kernel_init_code",
        "outputs",
        "image_urls",
        "wait_for_response",
    }
)


def _is_event(value: Any) -> bool:
    return isinstance(value, dict) and "source" in value and ("action" in value or "observation" in value)


class OpenHandsEventsReader:
    """OpenHands event streams: actions (`run`, `read`, `edit`, `finish`, `think`, `message`, …) and observations.

        {"instance_id": "ponylang__ponyc-4595", "instruction": "<uploaded_files>…", "test_result": {"git_patch": …},
         "history": [{"id": 5, "source": "agent", "action": "run", "args": {"command": "ls"}, "tool_call_metadata":
           {…}}, {"id": 6, "source": "agent", "observation": "run", "cause": 5, "content": "…"}, …]}

    A bare list of events is one trajectory too (its id is the file name). An action's observation is the event
    whose `cause` is the action's id. When `tool_call_metadata` holds the model's tool call, that call (the exact
    arguments) becomes the action and the model message's text the thought (on the first call of a response only);
    otherwise the action is rebuilt from `args`: run → Bash, read/edit (str_replace_editor) → Edit, finish → Submit,
    think and other tools → ToolCall. `message` events are not actions (see `openhands_common` for the policy).
    An observation with no `cause` (OpenHands' answer to a call it rejected before running it, e.g. an editor call
    with an invalid command, which never became an action) is kept in `metadata["unattributed_observations"]`.
    """

    name = "openhands_events"

    def sniff(self, record: Any) -> bool:
        events = record.get("history") if isinstance(record, dict) else record
        return isinstance(events, list) and bool(events) and _is_event(events[0])

    def read(self, record: Any, origin: Origin) -> Trajectory:
        events = record.get("history") if isinstance(record, dict) else record
        if not isinstance(events, list) or not events:
            raise DataError(origin, "missing 'history'; expected a non-empty list of OpenHands events")
        fields = record if isinstance(record, dict) else {}
        builder = StepBuilder(origin)
        first_user = _Stream(builder, origin).feed(events)
        if first_user is None and not fields.get("instruction"):
            raise DataError(origin, "no user message; expected a 'message' event from the user or an 'instruction'")
        instance = fields.get("instance") if isinstance(fields.get("instance"), dict) else {}
        task = first_user if first_user is not None else fields["instruction"]
        steps = builder.build()
        return Trajectory(
            instance_id=self._instance_id(fields, instance, origin),
            problem_statement=problem_statement(task, instance.get("problem_statement")),
            steps=steps,
            source_format=self.name,
            resolved=resolved_flag(fields),
            metadata=self._metadata(fields, events, builder),
        )

    @staticmethod
    def _instance_id(fields: dict[str, Any], instance: dict[str, Any], origin: Origin) -> str:
        for value in (fields.get("instance_id"), instance.get("instance_id")):
            if isinstance(value, str) and value:
                return value
        if not fields:
            return Path(origin.path).stem  # a bare event list names no task; its file does
        raise DataError(origin, "missing instance id; expected 'instance_id' or 'instance.instance_id'")

    @staticmethod
    def _metadata(fields: dict[str, Any], events: list[Any], builder: StepBuilder) -> dict[str, Any]:
        metadata: dict[str, Any] = {}
        run_metadata = fields.get("metadata") if isinstance(fields.get("metadata"), dict) else {}
        llm_config = run_metadata.get("llm_config") if isinstance(run_metadata.get("llm_config"), dict) else {}
        model = llm_config.get("model") or _response_model(events)
        if model:
            metadata["model"] = model
        for key in ("agent_class", "eval_output_dir"):
            if run_metadata.get(key):
                metadata[key] = run_metadata[key]
        patch = patch_of(fields)
        if patch:
            metadata["patch"] = patch
        if fields.get("error"):
            metadata["error"] = fields["error"]
        metadata.update(builder.metadata)
        return metadata


def _response_model(events: list[Any]) -> str | None:
    for event in events:
        response = _model_response(event)
        if response and response.get("model"):
            return str(response["model"])
    return None


def _model_response(event: Any) -> dict[str, Any] | None:
    metadata = event.get("tool_call_metadata") if isinstance(event, dict) else None
    response = metadata.get("model_response") if isinstance(metadata, dict) else None
    return response if isinstance(response, dict) else None


class _Stream:
    """One pass over the events, feeding a StepBuilder."""

    def __init__(self, builder: StepBuilder, origin: Origin):
        self.builder = builder
        self.origin = origin
        self.step_of: dict[Any, int] = {}
        self.last_response_id: Any = None
        self.skipped: Counter[str] = Counter()

    def feed(self, events: list[Any]) -> str | None:
        first_user: str | None = None
        for i, event in enumerate(events):
            if not _is_event(event):
                raise DataError(
                    self.origin,
                    f"history[{i}] is not an event; expected an object with 'source' and 'action' or 'observation'",
                )
            if "observation" in event:
                self._observation(event, i)
            elif event.get("action") == "message" and event.get("source") == "user":
                text = _args(event).get("content") or event.get("message") or ""
                if first_user is None:
                    first_user = text
                else:
                    self.builder.user(text)
            elif event.get("action") == "message":
                self.builder.message(_args(event).get("content") or event.get("message") or "")
            elif event.get("action") in _SCAFFOLD_ACTIONS or event.get("source") != "agent":
                self.skipped[f"action:{event.get('action')}"] += 1
            else:
                self._action(event, i)
        if self.skipped:
            self.builder.metadata["skipped_events"] = dict(self.skipped)
        return first_user

    def _observation(self, event: dict[str, Any], i: int) -> None:
        content = text_of(event.get("content")) or text_of(event.get("message"))
        cause = event.get("cause")
        if cause in self.step_of:
            self.builder.observe(self.step_of[cause], content)
        elif cause is None and event.get("observation") == "error":
            self.builder.note("unattributed_observations", {"before_step": len(self.builder), "text": content})
        else:
            self.skipped[f"observation:{event.get('observation')}"] += 1

    def _action(self, event: dict[str, Any], i: int) -> None:
        where = f"history[{i}] (id {event.get('id')}, {event.get('action')})"
        call = self._tool_call(event, where)
        if call is not None:
            name, arguments, thought = call
            action = build_action(name, arguments, where, self.origin)
        else:
            action, arguments = _action_from_args(event, where, self.origin)
            # The think tool's argument *is* the thought; don't repeat it.
            thought = "" if event.get("action") == "think" else str(_args(event).get("thought") or "")
        self.step_of[event.get("id")] = self.builder.call(thought, action, arguments, where)

    def _tool_call(self, event: dict[str, Any], where: str) -> tuple[str, dict[str, Any], str] | None:
        """(name, arguments, thought) of the model's tool call behind the event, when recorded."""
        metadata = event.get("tool_call_metadata")
        response = _model_response(event)
        if not isinstance(metadata, dict) or response is None:
            return None
        choices = response.get("choices") or [{}]
        message = choices[0].get("message") if isinstance(choices[0], dict) else None
        message = message if isinstance(message, dict) else {}
        for call in message.get("tool_calls") or []:
            if isinstance(call, dict) and call.get("id") == metadata.get("tool_call_id"):
                break
        else:
            return None
        function = call.get("function") or {}
        try:
            arguments = json.loads(function.get("arguments") or "{}")
        except json.JSONDecodeError as e:
            raise DataError(
                self.origin, f"{where}: tool call arguments are not valid JSON ({e.msg}); expected a JSON object"
            ) from None
        if not isinstance(arguments, dict):
            raise DataError(
                self.origin, f"{where}: tool call arguments are a {type(arguments).__name__}; expected a JSON object"
            )
        # Several actions can come from one model response; its text is the thought of the first only.
        thought = text_of(message.get("content")) if response.get("id") != self.last_response_id else ""
        self.last_response_id = response.get("id")
        return str(metadata.get("function_name") or function.get("name")), arguments, thought


def _args(event: dict[str, Any]) -> dict[str, Any]:
    args = event.get("args")
    return args if isinstance(args, dict) else {}


def _action_from_args(event: dict[str, Any], where: str, origin: Origin) -> tuple[Action, dict[str, Any]]:
    """Rebuild the call from the event's `args` when no tool call was recorded (older or hand-made histories)."""
    kind, args = event.get("action"), _args(event)
    model_args = {k: v for k, v in args.items() if k not in _RUNTIME_ARGS and v is not None}
    if kind == "run":
        if not isinstance(args.get("command"), str):
            raise DataError(origin, f"{where}: run action without a command; expected args.command")
        extras = {k: v for k, v in model_args.items() if k in ("is_input", "timeout") and v}
        return Bash(args["command"]), {"command": args["command"], **extras}
    if kind == "read":
        view_range = args.get("view_range")
        if not view_range and (args.get("start", 0), args.get("end", -1)) not in ((0, -1), (1, -1)):
            view_range = [args.get("start"), args.get("end")]
        call = {"command": "view", "path": args.get("path"), "view_range": view_range}
        return build_action(EDITOR_TOOL, call, where, origin), call
    if kind == "edit" and args.get("command"):
        keys = ("command", "path", "file_text", "old_str", "new_str", "insert_line")
        call = {k: args.get(k) for k in keys}
        return build_action(EDITOR_TOOL, call, where, origin), call
    if kind == "finish":
        return Submit(), model_args
    if kind == "think":
        return ToolCall("think", (("thought", str(args.get("thought", ""))),)), {}
    # The LLM-based editor (`edit` with content/start/end), `write`, ipython, browsing, MCP…: keep the call as is.
    items = tuple((k, v if isinstance(v, str) else json.dumps(v)) for k, v in model_args.items())
    return ToolCall(str(kind), items), dict(items)
