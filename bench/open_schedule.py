"""When open-loop cases arrive, and what one rate's cases measured, summarised for the table.

Arrivals are a Poisson process: exponential gaps from a seeded generator, so that a run is
repeatable and bursts happen as they do at a real region's sites, not on a metronome.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import dataclass, field


def arrivals(rate: float, seconds: float, rng: random.Random) -> list[float]:
    """Offsets in seconds from the start, at `rate` per second on average, all before `seconds`."""
    offsets: list[float] = []
    t = rng.expovariate(rate)
    while t < seconds:
        offsets.append(t)
        t += rng.expovariate(rate)
    return offsets


@dataclass
class CaseTiming:
    """One case as the benchmark saw it; times on the machine's wall clock (time.time())."""

    scheduled: float  # when it was due to be sent
    sent: float | None = None  # just before POST /api/v1/cases
    case_id: int | None = None
    offer_sms: float | None = None  # the first offer SMS received by the Twilio double
    page_watched: bool = False  # its page is polled (a sample of the cases)
    page_offered: float | None = None  # the site's case page first showed it past "requested"
    finished: bool = False
    failure: str | None = None

    def since_sent_ms(self, at: float | None) -> float | None:
        return None if at is None or self.sent is None else (at - self.sent) * 1000


@dataclass(frozen=True)
class RateResult:
    rate: float
    cases: list[CaseTiming] = field(default_factory=list)

    @property
    def finished(self) -> int:
        return sum(c.finished for c in self.cases)

    @property
    def failures(self) -> list[str]:
        return [c.failure for c in self.cases if c.failure]

    def without_offer(self, wait_s: float) -> int:
        """Cases sent whose offer SMS did not reach the double within `wait_s`."""
        return sum(
            c.sent is not None and (c.offer_sms is None or c.offer_sms - c.sent > wait_s)
            for c in self.cases
        )

    @property
    def pages_watched(self) -> int:
        return sum(c.page_watched for c in self.cases)

    @property
    def lag_ms(self) -> list[float]:
        """How late each POST left against its schedule: the submitter's own queueing."""
        return [(c.sent - c.scheduled) * 1000 for c in self.cases if c.sent is not None]

    @property
    def sms_ms(self) -> list[float]:
        return _present(c.since_sent_ms(c.offer_sms) for c in self.cases)

    @property
    def page_ms(self) -> list[float]:
        return _present(c.since_sent_ms(c.page_offered) for c in self.cases)


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


def failure_lines(results: Iterable[RateResult]) -> list[str]:
    """Under a table: each rate's failures counted, and the first quoted."""
    return [
        f"{r.rate:g}/s: {len(r.failures)} cases failed, e.g. {r.failures[0]}"
        for r in results
        if r.failures
    ]
