"""The limits' in-memory storage under the web's threads (web/rate_limit_storage.py).

limits 5.8.0 could start its expiry timer twice when two requests hit a limit at the same
moment, and the request answered 500 (seen once in CI: a case submitted among five at once).
The window is between one thread replacing the timer and starting it: here each new timer
takes a moment to make, so two threads arriving together would both be in it."""

from __future__ import annotations

import threading
import time

import pytest
from limits import RateLimitItemPerHour
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import MovingWindowRateLimiter

import web.login_limits  # noqa: F401 - what the web app imports: `memory://` as it maps it
from web.rate_limit_storage import ThreadSafeMemoryStorage


class SlowTimer(threading.Timer):
    """A timer that takes 20 ms to make, and counts the threads between making one and
    starting it."""

    lock = threading.Lock()
    between = 0
    most = 0

    def __init__(self, *args: object, **kwargs: object) -> None:
        with SlowTimer.lock:
            SlowTimer.between += 1
            SlowTimer.most = max(SlowTimer.most, SlowTimer.between)
        time.sleep(0.02)
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def start(self) -> None:
        with SlowTimer.lock:
            SlowTimer.between -= 1
        super().start()


def most_threads_replacing_the_timer(
    storage: MemoryStorage, monkeypatch: pytest.MonkeyPatch
) -> int:
    limiter = MovingWindowRateLimiter(storage)
    item = RateLimitItemPerHour(1000)
    time.sleep(0.05)  # the timer of its creation has fired: the next hits make a new one
    SlowTimer.between = SlowTimer.most = 0
    monkeypatch.setattr(threading, "Timer", SlowTimer)  # the module both storages use
    together = threading.Barrier(4)

    def hit(n: int) -> None:
        together.wait()
        limiter.hit(item, f"site-{n}")

    threads = [threading.Thread(target=hit, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return SlowTimer.most


def test_memory_is_the_thread_safe_storage() -> None:
    assert type(storage_from_string("memory://")) is ThreadSafeMemoryStorage


def test_one_thread_at_a_time_replaces_the_expiry_timer(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert most_threads_replacing_the_timer(ThreadSafeMemoryStorage(), monkeypatch) == 1


def test_limits_own_memory_storage_lets_several_in(monkeypatch: pytest.MonkeyPatch) -> None:
    """What the test above guards against, so that it cannot pass for another reason."""
    assert most_threads_replacing_the_timer(MemoryStorage(), monkeypatch) > 1
