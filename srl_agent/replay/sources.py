"""One lazy, indexed view over the three inputs of the viewer:

    episodes.jsonl   from `srl-agent eval`   (srl_agent.episodes.Episode, one per line)      -> one item per episode
    samples.jsonl    from `srl-agent train`  (srl_agent.train.sources.SRLSource.records)-> one item per GRPO group
    trajectories     any format srl_agent.readers reads                                      -> one item per trajectory

    source = open_source("episodes.jsonl")
    len(source); source.summary(0); source.item(0).steps[3]; source.find("Traceback", 0, 0)

JSONL inputs are indexed by byte offset (srl_agent.replay.index) and only the records asked for are parsed, so a
100 MB file opens in tens of milliseconds. Whole-document JSON trajectory files (.json, .traj) cannot be split without
parsing them and are read whole.
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from srl_agent.errors import UserError
from srl_agent.replay.index import LineIndex
from srl_agent.replay.model import Item, Summary, from_trajectory
from srl_agent.trajectory import DataError, Origin, Trajectory

ExpertLookup = Callable[[str], Trajectory | None]
FILTERS = ("all", "resolved", "unresolved", "errors")
_CACHE = 32  # parsed items kept (a 1,000-step episode is a few MB; the list shows ~50 rows)


def matches_filter(summary: Summary, name: str) -> bool:
    if name == "resolved":
        return summary.resolved is True
    if name == "unresolved":
        return summary.resolved is False
    if name == "errors":
        return summary.failed
    return True


def query_matcher(query: str) -> Callable[[str], bool]:
    """Smart case, as in less and vim: a query with no capital letter ignores case."""
    if query.lower() == query:
        return lambda text: query in text.lower()
    return lambda text: query in text


class Source:
    """Items of one input file. Subclasses provide `__len__`, `origin` and `_load`; parsing happens on demand."""

    kind: str
    path: Path

    def __init__(self, path: Path, kind: str, experts: ExpertLookup | None) -> None:
        self.path, self.kind, self._experts = path, kind, experts
        self._items: OrderedDict[int, Item] = OrderedDict()
        self._summaries: dict[int, Summary] = {}
        self._lock = threading.RLock()  # the app parses in worker threads (filter, search) and while painting

    def __len__(self) -> int:
        raise NotImplementedError

    def origin(self, i: int) -> str:
        raise NotImplementedError

    def _load(self, i: int) -> Item:
        raise NotImplementedError

    def item(self, i: int) -> Item:
        """Item i, parsed now unless recently used; raises DataError naming file:line for a bad record."""
        with self._lock:
            if i in self._items:
                self._items.move_to_end(i)
                return self._items[i]
            item = self._load(i)
            self._items[i] = item
            self._summaries[i] = item.summary
            if len(self._items) > _CACHE:
                self._items.popitem(last=False)
            return item

    def summary(self, i: int) -> Summary:
        if i not in self._summaries:
            self.item(i)
        return self._summaries[i]

    def known_summaries(self) -> int:
        return len(self._summaries)

    def iter_summaries(self, start: int = 0) -> Iterator[tuple[int, Summary | DataError]]:
        """Every summary from `start` on (parsing what was never shown); a bad record yields its DataError."""
        for i in range(start, len(self)):
            try:
                yield i, self.summary(i)
            except DataError as e:
                yield i, e

    def find(self, query: str, item: int, step: int, allowed: Callable[[int], bool] = lambda i: True,
             backward: bool = False) -> tuple[int, int] | None:
        """The next (item, step) after (item, step) whose text holds `query` (the previous one when `backward`)."""
        match = query_matcher(query)
        i, after = item, step
        while i is not None and 0 <= i < len(self):
            if allowed(i):
                hit = self._match_in(i, match, after, backward)
                if hit is not None:
                    return i, hit
            i = self._candidate(query, i - 1 if backward else i + 1, backward)
            after = None
        return None

    def find_instance(self, instance_id: str) -> int | None:
        """The first item of an instance (samples: of any of its step indices)."""
        i: int | None = 0
        while i is not None and i < len(self):
            try:
                name = self.summary(i).instance_id
            except DataError:
                name = ""
            if name == instance_id or name.startswith(instance_id + " #"):
                return i
            i = self._candidate(instance_id, i + 1, False)
        return None

    def _match_in(self, i: int, match: Callable[[str], bool], after: int | None, backward: bool) -> int | None:
        try:
            it = self.item(i)
        except DataError:
            return None
        order = range(len(it.steps) - 1, -1, -1) if backward else range(len(it.steps))
        for k in order:
            if after is not None and (k >= after if backward else k <= after):
                continue
            if match(it.steps[k].text()):
                return k
        if after is None and it.steps and (match(it.summary.instance_id) or match(it.problem_statement)):
            return len(it.steps) - 1 if backward else 0
        return None

    def _candidate(self, query: str, i: int, backward: bool) -> int | None:
        """The next item that could match (subclasses narrow this with a raw-byte scan)."""
        return i

    def close(self) -> None:
        pass


class MemorySource(Source):
    """Trajectories read whole (JSON documents, directories): already parsed, so items are converted on demand."""

    def __init__(self, path: Path, trajectories: list[tuple[Trajectory, str]]) -> None:
        super().__init__(path, "trajectories", None)
        self._trajectories = trajectories

    def __len__(self) -> int:
        return len(self._trajectories)

    def origin(self, i: int) -> str:
        return self._trajectories[i][1]

    def _load(self, i: int) -> Item:
        traj, origin = self._trajectories[i]
        return from_trajectory(traj, origin)


def detect_kind(record: Any, origin: str) -> str:
    if isinstance(record, dict) and "turns" in record and ("schema_version" in record or "stop_reason" in record):
        return "episodes"
    if isinstance(record, dict) and {"completion", "expert_action"} <= set(record):
        return "samples"
    from srl_agent.readers import detect

    if detect(record) is not None:
        return "trajectories"
    what = f"an object with keys {list(record)[:6]}" if isinstance(record, dict) else f"a JSON {type(record).__name__}"
    raise DataError(origin, f"{what} is not an episode (srl-agent eval), a training sample (srl-agent train) "
                            "or an expert trajectory in a supported format (srl-agent data formats)")


def open_source(path: str | Path, experts: ExpertLookup | None = None) -> Source:
    """Open any of the three inputs; the first and last records are checked now, so a file of the wrong kind or a
    truncated last line fails at once with file:line."""
    path = Path(path)
    if path.is_dir():
        return _whole(path)
    if not path.is_file():
        raise UserError(f"{path}: no such file")
    index = LineIndex.build(path)
    if len(index) == 0:
        index.close()
        raise DataError(Origin(str(path)), "empty file; expected episodes, training samples or trajectories")
    try:
        first = json.loads(index.record(0))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        if path.suffix == ".jsonl":
            index.close()
            raise DataError(Origin(str(path), line=index.line(0)), f"invalid JSON ({getattr(e, 'msg', e)})") from None
        index.close()
        return _whole(path)  # a pretty-printed JSON document
    if path.suffix in (".json", ".traj") and len(index) == 1:
        index.close()
        return _whole(path)
    from srl_agent.replay.jsonl_source import JsonlSource

    kind = detect_kind(first, f"{path}:{index.line(0)}")
    source = JsonlSource(path, kind, index, experts)
    try:
        source.item(0)
        source.item(len(source) - 1)
    except BaseException:
        source.close()
        raise
    return source


def _whole(path: Path) -> MemorySource:
    from srl_agent.readers import read_trajectories

    read = list(read_trajectories([path]))
    # Readers do not report where each trajectory came from; a position in the document is enough to find it.
    trajectories = [(t, str(path) if len(read) == 1 else f"{path}[{k}]") for k, t in enumerate(read)]
    if not trajectories:
        raise DataError(Origin(str(path)), "no trajectories found")
    return MemorySource(path, trajectories)


def default_experts(paths: list[str]) -> ExpertLookup:
    """Expert trajectories by instance id, read on first use (the files are small next to an eval's episodes)."""
    table: dict[str, Trajectory] | None = None

    def lookup(instance_id: str) -> Trajectory | None:
        nonlocal table
        if table is None:
            from srl_agent.readers import read_trajectories

            table = {}
            for p in paths:
                if Path(p).exists():
                    for traj in read_trajectories([p]):
                        table.setdefault(traj.instance_id, traj)
        return table.get(instance_id)

    return lookup
