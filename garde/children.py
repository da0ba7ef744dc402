"""Child processes that die with the process that started them, even when it is killed with -9
(then no `finally` runs): the kernel sends them SIGTERM (Linux's parent-death signal)."""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Callable

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` for `subprocess.Popen`; None off Linux, where nothing watches the parent.
    Made in the parent, so the child between fork and exec calls prctl and nothing else. The
    signal comes when the thread that started the child ends: start them from the main one."""
    if sys.platform != "linux":
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl
    parent = os.getpid()
    sigterm = int(signal.SIGTERM)

    def preexec() -> None:
        prctl(_PR_SET_PDEATHSIG, sigterm, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before prctl: no signal would come
            os.kill(os.getpid(), sigterm)

    return preexec
