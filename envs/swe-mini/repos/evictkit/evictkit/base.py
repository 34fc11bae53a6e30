"""The Cache base class: a bounded mapping that asks its policy which key to evict."""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Iterator, Optional

_MISSING = object()


@dataclass
class CacheStats:
    """Counters kept by every cache."""

    hits: int = 0
    misses: int = 0
    evictions: int = 0

    @property
    def hit_rate(self) -> float:
        """Hits divided by lookups (0.0 before the first lookup)."""
        lookups = self.hits + self.misses
        return self.hits / lookups if lookups else 0.0

    def reset(self) -> None:
        self.hits = self.misses = self.evictions = 0


class Cache(MutableMapping):
    """A mapping with at most `maxsize` entries.

    Subclasses decide which entry leaves when the cache is full by implementing `_eviction_order`, and may track
    usage in the `_on_*` hooks. `getsizeof` lets entries weigh more than 1 (e.g. `len` for strings); `maxsize`
    then bounds the total weight. `on_evict(key, value)` is called for every entry the policy evicts.
    """

    def __init__(self, maxsize: int, getsizeof: Optional[Callable[[Any], int]] = None,
                 on_evict: Optional[Callable[[Hashable, Any], None]] = None) -> None:
        if maxsize < 0:
            raise ValueError("maxsize must be >= 0")
        self.maxsize = maxsize
        self._data: dict[Hashable, Any] = {}
        self._sizes: dict[Hashable, int] = {}
        self._getsizeof = getsizeof or (lambda value: 1)
        self._on_evict = on_evict
        self.currsize = 0
        self.stats = CacheStats()

    # -- hooks for policies -----------------------------------------------------------------------------------

    def _on_access(self, key: Hashable) -> None:
        """A lookup found `key`."""

    def _on_insert(self, key: Hashable) -> None:
        """`key` was added (it was not in the cache before)."""

    def _on_update(self, key: Hashable) -> None:
        """The value of an existing `key` was replaced."""

    def _on_remove(self, key: Hashable) -> None:
        """`key` left the cache (deleted, popped or evicted)."""

    def _eviction_order(self) -> Iterable[Hashable]:
        """The keys, the next one to evict first."""
        raise NotImplementedError

    # -- mapping protocol ---------------------------------------------------------------------------------------

    def __getitem__(self, key: Hashable) -> Any:
        try:
            value = self._data[key]
        except KeyError:
            self.stats.misses += 1
            return self.__missing__(key)
        self.stats.hits += 1
        self._on_access(key)
        return value

    def __missing__(self, key: Hashable) -> Any:
        raise KeyError(key)

    def __setitem__(self, key: Hashable, value: Any) -> None:
        size = self._getsizeof(value)
        if size > self.maxsize:
            raise ValueError(f"value too large for the cache (size {size} > maxsize {self.maxsize})")
        if key in self._data:
            self.currsize -= self._sizes[key]
            self._data[key] = value
            self._sizes[key] = size
            self.currsize += size
            self._on_update(key)
        else:
            self._data[key] = value
            self._sizes[key] = size
            self.currsize += size
            self._on_insert(key)
        while self.currsize > self.maxsize:
            self._evict_one(protect=key)

    def _evict_one(self, protect: Hashable) -> None:
        # The entry just written must survive its own insertion (a new LFU entry is always the least used).
        victim = next(k for k in self._eviction_order() if k != protect)
        value = self._data[victim]
        self._remove(victim)
        self.stats.evictions += 1
        if self._on_evict is not None:
            self._on_evict(victim, value)

    def _remove(self, key: Hashable) -> Any:
        value = self._data.pop(key)
        self.currsize -= self._sizes.pop(key)
        self._on_remove(key)
        return value

    def __delitem__(self, key: Hashable) -> None:
        if key not in self._data:
            raise KeyError(key)
        self._remove(key)

    def __contains__(self, key: object) -> bool:
        return key in self._data

    def __iter__(self) -> Iterator[Hashable]:
        return iter(list(self._data))

    def __len__(self) -> int:
        return len(self._data)

    def __repr__(self) -> str:
        items = ", ".join(f"{k!r}: {v!r}" for k, v in self._data.items())
        return f"{type(self).__name__}({{{items}}}, maxsize={self.maxsize}, currsize={self.currsize})"

    # -- conveniences -------------------------------------------------------------------------------------------

    def get(self, key: Hashable, default: Any = None) -> Any:
        """The value for `key` (counted as a hit or a miss like `cache[key]`), or `default`."""
        try:
            return self[key]
        except KeyError:
            return default

    def pop(self, key: Hashable, default: Any = _MISSING) -> Any:
        """Remove `key` and return its value; return `default` if given and `key` is absent, else raise KeyError."""
        if key in self._data:
            return self._remove(key)
        if default is _MISSING:
            raise KeyError(key)
        return default

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """The value for `key` without counting a lookup or touching the eviction order."""
        return self._data.get(key, default)

    def clear(self) -> None:
        for key in list(self._data):
            self._remove(key)
