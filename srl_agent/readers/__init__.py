"""Trajectory readers: one per source format, auto-detected per record.

from srl_agent.readers import read_trajectories
result = read_trajectories(["swe_gym.jsonl"])          # format detected per record
for traj in result: ...                                 # result.skipped counts what --skip-bad skipped
"""

from __future__ import annotations

from functools import cache
from typing import Any

from srl_agent.trajectory import TrajectoryReader


@cache
def all_readers() -> tuple[TrajectoryReader, ...]:
    """Every reader, in sniffing order (most specific first)."""
    from srl_agent.readers import minisweagent, nebius, openhands, pivot, sweagent

    return (*openhands.READERS, *sweagent.READERS, *nebius.READERS, *minisweagent.READERS, *pivot.READERS)


def reader_names() -> list[str]:
    return [r.name for r in all_readers()]


def get_reader(name: str) -> TrajectoryReader:
    for reader in all_readers():
        if reader.name == name:
            return reader
    raise ValueError(f"unknown trajectory format {name!r}; choose one of: {', '.join(reader_names())}")


def detect(record: Any) -> TrajectoryReader | None:
    """The first reader whose sniff() accepts the record, or None."""
    for reader in all_readers():
        if reader.sniff(record):
            return reader
    return None


from srl_agent.readers.load import ReadResult, read_trajectories  # noqa: E402

__all__ = ["ReadResult", "all_readers", "detect", "get_reader", "read_trajectories", "reader_names"]
