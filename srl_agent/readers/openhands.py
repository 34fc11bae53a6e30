"""Readers for the OpenHands family: chat `tool_calls` here; in-text `<function=…>` calls and ShareGPT in
`function_xml`, event streams in `openhands_events`. `READERS` lists them in the order formats are sniffed.

Shared policies (non-action assistant text, extra user messages, missing observations, dropped arguments) are
documented in `openhands_common`.
"""

from __future__ import annotations

import json
from typing import Any

from srl_agent.readers.function_xml import FunctionXmlReader, ShareGptFunctionXmlReader
from srl_agent.readers.openhands_common import (
    StepBuilder,
    build_action,
    chat_trajectory,
    decode_json_field,
    messages_if_list,
    strip_observation_prefix,
    text_of,
)
from srl_agent.readers.openhands_events import OpenHandsEventsReader
from srl_agent.trajectory import DataError, Origin, Trajectory

_MESSAGES = "a list of chat messages"


# ---------------------------------------------------------------------------------------------------------------
# OpenAI tool_calls


class OpenHandsToolCallsReader:
    """OpenHands / SWE-Gym chat messages with OpenAI `tool_calls` (`execute_bash`, `str_replace_editor`, `finish`).

        {"instance_id": "python__mypy-15976_0", "run_id": "…", "resolved": true, "test_result": {"git_patch": …},
         "messages": [{"role": "user", "content": "<uploaded_files>…"}, {"role": "assistant", "content": "",
           "tool_calls": [{"id": "c1", "function": {"name": "execute_bash", "arguments": "{…}"}}]},
           {"role": "tool", "tool_call_id": "c1", "content": "OBSERVATION:\\n…"}, …]}

    Each tool call of an assistant message is its own step; the message text is the thought of the first one. The
    observation is the `tool` message with the matching `tool_call_id`, without its "OBSERVATION:\\n" prefix.
    """

    name = "openhands_toolcalls"

    def sniff(self, record: Any) -> bool:
        messages = messages_if_list(record)
        return messages is not None and any(isinstance(m, dict) and m.get("tool_calls") for m in messages)

    def read(self, record: Any, origin: Origin) -> Trajectory:
        if not isinstance(record, dict):
            raise DataError(origin, f"record is a {type(record).__name__}; expected an object with 'messages'")
        messages = decode_json_field(record, "messages", origin, _MESSAGES)
        builder = StepBuilder(origin)
        pending: dict[str, int] = {}
        first_user: str | None = None
        for i, message in enumerate(messages):
            if not isinstance(message, dict):
                raise DataError(origin, f"messages[{i}] is a {type(message).__name__}; expected an object with 'role'")
            role = message.get("role")
            content = text_of(message.get("content"))
            if role == "system":
                continue
            if role == "user":
                if first_user is None:
                    first_user = content
                else:
                    builder.user(content)
            elif role == "assistant":
                self._assistant(builder, message, content, i, pending, origin)
            elif role == "tool":
                call_id = message.get("tool_call_id")
                if call_id not in pending:
                    raise DataError(
                        origin,
                        f"messages[{i}] answers tool_call_id {call_id!r}, which no earlier assistant message left "
                        "unanswered; expected the id of a pending tool call",
                    )
                builder.observe(pending.pop(call_id), strip_observation_prefix(content))
            else:
                raise DataError(origin, f"messages[{i}] has role {role!r}; expected system, user, assistant or tool")
        return chat_trajectory(self.name, record, origin, first_user, builder, "instance_id", "id")

    def _assistant(
        self,
        builder: StepBuilder,
        message: dict[str, Any],
        thought: str,
        i: int,
        pending: dict[str, int],
        origin: Origin,
    ) -> None:
        calls = message.get("tool_calls") or []
        if not calls:
            builder.message(thought)
            return
        for j, call in enumerate(calls):
            where = f"messages[{i}].tool_calls[{j}]"
            function = call.get("function") if isinstance(call, dict) else None
            name = function.get("name") if isinstance(function, dict) else None
            call_id = call.get("id") if isinstance(call, dict) else None
            if not name or not call_id:
                raise DataError(
                    origin,
                    f"{where} lacks an id or function name; expected {{'id', 'function': {{'name', 'arguments'}}}}",
                )
            arguments = _arguments(function.get("arguments"), where, origin)
            action = build_action(name, arguments, where, origin)
            pending[call_id] = builder.call(thought if j == 0 else "", action, arguments, f"{where} ({call_id})")


def _arguments(raw: Any, where: str, origin: Origin) -> dict[str, Any]:
    if raw is None or raw == "":
        return {}
    if isinstance(raw, str):
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError as e:
            raise DataError(
                origin, f"{where}: arguments are not valid JSON ({e.msg} at column {e.colno}); expected a JSON object"
            ) from None
    if not isinstance(raw, dict):
        raise DataError(origin, f"{where}: arguments are a {type(raw).__name__}; expected a JSON object")
    return raw


READERS = [OpenHandsEventsReader(), OpenHandsToolCallsReader(), ShareGptFunctionXmlReader(), FunctionXmlReader()]
