from evictkit import FIFOCache, LFUCache, LRUCache


def test_lru_evicts_least_recently_used():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"]
    cache["c"] = 3
    assert set(cache) == {"a", "c"}


def test_lru_get_counts_as_use():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache.get("a")
    cache["c"] = 3
    assert "a" in cache and "b" not in cache


def test_lru_update_counts_as_use():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 10
    cache["c"] = 3
    assert dict(cache) == {"a": 10, "c": 3}


def test_lru_peek_does_not_count_as_use():
    cache = LRUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache.peek("a")
    cache["c"] = 3
    assert set(cache) == {"b", "c"}


def test_fifo_ignores_reads():
    cache = FIFOCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"]
    cache["c"] = 3
    assert set(cache) == {"b", "c"}


def test_fifo_update_keeps_position():
    cache = FIFOCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"] = 3
    cache["c"] = 4
    assert set(cache) == {"b", "c"}


def test_lfu_evicts_least_frequently_used():
    cache = LFUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"]
    cache["a"]
    cache["b"]
    cache["c"] = 3
    assert set(cache) == {"a", "c"}


def test_lfu_new_entry_survives_insertion():
    cache = LFUCache(maxsize=1)
    cache["a"] = 1
    cache["a"]
    cache["b"] = 2
    assert set(cache) == {"b"}


def test_lfu_ties_evict_least_recently_used():
    cache = LFUCache(maxsize=2)
    cache["a"] = 1
    cache["b"] = 2
    cache["b"]
    cache["a"]
    cache["c"] = 3
    assert set(cache) == {"a", "c"}


def test_lfu_frequency():
    cache = LFUCache(maxsize=3)
    cache["a"] = 1
    cache["a"]
    cache.get("a")
    assert cache.frequency("a") == 2


def test_lfu_frequency_resets_after_removal():
    cache = LFUCache(maxsize=3)
    cache["a"] = 1
    cache["a"]
    del cache["a"]
    cache["a"] = 2
    assert cache.frequency("a") == 0


def test_eviction_counts():
    cache = LRUCache(maxsize=1)
    for i in range(5):
        cache[i] = i
    assert cache.stats.evictions == 4
    assert list(cache) == [4]
