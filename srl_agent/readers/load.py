"""Turn input paths (files, directories, Parquet, saved or hub datasets) into records, and records into trajectories."""

from __future__ import annotations

import json
import os
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from srl_agent.jsonl import iter_jsonl, not_utf8
from srl_agent.trajectory import DataError, Origin, Trajectory

FILE_SUFFIXES = (".jsonl", ".json", ".traj", ".parquet")
# Hugging Face exports often store nested lists as JSON strings; decode these columns so readers see lists/dicts.
_JSON_COLUMNS = ("messages", "conversations", "trajectory", "history", "tools", "test_result", "instance", "info")


def _decode_row(row: dict[str, Any]) -> dict[str, Any]:
    for key in _JSON_COLUMNS:
        value = row.get(key)
        if isinstance(value, str) and value[:1] in "[{":
            try:
                row[key] = json.loads(value)
            except json.JSONDecodeError:
                pass  # a column that merely starts with "[" (free text): leave it, the reader reports it
    return row


def _is_saved_dataset(path: Path) -> bool:
    return (path / "dataset_dict.json").exists() or (path / "state.json").exists()


def _iter_json(path: Path) -> Iterator[tuple[Any, Origin]]:
    from srl_agent.readers import detect

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        origin = Origin(str(path), line=e.lineno)
        yield DataError(origin, f"invalid JSON ({e.msg} at column {e.colno}); is the file truncated?"), origin
        return
    except UnicodeDecodeError as e:
        yield DataError(Origin(str(path)), f"{not_utf8(e)}; expected JSON trajectories"), Origin(str(path))
        return
    # A list is either one trajectory (a message or event list) or a list of trajectory records.
    if isinstance(data, list) and detect(data) is None:
        for i, item in enumerate(data):
            yield item, Origin(str(path), index=i)
    else:
        yield data, Origin(str(path))


def _iter_table(rows: Iterable[dict[str, Any]], name: str) -> Iterator[tuple[Any, Origin]]:
    for i, row in enumerate(rows):
        yield _decode_row(dict(row)), Origin(name, index=i)


def _iter_parquet(path: Path) -> Iterator[tuple[Any, Origin]]:
    import pyarrow.parquet as pq

    table = pq.ParquetFile(path)
    offset = 0
    for batch in table.iter_batches(batch_size=256):
        for i, row in enumerate(batch.to_pylist()):
            yield _decode_row(row), Origin(str(path), index=offset + i)
        offset += batch.num_rows


def _iter_dataset(ds: Any, name: str) -> Iterator[tuple[Any, Origin]]:
    from datasets import DatasetDict

    if isinstance(ds, DatasetDict):
        for split, part in ds.items():
            yield from _iter_table(part, f"{name}[{split}]")
    else:
        yield from _iter_table(ds, name)


def iter_records(source: str) -> Iterator[tuple[Any, Origin]]:
    """Yield (record, origin) for one input; a record that failed to parse is yielded as a DataError."""
    path = Path(source)
    if path.is_dir():
        if _is_saved_dataset(path):
            from datasets import load_from_disk

            yield from _iter_dataset(load_from_disk(str(path)), str(path))
            return
        files = sorted(p for p in path.rglob("*") if p.is_file() and p.name.endswith(FILE_SUFFIXES))
        if not files:
            raise DataError(Origin(str(path)), f"directory holds no {'/'.join(FILE_SUFFIXES)} files")
        for f in files:
            yield from iter_records(str(f))
        return
    if path.is_file():
        if path.suffix == ".jsonl":
            yield from iter_jsonl(path)
        elif path.suffix == ".parquet":
            yield from _iter_parquet(path)
        else:
            yield from _iter_json(path)
        return
    if "/" in source and not source.startswith((".", "/")) and source.count("/") == 1:
        from datasets import load_dataset  # a hub name such as SWE-Gym/OpenHands-SFT-Trajectories

        try:
            ds = load_dataset(source)
        except Exception as e:  # noqa: BLE001 - the hub raises many types; all mean "cannot load"
            raise DataError(
                Origin(source), f"not a local path, and loading it from the Hugging Face Hub failed: {e}"
            ) from e
        yield from _iter_dataset(ds, source)
        return
    raise DataError(
        Origin(source),
        "no such file or directory (expected a .json/.jsonl/.traj/.parquet file, a directory, or a hub dataset name)",
    )


@dataclass
class ReadResult:
    """Trajectories read, plus what was skipped and why (filled while iterating)."""

    sources: list[str]
    format: str | None = None
    skip_bad: bool = False
    read: int = 0
    skipped: Counter[str] = field(default_factory=Counter)
    errors: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterator[Trajectory]:
        from srl_agent.readers import detect, get_reader

        forced = get_reader(self.format) if self.format else None
        for source in self.sources:
            for record, origin in iter_records(source):
                try:
                    if isinstance(record, DataError):
                        raise record
                    reader = forced or detect(record)
                    if reader is None:
                        raise DataError(
                            origin,
                            f"unrecognised trajectory format ({_describe(record)}); pass --format, one of the readers in `srl-agent data formats`",
                        )
                    traj = reader.read(record, origin)
                except DataError as e:
                    if not self.skip_bad:
                        raise
                    self.skipped[_reason(e)] += 1
                    self.errors.append(str(e))
                    continue
                self.read += 1
                yield traj


def _describe(record: Any) -> str:
    if isinstance(record, dict):
        keys = list(record)[:8]
        return f"an object with keys {keys}"
    if isinstance(record, list):
        return f"a list of {len(record)} items"
    return f"a {type(record).__name__}"


def _reason(error: DataError) -> str:
    """A short, countable reason: the message up to the first ';' or '('."""
    return error.message.split(";")[0].split("(")[0].strip()


def read_trajectories(
    sources: Iterable[str | os.PathLike[str]], format: str | None = None, skip_bad: bool = False
) -> ReadResult:
    """Lazily read trajectories from files, directories, Parquet files, saved datasets or hub names.

    Raises DataError on the first bad record unless skip_bad, in which case it is counted in `result.skipped`.
    """
    return ReadResult([str(s) for s in sources], format=format, skip_bad=skip_bad)
