"""Field checks: a bad value is an error naming the field, never a crash."""

from __future__ import annotations

import pytest

from garde.validation import Fields


@pytest.mark.parametrize("zone", ["Europe", "Mars/Olympus", "../etc/passwd", "Europe/"])
def test_a_time_zone_that_is_not_one_is_refused_by_name(zone: str) -> None:
    f = Fields({"timezone": zone})
    f.timezone("timezone")
    assert f.errors == {"timezone": "is not a known IANA time zone"}


def test_a_time_zone_is_kept() -> None:
    f = Fields({"timezone": "Indian/Reunion"})
    assert f.timezone("timezone") == "Indian/Reunion"
    assert f.errors == {}
