"""Readers for in-text `<function=…>` calls: role/content chat messages (SWE-smith, OpenHands without native
function calling) and ShareGPT conversations (the Agent Data Protocol's OpenHands SFT export).

Shared policies (non-action assistant text, extra user messages, missing observations) are documented in
`openhands_common`.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from srl_agent.actions import SUBMIT_ALIASES, parse_function_calls
from srl_agent.readers.openhands_common import (
    StepBuilder,
    build_action,
    chat_trajectory,
    decode_json_field,
    messages_if_list,
    strip_observation_prefix,
    text_of,
)
from srl_agent.trajectory import DataError, Origin, Trajectory

_FUNCTION_OPEN = "<function="
_FUNCTION_CLOSE = "</function>"
_MESSAGES = "a list of chat messages"


# ---------------------------------------------------------------------------------------------------------------
# In-text <function=…> calls


def _read_text_turns(
    turns: Iterable[tuple[str, str, str]], origin: Origin, dedupe_thoughts: bool = False
) -> tuple[str | None, StepBuilder]:
    """Steps from (role, text, where) turns, role "user" or "assistant".

    The user turn right after a function call is its observation; other user turns after the first are messages.
    """
    builder = StepBuilder(origin)
    first_user: str | None = None
    awaiting: int | None = None
    previous_thought = ""
    for role, text, where in turns:
        if role == "assistant":
            thought = text[: text.find(_FUNCTION_OPEN)].strip() if _FUNCTION_OPEN in text else ""
            repeated = dedupe_thoughts and bool(thought) and thought == previous_thought
            awaiting = _assistant_turn(builder, text, "" if repeated else thought, where, origin)
            previous_thought = thought if awaiting is not None else ""
        elif first_user is None:
            first_user = text
        elif awaiting is not None:
            builder.observe(awaiting, strip_observation_prefix(text))
            awaiting = None
        else:
            builder.user(text)
    return first_user, builder


def _assistant_turn(builder: StepBuilder, text: str, thought: str, where: str, origin: Origin) -> int | None:
    """Add the turn's first function call as a step (None when the turn holds no call)."""
    start = text.find(_FUNCTION_OPEN)
    end = text.find(_FUNCTION_CLOSE, start)
    if start < 0 or end < 0:
        builder.message(text)
        return None
    end += len(_FUNCTION_CLOSE)
    name, params = parse_function_calls(text[start:end])[0]
    index = builder.call(thought, build_action(name, params, where, origin), params, where)
    # Scaffolds of this format execute the first call of a turn and ignore the rest; keep what they ignored.
    rest = text[end:].strip()
    if rest:
        builder.note("ignored_text", {"step": index, "text": rest})
    return index


class FunctionXmlReader:
    """Role/content chat messages whose assistant turns hold in-text calls (SWE-smith, OpenHands non-fn-calling).

        {"instance_id": "pandas-dev__pandas.95280573.pr_53652", "resolved": true, "model": "…", "patch": "…",
         "messages": [{"role": "system", …}, {"role": "user", "content": "<uploaded_files>…"}, {"role": "assistant",
           "content": "Let's look.\\n\\n<function=bash>\\n<parameter=command>ls</parameter>\\n</function>"}, …]}

    The thought is the text before the call; the next user turn is the observation ("OBSERVATION:\\n" stripped).
    A turn's first call is the action (text after it is kept in `metadata["ignored_text"]`).
    """

    name = "function_xml"

    def sniff(self, record: Any) -> bool:
        messages = messages_if_list(record)
        return messages is not None and any(
            isinstance(m, dict) and m.get("role") == "assistant" and _FUNCTION_OPEN in text_of(m.get("content"))
            for m in messages
        )

    def read(self, record: Any, origin: Origin) -> Trajectory:
        if not isinstance(record, dict):
            raise DataError(origin, f"record is a {type(record).__name__}; expected an object with 'messages'")
        messages = decode_json_field(record, "messages", origin, _MESSAGES)
        first_user, builder = _read_text_turns(self._turns(messages, origin), origin)
        return chat_trajectory(self.name, record, origin, first_user, builder, "instance_id", "id")

    @staticmethod
    def _turns(messages: list[Any], origin: Origin) -> Iterable[tuple[str, str, str]]:
        for i, message in enumerate(messages):
            if not isinstance(message, dict) or message.get("role") not in ("system", "user", "assistant", "tool"):
                raise DataError(origin, f"messages[{i}] has no valid role; expected system, user, assistant or tool")
            if message["role"] != "system":
                role = "assistant" if message["role"] == "assistant" else "user"
                yield role, text_of(message.get("content")), f"messages[{i}]"


# ---------------------------------------------------------------------------------------------------------------
# ShareGPT conversations (the Agent Data Protocol's OpenHands SFT export)

_SHAREGPT_ROLES = {
    "human": "user",
    "user": "user",
    "observation": "user",
    "tool": "user",
    "gpt": "assistant",
    "assistant": "assistant",
}
# ADP's raw_to_standardized.py ends every trajectory that does not end with `finish` with one of these user messages
# and a made-up `finish` call (rendered as the "result" of the last call): text the expert never saw or wrote.
_ADP_END_OBSERVATIONS = frozenset(
    {
        "Congratulations! You have successfully solved the task.",
        "Your solution has been verified as correct.",
        "Well done on successfully completing the task!",
        "Your implementation satisfies the task requirements.",
        "Task completed successfully.",
    }
)
_ADP_END_FINISHES = frozenset(
    {
        "I have successfully completed the task.",
        "I did it! The task is now complete.",
        "The objective has been achieved with no outstanding issues.",
        "I have fulfilled all the requirements of the task.",
        "I've wrapped up the task successfully.",
    }
)


class ShareGptFunctionXmlReader:
    """ShareGPT `conversations` (`from`/`value`) with in-text calls, as exported by the Agent Data Protocol (ADP).

        {"id": "python__mypy-15976_0", "system": "You are OpenHands agent…",
         "conversations": [{"from": "human", "value": "<uploaded_files>…"}, {"from": "gpt", "value":
           "<function=execute_bash>\\n<parameter=command>\\nls\\n</parameter>\\n</function>"}, {"from": "human",
           "value": "EXECUTION RESULT of [execute_bash]:\\n…"}, …]}

    Read like `FunctionXmlReader`, undoing two things ADP's converter does, so that ADP data matches its source:
    it splits an assistant message with several tool calls into one turn per call and copies the message text into
    each (a thought equal to the previous turn's is kept on the first only); and it appends a made-up ending (a
    canned user message + a `finish`) to trajectories that did not finish: that ending is removed and recorded in
    `metadata["adp_synthetic_ending"]`.
    """

    name = "sharegpt_function_xml"

    def sniff(self, record: Any) -> bool:
        turns = record.get("conversations") if isinstance(record, dict) else None
        return isinstance(turns, list) and any(
            isinstance(t, dict) and t.get("from") in ("gpt", "assistant") and _FUNCTION_OPEN in str(t.get("value"))
            for t in turns
        )

    def read(self, record: Any, origin: Origin) -> Trajectory:
        if not isinstance(record, dict):
            raise DataError(origin, f"record is a {type(record).__name__}; expected an object with 'conversations'")
        conversations = decode_json_field(record, "conversations", origin, "a list of {'from', 'value'} turns")
        turns = list(self._turns(conversations, origin))
        ending = _adp_synthetic_ending(turns)
        if ending:
            turns = turns[:-2]
        first_user, builder = _read_text_turns(turns, origin, dedupe_thoughts=True)
        if ending:
            builder.note("adp_synthetic_ending", ending)
        return chat_trajectory(self.name, record, origin, first_user, builder, "instance_id", "id")

    @staticmethod
    def _turns(conversations: list[Any], origin: Origin) -> Iterable[tuple[str, str, str]]:
        for i, turn in enumerate(conversations):
            speaker = turn.get("from") if isinstance(turn, dict) else None
            if speaker == "system":
                continue
            if speaker not in _SHAREGPT_ROLES or not isinstance(turn.get("value"), str):
                raise DataError(
                    origin, f"conversations[{i}] is not a turn; expected {{'from': 'human'|'gpt', 'value': str}}"
                )
            yield _SHAREGPT_ROLES[speaker], turn["value"], f"conversations[{i}]"


def _adp_synthetic_ending(turns: list[tuple[str, str, str]]) -> dict[str, str] | None:
    if len(turns) < 3 or turns[-1][0] != "assistant" or turns[-2][0] != "user":
        return None
    text = turns[-1][1].strip()
    calls = parse_function_calls(text) if text.startswith(_FUNCTION_OPEN) else []
    if len(calls) != 1 or calls[0][0] not in SUBMIT_ALIASES:
        return None
    message = dict(calls[0][1]).get("message", "").strip()
    observation = strip_observation_prefix(turns[-2][1]).strip()
    if message in _ADP_END_FINISHES and observation in _ADP_END_OBSERVATIONS:
        return {"user_message": observation, "finish_message": message}
    return None
