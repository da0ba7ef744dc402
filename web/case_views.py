"""How a case is shown: its JSON, its service-level deadlines, its latest report."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from garde.domain import EventKind, ReportKind
from garde.models import Case, CaseEvent, Offer, Report, ReportDelivery, Study, utcnow
from garde.service_levels import Deadline, deadlines
from reports.signing import verify_chain
from web.access import Sight


def deadline_json(deadline: Deadline, now: datetime) -> dict[str, Any]:
    met = deadline.met(now)
    return {
        "due": iso(deadline.due),
        "within_s": deadline.within_s,
        "done_at": iso(deadline.done_at),
        "taken_s": deadline.taken_s(now),
        "met": met,
        "breached": met is False,
    }


def offer_json(offer: Offer) -> dict[str, Any]:
    return {
        "expert": offer.expert.code,
        "expert_name": offer.expert.name,
        "round": offer.round,
        "step": offer.step,
        "sent_at": iso(offer.sent_at),
        "expires_at": iso(offer.expires_at),
        "outcome": offer.status,
        "answered_at": iso(offer.answered_at),
        "channel": offer.channel,
        "decline_reason": offer.decline_reason,
        "why": offer.why or None,
    }


def latest_report(case: Case) -> Report | None:
    """The final report if any, else the newest preliminary one."""
    finals = [r for r in case.reports if r.kind == ReportKind.FINAL]
    if finals:
        return finals[-1]
    prelims = [r for r in case.reports if r.kind == ReportKind.PRELIMINARY]
    return prelims[-1] if prelims else None


def report_json(report: Report) -> dict[str, Any]:
    """One version of the report, with its signature."""
    return {
        "id": report.id,
        "version": report.version,
        "kind": report.kind,
        "template": report.template,
        "technique": report.technique,
        "findings": report.findings,
        "impression": report.impression,
        "recommendations": report.recommendations,
        "critical": report.critical,
        "critical_category": report.critical_category,
        "discrepancy": report.discrepancy,
        "expert": report.expert.code,
        "expert_name": report.expert.name,
        "created_at": iso(report.created_at),
        "signed_by": report.expert.code,
        "signed_at": iso(report.created_at),
        "sha256": report.sha256,
    }


def deliveries(case: Case) -> list[tuple[ReportDelivery, int]]:
    """Every attempt to push each version to the site's endpoints, oldest first, with the
    version's number."""
    versions = {report.id: report.version for report in case.reports}
    if not versions:
        return []  # nothing to deliver: not worth a query per case shown
    return [(delivery, versions[delivery.report_id]) for delivery in case.deliveries]


def delivery_json(delivery: ReportDelivery, version: int) -> dict[str, Any]:
    return {
        "version": version,
        "channel": delivery.channel,
        "attempt": delivery.attempt,
        "at": iso(delivery.at),
        "outcome": delivery.outcome,
        "detail": delivery.detail,
    }


def version_json(report: Report, verified: bool) -> dict[str, Any]:
    """A version in the chain: who signed what, when, and whether it still checks."""
    return {
        "version": report.version,
        "kind": report.kind,
        "signed_by": report.expert.code,
        "signed_by_name": report.expert.name,
        "signed_at": iso(report.created_at),
        "sha256": report.sha256,
        "previous_sha256": report.previous_sha256,
        "verified": verified,
    }


def report_document_json(
    report: Report, versions: list[Report], asked: list[Any]
) -> dict[str, Any]:
    """`GET …/report?format=json`: the report shown (the final, else the newest
    preliminary), every version of the chain with its check, and the acknowledgement the
    site owes or gave (the newest asked; `asked` are the case's ReportAcknowledgement rows)."""
    checked = verify_chain([(v, v.expert.code) for v in versions])
    last = max(asked, key=lambda a: a.requested_at, default=None)
    return {
        **report_json(report),
        "signature_verified": dict(zip((v.id for v in versions), checked, strict=True)).get(
            report.id, False
        ),
        "versions": [version_json(v, ok) for v, ok in zip(versions, checked, strict=True)],
        "acknowledgement_required": last is not None,
        "acknowledgement_reason": last.reason if last else None,
        "acknowledgement_due_at": iso(last.due_at) if last else None,
        "acknowledged_by": last.acknowledged_by if last else None,
        "acknowledged_at": iso(last.acknowledged_at) if last else None,
        "acknowledged_via": last.acknowledged_via if last else None,
    }


@dataclass(frozen=True)
class Arrived:
    """What arrived of a case's images: its studies, and when new images last came after
    they were called stable (stable is never proof that a study is complete)."""

    studies: list[Study]
    new_images_at: datetime | None

    @property
    def stable(self) -> bool:
        return all(s.stable_at is not None for s in self.studies)


def arrived(case: Case) -> Arrived | None:
    """None while no image arrived for the case."""
    studies = case.studies
    if not studies:
        return None
    reopened = [e.at for e in case.events if e.kind == EventKind.STUDY_REOPENED]
    return Arrived(studies, max(reopened, default=None))


def study_json(case: Case) -> dict[str, Any] | None:
    found = arrived(case)
    if found is None:
        return None
    return {
        "series": sum(s.series_count for s in found.studies),
        "instances": sum(s.instance_count for s in found.studies),
        "stable": found.stable,
        "first_arrival_at": iso(min(s.first_arrival_at for s in found.studies)),
        "last_arrival_at": iso(max(s.last_arrival_at for s in found.studies)),
        "new_images_at": iso(found.new_images_at),
    }


def case_json(case: Case, sight: Sight, expert_id: int | None = None) -> dict[str, Any]:
    """The case as the API shows it to one who has this `sight` of it (web.access.sights);
    `expert_id`: the expert asking, whose own offers a summary lists."""
    now = utcnow()
    sla = {name: deadline_json(d, now) for name, d in deadlines(case).items()}
    if sight is Sight.SUMMARY:
        mine = sorted((o for o in case.offers if o.expert_id == expert_id), key=_in_turn)
        return {
            "id": case.id,
            "sight": sight.value,
            "status": case.status,
            "priority": case.priority,
            "site": case.site.code,
            "site_name": case.site.name,
            "modality": case.modality,
            "subspecialty": case.subspecialty,
            "requested_at": iso(case.requested_at),
            "sla": sla,
            "study": study_json(case),
            "offers": [own_offer_json(o) for o in mine],
        }
    report = latest_report(case)
    shown: dict[str, Any] = {
        "id": case.id,
        "sight": sight.value,
        "status": case.status,
        "priority": case.priority,
        "site": case.site.code,
        "site_name": case.site.name,
        "accession_number": case.accession_number,
        "study_instance_uid": case.study_instance_uid,
        "modality": case.modality,
        "body_part": case.body_part,
        "study_description": case.study_description,
        "exam_code": case.exam_code,
        "clinical_question": case.clinical_question,
        "requesting_physician": case.requesting_physician,
        "callback_phone": case.callback_phone,
        "subspecialty": case.subspecialty,
        "assigned_expert": case.assigned_expert.code if case.assigned_expert else None,
        "requested_at": iso(case.requested_at),
        "ordered_via": case.ordered_via,
        "placer_order_number": case.placer_order_number,
        "patient": patient_json(case),
        "regulation": regulation_json(case),
        "timeline": [
            {
                "at": iso(e.at),
                "kind": e.kind,
                "status": e.status,
                "expert": e.expert.code if e.expert else None,
                "detail": e.detail,
            }
            for e in timeline(case)
        ],
        "sla": sla,
        "study": study_json(case),
        "report": report_json(report) if report else None,
        "addenda": [report_json(r) for r in case.reports if r.kind == ReportKind.ADDENDUM],
        "deliveries": [delivery_json(d, version) for d, version in deliveries(case)],
    }
    if sight is Sight.ALL:
        # Coordinators: who was asked, how it went and why each expert was chosen.
        shown["offers"] = [offer_json(o) for o in sorted(case.offers, key=_in_turn)]
    return shown


def patient_json(case: Case) -> dict[str, Any] | None:
    """The patient as the order named them; null when it named none."""
    found = {
        "id": case.patient_id,
        "name": case.patient_name,
        "birth_date": case.patient_birth_date.isoformat() if case.patient_birth_date else None,
        "sex": case.patient_sex,
    }
    return found if any(found.values()) else None


def regulation_json(case: Case) -> dict[str, Any] | None:
    """The indication's validation and the scan; null for a case not under régulation."""
    if not case.regulation:
        return None
    protocol = case.protocol
    return {
        "validate_within_s": case.validate_within_s or 0,
        "validate_by": iso(deadlines(case)["validate"].due),
        "reroute_after_scan": case.reroute_after_scan,
        "protocol": (
            {"code": protocol.code, "name": protocol.name, "text": protocol.text}
            if protocol
            else None
        ),
        "note": case.validation_note,
        "validated_at": iso(case.validated_at),
        "validated_by": case.validated_by.code if case.validated_by else None,
        "refusal_reason": case.refusal_reason,
        "scanned_at": iso(case.scanned_at),
    }


def own_offer_json(offer: Offer) -> dict[str, Any]:
    """An offer as the expert it was made to sees it: its code and how it went."""
    return {
        "code": offer.code,
        "sent_at": iso(offer.sent_at),
        "expires_at": iso(offer.expires_at),
        "outcome": offer.status,
        "answered_at": iso(offer.answered_at),
    }


def _in_turn(offer: Offer) -> int:
    return offer.sequence


def timeline(case: Case) -> list[CaseEvent]:
    """In the order the workflow decided: by time, then by its sequence of writes."""
    return sorted(case.events, key=lambda e: (e.at, e.seq or 0, e.id))


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None
