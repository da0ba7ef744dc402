"""The billing page's totals, pure: months cut on each site's clock, bands and modalities."""

from __future__ import annotations

from datetime import UTC, datetime

from billing.analytics import Billed, billing_totals, months_between, percent
from billing.months import month_of


def line(
    at: datetime,
    *,
    site: str = "PARIS",
    timezone: str = "Europe/Paris",
    modality: str = "CT",
    band: str = "day",
    cents: int = 10000,
    kind: str = "read",
    currency: str = "EUR",
) -> Billed:
    return Billed(site, timezone, kind, modality, band, at, cents, cents * 7 // 10, currency)


def test_a_line_priced_just_before_midnight_utc_at_a_months_end_counts_in_the_sites_next_month() -> (
    None
):
    late = datetime(2025, 1, 31, 23, 30, tzinfo=UTC)
    assert month_of(late, "Europe/Paris") == "2025-02"
    assert month_of(late, "America/Martinique") == "2025-01"
    found = billing_totals(
        [line(late), line(late, site="FDF", timezone="America/Martinique")], "2025-01", "2025-02"
    )
    (eur,) = found
    assert {m: t.lines for m, t in eur.by_month.items()} == {"2025-01": 1, "2025-02": 1}
    assert eur.by_site["PARIS"].amount_cents == 10000


def test_only_the_months_asked_are_summed_and_each_month_of_the_range_is_there() -> None:
    lines = [
        line(datetime(2024, 12, 31, 22, 59, tzinfo=UTC)),  # 23:59 in Paris: December
        line(datetime(2024, 12, 31, 23, 0, tzinfo=UTC)),  # midnight in Paris: January
        line(datetime(2025, 4, 1, 10, 0, tzinfo=UTC)),
    ]
    (eur,) = billing_totals(lines, "2025-01", "2025-03")
    assert list(eur.by_month) == ["2025-01", "2025-02", "2025-03"]
    assert [t.lines for t in eur.by_month.values()] == [1, 0, 0]
    assert eur.all.amount_cents == 10000
    assert months_between("2024-11", "2025-02") == ["2024-11", "2024-12", "2025-01", "2025-02"]


def test_totals_by_band_and_modality_count_reads_and_cancellations_apart() -> None:
    at = datetime(2025, 7, 14, 21, 30, tzinfo=UTC)
    lines = [
        line(at, band="holiday", cents=15000),
        line(at, band="night", modality="MR", cents=13000),
        line(at, band="night", cents=11000),
        line(at, kind="cancellation", cents=2000),
    ]
    (eur,) = billing_totals(lines, "2025-07", "2025-07")
    assert list(eur.by_band) == ["day", "night", "sunday", "holiday"]
    assert {b: t.amount_cents for b, t in eur.by_band.items()} == {
        "day": 2000,
        "night": 24000,
        "sunday": 0,
        "holiday": 15000,
    }
    assert {m: (t.reads, t.cancellations) for m, t in eur.by_modality.items()} == {
        "CT": (2, 1),
        "MR": (1, 0),
    }
    assert (eur.all.reads, eur.all.cancellations, eur.all.amount_cents) == (3, 1, 41000)
    assert eur.all.expert_share_cents == 1400 + 9100 + 7700 + 10500
    assert round(percent(eur.by_band["night"].amount_cents, eur.all.amount_cents), 1) == 58.5


def test_money_is_never_added_across_currencies() -> None:
    at = datetime(2025, 3, 3, 12, tzinfo=UTC)
    found = billing_totals([line(at), line(at, currency="CHF", cents=5000)], "2025-03", "2025-03")
    assert [(t.currency, t.all.amount_cents) for t in found] == [("CHF", 5000), ("EUR", 10000)]
    assert billing_totals([], "2025-03", "2025-03") == []
