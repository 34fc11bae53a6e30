"""TTLCache: an LRU cache whose entries also expire a fixed time after they were written."""

from __future__ import annotations

import time
from typing import Any, Callable, Hashable, Iterator

from evictkit.policies import LRUCache


class TTLCache(LRUCache):
    """Entries expire `ttl` seconds after they were last written.

    Expired entries behave as if absent: lookups miss, `in` is False, and `len()` and iteration skip them.
    `timer` returns the current time in seconds (inject a fake clock in tests).
    """

    def __init__(self, maxsize: int, ttl: float, timer: Callable[[], float] = time.monotonic, **kwargs: Any) -> None:
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        super().__init__(maxsize, **kwargs)
        self.ttl = ttl
        self.timer = timer
        self._expires: dict[Hashable, float] = {}

    def _expired(self, key: Hashable) -> bool:
        return self._expires[key] <= self.timer()

    def expire(self) -> list[Hashable]:
        """Remove every expired entry now; returns their keys. Expired entries do not count as evictions."""
        gone = [key for key in self._data if self._expired(key)]
        for key in gone:
            self._remove(key)
        return gone

    def __getitem__(self, key: Hashable) -> Any:
        if key in self._data and self._expired(key):
            self._remove(key)
        return super().__getitem__(key)

    def __setitem__(self, key: Hashable, value: Any) -> None:
        self.expire()
        super().__setitem__(key, value)
        self._expires[key] = self.timer() + self.ttl

    def _on_remove(self, key: Hashable) -> None:
        super()._on_remove(key)
        self._expires.pop(key, None)

    def __contains__(self, key: object) -> bool:
        return key in self._data and not self._expired(key)

    def __iter__(self) -> Iterator[Hashable]:
        return iter([key for key in self._data if not self._expired(key)])

    def __len__(self) -> int:
        return sum(1 for key in self._data if not self._expired(key))

    def remaining(self, key: Hashable) -> float:
        """Seconds until `key` expires (KeyError if it is absent or already expired)."""
        if key not in self:
            raise KeyError(key)
        return self._expires[key] - self.timer()
