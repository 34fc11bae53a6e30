"""A pytest plugin with no dependencies: fail any test that runs longer than SRL_TEST_TIMEOUT seconds (SIGALRM).

Mined tasks run old commits, whose tests can hang; pytest-timeout may not be installable offline."""

import os
import signal

import pytest

LIMIT = int(os.environ.get("SRL_TEST_TIMEOUT", "60"))


class TestTimeout(Exception):
    pass


def _alarm(signum, frame):
    raise TestTimeout(f"test exceeded the per-test timeout of {LIMIT}s")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_call(item):
    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(LIMIT)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
