"""An expert's statement as a billing document (billing.documents), in the expert's language
whoever downloads it (a coordinator too): the web's catalogue through Flask-Babel, forced to
that language. Times are the expert's zone's, the one the month is cut in."""

from __future__ import annotations

from datetime import date, datetime
from zoneinfo import ZoneInfo

from babel.dates import format_date
from flask_babel import force_locale, gettext, ngettext

from billing.documents import Column, Document
from billing.invoice_documents import BAND_WORDS, money
from billing.invoicing import parse_month
from billing.statements import EntryKind, Statement, Tally
from garde.models import utcnow

LANGUAGES = ("fr", "en")


def month_name(month: str, language: str) -> str:
    """`mars 2026`, `March 2026`."""
    return format_date(date(*parse_month(month), 1), "LLLL y", locale=language)


def statement_document(statement: Statement) -> Document:
    language = statement.language if statement.language in LANGUAGES else "en"
    with force_locale(language):
        return _document(statement, language)


def _document(statement: Statement, language: str) -> Document:
    zone = ZoneInfo(statement.timezone)
    currency = statement.currency

    def when(at: datetime) -> str:
        local = at.astimezone(zone)
        return f"{format_date(local.date(), 'medium', locale=language)} {local:%H:%M}"

    rows = []
    for entry in statement.entries:
        if entry.kind is EntryKind.CREDIT:
            what = gettext("Credit note %(number)s", number=entry.reference)
        elif entry.kind is EntryKind.CANCELLATION:
            what = gettext("cancellation")
        else:
            what = str(BAND_WORDS.get(entry.band, entry.band))
            if entry.stat:
                what += " + " + gettext("stat")
        rows.append(
            [
                when(entry.at),
                entry.site,
                str(entry.case_id),
                entry.modality,
                what,
                money(entry.share_cents, currency, language),
            ]
        )

    def counted(what: str, tally: Tally) -> tuple[str, str]:
        label = ngettext(
            "%(what)s (%(num)d read)", "%(what)s (%(num)d reads)", tally.reads, what=what
        )
        return label[:1].upper() + label[1:], money(tally.share_cents, currency, language)

    sites = {e.site: e.site_name for e in statement.entries}
    totals = [(gettext("Reads"), str(statement.total.reads))]
    totals += [
        counted(str(BAND_WORDS.get(band, band)), tally)
        for band, tally in statement.by_band.items()
        if tally != Tally()
    ]
    totals += [
        counted(f"{sites[code]} ({code})", tally) for code, tally in statement.by_site.items()
    ]
    totals.append((gettext("Total share"), money(statement.total.share_cents, currency, language)))
    month = month_name(statement.month, language)
    return Document(
        title=gettext("Statement — %(month)s", month=month),
        language=language,
        issued_at=utcnow(),
        heading=[
            (gettext("Expert"), f"{statement.expert_name} ({statement.expert})"),
            (gettext("Month"), month),
            (gettext("Time zone"), statement.timezone),
            (gettext("Currency"), currency),
        ],
        columns=[
            Column(gettext("Date"), 30),
            Column(gettext("Site"), 30),
            Column(gettext("Case"), 14, numeric=True),
            Column(gettext("Modality"), 16),
            Column(gettext("Band"), 44),
            Column(gettext("Share"), 28, numeric=True),
        ],
        rows=rows,
        totals=totals,
        notes=[
            gettext(
                "Your share of each read priced in the month, in your time zone (%(zone)s), "
                "and of each credit note issued in it: a credit note takes back part or all "
                "of a line's share, and counts no read.",
                zone=statement.timezone,
            )
        ],
    )
