"""Reader for nebius/swe-agent-trajectories rows: SWE-agent 0.x runs stored as system/user/ai turns."""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from srl_agent.readers.sweagent import describe, metadata, step_action, strip_issue_template
from srl_agent.trajectory import DataError, Origin, Step, Trajectory

# SWE-agent 0.x ThoughtActionParser: a fence opens with ```lang? and a bare ``` closes the innermost open block.
_CODE_FENCE = re.compile(r"^```(\S*)\s*\n|^```\s*$", re.MULTILINE)




def split_response(text: str) -> tuple[str, str] | None:
    """(thought, command) of a SWE-agent 0.x response: the last top-level ``` block is the command, the rest thought.

    Mirrors SWE-agent's ThoughtActionParser so edits whose text contains fenced blocks split the same way.
    """
    stack: list[re.Match[str]] = []
    last: tuple[re.Match[str], re.Match[str]] | None = None
    for fence in _CODE_FENCE.finditer(text):
        if stack and not fence.group(1):
            opening = stack.pop()
            if not stack:
                last = (opening, fence)
        elif fence.group(1) is not None:
            stack.append(fence)
    if last is None:
        return None
    opening, closing = last
    return text[: opening.start()] + text[closing.end() :], text[opening.end() : closing.start()]


class NebiusReader:
    """Rows of nebius/swe-agent-trajectories: SWE-agent 0.x runs as system/user/ai turns.

    One object per trajectory::

        {"instance_id": "tomerfiliba__plumbum-366_17", "model_name": "swe-agent-llama-70b", "target": true,
         "exit_status": "submitted", "generated_patch": "diff --git …", "eval_logs": "…",
         "trajectory": [{"role": "system", "system_prompt": "SETTING: …", "text": null},
                        {"role": "user", "text": "We're currently solving … ISSUE:\\n…\\n\\nINSTRUCTIONS: …"},
                        {"role": "ai", "text": "Let's list the files.\\n```\\nls -F\\n```"},
                        {"role": "user", "text": "CHANGELOG.rst\\n…\\nbash-$"}, …]}

    Each ai turn is DISCUSSION + one ``` command block, parsed like SWE-agent 0.x; the next user turn is its
    observation. `target` is whether the patch resolved the issue. `instance_id` is kept verbatim (the dataset
    appends a run number to the SWE-bench-style id).
    """

    name = "nebius_swe_agent"

    def sniff(self, record: Any) -> bool:
        if not isinstance(record, dict) or "history" in record:
            return False
        traj = record.get("trajectory")
        first = traj[0] if isinstance(traj, list) and traj else None
        return isinstance(first, dict) and "role" in first and "text" in first

    def read(self, record: Any, origin: Origin) -> Trajectory:
        instance_id = record.get("instance_id")
        if not isinstance(instance_id, str) or not instance_id:
            raise DataError(origin, f"'instance_id' is {describe(instance_id)}; expected a non-empty string")
        turns = _nebius_turns(record.get("trajectory"), origin)
        notes: list[str] = []
        dropped: Counter[str] = Counter()
        problem = next((text for role, text in turns if role == "user"), None)
        if problem is None:
            raise DataError(origin, "no user turn in 'trajectory'; expected the issue as the first user turn")
        target = record.get("target")
        return Trajectory(
            instance_id=instance_id,
            problem_statement=strip_issue_template(problem),
            steps=tuple(_nebius_steps(turns, notes, dropped)),
            source_format=self.name,
            resolved=target if isinstance(target, bool) else None,
            metadata=metadata(
                submission=record.get("generated_patch"),
                exit_status=record.get("exit_status"),
                model=record.get("model_name"),
                notes=notes,
                dropped_turns=dict(dropped),
            ),
        )


def _nebius_turns(traj: Any, origin: Origin) -> list[tuple[str, str]]:
    """(role, text) per turn, validated; the system turn's text is its system_prompt."""
    if not isinstance(traj, list):
        raise DataError(origin, f"'trajectory' is {describe(traj)}; expected a list of turns")
    turns = []
    for i, turn in enumerate(traj):
        where = f"trajectory[{i}]"
        if not isinstance(turn, dict) or not isinstance(turn.get("role"), str):
            raise DataError(origin, f"{where} is not a turn with a 'role'; expected {{'role': 'user'|'ai', 'text': …}}")
        key = "system_prompt" if turn["role"] == "system" else "text"
        text = turn.get(key)
        if not isinstance(text, str):
            raise DataError(origin, f"{where}.{key} is {describe(text)}; expected a string")
        turns.append((turn["role"], text))
    return turns


def _nebius_steps(turns: list[tuple[str, str]], notes: list[str], dropped: Counter[str]) -> list[Step]:
    steps = []
    for i, (role, text) in enumerate(turns):
        if role != "ai":
            continue
        where = f"trajectory[{i}]"
        observation = turns[i + 1][1] if i + 1 < len(turns) and turns[i + 1][0] == "user" else ""
        split = split_response(text)
        if split is None:
            # SWE-agent rejected such a turn as a format error and asked again; nothing was executed.
            notes.append(f"{where}: ai turn without a ``` command block skipped")
            dropped["no command block"] += 1
            continue
        thought, command = split
        action = step_action(command, None, where, notes)
        if action is None and not command.strip():
            dropped["empty action"] += 1
        if action is not None:
            steps.append(Step(thought.strip(), action, observation))
    return steps


READERS = [NebiusReader()]
