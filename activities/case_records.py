"""Activities that write the case record: its status and timeline, reports, billing lines.

The case workflow decides; these only write what they are handed. Each call is one
transaction and idempotent: a retry finds its own earlier write and stops, and a status
older than the one stored (an attempt that lost a race with a later write) is refused.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import CursorResult, select, update
from sqlalchemy.orm import Session
from temporalio import activity

from activities.errors import rows_must_exist, too_late
from billing.lines import bill
from garde.admission import admit
from garde.db import SessionFactory, insert_for
from garde.domain import AlertKind, CaseStatus, EventKind
from garde.intake import regulation_columns
from garde.messages import (
    Admission,
    AdmissionRequest,
    BillingRequest,
    CaseRecord,
    ReportRecord,
    StoredReport,
)
from garde.models import Alert, BillingLine, Case, CaseEvent, Expert, Report, Site, utcnow
from reports.endpoints import channels
from reports.signing import Content


class CaseRecords:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def record_case(self, record: CaseRecord) -> bool:
        """Store the workflow's view of the case; False when a newer one is already stored."""
        with self._sessions.begin() as s:
            return write_case_record(s, record)

    @activity.defn
    def record_report(self, record: ReportRecord) -> int:
        """Store a report version, numbered and signed after the case's last one; the case's
        status is the workflow's to write afterwards."""
        with self._sessions.begin() as s:
            return store_report(s, record)

    @activity.defn
    def admit_update(self, request: AdmissionRequest) -> None:
        """Admit an update before its handler changes anything, or refuse it for good."""
        with self._sessions.begin() as s:
            refused = not admitted(s, request.case_id, request.admission)
        if refused:
            raise too_late()

    @activity.defn
    def file_report(self, record: ReportRecord) -> StoredReport:
        """Store a report version and the case record it makes, in one transaction: the case
        never shows final without its report. The filing is admitted there, and the site's
        endpoints read, first: SQLite has one writer at a time, and a read after the first
        write would keep it."""
        stored = None
        with rows_must_exist(f"case {record.case_id}"), self._sessions.begin() as s:
            if admitted(s, record.case_id, record.admission):
                query = select(Site).join(Case.site).where(Case.id == record.case_id)
                endpoints = channels(s.scalars(query).one())
                report_id = store_report(s, record)
                if record.record is not None:
                    write_case_record(s, record.record)
                stored = StoredReport(report_id, endpoints)
        if stored is None:  # the refusal is committed first: another worker finds it
            raise too_late()
        return stored

    @activity.defn
    def record_billing_line(self, request: BillingRequest) -> None:
        """One line per case, priced by the tariff version in force at the priced instant;
        none for a cancellation the tariff does not bill."""
        with rows_must_exist(f"case {request.case_id}"), self._sessions.begin() as s:
            if s.scalar(select(BillingLine.id).where(BillingLine.case_id == request.case_id)):
                return
            bill(
                s,
                s.get_one(Case, request.case_id),
                expert_id=request.expert_id,
                read_at=request.read_at,
                accepted_at=request.accepted_at,
                cancelled=request.cancelled,
            )


def admitted(s: Session, case_id: int, admission: Admission | None) -> bool:
    """In the caller's transaction: True when the update is to be applied (garde/admission.py);
    an update sent with no `not_after` has nothing to decide."""
    if admission is None:
        return True
    return admit(s, case_id, admission.update_id, admission.not_after, utcnow())


def write_case_record(s: Session, record: CaseRecord) -> bool:
    """The workflow's view of the case, in the caller's transaction; False when a newer one
    is already stored (its timeline entries are added all the same, once)."""
    with rows_must_exist(f"case {record.case_id}"):
        # Only a newer write changes the row: the sequence number guards it, in SQL.
        newer = (
            update(Case)
            .where(Case.id == record.case_id, Case.status_seq < record.seq)
            .values(
                status=record.status,
                status_seq=record.seq,
                assigned_expert_id=record.holder,
                priority=record.priority,
                offer_timeout_s=record.level.offer_timeout_s,
                accept_within_s=record.level.accept_within_s,
                report_within_s=record.level.report_within_s,
                escalation=[str(step) for step in record.ladder],
                accepted_at=record.accepted_at,
                reported_at=record.reported_at,
                closed_at=record.closed_at,
                **regulation_columns(record.regulation),
            )
            .execution_options(synchronize_session=False)
        )
        current = cast(CursorResult[Any], s.execute(newer)).rowcount == 1
        if not current:
            s.get_one(Case, record.case_id)  # a missing case fails for good
    _add_entries(s, record)
    if current:
        _resolve_alerts(s, record)
    return current


def _add_entries(s: Session, record: CaseRecord) -> None:
    """Once: an earlier attempt of this very record wrote the same keys."""
    if not record.entries:
        return
    rows = [
        {
            "case_id": record.case_id,
            "key": f"{record.seq}.{i}",
            "seq": record.seq,
            "at": record.at,
            "kind": entry.kind,
            "status": entry.status,
            "expert_id": entry.expert_id,
            "detail": entry.detail[:200],
        }
        for i, entry in enumerate(record.entries)
    ]
    s.execute(insert_for(s, CaseEvent).on_conflict_do_nothing(), rows)


def store_report(s: Session, record: ReportRecord) -> int:
    """Store a report version, numbered and signed after the case's last one (once per
    request key): the case workflow's activity, and the demo's history, sign this way."""
    draft = record.draft
    existing = s.scalar(select(Report.id).where(Report.request_key == record.request_key))
    if existing is not None:
        return existing
    last = s.scalars(
        select(Report).where(Report.case_id == record.case_id).order_by(Report.version.desc())
    ).first()
    version = last.version + 1 if last is not None else 1
    author = s.get_one(Expert, draft.expert_id).code
    content = Content(
        case_id=record.case_id,
        version=version,
        kind=draft.kind,
        author=author,
        signed_at=record.at,
        technique=draft.technique,
        findings=draft.findings,
        impression=draft.impression,
        recommendations=draft.recommendations,
        critical_category=draft.critical_category,
        discrepancy=draft.discrepancy,
        template=draft.template,
        previous_sha256=last.sha256 if last is not None else None,
    )
    report = Report(
        case_id=record.case_id,
        version=version,
        expert_id=draft.expert_id,
        request_key=record.request_key,
        kind=draft.kind,
        template=draft.template,
        technique=draft.technique,
        findings=draft.findings,
        impression=draft.impression,
        recommendations=draft.recommendations,
        critical_category=draft.critical_category,
        critical=draft.critical,
        discrepancy=draft.discrepancy,
        created_at=record.at,
        previous_sha256=content.previous_sha256,
        sha256=content.sha256(),
    )
    s.add(report)
    s.flush()
    return report.id


def _resolve_alerts(s: Session, record: CaseRecord) -> None:
    """An alert is over once the case has what it lacked: a holder, a decision on its
    indication, or an end."""
    if not record.status.is_open:
        kinds = [k for k in AlertKind if k.settled_by_closing]
    elif record.holder is not None:
        kinds = [k for k in AlertKind if k.settled_by_holder]
        if record.status is not CaseStatus.TO_VALIDATE:
            kinds.append(AlertKind.VALIDATE_BREACH)
    else:
        return
    s.execute(
        update(Alert)
        .where(
            Alert.case_id == record.case_id,
            Alert.resolved_at.is_(None),
            Alert.kind.in_([str(k) for k in kinds]),
        )
        .values(resolved_at=record.at, resolved_by=f"case {record.status}")
        .execution_options(synchronize_session=False)
    )


def add_event_once(
    s: Session, case_id: int, key: str, at: datetime, kind: EventKind, detail: str
) -> None:
    """A timeline entry beside the case workflow's writes (a report version's own workflows),
    once per key: a retried activity adds nothing."""
    row = {"case_id": case_id, "key": key, "at": at, "kind": kind, "detail": detail[:200]}
    s.execute(insert_for(s, CaseEvent).values(row).on_conflict_do_nothing())
