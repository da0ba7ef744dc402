"""Last month's reads for the demo region, so that billing has something to show on a fresh
demo: invoices to issue, statements to download, totals by band.

Each read is a closed case as its workflow would have left it (the timeline's status
entries, the accepted offer, a signed final report, its billing line), written through the
same functions the workflow's activities use. Everything is fictional and marked: accession
numbers DEMO-YYYY-MM-NNN, "(démo)" in the question and the report. The reads are drawn from
a generator seeded with the month, so a given month always gets the same ones.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from activities.case_records import store_report
from activities.offers import new_offer_code
from billing.calendar import public_holidays
from billing.lines import bill
from billing.months import month_window
from billing.terms import Calendar
from garde.domain import CaseStatus, EventKind, OfferStatus, Priority, ReportKind, Tier
from garde.messages import Ranking, ReportDraft, ReportRecord
from garde.models import Case, CaseEvent, Expert, Offer, Site
from garde.service_levels import site_promise

READS = 40
ZONE = "Europe/Paris"
PARIS = ZoneInfo(ZONE)
PHYSICIAN = "Dr Urgentiste Fictif (démo)"


@dataclass(frozen=True)
class Exam:
    modality: str
    body_part: str
    description: str
    question: str
    technique: str
    findings: str
    impression: str


EXAMS = (
    Exam(
        "CT",
        "HEAD",
        "Scanner cérébral sans injection",
        "Céphalées brutales, éliminer une hémorragie (démo)",
        "Acquisition hélicoïdale sans injection.",
        "Cas de démonstration. Pas d'hémorragie intra- ni extra-axiale. Pas d'effet de masse.",
        "Pas d'anomalie aiguë décelable (démo).",
    ),
    Exam(
        "CT",
        "CHEST",
        "Angioscanner thoracique",
        "Dyspnée aiguë, suspicion d'embolie pulmonaire (démo)",
        "Injection iodée au temps artériel pulmonaire.",
        "Cas de démonstration. Pas de défect endoluminal des artères pulmonaires.",
        "Pas d'embolie pulmonaire (démo).",
    ),
    Exam(
        "CT",
        "ABDOMEN",
        "Scanner abdomino-pelvien injecté",
        "Douleur de la fosse iliaque droite, fièvre (démo)",
        "Injection iodée au temps portal.",
        "Cas de démonstration. Appendice de calibre normal, sans infiltration de la graisse.",
        "Pas d'appendicite (démo).",
    ),
    Exam(
        "MR",
        "HEAD",
        "IRM cérébrale",
        "Déficit moteur brutal, suspicion d'AVC (démo)",
        "Diffusion, FLAIR, T2*, TOF.",
        "Cas de démonstration. Pas d'hypersignal en diffusion. Polygone de Willis perméable.",
        "Pas d'argument pour un AVC ischémique récent (démo).",
    ),
    Exam(
        "CR",
        "CHEST",
        "Radiographie du thorax de face",
        "Toux fébrile (démo)",
        "Cliché de face debout.",
        "Cas de démonstration. Pas de foyer alvéolaire. Pas d'épanchement pleural.",
        "Radiographie thoracique normale (démo).",
    ),
    Exam(
        "US",
        "ABDOMEN",
        "Échographie abdominale",
        "Douleur de l'hypochondre droit (démo)",
        "Examen par voie abdominale.",
        "Cas de démonstration. Vésicule alithiasique, paroi fine. Voies biliaires fines.",
        "Pas de cholécystite (démo).",
    ),
)
# CT most, then MR; a few radiographs and ultrasounds.
EXAM_WEIGHTS = (3, 3, 3, 2, 1, 1)
PRIORITIES = (Priority.STAT, Priority.URGENT, Priority.ROUTINE)
PRIORITY_WEIGHTS = (2, 6, 2)


def previous_month(today: date) -> str:
    first = today.replace(day=1) - timedelta(days=1)
    return f"{first:%Y-%m}"


def accession(month: str, n: int) -> str:
    return f"DEMO-{month}-{n:03d}"


def add_history(
    session: Session, today: date, site_codes: Iterable[str], expert_codes: Iterable[str]
) -> int:
    """Add the reads of the month before `today` at these sites by these experts, unless the
    month has demo history already; how many."""
    month = previous_month(today)
    if session.scalar(
        select(Case.id).where(Case.accession_number.like(f"DEMO-{month}-%")).limit(1)
    ):
        return 0
    rng = random.Random(month)
    sites = list(session.scalars(select(Site).where(Site.code.in_(site_codes)).order_by(Site.code)))
    experts = list(
        session.scalars(
            select(Expert).where(Expert.code.in_(expert_codes), Expert.active).order_by(Expert.code)
        )
    )
    first, end = date.fromisoformat(f"{month}-01"), month_window(month, ZONE)[1]
    days = (end.astimezone(PARIS).date() - first).days
    holidays = public_holidays(Calendar.FR, first.year)
    codes: set[str] = set()
    added = 0
    for n in range(READS):
        # Spread evenly over the days (each gets one or two), at an hour of the day or of
        # the night; in the day on a Sunday or a holiday, so that each band has its reads (a
        # Sunday night is priced as a night: the higher surcharge).
        day = first + timedelta(days=n * days // READS)
        night = day.weekday() != 6 and day not in holidays and rng.random() < 0.45
        hour = rng.choice(range(20, 32) if night else range(8, 20))
        requested = (
            datetime.combine(day, time(), tzinfo=PARIS)
            + timedelta(hours=hour, minutes=rng.randrange(60))
        ).astimezone(UTC)
        exam = rng.choices(EXAMS, EXAM_WEIGHTS)[0]
        priority = rng.choices(PRIORITIES, PRIORITY_WEIGHTS)[0]
        site = rng.choice(sites)
        readers = [
            e
            for e in experts
            if exam.modality in e.modalities and site.code in {s.code for s in e.sites}
        ]
        if not readers:
            continue
        expert = rng.choice(readers)
        offered = requested + timedelta(minutes=1)
        accepted = offered + timedelta(minutes=rng.randrange(1, 8))
        reported = accepted + timedelta(minutes=rng.randrange(15, 75))
        # The month's own reads: one that would end after it is moved back into it.
        if reported >= end:
            back = reported - end + timedelta(hours=1)
            requested, offered, accepted, reported = (
                t - back for t in (requested, offered, accepted, reported)
            )
        case = _closed_case(
            session, site, expert, exam, priority, accession(month, n + 1), requested
        )
        case.accepted_at, case.reported_at, case.closed_at = accepted, reported, reported
        session.flush()
        code = _fresh_code(session, codes)
        session.add(_accepted_offer(case, expert, code, offered, accepted))
        _timeline(session, case, expert, (requested, offered, accepted, reported))
        store_report(
            session,
            ReportRecord(
                case.id,
                f"case-{case.id}:demo-history",
                reported,
                ReportDraft(
                    expert_id=expert.id,
                    kind=ReportKind.FINAL,
                    technique=exam.technique,
                    findings=exam.findings,
                    impression=exam.impression,
                ),
            ),
        )
        bill(session, case, expert_id=expert.id, read_at=reported, accepted_at=accepted)
        added += 1
    session.flush()
    return added


def _closed_case(
    session: Session,
    site: Site,
    expert: Expert,
    exam: Exam,
    priority: Priority,
    accession_number: str,
    requested: datetime,
) -> Case:
    """A final case its workflow is done with: the reconciler starts no workflow for it
    (`workflow_started_at` is set) nor restarts it (it is not open)."""
    promise = site_promise(site, priority)
    case = Case(
        site=site,
        accession_number=accession_number,
        modality=exam.modality,
        body_part=exam.body_part,
        study_description=exam.description,
        priority=priority,
        clinical_question=exam.question,
        requesting_physician=PHYSICIAN,
        callback_phone=site.phone,
        status=CaseStatus.FINAL,
        status_seq=4,
        assigned_expert_id=expert.id,
        offer_timeout_s=promise.level.offer_timeout_s,
        accept_within_s=promise.level.accept_within_s,
        report_within_s=promise.level.report_within_s,
        escalation=[str(step) for step in promise.ladder],
        requested_at=requested,
        workflow_started_at=requested,
    )
    session.add(case)
    return case


def _fresh_code(session: Session, taken: set[str]) -> str:
    while True:
        code = new_offer_code()
        if code not in taken and session.scalar(select(Offer.id).where(Offer.code == code)) is None:
            taken.add(code)
            return code


def _accepted_offer(
    case: Case, expert: Expert, code: str, sent: datetime, answered: datetime
) -> Offer:
    ranking = Ranking(
        rank=1,
        tier=Tier.PRIMARY,
        load=0,
        max_concurrent=expert.max_concurrent,
        reads_this_shift=0,
        minutes_since_last_offer=None,
        subspecialty_match=None,
    )
    return Offer(
        case_id=case.id,
        expert_id=expert.id,
        sequence=1,
        code=code,
        phone=expert.phone,
        status=OfferStatus.ACCEPTED,
        step=Tier.PRIMARY.value,
        round=1,
        why=asdict(ranking),
        sent_at=sent,
        expires_at=sent + timedelta(seconds=case.offer_timeout_s),
        answered_at=answered,
        channel="sms",
    )


def _timeline(session: Session, case: Case, expert: Expert, times: tuple[datetime, ...]) -> None:
    """The status entries the case workflow writes, one per write (`seq`), keyed as it keys
    them."""
    entries = (
        (CaseStatus.REQUESTED, None, ""),
        (CaseStatus.OFFERED, expert.id, Tier.PRIMARY.value),
        (CaseStatus.ACCEPTED, expert.id, "via sms"),
        (CaseStatus.FINAL, expert.id, ""),
    )
    for seq, (at, (status, expert_id, detail)) in enumerate(zip(times, entries, strict=True), 1):
        session.add(
            CaseEvent(
                case_id=case.id,
                key=f"{seq}.0",
                seq=seq,
                at=at,
                kind=EventKind.STATUS,
                status=status,
                expert_id=expert_id,
                detail=detail,
            )
        )
