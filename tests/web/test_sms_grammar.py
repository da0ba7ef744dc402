"""What an SMS body says, in French and English: answers with and without a code, keywords."""

from __future__ import annotations

import pytest

from web.sms_grammar import Answer, Keyword, parse

CODE = "K7P2Q"


@pytest.mark.parametrize(
    "body",
    ["YES K7P2Q", "yes k7p2q", "Y K7P2Q", "ok K7P2Q.", "OUI K7P2Q", "oui k7p2q", "O K7P2Q",
     " Oui  K7P2Q ! ", "Yes K7P2Q!", "OK   k7p2q  .  "],
)  # fmt: skip
def test_accept_with_a_code_in_english_and_french(body: str) -> None:
    assert parse(body) == Answer(True, CODE)


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ("NO K7P2Q", ""),
        ("n k7p2q", ""),
        ("NON K7P2Q", ""),
        ("non k7p2q.", ""),
        ("NO K7P2Q stuck in the scanner room", "stuck in the scanner room"),
        ("Non k7p2q   déjà   deux cas en cours.", "déjà deux cas en cours"),
        ("N K7P2Q Pas dispo !", "Pas dispo"),
    ],
)
def test_decline_with_a_code_keeps_the_reason_as_written(body: str, reason: str) -> None:
    assert parse(body) == Answer(False, CODE, reason)


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("YES", Answer(True, None, opts_in=True)),
        ("yes.", Answer(True, None, opts_in=True)),
        ("Oui", Answer(True, None)),
        ("OUI !", Answer(True, None)),
        ("no", Answer(False, None)),
        ("NON", Answer(False, None)),
        ("non trop fatigué", Answer(False, None, "trop fatigué")),
        ("No busy", Answer(False, None, "busy")),
    ],
)
def test_bare_yes_and_no_answer_the_one_open_offer(body: str, expected: Answer) -> None:
    assert parse(body) == expected


@pytest.mark.parametrize(
    ("body", "keyword"),
    [
        ("STATUS", Keyword.STATUS),
        ("status.", Keyword.STATUS),
        ("ETAT", Keyword.STATUS),
        ("état", Keyword.STATUS),
        ("ÉTAT", Keyword.STATUS),
        ("HELP", Keyword.HELP),
        ("aide", Keyword.HELP),
        ("Aide ?", Keyword.HELP),
        ("info", Keyword.HELP),
        ("STOP", Keyword.STOP),
        ("stop.", Keyword.STOP),
        ("Unsubscribe", Keyword.STOP),
        ("STOPALL", Keyword.STOP),
        ("START", Keyword.START),
        ("unstop", Keyword.START),
    ],
)
def test_keywords_in_any_case(body: str, keyword: Keyword | None) -> None:
    assert parse(body) is keyword


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   ",
        "OUIK7P2Q",
        "PEUT-ETRE K7P2Q",
        "NONE K7P2Q",
        "OK",  # a mere "got it" to a notice accepts nothing
        "Y",
        "N",
        "O",
        "ok merci",
        "OUI K7P2Q merci",  # an accept carries no reason: not guessed at
        "STOP please",  # Twilio's keywords count only as the whole message
        "what is this?",
    ],
)
def test_anything_else_says_nothing(body: str) -> None:
    assert parse(body) is None
