"""Why an input or an action was refused, in the reader's language. The domain and the API give
reasons in English ("must be at most 64 characters", "another expert holds the case"); a page
shows them beside the field's label or in its message, so each known reason is here: one
with values as a template, read back with them, one without word for word; Flask-Babel
translates them (their English words are the catalogue's ids). A reason nothing here knows
is shown as it came, never dropped."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask_babel import gettext, pgettext

# English reason (with its values as named groups) → its words in the catalogue.
_TEMPLATES: list[tuple[str, Callable[..., str]]] = [
    (
        r"must be at most (?P<n>\d+) characters",
        lambda n: gettext("must be at most %(n)s characters", n=n),
    ),
    (
        r"must have at most (?P<n>\d+) items",
        lambda n: gettext("must have at most %(n)s items", n=n),
    ),
    (r"must be at least (?P<n>-?\d+)", lambda n: gettext("must be at least %(n)s", n=n)),
    (r"must be at most (?P<n>-?\d+)", lambda n: gettext("must be at most %(n)s", n=n)),
    (
        r"must be between (?P<low>-?\d+) and (?P<high>-?\d+)",
        lambda low, high: gettext("must be between %(low)s and %(high)s", low=low, high=high),
    ),
    (
        r"must be one of (?P<known>.+)",
        lambda known: gettext("must be one of %(known)s", known=known),
    ),
    (
        r"must be a phone number, e\.g\. (?P<international>.+) or (?P<national>.+)",
        lambda international, national: gettext(
            "must be a phone number, e.g. %(international)s or %(national)s",
            international=international,
            national=national,
        ),
    ),
    (
        r"unknown modality (?P<word>.*): must be one of (?P<known>.+)",
        lambda word, known: gettext(
            "unknown modality %(word)s: must be one of %(known)s", word=word, known=known
        ),
    ),
    (
        r"unknown subspecialty (?P<word>.*): must be one of (?P<known>.+)",
        lambda word, known: gettext(
            "unknown subspecialty %(word)s: must be one of %(known)s", word=word, known=known
        ),
    ),
    (
        r"must be at least (?P<n>\d+) characters",
        lambda n: gettext("must be at least %(n)s characters", n=n),
    ),
    (
        r"is already used by another (?P<what>.+)",
        lambda what: gettext("is already used by another %(what)s", what=what),
    ),
    (
        r"(?P<titles>.+): not among the site's ae_titles",
        lambda titles: gettext("%(titles)s: not among the site's AE titles", titles=titles),
    ),
    # A tariff version (billing/tariff_input.py).
    (
        r"must be a whole number of cents from 0 to (?P<n>\d+)",
        lambda n: gettext("must be a whole number of cents from 0 to %(n)s", n=n),
    ),
    (
        r"must be a whole number of percent from 0 to (?P<n>\d+)",
        lambda n: gettext("must be a whole number of percent from 0 to %(n)s", n=n),
    ),
    (r"must differ from night_start", lambda: gettext("must differ from the start of the night")),
    (
        r"must be today \((?P<day>[\d-]+), the site's zone\) or later: reads already priced keep "
        r"their tariff",
        lambda day: gettext(
            "must be today (%(day)s, the site's zone) or later: reads already priced keep "
            "their tariff",
            day=day,
        ),
    ),
    # The rosters (rosters/): shifts, overrides, swaps, rotations, and the pages that find them.
    (
        r"no expert has the code (?P<codes>.+)",
        lambda codes: gettext("no expert has the code %(codes)s", codes=codes),
    ),
    (
        r"no site has the code (?P<code>.+)",
        lambda code: gettext("no site has the code %(code)s", code=code),
    ),
    (
        r"(?P<code>\S+) already has a shift from (?P<start>\S+) to (?P<end>\S+) "
        r"\(shift (?P<id>\d+)\)",
        lambda code, start, end, id: gettext(
            "%(code)s already has a shift from %(start)s to %(end)s (shift %(id)s)",
            code=code,
            start=start,
            end=end,
            id=id,
        ),
    ),
    (
        r"shift (?P<id>\d+) belongs to override (?P<override>\d+): change or delete the "
        r"override instead",
        lambda id, override: gettext(
            "shift %(id)s belongs to override %(override)s: change or delete the override instead",
            id=id,
            override=override,
        ),
    ),
    (
        r"must be another expert than expert",
        lambda: gettext("must be another expert than the one who replaces"),
    ),
    (
        r"(?P<code>\S+) is already replaced by (?P<other>\S+) from (?P<start>\S+) to "
        r"(?P<end>\S+) \(override (?P<id>\d+)\)",
        lambda code, other, start, end, id: gettext(
            "%(code)s is already replaced by %(other)s from %(start)s to %(end)s (override %(id)s)",
            code=code,
            other=other,
            start=start,
            end=end,
            id=id,
        ),
    ),
    (
        r"(?P<code>\S+) has no shift between (?P<start>\S+) and (?P<end>\S+)",
        lambda code, start, end: gettext(
            "%(code)s has no shift between %(start)s and %(end)s",
            code=code,
            start=start,
            end=end,
        ),
    ),
    (r"no shift (?P<id>\d+)", lambda id: gettext("no shift %(id)s", id=id)),
    (r"no rotation (?P<id>\d+)", lambda id: gettext("no rotation %(id)s", id=id)),
    (r"no override (?P<id>\d+)", lambda id: gettext("no override %(id)s", id=id)),
    (r"no unavailability (?P<id>\d+)", lambda id: gettext("no unavailability %(id)s", id=id)),
    (r"no swap request (?P<id>\d+)", lambda id: gettext("no swap request %(id)s", id=id)),
    (
        r"already has an open swap request \((?P<id>\d+)\)",
        lambda id: gettext("already has an open swap request (%(id)s)", id=id),
    ),
    (
        r"is not a shift of (?P<code>.+)",
        lambda code: gettext("is not a shift of %(code)s", code=code),
    ),
    (
        r"shift (?P<id>\d+) is over: the swap cannot be applied",
        lambda id: gettext("shift %(id)s is over: the swap cannot be applied", id=id),
    ),
    (
        r"the swap cannot be applied: (?P<problem>.+)",
        lambda problem: gettext(
            "the swap cannot be applied: %(problem)s", problem=translated(problem)
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
    (
        r"(?P<days>[^;]+): each day must be one of (?P<known>.+)",
        lambda days, known: gettext(
            "%(days)s: each day must be one of %(known)s", days=days, known=known
        ),
    ),
    (
        r"is required: some of (?P<known>.+)",
        lambda known: gettext("is required: some of %(known)s", known=known),
    ),
    (
        r"a rotation covers at most (?P<n>\d+) days",
        lambda n: gettext("a rotation covers at most %(n)s days", n=n),
    ),
    (
        r"the period lasts at most (?P<n>\d+) days",
        lambda n: gettext("the period lasts at most %(n)s days", n=n),
    ),
    (
        r"another rotation is named (?P<name>.+)",
        lambda name: gettext("another rotation is named %(name)s", name=name),
    ),
    (
        r"(?P<code>\S+) would hold the slots of (?P<a>\S+) and (?P<b>\S+) at once",
        lambda code, a, b: gettext(
            "%(code)s would hold the slots of %(a)s and %(b)s at once", code=code, a=a, b=b
        ),
    ),
    (
        r"(?P<shift>[^;]+), which the slot of (?P<day>\S+) would overlap",
        lambda shift, day: gettext(
            "%(shift)s, which the slot of %(day)s would overlap",
            shift=translated(shift),
            day=day,
        ),
    ),
    # A roster import (rosters/importing.py): the file, and each event or line it refused.
    (
        r"must be (?P<calendar>text/calendar) or (?P<csv>text/csv)",
        lambda calendar, csv: gettext(
            "must be %(calendar)s or %(csv)s", calendar=calendar, csv=csv
        ),
    ),
    (
        r"not an iCalendar file \((?P<words>.+)\)",
        lambda words: gettext("not an iCalendar file (%(words)s)", words=words),
    ),
    (
        r"the calendar's recurrences cannot be read \((?P<words>.+)\)",
        lambda words: gettext("the calendar's recurrences cannot be read (%(words)s)", words=words),
    ),
    (
        r"the CSV has no column (?P<columns>.+) \(its header line names expert, start, end, "
        r"tier, timezone\)",
        lambda columns: gettext(
            "the CSV has no column %(columns)s (its header line names expert, start, end, "
            "tier, timezone)",
            columns=columns,
        ),
    ),
    (
        r"the CSV cannot be read \(line (?P<line>\d+): (?P<words>.+)\)",
        lambda line, words: gettext(
            "the CSV cannot be read (line %(line)s: %(words)s)", line=line, words=words
        ),
    ),
    (
        r"cannot be read \((?P<words>.+)\)",
        lambda words: gettext("cannot be read (%(words)s)", words=words),
    ),
    (
        r"unknown time zone (?P<zone>.+) \(no VTIMEZONE for it\)",
        lambda zone: gettext("unknown time zone %(zone)s (no VTIMEZONE for it)", zone=zone),
    ),
    (
        r"this import is for (?P<code>.+)",
        lambda code: gettext("this import is for %(code)s", code=code),
    ),
    (
        r"(?P<zone>[^;\s]+) is not a known IANA time zone",
        lambda zone: gettext("%(zone)s is not a known IANA time zone", zone=zone),
    ),
    (
        r"(?P<raw>[^;]+) is not an ISO 8601 date and time",
        lambda raw: gettext("%(raw)s is not an ISO 8601 date and time", raw=raw),
    ),
    (
        r"(?P<raw>[^;]+) needs a UTC offset, or a zone in the timezone column",
        lambda raw: gettext(
            "%(raw)s needs a UTC offset, or a zone in the timezone column", raw=raw
        ),
    ),
    (
        r"(?P<time>[^;]+) happens twice in (?P<zone>\S+) \(clocks go back\): give the offset",
        lambda time, zone: gettext(
            "%(time)s happens twice in %(zone)s (clocks go back): give the offset",
            time=time,
            zone=zone,
        ),
    ),
    (
        r"(?P<time>[^;]+) does not exist in (?P<zone>\S+) \(clocks go forward\)",
        lambda time, zone: gettext(
            "%(time)s does not exist in %(zone)s (clocks go forward)", time=time, zone=zone
        ),
    ),
    (
        r"overlaps line (?P<line>\d+) of this file",
        lambda line: gettext("overlaps line %(line)s of this file", line=line),
    ),
    (
        r"overlaps event (?P<event>.+) at (?P<start>\S*) of this file",
        lambda event, start: gettext(
            "overlaps event %(event)s at %(start)s of this file", event=event, start=start
        ),
    ),
]
_COMPILED = [(re.compile(pattern + r"\Z"), words) for pattern, words in _TEMPLATES]
_NAMED = re.compile(r"(?P<name>[\w-]+): (?P<reason>.+)\Z")


def N_(message: str) -> str:  # noqa: N802 - gettext's name for "into the catalogue, as it is"
    return message


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
    """`reason` in the reader's language when the catalogue or a template knows it."""
    if reason in _WORD_FOR_WORD:
        return gettext(reason)
    named = _NAMED.match(reason)  # about one field or column: `end: must be after start`
    if named:
        words = translated(named["reason"])
        if words != named["reason"]:
            return gettext("%(name)s: %(reason)s", name=named["name"], reason=words)
    for pattern, template in _COMPILED:
        found = pattern.match(reason)
        if found:
            return template(**found.groupdict())
    if "; " in reason:  # several reasons in one (a rotation's overlaps, an import's line)
        first, rest = reason.split("; ", 1)
        return gettext("%(first)s; %(rest)s", first=translated(first), rest=translated(rest))
    return reason


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
