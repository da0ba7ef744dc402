"""What a site's SMS acknowledges, and how long a site has: pure rules, no server."""

from __future__ import annotations

from datetime import timedelta

import pytest

from garde.critical import ack_within
from garde.domain import AlertKind
from web.sms_grammar import Acknowledging, parse_acknowledgement


@pytest.mark.parametrize(
    ("body", "case_id"),
    [
        ("OK 123", 123),
        ("ok 123", 123),
        ("Ack 123.", 123),
        ("LU #123", 123),
        ("vu   123 !", 123),
        ("OK", None),
        ("lu", None),
    ],
)
def test_ok_ack_lu_vu_with_the_case_number_or_alone(body: str, case_id: int | None) -> None:
    assert parse_acknowledgement(body) == Acknowledging(case_id)


@pytest.mark.parametrize(
    "body", ["", "OUI 123", "OK ABCDE", "OK 123 merci", "OK -1", "OK 12345678901", "123"]
)
def test_anything_else_is_no_acknowledgement(body: str) -> None:
    assert parse_acknowledgement(body) is None


def test_deadlines_are_15_and_60_minutes_unless_the_site_says_otherwise() -> None:
    assert ack_within({}, 1) == timedelta(minutes=15)
    assert ack_within({}, 2) == timedelta(hours=1)
    assert ack_within({"2": 1800}, 2) == timedelta(minutes=30)
    assert ack_within({"2": 1800}, 1) == timedelta(minutes=15)


def test_an_overdue_acknowledgement_outlives_the_case() -> None:
    """The case is final when its report is filed: closing must not settle the alert."""
    assert not AlertKind.ACK_OVERDUE.settled_by_closing
    assert not AlertKind.ACK_OVERDUE.settled_by_holder
