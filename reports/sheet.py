"""What a printed report shows, prepared once for the HTML page and the PDF, in the reader's
language (flask_babel: the request's locale and the web catalogue).

A sheet holds words only, already translated and formatted: the study, the sections that
have text, the ACR critical category in words, the discrepancy with the preliminary, the
signature (who, when in the site's zone and in UTC, the SHA-256 and whether the chain still
verifies) and the acknowledgement the site gave or owes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from babel.dates import format_datetime
from flask_babel import LazyString, get_locale, gettext, lazy_gettext, lazy_pgettext

from garde.domain import Discrepancy, ReportKind
from garde.models import Case, Report, ReportAcknowledgement
from reports.signing import verify_chain

# The title of a printed report, in the reader's language.
_KIND_TITLES: dict[str, LazyString] = {
    ReportKind.PRELIMINARY.value: lazy_gettext("Preliminary report"),
    ReportKind.FINAL.value: lazy_gettext("Final report"),
    ReportKind.ADDENDUM.value: lazy_gettext("Addendum"),
}
_SECTIONS: tuple[tuple[str, LazyString], ...] = (
    ("technique", lazy_gettext("Technique")),
    ("findings", lazy_gettext("Findings")),
    ("impression", lazy_gettext("Impression")),
    ("recommendations", lazy_gettext("Recommendations")),
)
# ACR critical result categories, as the banner names them.
_CATEGORIES: dict[int, LazyString] = {
    1: lazy_gettext("ACR category 1: immediate"),
    2: lazy_gettext("ACR category 2: urgent"),
    3: lazy_gettext("ACR category 3: significant"),
}
_DISCREPANCIES: dict[str, LazyString] = {
    Discrepancy.NONE.value: lazy_pgettext("discrepancy", "none"),
    Discrepancy.MINOR.value: lazy_pgettext("discrepancy", "minor"),
    Discrepancy.MAJOR.value: lazy_pgettext("discrepancy", "major"),
}
# How the site acknowledged (ReportAcknowledgement.acknowledged_via), after "by someone".
VIA: dict[str, LazyString] = {
    "web": lazy_gettext("on the web"),
    "api": lazy_gettext("through the API"),
    "sms": lazy_gettext("by SMS"),
    "voice": lazy_gettext("by phone"),
}
# `29 mars 2026 03:05`, `29 March 2026 03:05`: 24 h in both, as the pages write.
_WHEN = "d MMMM y HH:mm"


@dataclass(frozen=True)
class Section:
    title: str
    text: str
    emphasis: bool  # the impression: what the site reads first


@dataclass(frozen=True)
class Banner:
    """The critical category in words; for categories 1 and 2 (`urgent`, in red) a `note`:
    that the site must acknowledge, or once it did, who and when."""

    category: str
    note: str | None
    urgent: bool


@dataclass(frozen=True)
class ReportSheet:
    """What a printed report shows, in the reader's language."""

    language: str
    title: str
    version: int
    site_name: str
    site_code: str
    modality: str
    body_part: str
    study_description: str
    accession_number: str
    requesting_physician: str
    clinical_question: str
    sections: tuple[Section, ...]
    banner: Banner | None
    discrepancy: str | None
    expert_name: str
    expert_code: str
    signed_at_local: str
    signed_at_utc: str
    sha256: str
    verified: bool
    acknowledgement: str | None
    case_id: int
    signed_at: datetime

    @classmethod
    def of(
        cls,
        case: Case,
        report: Report,
        acknowledgements: Sequence[ReportAcknowledgement] = (),
    ) -> ReportSheet:
        """The sheet of `report`, one version of `case`'s report; `acknowledgements`: the
        case's ReportAcknowledgement rows (the newest asked up to this version is shown)."""
        zone = _zone(case.site.timezone)
        versions = sorted(case.reports, key=lambda r: r.version)
        checked = dict(
            zip(
                (v.version for v in versions),
                verify_chain([(v, v.expert.code) for v in versions]),
                strict=True,
            )
        )
        title = _KIND_TITLES.get(report.kind)
        discrepancy = _DISCREPANCIES.get(report.discrepancy or "")
        return cls(
            language=str(get_locale() or "en"),
            title=str(title) if title is not None else gettext("Report"),
            version=report.version,
            site_name=case.site.name,
            site_code=case.site.code,
            modality=case.modality,
            body_part=case.body_part,
            study_description=case.study_description,
            accession_number=case.accession_number,
            requesting_physician=case.requesting_physician,
            clinical_question=case.clinical_question,
            sections=tuple(
                Section(str(title), getattr(report, name), name == "impression")
                for name, title in _SECTIONS
                if getattr(report, name).strip()
            ),
            banner=_banner(report, acknowledgements, zone),
            discrepancy=(
                gettext("Discrepancy with the preliminary report: %(level)s", level=discrepancy)
                if discrepancy is not None
                else None
            ),
            expert_name=report.expert.name,
            expert_code=report.expert.code,
            signed_at_local=_local(report.created_at, zone),
            signed_at_utc=_utc(report.created_at),
            sha256=report.sha256,
            verified=checked.get(report.version, False),
            acknowledgement=_acknowledgement(report, acknowledgements, zone),
            case_id=case.id,
            signed_at=report.created_at,
        )

    def study_rows(self) -> list[tuple[str, str]]:
        return [
            (gettext("Site"), f"{self.site_name} ({self.site_code})"),
            (gettext("Modality"), self.modality),
            (gettext("Body part"), self.body_part),
            (gettext("Study"), self.study_description),
            (gettext("Accession number"), self.accession_number),
            (gettext("Requesting physician"), self.requesting_physician),
            (gettext("Clinical question"), self.clinical_question),
        ]

    def signature(self) -> str:
        return gettext(
            "Signed by %(expert)s (%(code)s) on %(local)s, %(utc)s.",
            expert=self.expert_name,
            code=self.expert_code,
            local=self.signed_at_local,
            utc=self.signed_at_utc,
        )

    def version_line(self) -> str:
        return gettext(
            "Version %(version)s, SHA-256 %(digest)s", version=self.version, digest=self.sha256
        )

    def check(self) -> str:
        if self.verified:
            return gettext("Signature verified: this text is the one signed.")
        return gettext("Signature check failed: this text is not the one signed.")

    def case_line(self) -> str:
        return gettext("Garde case %(id)s.", id=self.case_id)


def _banner(
    report: Report, asked: Sequence[ReportAcknowledgement], zone: ZoneInfo
) -> Banner | None:
    category = _CATEGORIES.get(report.critical_category or 0)
    if category is None and not report.critical:
        return None
    done = next((a for a in asked if a.report.id == report.id and a.acknowledged_at), None)
    if not report.critical:
        note = None
    elif done is not None and done.acknowledged_at is not None:
        note = gettext(
            "Critical finding acknowledged by %(who)s on %(local)s",
            who=done.acknowledged_by or "?",
            local=_local(done.acknowledged_at, zone),
        )
    else:
        note = gettext("Critical finding: the site must acknowledge this report")
    return Banner(str(category) if category is not None else "", note, report.critical)


def _acknowledgement(
    report: Report, asked: Sequence[ReportAcknowledgement], zone: ZoneInfo
) -> str | None:
    """The acknowledgement of the newest version up to this one that asked for it."""
    owed = [a for a in asked if a.report.version <= report.version]
    last = max(owed, key=lambda a: a.requested_at, default=None)
    if last is None:
        return None
    if last.acknowledged_at is None:
        return gettext(
            "Awaiting acknowledgement by the site, due %(local)s, %(utc)s.",
            local=_local(last.due_at, zone),
            utc=_utc(last.due_at),
        )
    via = VIA.get(last.acknowledged_via or "")
    return gettext(
        "Acknowledged by %(who)s %(via)s on %(local)s, %(utc)s.",
        who=last.acknowledged_by or "?",
        via=str(via) if via is not None else last.acknowledged_via or "",
        local=_local(last.acknowledged_at, zone),
        utc=_utc(last.acknowledged_at),
    )


def _local(value: datetime, zone: ZoneInfo) -> str:
    return f"{format_datetime(value.astimezone(zone), _WHEN, locale=get_locale())} ({zone.key})"


def _utc(value: datetime) -> str:
    return f"{format_datetime(value.astimezone(UTC), _WHEN, locale=get_locale())} UTC"


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")
