"""Reader for mini-swe-agent trajectories (`*.traj.json`)."""

from __future__ import annotations

import json
import re
from collections import Counter
from typing import Any

from srl_agent.actions import Action, Bash, Submit
from srl_agent.readers.sweagent import describe, message_text, origin_stem, strip_issue_template
from srl_agent.trajectory import DataError, Origin, Step, Trajectory

# mini-swe-agent's action regex: exactly one such block per assistant turn, or the turn is rejected.
_BASH_BLOCK = re.compile(r"```(?:bash|mswea_bash_command)\s*\n(.*?)\n```", re.DOTALL)
# mini-swe-agent ends the run when the first output line is one of these tokens, whatever the command does after
# printing it (its own prompt suggests `echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT && git add -A && git diff --cached`).
_SUBMIT = re.compile(
    r"\A\s*echo\s+(['\"]?)(?:COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT|MINI_SWE_AGENT_FINAL_OUTPUT)\1\s*(?:\Z|&&|;|\n)"
)
# Sniffing markers; they appear in mini-swe-agent's system prompt or task template and in no other scaffold.
_MARKERS = re.compile(
    r"mswea_bash_command|exactly ONE bash code block|COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT|MINI_SWE_AGENT_FINAL_OUTPUT",
    re.IGNORECASE,
)
_THOUGHT_LABEL = re.compile(r"\ATHOUGHT:\s*")
_TASK_TEMPLATES = (
    re.compile(r"\APlease solve this issue: (.*?)\n\nYou can execute bash commands", re.DOTALL),
    re.compile(r"<pr_description>\s*(?:Consider the following PR description:\n)?(.*?)</pr_description>", re.DOTALL),
)
_SNIFF_MESSAGES = 6


class MiniSweAgentReader:
    """mini-swe-agent trajectories: a bare message list, or (newer versions) `{"messages": […], "info": {…}}`.

    Example (bare list)::

        [{"role": "system", "content": "… Your response must contain exactly ONE bash code block …"},
         {"role": "user", "content": "Please solve this issue: <issue>\\n\\nYou can execute bash commands …"},
         {"role": "assistant", "content": "THOUGHT: Let me look.\\n\\n```mswea_bash_command\\nls -la\\n```"},
         {"role": "user", "content": "<returncode>0</returncode>\\n<output>\\n…\\n</output>"},
         {"role": "assistant", "content": "Done.\\n\\n```bash\\necho COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT\\n```"},
         {"role": "user", "content": "diff --git …"}]

    Every action is Bash (edits are sed/heredoc commands and stay Bash), except the finishing command
    (`echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT` / `echo MINI_SWE_AGENT_FINAL_OUTPUT`, possibly followed by
    `&& git diff …`), which becomes Submit. The thought is the turn's text around the block, without a leading
    "THOUGHT:" label. The observation is the next user message verbatim (outer whitespace stripped), its
    `<returncode>` and `<output>` tags included: that is what the model saw. Turns mini-swe-agent rejected (no
    block, or several) are skipped with a note in metadata["notes"]; the format-error reply after them is not an
    observation of any step.
    """

    name = "mini_swe_agent"

    def sniff(self, record: Any) -> bool:
        if isinstance(record, dict):
            messages = record.get("messages")
            if str(record.get("trajectory_format", "")).startswith("mini-swe-agent"):
                return isinstance(messages, list)
            return _looks_like_mini(messages)
        return _looks_like_mini(record)

    def read(self, record: Any, origin: Origin) -> Trajectory:
        messages, info = _unwrap(record, origin)
        problem = _problem_statement(messages, origin)
        notes: list[str] = []
        dropped: Counter[str] = Counter()
        steps = _steps(messages, origin, notes, dropped)
        config = info.get("config")
        model = config.get("model") if isinstance(config, dict) else None
        instance_id = record.get("instance_id") if isinstance(record, dict) else None
        metadata = {
            "submission": info.get("submission"),
            "exit_status": info.get("exit_status"),
            "model": model.get("model_name") if isinstance(model, dict) else None,
            "scaffold_version": info.get("mini_version"),
            "notes": notes,
            "dropped_turns": dict(dropped),  # reason -> count: `data stats` / `data convert` report them
        }
        return Trajectory(
            instance_id=instance_id if isinstance(instance_id, str) and instance_id else origin_stem(origin),
            problem_statement=problem,
            steps=tuple(steps),
            source_format=self.name,
            resolved=None,
            metadata={k: v for k, v in metadata.items() if v not in (None, [], "")},
        )


def _looks_like_mini(messages: Any) -> bool:
    """A role/content message list whose first messages carry one of mini-swe-agent's prompt markers."""
    if not isinstance(messages, list) or len(messages) < 2:
        return False
    head = messages[:_SNIFF_MESSAGES]
    if not all(isinstance(m, dict) and "role" in m and "content" in m for m in head):
        return False
    return any(_MARKERS.search(message_text(m["content"]) or "") for m in head)


def _unwrap(record: Any, origin: Origin) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    if isinstance(record, dict):
        messages, info = record.get("messages"), record.get("info") or {}
        if not isinstance(info, dict):
            raise DataError(origin, f"'info' is {describe(info)}; expected an object")
    else:
        messages, info = record, {}
    if not isinstance(messages, list):
        raise DataError(origin, f"the messages are {describe(messages)}; expected a list of {{role, content}} objects")
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict) or not isinstance(msg.get("role"), str):
            raise DataError(origin, f"message {i} is not an object with a string 'role'; expected {{role, content}}")
        if message_text(msg.get("content")) is None:
            raise DataError(origin, f"message {i} content is {describe(msg['content'])}; expected text")
    return messages, info


def _text(msg: dict[str, Any]) -> str:
    return message_text(msg.get("content")) or ""


def _problem_statement(messages: list[dict[str, Any]], origin: Origin) -> str:
    first_user = next((m for m in messages if m["role"] == "user"), None)
    if first_user is None:
        raise DataError(origin, "no user message; expected the task as the first user message")
    text = _text(first_user)
    for pattern in _TASK_TEMPLATES:
        m = pattern.search(text)
        if m:
            return m.group(1).strip()
    return strip_issue_template(text)


def _command_of(msg: dict[str, Any]) -> tuple[str, str] | int:
    """(thought, command) of an assistant turn, or the number of bash blocks found when it is not exactly one.

    Newer mini-swe-agent versions may call a `bash` tool instead of writing a block; its `command` is used then.
    """
    content = _text(msg)
    blocks = list(_BASH_BLOCK.finditer(content))
    if len(blocks) == 1:
        block = blocks[0]
        return content[: block.start()] + content[block.end() :], block.group(1)
    call = _bash_tool_call(msg)
    if not blocks and call is not None:
        return content, call
    return len(blocks)


def _bash_tool_call(msg: dict[str, Any]) -> str | None:
    calls = msg.get("tool_calls")
    if not (isinstance(calls, list) and len(calls) == 1 and isinstance(calls[0], dict)):
        return None
    function = calls[0].get("function") or {}
    arguments = function.get("arguments") if isinstance(function, dict) else None
    if isinstance(arguments, str):
        try:
            arguments = json.loads(arguments)
        except json.JSONDecodeError:
            return None
    command = arguments.get("command") if isinstance(arguments, dict) else None
    return command if isinstance(command, str) else None


def _action(command: str, where: str, notes: list[str]) -> Action:
    if _SUBMIT.match(command):
        if command.strip() not in ("echo COMPLETE_TASK_AND_SUBMIT_FINAL_OUTPUT", "echo MINI_SWE_AGENT_FINAL_OUTPUT"):
            notes.append(f"{where}: submit command {command.strip()[:120]!r} mapped to Submit")
        return Submit()
    return Bash(command.strip())


def _steps(messages: list[dict[str, Any]], origin: Origin, notes: list[str], dropped: Counter[str]) -> list[Step]:
    steps = []
    for i, msg in enumerate(messages):
        if msg["role"] != "assistant":
            continue
        where = f"message {i}"
        parsed = _command_of(msg)
        if isinstance(parsed, int):
            notes.append(f"{where}: assistant turn with {parsed} bash blocks skipped (mini-swe-agent rejected it)")
            dropped["no bash block" if parsed == 0 else "several bash blocks"] += 1
            continue
        thought, command = parsed
        if not command.strip():
            notes.append(f"{where}: empty bash block skipped")
            dropped["empty bash block"] += 1
            continue
        nxt = messages[i + 1] if i + 1 < len(messages) else None
        observation = _text(nxt).strip() if nxt is not None and nxt["role"] in ("user", "tool") else ""
        steps.append(Step(_THOUGHT_LABEL.sub("", thought.strip()), _action(command, where, notes), observation))
    if not steps:
        raise DataError(origin, "no assistant turn with a bash block; expected mini-swe-agent ```bash turns")
    return steps


READERS = [MiniSweAgentReader()]
