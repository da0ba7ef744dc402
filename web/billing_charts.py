"""The billing page's charts as geometry for inline SVG, drawn on the server (no script): a
column per month, and the share of each time band as one stacked bar. Horizontal positions
are percentages of the chart's width, so a chart fills a phone or a desktop while its text
keeps its size; vertical ones are pixels of a fixed height."""

from __future__ import annotations

from dataclasses import dataclass

from billing.analytics import Totals, percent

PLOT_TOP = 18  # px: room for a column's value above it
PLOT_HEIGHT = 170
AXIS_Y = PLOT_TOP + PLOT_HEIGHT
HEIGHT = AXIS_Y + 26  # the month labels below the axis


@dataclass(frozen=True)
class Column:
    key: str  # YYYY-MM
    cents: int
    x: float  # % of the width, the column's left
    width: float  # %
    top: float  # px
    height: float  # px

    @property
    def middle(self) -> float:
        return self.x + self.width / 2


@dataclass(frozen=True)
class Gridline:
    cents: int
    y: float  # px


@dataclass(frozen=True)
class Segment:
    band: str
    cents: int
    x: float  # %
    width: float  # %
    share: float  # % of the whole


def nice_ceiling(cents: int) -> int:
    """The scale's top: 1, 2 or 5 times a power of ten, in whole currency units, at least
    `cents`."""
    step = 100
    while True:
        for factor in (1, 2, 5):
            if step * factor >= cents:
                return step * factor
        step *= 10


def month_columns(totals: Totals) -> tuple[list[Column], list[Gridline]]:
    """A column per month of the range (an empty month is a column of no height) and the
    scale's lines (zero, half, top)."""
    top = nice_ceiling(max((t.amount_cents for t in totals.by_month.values()), default=0))
    slot = 100 / max(len(totals.by_month), 1)
    columns = []
    for i, (month, t) in enumerate(totals.by_month.items()):
        height = PLOT_HEIGHT * t.amount_cents / top
        columns.append(
            Column(
                month, t.amount_cents, i * slot + slot * 0.15, slot * 0.7, AXIS_Y - height, height
            )
        )
    lines = [Gridline(top * k // 2, AXIS_Y - PLOT_HEIGHT * k / 2) for k in (0, 1, 2)]
    return columns, lines


def band_segments(totals: Totals) -> list[Segment]:
    """The bands that earned something, left to right in the page's order, each as wide as
    its share of the amount."""
    whole = totals.all.amount_cents
    found, x = [], 0.0
    for band, t in totals.by_band.items():
        if t.amount_cents <= 0:
            continue
        share = percent(t.amount_cents, whole)
        found.append(Segment(band, t.amount_cents, x, share, share))
        x += share
    return found
