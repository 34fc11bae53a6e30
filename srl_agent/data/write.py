"""The trajectory writer: agent episodes (`srl_agent.episodes.Episode`) -> expert trajectory records in the SWE-smith
`ft_xml` layout that `FunctionXmlReader` reads (trajectories/README.md, "Recorded trajectories"), so `srl-agent record`
output goes straight into `data convert` / `train`.

One record per episode:
    instance_id, resolved (from grading), patch, messages     the ft_xml fields the readers use
    model, bench, attempt, sampling, stop_reason              how it was produced
    usage                                                     tokens per turn (prompt, completion) and the totals
    dropped_format_errors                                     malformed turns left out (below)

`messages`: the system prompt, the issue as SWE-smith's first user message (`<pr_description>`), then per turn the
assistant's reasoning + its one canonical `<function=…>` call and `OBSERVATION:\n` + what the sandbox answered. A
malformed turn changed nothing in the sandbox, so it and the format error shown to the model are left out (counted):
the remaining turns are exactly what the policy did.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from srl_agent.data.prompts import SYSTEM_PROMPT
from srl_agent.episodes import Episode
from srl_agent.expert.prompts import user_prompt

RECORD_VERSION = 1
OBSERVATION_PREFIX = "OBSERVATION:\n"


def episode_record(episode: Episode, *, model: str, attempt: int, sampling: dict[str, Any]) -> dict[str, Any]:
    """The trajectory record of one finished (not infrastructure-failed) episode."""
    if episode.error is not None:
        raise ValueError(f"{episode.instance_id}: an episode that ended in an infrastructure error is no trajectory")
    messages = [{"role": "system", "content": SYSTEM_PROMPT},
                {"role": "user", "content": user_prompt(episode.metadata.get("problem_statement", ""))}]
    dropped = 0
    for turn in episode.turns:
        if turn.action is None:
            dropped += 1
            continue
        thought = f"{turn.thought}\n\n" if turn.thought else ""
        messages.append({"role": "assistant", "content": thought + turn.action})
        if not turn.action.startswith("<function=submit>"):  # submitting ends the episode: no observation
            messages.append({"role": "user", "content": OBSERVATION_PREFIX + turn.observation})
    turns = [{"prompt_tokens": t.prompt_tokens, "completion_tokens": t.completion_tokens} for t in episode.turns]
    return {
        "instance_id": episode.instance_id,
        "resolved": bool(episode.resolved),
        "patch": episode.submission,
        "messages": messages,
        "model": model,
        "bench": episode.bench,
        "attempt": attempt,
        "sampling": sampling,
        "stop_reason": episode.stop_reason,
        "usage": {**episode.metadata.get("usage", {}), "turns": turns},
        "dropped_format_errors": dropped,
        "record_version": RECORD_VERSION,
    }


def write_records(path: str | Path, records: Iterable[dict[str, Any]]) -> int:
    """Write one JSON line per record, atomically (a crash leaves the previous file); returns the count."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    n = 0
    with tmp.open("w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            n += 1
    os.replace(tmp, path)
    return n
