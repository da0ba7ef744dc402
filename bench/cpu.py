"""CPU spent by the benchmark's processes, read from /proc: where a run's cases cost the machine."""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS_PER_S = os.sysconf("SC_CLK_TCK")
THIS_PROCESS = "this benchmark's process"
# The processes of bench.stack, by their name there, as the tables call them.
NAMES = {"temporal": "Temporal dev server", "worker": "garde worker", "web": "garde web"}


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, all its threads (Rust's too), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / TICKS_PER_S  # utime, stime


class CpuMeter:
    """CPU seconds each process (and this one) spent since the meter was made, by the name
    the tables give it."""

    def __init__(self, pids: dict[str, int]) -> None:
        self._pids = {NAMES.get(name, name): pid for name, pid in pids.items()}
        self._start = self._now()

    def _now(self) -> dict[str, float]:
        spent = {name: cpu_seconds(pid) for name, pid in self._pids.items()}
        return {**spent, THIS_PROCESS: time.process_time()}

    def spent(self) -> dict[str, float]:
        now = self._now()
        return {name: now[name] - start for name, start in self._start.items()}
