import threading

from evictkit import LRUCache, TTLCache, cached_property_with, make_key, memoize


def test_memoize_caches_results():
    calls = []

    @memoize(LRUCache(maxsize=10))
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == 9
    assert square(3) == 9
    assert calls == [3]
    assert square.cache_info() == {"hits": 1, "misses": 1, "maxsize": 10, "currsize": 1}


def test_memoize_distinguishes_keyword_arguments():
    @memoize(LRUCache(maxsize=10))
    def power(base, exp=2):
        return base**exp

    assert power(2, exp=3) == 8
    assert power(2, exp=5) == 32
    assert power(2) == 4


def test_make_key_ignores_keyword_order():
    assert make_key((1,), {"a": 1, "b": 2}) == make_key((1,), {"b": 2, "a": 1})


def test_make_key_separates_positional_and_keyword():
    assert make_key(("a", 1), {}) != make_key((), {"a": 1})


def test_make_key_typed():
    assert make_key((1,), {}) == make_key((1.0,), {})
    assert make_key((1,), {}, typed=True) != make_key((1.0,), {}, typed=True)


def test_memoize_custom_key():
    @memoize(LRUCache(maxsize=10), key=lambda text: text.lower())
    def shout(text):
        return text.upper() + "!"

    assert shout("Hi") == "HI!"
    assert shout("hi") == "HI!"
    assert shout.cache_info()["hits"] == 1


def test_memoize_does_not_cache_exceptions():
    attempts = []

    @memoize(LRUCache(maxsize=10))
    def flaky(x):
        attempts.append(x)
        if len(attempts) == 1:
            raise RuntimeError("first call fails")
        return x

    try:
        flaky(1)
    except RuntimeError:
        pass
    assert flaky(1) == 1
    assert len(attempts) == 2


def test_memoize_caches_none():
    calls = []

    @memoize(LRUCache(maxsize=10))
    def nothing():
        calls.append(1)

    nothing()
    nothing()
    assert len(calls) == 1


def test_cache_clear_resets_stats():
    @memoize(LRUCache(maxsize=10))
    def ident(x):
        return x

    ident(1)
    ident(1)
    ident.cache_clear()
    assert ident.cache_info() == {"hits": 0, "misses": 0, "maxsize": 10, "currsize": 0}


def test_memoize_with_lock_from_threads():
    @memoize(LRUCache(maxsize=100), lock=True)
    def double(x):
        return 2 * x

    results = []
    threads = [threading.Thread(target=lambda i=i: results.append(double(i % 5))) for i in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(set(results)) == [0, 2, 4, 6, 8]


def test_memoize_value_too_large_is_returned_uncached():
    @memoize(LRUCache(maxsize=2, getsizeof=len))
    def text(n):
        return "x" * n

    assert text(5) == "xxxxx"
    assert text.cache_info()["currsize"] == 0


def test_cached_property_with_ttl(clock):
    class Config:
        loads = 0

        @cached_property_with(lambda: TTLCache(maxsize=1, ttl=60, timer=clock))
        def settings(self):
            Config.loads += 1
            return {"debug": False}

    config = Config()
    config.settings
    config.settings
    assert Config.loads == 1
    clock.advance(61)
    config.settings
    assert Config.loads == 2
