"""How a case is shown: its JSON, its service-level deadlines, its latest report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from garde.domain import DEFAULT_SERVICE_LEVELS, Priority, ReportKind
from garde.models import Case, Report, utcnow


@dataclass(frozen=True)
class Deadline:
    due: datetime
    done_at: datetime | None

    def met(self, now: datetime) -> bool | None:
        """True or False once known; None while the clock is still running."""
        if self.done_at is not None:
            return self.done_at <= self.due
        return False if now > self.due else None

    def as_json(self, now: datetime) -> dict[str, Any]:
        return {
            "due": iso(self.due),
            "done_at": iso(self.done_at),
            "met": self.met(now),
        }


def deadlines(case: Case) -> dict[str, Deadline]:
    level = DEFAULT_SERVICE_LEVELS[Priority(case.priority)]
    return {
        "accept": Deadline(case.requested_at + level.accept_within, case.accepted_at),
        "report": Deadline(case.requested_at + level.report_within, case.reported_at),
    }


def latest_report(case: Case) -> Report | None:
    """The final report if any, else the newest preliminary one."""
    finals = [r for r in case.reports if r.kind == ReportKind.FINAL]
    if finals:
        return finals[-1]
    prelims = [r for r in case.reports if r.kind == ReportKind.PRELIMINARY]
    return prelims[-1] if prelims else None


def report_json(report: Report) -> dict[str, Any]:
    return {
        "id": report.id,
        "kind": report.kind,
        "findings": report.findings,
        "impression": report.impression,
        "critical": report.critical,
        "expert": report.expert.code,
        "expert_name": report.expert.name,
        "created_at": iso(report.created_at),
    }


def case_json(case: Case) -> dict[str, Any]:
    now = utcnow()
    report = latest_report(case)
    return {
        "id": case.id,
        "status": case.status,
        "priority": case.priority,
        "site": case.site.code,
        "site_name": case.site.name,
        "accession_number": case.accession_number,
        "study_instance_uid": case.study_instance_uid,
        "modality": case.modality,
        "body_part": case.body_part,
        "study_description": case.study_description,
        "clinical_question": case.clinical_question,
        "requesting_physician": case.requesting_physician,
        "callback_phone": case.callback_phone,
        "subspecialty": case.subspecialty,
        "assigned_expert": case.assigned_expert.code if case.assigned_expert else None,
        "requested_at": iso(case.requested_at),
        "timeline": [
            {
                "at": iso(e.at),
                "kind": e.kind,
                "status": e.status,
                "detail": e.detail,
            }
            for e in sorted(case.events, key=lambda e: (e.at, e.id))
        ],
        "sla": {name: d.as_json(now) for name, d in deadlines(case).items()},
        "report": report_json(report) if report else None,
        "addenda": [report_json(r) for r in case.reports if r.kind == ReportKind.ADDENDUM],
    }


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
