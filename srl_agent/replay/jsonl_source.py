"""JSONL inputs, indexed: an item is a line (episodes, trajectories) or a run of lines with one key (samples: a GRPO
group). Records are json-loaded only when shown; search scans the mapped bytes and parses only candidate records."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np

from srl_agent.replay.index import LineIndex
from srl_agent.replay.model import Item, from_episode, from_samples, from_trajectory
from srl_agent.replay.sources import ExpertLookup, Source
from srl_agent.trajectory import DataError, Origin

_SAMPLE_HEAD = re.compile(rb'^\{"step": (-?\d+), "instance_id": ("(?:[^"\\]|\\.)*"), "step_index": (-?\d+)')


class JsonlSource(Source):
    """Episodes, samples or trajectories in JSONL: an item is a line (a run of lines with one key, for samples)."""

    def __init__(self, path: Path, kind: str, index: LineIndex, experts: ExpertLookup | None) -> None:
        super().__init__(path, kind, experts)
        self.index = index
        self._groups = _sample_groups(index) if kind == "samples" else None  # first record of each item, + end

    def __len__(self) -> int:
        return len(self.index) if self._groups is None else len(self._groups) - 1

    def _records(self, i: int) -> range:
        if self._groups is None:
            return range(i, i + 1)
        return range(int(self._groups[i]), int(self._groups[i + 1]))

    def origin(self, i: int) -> str:
        return f"{self.path}:{self.index.line(self._records(i).start)}"

    def _parse(self, r: int) -> Any:
        origin = Origin(str(self.path), line=self.index.line(r))
        try:
            return json.loads(self.index.record(r))
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise DataError(origin, f"invalid JSON ({getattr(e, 'msg', e)}); the line is truncated or corrupt") from None

    def _load(self, i: int) -> Item:
        origin = self.origin(i)
        if self.kind == "samples":
            rows = [self._parse(r) for r in self._records(i)]
            for r, row in zip(self._records(i), rows, strict=True):
                if not (isinstance(row, dict) and "completion" in row and "expert_action" in row):
                    raise DataError(f"{self.path}:{self.index.line(r)}", "not a training sample (no completion/expert_action)")
            return from_samples(rows, origin)
        record = self._parse(i)
        if self.kind == "episodes":
            if not isinstance(record, dict):
                raise DataError(origin, f"not an episode: a JSON {type(record).__name__}")
            from srl_agent.episodes import Episode

            ep = Episode.from_dict(record, origin)
            return from_episode(ep, origin, self._experts(ep.instance_id) if self._experts else None)
        from srl_agent.readers import detect

        reader = detect(record)
        if reader is None:
            raise DataError(origin, "not a trajectory in a supported format (see `srl-agent data formats`)")
        return from_trajectory(reader.read(record, Origin(str(self.path), line=self.index.line(i))), origin)

    def _candidate(self, query: str, i: int, backward: bool) -> int | None:
        if not 0 <= i < len(self):
            return None
        pattern = _raw_pattern(query)
        first_record = self._records(i).start
        if backward:
            r = self.index.search_back(pattern, self._records(i).stop)
        else:
            r = self.index.search(pattern, first_record)
        if r is None:
            return None
        if self._groups is None:
            return r
        return int(np.searchsorted(self._groups, r, side="right")) - 1

    def close(self) -> None:
        self.index.close()


def _raw_pattern(query: str) -> re.Pattern[bytes]:
    """The query as it can appear inside a JSON string: raw, with JSON escapes, with \\uXXXX escapes."""
    forms = {query, json.dumps(query)[1:-1], json.dumps(query, ensure_ascii=False)[1:-1]}
    flags = re.IGNORECASE if query.lower() == query else 0
    return re.compile(b"|".join(re.escape(f.encode("utf-8")) for f in sorted(forms)), flags)


def _sample_groups(index: LineIndex) -> np.ndarray:
    """Start records of the GRPO groups (consecutive rows with one step/instance/step_index), from each line's first
    bytes only; a row written with other key order gets its own group rather than being parsed here."""
    starts, previous = [], None
    for r in range(len(index)):
        m = _SAMPLE_HEAD.match(index.head(r, 512))
        key = m.groups() if m else ("#", r)
        if key != previous:
            starts.append(r)
        previous = key
    starts.append(len(index))
    return np.asarray(starts, dtype=np.int64)
