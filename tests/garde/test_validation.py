"""Field rules: a bad value is an error naming the field, never a crash."""

from __future__ import annotations

from typing import Annotated

import pytest

from garde import vocabulary
from garde.errors import InvalidInput
from garde.validation import Input, text, validated, words, zone


class Place(Input):
    timezone: Annotated[str, zone()]


class Note(Input):
    a: Annotated[str, text()]
    b: Annotated[str | None, text()] = None
    c: Annotated[str, text()]
    d: Annotated[list[str], words(str.strip, vocabulary.MODALITIES)] = []


def _refused(model: type[Input], data: dict[str, object]) -> dict[str, str]:
    with pytest.raises(InvalidInput) as refused:
        validated(model, data)
    return refused.value.fields


@pytest.mark.parametrize("zone_name", ["Europe", "Mars/Olympus", "../etc/passwd", "Europe/"])
def test_a_time_zone_that_is_not_one_is_refused_by_name(zone_name: str) -> None:
    assert _refused(Place, {"timezone": zone_name}) == {"timezone": "is not a known IANA time zone"}


def test_a_time_zone_is_kept() -> None:
    assert validated(Place, {"timezone": "Indian/Reunion"}).timezone == "Indian/Reunion"


@pytest.mark.parametrize("char", ["\x00", "\x08", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f", "\x85"])
def test_a_control_character_is_refused_wherever_it_stands(char: str) -> None:
    errors = _refused(
        Note, {"a": f"x{char}y", "b": char, "c": f"ok{char}", "d": ["fine", f"no{char}"]}
    )
    assert set(errors) == {"a", "b", "c", "d"}
    assert all("control characters" in reason for reason in errors.values())


def test_tabs_and_line_breaks_are_text_and_blanks_are_absent() -> None:
    note = validated(Note, {"a": " one\ttwo\r\nthree\nfour ", "b": "  ", "c": "x"})
    assert note.a == "one\ttwo\r\nthree\nfour" and note.b is None
    assert _refused(Note, {"a": "   ", "c": 3}) == {"a": "is required", "c": "must be a string"}
