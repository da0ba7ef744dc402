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


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f", "\x85"])
def test_a_control_character_is_refused_wherever_it_stands(char: str) -> None:
    f = Fields({"a": f"x{char}y", "b": char, "c": f"ok{char}", "d": ["fine", f"no{char}"]})
    f.text("a")
    f.optional_text("b")
    f.text("c")
    assert f.string_list("d") == []
    assert set(f.errors) == {"a", "b", "c", "d"}
    assert all("control characters" in reason for reason in f.errors.values())


def test_tabs_and_line_breaks_are_text() -> None:
    f = Fields({"a": "one\ttwo\r\nthree\nfour"})
    assert f.text("a") == "one\ttwo\r\nthree\nfour"
    assert f.errors == {}
