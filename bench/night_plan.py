"""The night to simulate: who is on duty, what arrives when, and how each expert behaves.

Everything here is a pure function of the seed, so the three routing policies face the very
same night: the same studies at the same instants, and the same expert giving the same answer
after the same delay whenever the same study is offered to them for the same time.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import TypeVar
from zoneinfo import ZoneInfo

from garde.domain import Priority, Tier

T = TypeVar("T")
PARIS = ZoneInfo("Europe/Paris")
NIGHT_BEGINS = time(20, 0)
# The night team stays half an hour past the last arrival: the usual handover.
HANDOVER = timedelta(minutes=30)

# Arrivals per hour of the night, relative: the evening peak (20:00-01:00), the small hours,
# and the early morning. A night longer than twelve hours repeats the last weight.
HOURLY_WEIGHTS = (1.5, 1.5, 1.4, 1.3, 1.1, 0.7, 0.6, 0.6, 0.7, 0.8, 0.9, 1.0)
PRIORITY_SHARES = ((Priority.URGENT, 0.70), (Priority.STAT, 0.20), (Priority.ROUTINE, 0.10))
MODALITY_SHARES = (("CT", 0.85), ("MR", 0.15))
# Minutes an expert spends reading one study, by priority (before the expert's own pace):
# about 15 minutes on average. With 120 studies the five reachable experts then read about
# half of the night, and about three quarters of the two busiest hours (some 15 studies an
# hour): a busy night that can still be kept. Longer reads saturate the evening peak, where
# no routing can keep the promise.
READ_MINUTES = {
    Priority.STAT: (6.0, 14.0),
    Priority.URGENT: (8.0, 22.0),
    Priority.ROUTINE: (12.0, 35.0),
}
# Some answers come late whoever the expert: after four to seven minutes.
LATE_SHARE = 0.08
LATE_SECONDS = (240.0, 420.0)


@dataclass(frozen=True)
class SiteSpec:
    code: str
    name: str
    share: float


SITES = (
    SiteSpec("CH-MONTELIMAR", "CH de Montélimar", 0.45),
    SiteSpec("CH-DIE", "CH de Die", 0.20),
    SiteSpec("CH-AUBENAS", "CH d'Ardèche Méridionale", 0.35),
)


@dataclass(frozen=True)
class Habit:
    """How one expert answers offers and reads; `reachable` False: the phone never rings."""

    never: float  # share of offers never answered (asleep, phone in another room)
    decline: float  # share of the answered offers declined
    fastest_s: float
    slowest_s: float
    pace: float  # reading time multiplier
    reachable: bool = True


@dataclass(frozen=True)
class ExpertSpec:
    code: str
    name: str
    phone: str
    tier: Tier
    habit: Habit


CREW = (
    ExpertSpec(
        "DR-MARTIN",
        "Dr Claire Martin",
        "+33611000001",
        Tier.PRIMARY,
        Habit(0.05, 0.05, 60, 180, 0.9),
    ),
    ExpertSpec(
        "DR-BERNARD",
        "Dr Hugo Bernard",
        "+33611000002",
        Tier.PRIMARY,
        Habit(0.10, 0.10, 60, 240, 1.0),
    ),
    ExpertSpec(
        "DR-PETIT", "Dr Inès Petit", "+33611000003", Tier.PRIMARY, Habit(0.20, 0.10, 90, 240, 1.1)
    ),
    ExpertSpec(
        "DR-ROUX",
        "Dr Paul Roux",
        "+33611000004",
        Tier.PRIMARY,
        Habit(0.0, 0.0, 60, 240, 1.0, reachable=False),
    ),
    ExpertSpec(
        "DR-FAURE", "Dr Léa Faure", "+33611000005", Tier.BACKUP, Habit(0.10, 0.10, 60, 240, 1.0)
    ),
    ExpertSpec(
        "DR-BLANC", "Dr Marc Blanc", "+33611000006", Tier.BACKUP, Habit(0.15, 0.25, 120, 300, 1.2)
    ),
)


@dataclass(frozen=True)
class Arrival:
    """One study sent by a site, `offset_s` seconds after the night begins."""

    accession: str
    offset_s: float
    site: str
    priority: Priority
    modality: str


@dataclass(frozen=True)
class Answer:
    """What an expert does with one offer: answer after `delay_s`, yes or no."""

    delay_s: float
    accept: bool


def night_start(now: datetime) -> datetime:
    """The first 20:00 in Paris at least a minute after `now` (the server's clock)."""
    local = (now + timedelta(minutes=1)).astimezone(PARIS)
    start = datetime.combine(local.date(), NIGHT_BEGINS, tzinfo=PARIS)
    if start < local:
        start = datetime.combine(local.date() + timedelta(days=1), NIGHT_BEGINS, tzinfo=PARIS)
    return start


def arrivals(seed: int, studies: int, hours: int) -> list[Arrival]:
    """`studies` arrivals over `hours`, denser in the evening, in order of arrival."""
    rng = random.Random(f"{seed}:arrivals")
    weights = [HOURLY_WEIGHTS[min(h, len(HOURLY_WEIGHTS) - 1)] for h in range(hours)]
    offsets = sorted(
        (rng.choices(range(hours), weights)[0] + rng.random()) * 3600 for _ in range(studies)
    )
    sites = [s.code for s in SITES]
    site_weights = [s.share for s in SITES]
    return [
        Arrival(
            accession=f"NUIT-{i + 1:04d}",
            offset_s=round(offset, 1),
            site=rng.choices(sites, site_weights)[0],
            priority=_pick(rng, PRIORITY_SHARES),
            modality=_pick(rng, MODALITY_SHARES),
        )
        for i, offset in enumerate(offsets)
    ]


def answer(seed: int, expert: ExpertSpec, accession: str, attempt: int) -> Answer | None:
    """The expert's answer to their `attempt`-th offer (1, 2, ...) of this study; None:
    they never answer it."""
    habit = expert.habit
    rng = random.Random(f"{seed}:answer:{expert.code}:{accession}:{attempt}")
    if rng.random() < habit.never:
        return None
    accept = rng.random() >= habit.decline
    if rng.random() < LATE_SHARE:
        delay = rng.uniform(*LATE_SECONDS)
    else:  # skewed towards the fast end, as reaction times are
        spread = habit.slowest_s - habit.fastest_s
        delay = rng.triangular(habit.fastest_s, habit.slowest_s, habit.fastest_s + spread / 4)
    return Answer(round(delay, 1), accept)


def read_seconds(seed: int, expert: ExpertSpec, accession: str, priority: Priority) -> float:
    """How long this expert takes to read this study, once it is their turn to read it."""
    rng = random.Random(f"{seed}:read:{accession}")
    low, high = READ_MINUTES[priority]
    return round(rng.uniform(low, high) * 60 * expert.habit.pace, 1)


def _pick(rng: random.Random, shares: tuple[tuple[T, float], ...]) -> T:
    return rng.choices([v for v, _ in shares], [w for _, w in shares])[0]
