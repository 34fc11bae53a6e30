import pytest

from evictkit import TTLCache


def test_entry_expires(clock):
    cache = TTLCache(maxsize=10, ttl=60, timer=clock)
    cache["a"] = 1
    clock.advance(59)
    assert cache["a"] == 1
    clock.advance(1)
    with pytest.raises(KeyError):
        cache["a"]


def test_expired_lookup_is_a_miss(clock):
    cache = TTLCache(maxsize=10, ttl=5, timer=clock)
    cache["a"] = 1
    clock.advance(10)
    assert cache.get("a") is None
    assert cache.stats.misses == 1


def test_rewrite_restarts_the_clock(clock):
    cache = TTLCache(maxsize=10, ttl=10, timer=clock)
    cache["a"] = 1
    clock.advance(8)
    cache["a"] = 2
    clock.advance(8)
    assert cache["a"] == 2


def test_contains_is_false_after_expiry(clock):
    cache = TTLCache(maxsize=10, ttl=10, timer=clock)
    cache["a"] = 1
    assert "a" in cache
    clock.advance(10)
    assert "a" not in cache


def test_len_and_iteration_skip_expired(clock):
    cache = TTLCache(maxsize=10, ttl=10, timer=clock)
    cache["a"] = 1
    clock.advance(5)
    cache["b"] = 2
    clock.advance(6)
    assert len(cache) == 1
    assert list(cache) == ["b"]
    assert dict(cache.items()) == {"b": 2}


def test_expire_removes_entries(clock):
    cache = TTLCache(maxsize=10, ttl=10, timer=clock)
    cache["a"] = 1
    cache["b"] = 2
    clock.advance(11)
    assert sorted(cache.expire()) == ["a", "b"]
    assert cache.currsize == 0
    assert cache.stats.evictions == 0


def test_remaining(clock):
    cache = TTLCache(maxsize=10, ttl=30, timer=clock)
    cache["a"] = 1
    clock.advance(12)
    assert cache.remaining("a") == 18
    clock.advance(20)
    with pytest.raises(KeyError):
        cache.remaining("a")


def test_expired_entries_make_room_before_eviction(clock):
    cache = TTLCache(maxsize=2, ttl=10, timer=clock)
    cache["old"] = 1
    clock.advance(5)
    cache["fresh"] = 2
    clock.advance(6)
    cache["new"] = 3
    assert set(cache) == {"fresh", "new"}
    assert cache.stats.evictions == 0


def test_lru_behaviour_within_ttl(clock):
    cache = TTLCache(maxsize=2, ttl=100, timer=clock)
    cache["a"] = 1
    cache["b"] = 2
    cache["a"]
    cache["c"] = 3
    assert set(cache) == {"a", "c"}


def test_ttl_must_be_positive():
    with pytest.raises(ValueError):
        TTLCache(maxsize=1, ttl=0)
