"""What a run measured, summarised as the table `make bench` prints."""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Summary:
    name: str
    cases: int
    seconds: float
    first_offer_ms: list[float]
    failures: list[str]

    @property
    def cases_per_second(self) -> float:
        return self.cases / self.seconds if self.seconds > 0 else math.nan

    @property
    def p50(self) -> float:
        return percentile(self.first_offer_ms, 50)

    @property
    def p99(self) -> float:
        return percentile(self.first_offer_ms, 99)


def percentile(values: list[float], p: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); NaN when empty."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = (len(ordered) - 1) * p / 100
    low = math.floor(rank)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (rank - low)


def table(garde: Summary, bare: Summary, cases: int, concurrency: int, experts: int) -> str:
    header = f"{'':<16}{'cases/s':>10}{'first offer p50':>18}{'first offer p99':>18}"
    lines = [
        f"{cases} cases each, {concurrency} concurrent clients, {experts} experts on duty",
        header,
        "-" * len(header),
    ]
    for s in (garde, bare):
        lines.append(f"{s.name:<16}{s.cases_per_second:>10.1f}{s.p50:>15.0f} ms{s.p99:>15.0f} ms")
    lines.append(
        f"{'Garde / bare':<16}{_ratio(garde.cases_per_second, bare.cases_per_second):>9.2f}x"
        f"{_ratio(garde.p50, bare.p50):>17.1f}x{_ratio(garde.p99, bare.p99):>17.1f}x"
    )
    for s in (garde, bare):
        if s.failures:
            lines.append(f"{s.name}: {len(s.failures)} cases failed, e.g. {s.failures[0]}")
    return "\n".join(lines)


def cpu_by_run(garde: dict[str, float], bare: dict[str, float], cases: int) -> str:
    """CPU a case by process in each run (warm-up included): the machine's two CPUs are shared
    by all, so what one process saves, the others can spend. This benchmark's process holds
    the simulated clients in Garde's run, and the bare workflow's worker with its clients."""
    header = f"{'CPU ms a case':<28}{'Garde':>10}{'bare':>10}"
    lines = [header, "-" * len(header)]
    for name in dict.fromkeys([*garde, *bare]):
        cells = [
            f"{1000 * run[name] / cases:>10.1f}" if name in run else f"{'-':>10}"
            for run in (garde, bare)
        ]
        lines.append(f"{name:<28}{''.join(cells)}")
    totals = [f"{1000 * sum(run.values()) / cases:>10.1f}" for run in (garde, bare)]
    lines.append(f"{'in all':<28}{''.join(totals)}")
    return "\n".join(lines)


def _ratio(a: float, b: float) -> float:
    return a / b if b else math.nan
