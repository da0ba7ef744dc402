"""The open-loop benchmark's arithmetic, offline: its Poisson schedule, what it counts per
rate, and the offer SMS it recognises (the benchmark itself is run by `make bench`)."""

from __future__ import annotations

import random
import statistics

from bench.open_experts import OFFER
from bench.open_schedule import CaseTiming, RateResult, arrivals, failure_lines


def test_arrivals_are_poisson_at_the_rate_and_repeatable() -> None:
    offsets = arrivals(10, 200, random.Random(15))
    assert offsets == arrivals(10, 200, random.Random(15))
    assert offsets == sorted(offsets) and offsets[0] > 0 and offsets[-1] < 200
    assert 1800 < len(offsets) < 2200
    gaps = [b - a for a, b in zip(offsets, offsets[1:], strict=False)]
    # Exponential gaps: the mean is 1/rate and the standard deviation as large as the mean.
    assert abs(statistics.mean(gaps) - 0.1) < 0.01
    assert abs(statistics.stdev(gaps) - 0.1) < 0.015


def test_a_rate_counts_its_cases_from_the_moment_each_was_sent() -> None:
    result = RateResult(
        10,
        [
            CaseTiming(
                100.0,
                sent=100.01,
                case_id=1,
                offer_sms=100.21,
                page_watched=True,
                page_offered=100.31,
            ),
            CaseTiming(101.0, sent=101.0, case_id=2, offer_sms=101.1, page_watched=True),
            CaseTiming(101.5, sent=101.5, case_id=5, offer_sms=101.6, finished=True),
            CaseTiming(102.0, sent=102.0, case_id=3, offer_sms=200.0),  # offered too late
            CaseTiming(103.0, sent=103.0, failure="ACC-4: ApiError: 503"),
            CaseTiming(104.0),  # never sent (interrupted)
        ],
    )
    assert [round(ms) for ms in result.sms_ms] == [200, 100, 100, 98000]
    assert [round(ms) for ms in result.page_ms] == [300]  # the other page never showed it
    assert result.pages_watched == 2
    assert [round(ms) for ms in result.lag_ms] == [10, 0, 0, 0, 0]
    assert result.finished == 1
    assert result.failures == ["ACC-4: ApiError: 503"]
    assert failure_lines([result, RateResult(20)]) == [
        "10/s: 1 cases failed, e.g. ACC-4: ApiError: 503"
    ]
    assert result.without_offer(60) == 2


def test_the_offer_sms_names_its_case_in_english_and_in_french() -> None:
    english = "Garde: urgent CT read for BENCH-1, case 12.\nReply YES AB3CD to accept (5 min)."
    french = "Garde: URGENT CT pour BENCH-1, cas 7. Répondez OUI ZS5UN pour accepter (5 min)."
    assert [OFFER.search(t).group(1) for t in (english, french)] == ["12", "7"]  # type: ignore[union-attr]
    assert OFFER.search("Garde: case 12 is yours.") is None
