"""What people send about a case, validated the same way for the API and the pages: each
input is a model, which openapi.json also describes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import Priority, ReportKind
from garde.errors import InvalidInput
from garde.messages import PriorityChange, Reassignment, ReportDraft
from garde.models import Case, Expert
from garde.service_levels import site_promise
from garde.validation import Input, choice, text, validated


class ReportInput(Input):
    """A report by the expert holding the case."""

    kind: Annotated[ReportKind, choice()] = ReportKind.FINAL
    findings: Annotated[str, text(20000)]
    impression: Annotated[str, text(5000)]
    critical: bool = Field(False, description="a critical finding the site must acknowledge")


class DeclineInput(Input):
    reason: Annotated[str | None, text(200)] = None


class ReassignmentInput(Input):
    """To a named expert; forcing one who is not eligible needs a reason, kept in the audit
    log."""

    expert: Annotated[str, text(32, description="the expert's code")]
    reason: Annotated[str | None, text(300)] = None
    force: bool = False


class PriorityInput(Input):
    priority: Annotated[Priority, choice()]


def parse_report(data: Any, expert_id: int) -> ReportDraft:
    report = validated(ReportInput, data)
    return ReportDraft(
        expert_id=expert_id,
        kind=report.kind,
        findings=report.findings,
        impression=report.impression,
        critical=report.critical,
    )


def parse_decline_reason(data: Any) -> str:
    return validated(DeclineInput, data if data is not None else {}).reason or ""


def parse_reassignment(db: Session, data: Any, by: str) -> Reassignment:
    given = validated(ReassignmentInput, data)
    problems = {}
    expert_id = db.scalar(select(Expert.id).where(Expert.code == given.expert))
    if expert_id is None:
        problems["expert"] = f"no expert has the code {given.expert}"
    if given.force and not given.reason:
        problems["reason"] = "is required to force an assignment"
    if problems:
        raise InvalidInput(problems)
    assert expert_id is not None
    return Reassignment(expert_id, by, given.reason or "", given.force)


def parse_priority_change(case: Case, data: Any, by: str) -> PriorityChange:
    """The site's promise for the new priority: its deadlines count from the request."""
    priority = validated(PriorityInput, data).priority
    promise = site_promise(case.site, priority)
    return PriorityChange(priority, promise.level, list(promise.ladder), by)
