"""The in-memory storage of the login and submission limits (`memory://`), made safe for the
web's threads.

limits 5.8.0's `MemoryStorage` schedules its expiry with a timer that two threads hitting a
limit at the same moment can both replace and then start the same one twice ("threads can
only be started once"): a login or a case submitted at that moment was answered 500. This
subclass starts the timer under a lock, as upstream has done since (alisaifee/limits#352, not
in a release yet), and takes over the `memory` scheme, so `GARDE_RATE_LIMIT_STORAGE`'s
default keeps its meaning. Drop it once a limits release carries the fix.
"""

from __future__ import annotations

import threading

from limits.storage import MemoryStorage


class ThreadSafeMemoryStorage(MemoryStorage):
    STORAGE_SCHEME = ["memory"]
    _timer_lock = threading.Lock()  # a web process has one storage

    # MemoryStorage calls this, by its private name, on every hit.
    def _MemoryStorage__schedule_expiry(self) -> None:
        with self._timer_lock:
            if not self.timer.is_alive():
                expire = self._MemoryStorage__expire_events  # type: ignore[attr-defined]
                self.timer = threading.Timer(0.01, expire)
                self.timer.start()
