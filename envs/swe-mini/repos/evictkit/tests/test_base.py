import pytest

from evictkit import CacheStats, FIFOCache, LRUCache


def test_stats_hit_rate():
    stats = CacheStats(hits=3, misses=1)
    assert stats.hit_rate == 0.75
    assert CacheStats().hit_rate == 0.0


def test_stats_count_lookups():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache.get("a")
    cache.get("b")
    assert (cache.stats.hits, cache.stats.misses) == (1, 1)


def test_missing_key_raises():
    with pytest.raises(KeyError):
        LRUCache(maxsize=2)["nope"]


def test_negative_maxsize_is_rejected():
    with pytest.raises(ValueError):
        LRUCache(maxsize=-1)


def test_value_too_large():
    cache = LRUCache(maxsize=3, getsizeof=len)
    with pytest.raises(ValueError, match="too large"):
        cache["k"] = "abcd"


def test_getsizeof_bounds_total_weight():
    cache = FIFOCache(maxsize=5, getsizeof=len)
    cache["a"] = "xx"
    cache["b"] = "yy"
    cache["c"] = "zz"
    assert list(cache) == ["b", "c"]
    assert cache.currsize == 4


def test_update_changes_weight():
    cache = FIFOCache(maxsize=10, getsizeof=len)
    cache["a"] = "x"
    cache["a"] = "xyz"
    assert cache.currsize == 3


def test_on_evict_callback():
    evicted = []
    cache = FIFOCache(maxsize=1, on_evict=lambda k, v: evicted.append((k, v)))
    cache["a"] = 1
    cache["b"] = 2
    assert evicted == [("a", 1)]
    assert cache.stats.evictions == 1


def test_delete():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    del cache["a"]
    assert "a" not in cache
    assert cache.currsize == 0
    with pytest.raises(KeyError):
        del cache["a"]


def test_pop_with_and_without_default():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    assert cache.pop("a") == 1
    assert cache.pop("a", "gone") == "gone"
    with pytest.raises(KeyError):
        cache.pop("a")


def test_peek_does_not_count():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    assert cache.peek("a") == 1
    assert cache.peek("b", 0) == 0
    assert cache.stats.hits == cache.stats.misses == 0


def test_clear():
    cache = LRUCache(maxsize=3)
    cache.update({"a": 1, "b": 2})
    cache.clear()
    assert len(cache) == 0 and cache.currsize == 0


def test_repr():
    cache = FIFOCache(maxsize=2)
    cache["a"] = 1
    assert repr(cache) == "FIFOCache({'a': 1}, maxsize=2, currsize=1)"


def test_mapping_methods():
    cache = LRUCache(maxsize=3)
    cache.update(a=1, b=2)
    assert dict(cache.items()) == {"a": 1, "b": 2}
    assert cache.setdefault("c", 3) == 3
