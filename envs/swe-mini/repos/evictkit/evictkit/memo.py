"""Memoizing functions and methods with any evictkit cache."""

from __future__ import annotations

import functools
import threading
from typing import Any, Callable, Hashable, Optional

from evictkit.base import Cache

_KWARGS_MARK = object()  # separates positional from keyword arguments in a key
_NOT_FOUND = object()


def make_key(args: tuple, kwargs: dict, typed: bool = False) -> Hashable:
    """A hashable key for a call. Keyword order does not matter; with `typed`, 1 and 1.0 give different keys."""
    key: tuple = args
    if kwargs:
        key += (_KWARGS_MARK,) + tuple(sorted(kwargs.items()))
    if typed:
        key += tuple(type(v) for v in args) + tuple(type(v) for _, v in sorted(kwargs.items()))
    return key


def memoize(cache: Cache, key: Optional[Callable[..., Hashable]] = None, typed: bool = False,
            lock: bool = False) -> Callable[[Callable], Callable]:
    """Decorator: remember results of the wrapped function in `cache`.

    `key(*args, **kwargs)` overrides how a call becomes a cache key. With `lock`, concurrent calls are serialised
    around the cache (the function itself runs outside the lock, so two threads may compute the same value).
    Exceptions are not cached. The wrapper has `cache`, `cache_clear()` and `cache_info()`.
    """
    guard = threading.RLock() if lock else None

    def decorator(func: Callable) -> Callable:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            k = key(*args, **kwargs) if key is not None else make_key(args, kwargs, typed)
            if guard:
                with guard:
                    found = cache.get(k, _NOT_FOUND)
            else:
                found = cache.get(k, _NOT_FOUND)
            if found is not _NOT_FOUND:
                return found
            value = func(*args, **kwargs)
            try:
                if guard:
                    with guard:
                        cache[k] = value
                else:
                    cache[k] = value
            except ValueError:
                pass  # too large to cache: still a valid result
            return value

        def cache_clear() -> None:
            cache.clear()
            cache.stats.reset()

        def cache_info() -> dict[str, int]:
            s = cache.stats
            return {"hits": s.hits, "misses": s.misses, "maxsize": cache.maxsize, "currsize": cache.currsize}

        wrapper.cache = cache  # type: ignore[attr-defined]
        wrapper.cache_clear = cache_clear  # type: ignore[attr-defined]
        wrapper.cache_info = cache_info  # type: ignore[attr-defined]
        return wrapper

    return decorator


def cached_property_with(factory: Callable[[], Cache]) -> Callable[[Callable], property]:
    """Like `functools.cached_property`, but each instance keeps its values in its own cache from `factory()`.

    Useful for properties that must be recomputed after eviction or expiry (e.g. with a TTLCache).
    """
    def decorator(method: Callable) -> property:
        attr = f"_evictkit_{method.__name__}"

        @functools.wraps(method)
        def getter(self: Any) -> Any:
            cache = self.__dict__.get(attr)
            if cache is None:
                cache = self.__dict__[attr] = factory()
            try:
                return cache[method.__name__]
            except KeyError:
                value = cache[method.__name__] = method(self)
                return value

        return property(getter)

    return decorator
