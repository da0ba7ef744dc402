"""The acknowledgement loop's texts: the coordinators' overdue alert names what the site has
not acknowledged (a critical finding or a major discrepancy), and the French spoken texts
follow French typography (a space before `:`, `;`, `?`, `!`), as the voice reads them."""

from __future__ import annotations

import re

import pytest

from garde.texts import HERE, render

CASE = {"priority": "stat", "modality": "CT", "number": 12, "site": "CH-A", "link": "https://g/c"}


@pytest.mark.parametrize(
    ("language", "critical", "discrepancy"),
    [
        ("en", "a critical finding", "a major discrepancy"),
        ("fr", "d'un résultat critique", "d'une discordance majeure"),
    ],
)
def test_the_overdue_alert_names_what_was_not_acknowledged(
    language: str, critical: str, discrepancy: str
) -> None:
    said = render("alert_ack_overdue", language, reason="discrepancy", **CASE)
    assert discrepancy in said and critical not in said
    said = render("alert_ack_overdue", language, reason="critical", **CASE)
    assert critical in said and discrepancy not in said


def test_french_spoken_texts_put_a_space_before_double_punctuation() -> None:
    stuck = {
        path.name: found
        for path in sorted((HERE / "fr").glob("voice_*.txt"))
        if (found := re.findall(r"\S[:;?!]", re.sub(r"\{[{%#].*?[}%#]\}", " ", path.read_text())))
    }
    assert stuck == {}
