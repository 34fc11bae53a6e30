"""Eviction policies: least recently used, least frequently used, first in first out."""

from __future__ import annotations

from collections import OrderedDict
from typing import Hashable, Iterable

from evictkit.base import Cache


class LRUCache(Cache):
    """Evicts the entry that was read or written least recently."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._order: OrderedDict[Hashable, None] = OrderedDict()

    def _on_access(self, key: Hashable) -> None:
        self._order.move_to_end(key)

    def _on_insert(self, key: Hashable) -> None:
        self._order[key] = None

    def _on_update(self, key: Hashable) -> None:
        self._order.move_to_end(key)

    def _on_remove(self, key: Hashable) -> None:
        del self._order[key]

    def _eviction_order(self) -> Iterable[Hashable]:
        return self._order


class FIFOCache(Cache):
    """Evicts the entry that was inserted first; reads and updates do not change the order."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._order: OrderedDict[Hashable, None] = OrderedDict()

    def _on_insert(self, key: Hashable) -> None:
        self._order[key] = None

    def _on_remove(self, key: Hashable) -> None:
        del self._order[key]

    def _eviction_order(self) -> Iterable[Hashable]:
        return self._order


class LFUCache(Cache):
    """Evicts the entry read the fewest times; among equally used entries, the one used least recently."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._counts: dict[Hashable, int] = {}
        self._clock = 0
        self._last_use: dict[Hashable, int] = {}

    def _touch(self, key: Hashable) -> None:
        self._clock += 1
        self._last_use[key] = self._clock

    def _on_access(self, key: Hashable) -> None:
        self._counts[key] += 1
        self._touch(key)

    def _on_insert(self, key: Hashable) -> None:
        self._counts[key] = 0
        self._touch(key)

    def _on_update(self, key: Hashable) -> None:
        self._touch(key)

    def _on_remove(self, key: Hashable) -> None:
        del self._counts[key]
        del self._last_use[key]

    def _eviction_order(self) -> Iterable[Hashable]:
        return sorted(self._counts, key=lambda k: (self._counts[k], self._last_use[k]))

    def frequency(self, key: Hashable) -> int:
        """How many times `key` was read since it was inserted."""
        return self._counts[key]
