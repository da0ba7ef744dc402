"""Why an input or an action was refused, in the reader's language. The domain and the API give
reasons in English ("must be at most 64 characters", "another expert holds the case"); a page
shows them beside the field's label or in its message, so each known reason is here: one
with values as a template, read back with them, one without word for word; Flask-Babel
translates them (their English words are the catalogue's ids). A reason nothing here knows
is shown as it came, never dropped."""

from __future__ import annotations

import re
from collections.abc import Callable
from datetime import datetime

from babel.dates import format_datetime
from flask_babel import get_locale, gettext, pgettext


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "into the catalogue, as it is"
    return message


def _words(words: str, **groups: str) -> tuple[str, Callable[..., str]]:
    """A reason with values, known by its words: each `%(name)s` in them matches the pattern
    `groups[name]` (anything by default), and is given back to their translation."""
    value = re.compile(r"%\\\((\w+)\\\)s")  # `%(name)s`, once escaped
    pattern = value.sub(
        lambda found: f"(?P<{found[1]}>{groups.get(found[1], '.+')})", re.escape(words)
    )
    return pattern, lambda **values: gettext(words, **values)


# English reason (with its values as named groups) → its words in the catalogue: most
# known by their words (`_words`), the others by a pattern of their own.
_TEMPLATES: list[tuple[str, Callable[..., str]]] = [
    _words(N_("must be at most %(n)s characters"), n=r"\d+"),
    _words(N_("must have at most %(n)s items"), n=r"\d+"),
    _words(N_("must be at least %(n)s"), n=r"-?\d+"),
    _words(N_("must be at most %(n)s"), n=r"-?\d+"),
    _words(N_("must be between %(low)s and %(high)s"), low=r"-?\d+", high=r"-?\d+"),
    _words(N_("must be one of %(known)s")),
    _words(N_("must be a phone number, e.g. %(international)s or %(national)s")),
    _words(N_("unknown modality %(word)s: must be one of %(known)s"), word=".*"),
    _words(N_("unknown subspecialty %(word)s: must be one of %(known)s"), word=".*"),
    _words(N_("must be at least %(n)s characters"), n=r"\d+"),
    _words(N_("is already used by another %(what)s")),
    (
        r"(?P<titles>.+): not among the site's ae_titles",
        lambda titles: gettext("%(titles)s: not among the site's AE titles", titles=titles),
    ),
    # A tariff version (billing/tariff_input.py).
    _words(N_("must be a whole number of cents from 0 to %(n)s"), n=r"\d+"),
    _words(N_("must be a whole number of percent from 0 to %(n)s"), n=r"\d+"),
    (r"must differ from night_start", lambda: gettext("must differ from the start of the night")),
    _words(
        N_(
            "must be today (%(day)s, the site's zone) or later: reads already priced keep "
            "their tariff"
        ),
        day=r"[\d-]+",
    ),
    # The rosters (rosters/): shifts, overrides, swaps, rotations, and the pages that find them.
    _words(N_("no expert has the code %(codes)s")),
    _words(N_("no site has the code %(code)s")),
    _words(
        N_("%(code)s already has a shift from %(start)s to %(end)s (shift %(id)s)"),
        code=r"\S+",
        start=r"\S+",
        end=r"\S+",
        id=r"\d+",
    ),
    _words(
        N_("shift %(id)s belongs to override %(override)s: change or delete the override instead"),
        id=r"\d+",
        override=r"\d+",
    ),
    (
        r"must be another expert than expert",
        lambda: gettext("must be another expert than the one who replaces"),
    ),
    _words(
        N_("%(code)s is already replaced by %(other)s from %(start)s to %(end)s (override %(id)s)"),
        code=r"\S+",
        other=r"\S+",
        start=r"\S+",
        end=r"\S+",
        id=r"\d+",
    ),
    _words(
        N_("%(code)s has no shift between %(start)s and %(end)s"),
        code=r"\S+",
        start=r"\S+",
        end=r"\S+",
    ),
    _words(N_("no shift %(id)s"), id=r"\d+"),
    _words(N_("no rotation %(id)s"), id=r"\d+"),
    _words(N_("no override %(id)s"), id=r"\d+"),
    _words(N_("no unavailability %(id)s"), id=r"\d+"),
    _words(N_("no swap request %(id)s"), id=r"\d+"),
    _words(N_("already has an open swap request (%(id)s)"), id=r"\d+"),
    _words(N_("is not a shift of %(code)s")),
    _words(N_("shift %(id)s is over: the swap cannot be applied"), id=r"\d+"),
    (
        r"the swap cannot be applied: (?P<problem>.+)",
        lambda problem: gettext(
            "the swap cannot be applied: %(problem)s", problem=_in_words(problem)
        ),
    ),
    (
        r"swap (?P<id>\d+) is (?P<status>\w+), not (?P<wanted>.+)",
        lambda id, status, wanted: gettext(
            "swap %(id)s is %(status)s, not %(wanted)s",
            id=id,
            status=_swap_status(status),
            wanted=gettext(" or ").join(_swap_status(w) for w in wanted.split(" or ")),
        ),
    ),
    _words(N_("%(days)s: each day must be one of %(known)s"), days="[^;]+"),
    _words(N_("is required: some of %(known)s")),
    _words(N_("a rotation covers at most %(n)s days"), n=r"\d+"),
    _words(N_("the period lasts at most %(n)s days"), n=r"\d+"),
    _words(N_("another rotation is named %(name)s")),
    _words(
        N_("%(code)s would hold the slots of %(a)s and %(b)s at once"),
        code=r"\S+",
        a=r"\S+",
        b=r"\S+",
    ),
    (
        r"(?P<shift>[^;]+), which the slot of (?P<day>\S+) would overlap",
        lambda shift, day: gettext(
            "%(shift)s, which the slot of %(day)s would overlap",
            shift=_in_words(shift),
            day=day,
        ),
    ),
    # A roster import (rosters/importing.py): the file, and each event or line it refused.
    _words(N_("must be %(calendar)s or %(csv)s"), calendar="text/calendar", csv="text/csv"),
    _words(N_("not an iCalendar file (%(words)s)")),
    _words(N_("the calendar's recurrences cannot be read (%(words)s)")),
    _words(
        N_(
            "the CSV has no column %(columns)s (its header line names expert, start, end, "
            "tier, timezone)"
        )
    ),
    _words(N_("the CSV cannot be read (line %(line)s: %(words)s)"), line=r"\d+"),
    _words(N_("cannot be read (%(words)s)")),
    _words(N_("unknown time zone %(zone)s (no VTIMEZONE for it)")),
    _words(N_("this import is for %(code)s")),
    _words(N_("%(zone)s is not a known IANA time zone"), zone=r"[^;\s]+"),
    _words(N_("%(raw)s is not an ISO 8601 date and time"), raw="[^;]+"),
    _words(N_("%(raw)s needs a UTC offset, or a zone in the timezone column"), raw="[^;]+"),
    _words(
        N_("%(time)s happens twice in %(zone)s (clocks go back): give the offset"),
        time="[^;]+",
        zone=r"\S+",
    ),
    _words(
        N_("%(time)s does not exist in %(zone)s (clocks go forward)"), time="[^;]+", zone=r"\S+"
    ),
    _words(N_("overlaps line %(line)s of this file"), line=r"\d+"),
    _words(N_("overlaps event %(event)s at %(start)s of this file"), start=r"\S*"),
]
_COMPILED = [(re.compile(pattern + r"\Z"), words) for pattern, words in _TEMPLATES]
_NAMED = re.compile(r"(?P<name>[\w-]+): (?P<reason>.+)\Z")


# Reasons known word for word. Why an input was refused (the domain's validations, the
# rosters, a roster import):
_WORD_FOR_WORD = {
    N_("is required"),
    N_("must be a string"),
    N_("must be an integer"),
    N_("must be true or false"),
    N_("must be a list"),
    N_("must be a date written YYYY-MM-DD"),
    N_("must be an ISO 8601 date and time"),
    N_("must not contain control characters (only tabs and line breaks)"),
    N_("must be a DICOM UID (digits and dots)"),
    N_("must be letters, digits, '.', '_' or '-' (at most 32)"),
    N_("is not a known IANA time zone"),
    N_("is one of the most common passwords; choose another"),
    N_("must not be the username"),
    N_("must be a year between 1900 and 2200"),
    N_("must be 1 to 16 printable ASCII characters"),
    N_("must be after start"),
    N_("must be after from"),
    N_("must be on or after from"),
    N_("must be today or later"),
    N_("must be a date and a time, e.g. 2026-03-28T20:00"),
    N_("must be a local time written HH:MM, from 00:00 to 23:59"),
    N_("must be YYYY-MM"),
    N_("must name at least one modality"),
    N_("is already the phone of another expert"),
    N_("must pair AE titles with a priority, e.g. CT1=urgent"),
    N_("is required to force an assignment"),
    N_("must price at least one modality, or 'default'"),
    N_("must be an ISO 4217 code of 3 letters, e.g. EUR"),
    N_("must be a time of day written HH:MM, e.g. 20:00"),
    N_("a shift lasts at most 48 hours"),
    N_("must be another expert than the shift's"),
    N_("has already started"),
    N_("is required: the experts' codes, in turn order"),
    N_("must be a calendar (.ics) or a spreadsheet (.csv) file"),
    N_("is required: a calendar (.ics) or a spreadsheet (.csv) file"),
    N_("was damaged on the way back; choose it again"),
    N_("is required to import a calendar file"),
    N_("not an iCalendar file (it must begin with BEGIN:VCALENDAR)"),
    N_("the calendar has no event (VEVENT)"),
    N_("the CSV must be UTF-8 text"),
    N_("the CSV has no shift under its header line"),
    N_("has no UID, so importing it again would add it twice"),
    N_("has no start (DTSTART)"),
    N_("has no end (DTEND or DURATION)"),
    N_("is an all-day event: a shift needs a start and an end time"),
    N_("one of start and end has a time zone and the other has not"),
    N_("ends before it starts"),
    N_("has no FREQ"),
    N_("repeats more often than daily"),
    N_("must be primary or backup"),
    # Why an action on a case was refused or did not happen (the case workflow's refusals and
    # the web's own): a radiologist reads them at night, in their language.
    N_("another expert holds the case"),
    N_("the case is closed"),
    N_("the case is cancelled"),
    N_("you do not hold this case"),
    N_("the final report is already filed"),
    N_("an addendum follows your own final report"),
    N_(
        "you are not eligible for this case (on duty, credentialed for the site, reading the "
        "modality, under your case limit)"
    ),
    N_("that expert is not eligible for this case now; force it to assign anyway"),
    N_("the case has no indication waiting for validation"),
    N_("the case is not under régulation: its images are simply sent"),
    N_("the indication is not validated yet: scan once a protocol is given"),
    N_("the request came too late and was not applied"),
    N_("the report could not be stored"),
    N_("eligibility could not be checked"),
    N_("the request could not be admitted"),
    N_(
        "the workers are busy and did not take this in time; nothing was changed, try again "
        "in a moment"
    ),
    N_("no worker is handling cases right now; nothing was changed, try again in a moment"),
    N_("this was taken but has not finished yet; reload the case in a moment to see it"),
    N_("Temporal cannot be reached right now; try again in a moment"),
    N_("Temporal did not answer in time; is a worker running?"),
    N_("a report was filed for this case: it can be cancelled only before any report"),
    # Who may change a roster (rosters/).
    N_("an expert sets only an override they take part in"),
    N_("only a coordinator or whoever set it deletes an override"),
    N_("an expert declares only their own unavailability"),
    N_("an expert deletes only their own unavailability"),
    N_("an expert offers only their own shifts"),
    N_("only the expert asked accepts a swap"),
    N_("only a coordinator approves a swap"),
    N_("only the expert asked or a coordinator refuses a swap"),
    N_("only the expert who asked or a coordinator cancels a swap"),
}


def translated(reason: str) -> str:
    """`reason` in the reader's language when the catalogue or a template knows it, its
    instants written as the pages write times."""
    return _INSTANT.sub(_instant_shown, _in_words(reason))


def _in_words(reason: str) -> str:
    if reason in _WORD_FOR_WORD:
        return gettext(reason)
    named = _NAMED.match(reason)  # about one field or column: `end: must be after start`
    if named:
        words = _in_words(named["reason"])
        if words != named["reason"]:
            return gettext("%(name)s: %(reason)s", name=named["name"], reason=words)
    for pattern, template in _COMPILED:
        found = pattern.match(reason)
        if found:
            return template(**found.groupdict())
    if "; " in reason:  # several reasons in one (a rotation's overlaps, an import's line)
        first, rest = reason.split("; ", 1)
        return gettext("%(first)s; %(rest)s", first=_in_words(first), rest=_in_words(rest))
    return reason


# An instant as the domain writes it in a reason, ISO 8601 with its offset (the API's clients
# read it so): `2026-11-30T20:00+01:00`.
_INSTANT = re.compile(r"\b\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2})?(?:[+-]\d{2}:\d{2}|Z)")


def _instant_shown(found: re.Match[str]) -> str:
    """As a page writes a time, `30 nov. 20:00 UTC+01:00`, at the offset the reason gave (the
    expert's zone, for a shift)."""
    at = datetime.fromisoformat(found[0].replace("Z", "+00:00"))
    return f"{format_datetime(at, 'dd MMM HH:mm', locale=get_locale())} {at.strftime('%Z')}"


def _swap_status(status: str) -> str:
    """A swap request's status (garde.domain.SwapStatus) as a word of the reader's."""
    words = {
        "pending": lambda: pgettext("swap", "waiting for an answer"),
        "accepted": lambda: pgettext("swap", "accepted"),
        "applied": lambda: pgettext("swap", "applied"),
        "refused": lambda: pgettext("swap", "refused"),
        "cancelled": lambda: pgettext("swap", "cancelled"),
    }
    return words[status]() if status in words else status
