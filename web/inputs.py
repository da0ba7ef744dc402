"""What people send about a case, validated the same way for the API and the pages: each
input is a model, which openapi.json also describes."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import Field, model_validator
from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import Discrepancy, Priority, ReportKind
from garde.errors import InvalidInput
from garde.messages import PriorityChange, Reassignment, ReportDraft
from garde.models import Case, Expert
from garde.service_levels import site_promise
from garde.validation import Input, choice, text, validated
from reports import exam_templates


class ReportInput(Input):
    """A report version by the expert holding the case (an addendum: by its final's author)."""

    kind: Annotated[ReportKind, choice()] = ReportKind.FINAL
    template: Annotated[str | None, text(64, description="the exam template started from")] = None
    technique: Annotated[str | None, text(5000)] = None
    findings: Annotated[str, text(20000)]
    impression: Annotated[str, text(5000)]
    recommendations: Annotated[str | None, text(5000)] = None
    critical_category: int | None = Field(
        None,
        ge=1,
        le=3,
        description="ACR critical result: 1 immediate, 2 urgent (the site must acknowledge), "
        "3 significant",
    )
    critical: bool | None = Field(
        None, description='"category 1 or 2"; true alone means category 1'
    )
    discrepancy: Annotated[Discrepancy | None, choice()] = Field(
        None, description="on a final after a preliminary report: how they differ"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ReportInput:
        """`critical` and the category say the same; a discrepancy is a final's; the template
        is one of reports/exam_templates."""
        problems = {}
        if self.critical is True and self.critical_category == 3:
            problems["critical"] = "contradicts critical_category 3, which needs no acknowledgement"
        if self.critical is False and self.critical_category in (1, 2):
            problems["critical"] = (
                f"contradicts critical_category {self.critical_category}, which the site "
                "must acknowledge"
            )
        if self.discrepancy is not None and self.kind is not ReportKind.FINAL:
            problems["discrepancy"] = "is marked on a final report only"
        if self.template is not None and self.template not in exam_templates.BY_NAME:
            problems["template"] = (
                f"is not an exam template (known: {', '.join(exam_templates.NAMES)})"
            )
        if problems:
            raise InvalidInput(problems)
        return self

    @property
    def category(self) -> int | None:
        if self.critical_category is None and self.critical:
            return 1
        return self.critical_category


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
    category = report.category
    return ReportDraft(
        expert_id=expert_id,
        kind=report.kind,
        findings=report.findings,
        impression=report.impression,
        critical=category in (1, 2),
        critical_category=category,
        discrepancy=report.discrepancy,
        technique=report.technique or "",
        recommendations=report.recommendations or "",
        template=report.template,
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
