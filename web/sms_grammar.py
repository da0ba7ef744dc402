"""What an expert, or a site's callback phone, may text Garde, in French and English, read
from one SMS body.

Any case, runs of spaces and a trailing `.`, `!` or `?` are tolerated. `YES|Y|OK|OUI|O CODE`
accepts and `NO|N|NON CODE [reason]` declines an offer; the full words alone (`YES`, `OUI`,
`NO`, `NON`) answer the one offer open for the phone: a bare `OK` or `Y` is too often a mere
"got it" to a notice to be taken as accepting a case. `STATUS|ETAT`, `HELP|INFO|AIDE`, and
Twilio's own opt-out and opt-in keywords, which like Twilio count only as the whole message.
A site acknowledges with `OK|ACK|LU|VU NUMBER` (the case's number, `#` allowed), or the word
alone for the one case of its phone that waits (`parse_acknowledgement`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from activities.offers import CODE_ALPHABET, CODE_LENGTH

ACCEPT = frozenset({"YES", "Y", "OK", "OUI", "O"})
DECLINE = frozenset({"NO", "N", "NON"})
BARE = frozenset({"YES", "OUI", "NO", "NON"})
REASON_LENGTH = 200  # SmsMessage.reason


class Keyword(StrEnum):
    STATUS = "status"
    HELP = "help"
    STOP = "stop"
    START = "start"


# Twilio's default opt-out and opt-in keywords: Twilio stops (or resumes) delivering to the
# phone whatever Garde does, so Garde follows. A bare YES is an opt-in keyword too.
KEYWORDS = {
    **dict.fromkeys(("STATUS", "ETAT", "ÉTAT"), Keyword.STATUS),
    **dict.fromkeys(("HELP", "INFO", "AIDE"), Keyword.HELP),
    **dict.fromkeys(
        ("STOP", "STOPALL", "UNSUBSCRIBE", "END", "QUIT", "REVOKE", "OPTOUT", "CANCEL"),
        Keyword.STOP,
    ),
    **dict.fromkeys(("START", "UNSTOP"), Keyword.START),
}


@dataclass(frozen=True)
class Answer:
    accept: bool
    code: str | None  # None: a bare YES or NO, for the one offer open for the phone
    reason: str = ""
    opts_in: bool = False  # the whole message was YES: Twilio resumes delivery to the phone


def is_code(word: str) -> bool:
    return len(word) == CODE_LENGTH and all(c in CODE_ALPHABET for c in word.upper())


def parse(body: str) -> Answer | Keyword | None:
    """The answer or keyword a message says; None when it says neither."""
    text = re.sub(r"[\s.!?]+$", "", body or "").strip()
    words = text.split()
    if not words:
        return None
    first = words[0].upper()
    if len(words) == 1 and first in KEYWORDS:
        return KEYWORDS[first]
    if first not in ACCEPT | DECLINE:
        return None
    accept = first in ACCEPT
    rest = words[1:]
    if rest and is_code(rest[0]):
        code, rest = rest[0].upper(), rest[1:]
    elif first in BARE:
        code = None
    else:
        return None
    if rest and accept:
        return None  # "OUI merci" to a notice: not an answer to guess at
    reason = " ".join(rest)[:REASON_LENGTH]
    return Answer(accept, code, reason, opts_in=first == "YES" and not words[1:])


ACKNOWLEDGE = frozenset({"OK", "ACK", "LU", "VU"})


@dataclass(frozen=True)
class Acknowledging:
    case_id: int | None  # None: the word alone, for the one case of the phone that waits


def parse_acknowledgement(body: str) -> Acknowledging | None:
    """The case a site's message acknowledges; None when it does not read as one."""
    words = re.sub(r"[\s.!?]+$", "", body or "").split()
    if not words or len(words) > 2 or words[0].upper() not in ACKNOWLEDGE:
        return None
    if len(words) == 1:
        return Acknowledging(None)
    number = words[1].removeprefix("#")
    return Acknowledging(int(number)) if number.isdigit() and len(number) < 10 else None
