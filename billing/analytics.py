"""What was billed over months, for the coordinators' billing page: totals by site, modality,
time band and month. Pure: the lines come in, the sums go out. A line's month is the month of
its priced instant on its site's clock, as its invoice cuts it; money is never added across
currencies (one set of totals per currency)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from billing.months import month_of
from billing.terms import DAY, Band

# The bands a line is counted in (BillingLine.time_band), in the order the page shows them.
BANDS = (DAY, str(Band.NIGHT), str(Band.SUNDAY), str(Band.HOLIDAY))


@dataclass(frozen=True)
class Billed:
    """A billing line as the totals read it."""

    site: str
    timezone: str  # the site's
    kind: str  # read or cancellation
    modality: str
    time_band: str
    priced_at: datetime
    amount_cents: int
    expert_share_cents: int
    currency: str


@dataclass
class Total:
    reads: int = 0
    cancellations: int = 0
    amount_cents: int = 0
    expert_share_cents: int = 0

    @property
    def lines(self) -> int:
        return self.reads + self.cancellations

    def add(self, line: Billed) -> None:
        if line.kind == "cancellation":
            self.cancellations += 1
        else:
            self.reads += 1
        self.amount_cents += line.amount_cents
        self.expert_share_cents += line.expert_share_cents


@dataclass
class Totals:
    """One currency's sums over months `first` to `last` (YYYY-MM). `by_month` and `by_band`
    hold every month of the range and every band, a zero one too, so a chart has no holes."""

    currency: str
    months: list[str]
    all: Total = field(default_factory=Total)
    by_site: dict[str, Total] = field(default_factory=dict)
    by_modality: dict[str, Total] = field(default_factory=dict)
    by_band: dict[str, Total] = field(default_factory=dict)
    by_month: dict[str, Total] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.by_month = {m: Total() for m in self.months}
        self.by_band = {b: Total() for b in BANDS}

    def add(self, line: Billed, month: str) -> None:
        self.all.add(line)
        self.by_month[month].add(line)
        self.by_band.setdefault(line.time_band, Total()).add(line)
        self.by_site.setdefault(line.site, Total()).add(line)
        self.by_modality.setdefault(line.modality, Total()).add(line)

    def sort(self) -> None:
        self.by_site = dict(sorted(self.by_site.items()))
        self.by_modality = dict(sorted(self.by_modality.items()))


def months_between(first: str, last: str) -> list[str]:
    """Every month from `first` to `last` (YYYY-MM), both included."""
    year, month = map(int, first.split("-"))
    found: list[str] = []
    while (shown := f"{year:04d}-{month:02d}") <= last:
        found.append(shown)
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return found


def billing_totals(lines: Iterable[Billed], first: str, last: str) -> list[Totals]:
    """The lines whose month (on their site's clock) is from `first` to `last`, summed; one
    Totals per currency met, by currency."""
    months = months_between(first, last)
    wanted = set(months)
    found: dict[str, Totals] = {}
    for line in lines:
        month = month_of(line.priced_at, line.timezone)
        if month not in wanted:
            continue
        if line.currency not in found:
            found[line.currency] = Totals(line.currency, months)
        found[line.currency].add(line, month)
    for totals in found.values():
        totals.sort()
    return [found[c] for c in sorted(found)]


def percent(part: int, whole: int) -> float:
    """`part` as a percentage of `whole` (0 when the whole is 0)."""
    return 100 * part / whole if whole else 0.0
