"""evictkit: in-memory caches with pluggable eviction policies."""

from evictkit.base import Cache, CacheStats
from evictkit.memo import cached_property_with, make_key, memoize
from evictkit.policies import FIFOCache, LFUCache, LRUCache
from evictkit.ttl import TTLCache

__all__ = [
    "Cache",
    "CacheStats",
    "FIFOCache",
    "LFUCache",
    "LRUCache",
    "TTLCache",
    "cached_property_with",
    "make_key",
    "memoize",
]
__version__ = "1.2.0"
