"""What people send about a case, validated the same way for the API and the pages."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import Priority, ReportKind
from garde.messages import PriorityChange, Reassignment, ReportDraft
from garde.models import Case, Expert
from garde.service_levels import site_promise
from garde.validation import Fields


def parse_report(data: Any, expert_id: int) -> ReportDraft:
    f = Fields(data)
    kind = f.choice("kind", ReportKind) or ReportKind.FINAL
    draft = ReportDraft(
        expert_id=expert_id,
        kind=kind,
        findings=f.text("findings", max_len=20000),
        impression=f.text("impression", max_len=5000),
        critical=f.boolean("critical"),
    )
    f.check()
    return draft


def parse_decline_reason(data: Any) -> str:
    f = Fields(data if data is not None else {})
    reason = f.optional_text("reason", max_len=200) or ""
    f.check()
    return reason


def parse_reassignment(db: Session, data: Any, by: str) -> Reassignment:
    """`expert` (a code), `reason`, `force`: forcing needs a reason, kept in the audit log."""
    f = Fields(data)
    code = f.text("expert", max_len=32)
    reason = f.optional_text("reason", max_len=300) or ""
    force = f.boolean("force")
    expert_id = None
    if code and "expert" not in f.errors:
        expert_id = db.scalar(select(Expert.id).where(Expert.code == code))
        if expert_id is None:
            f.fail("expert", f"no expert has the code {code}")
    if force and not reason:
        f.fail("reason", "is required to force an assignment")
    f.check()
    assert expert_id is not None
    return Reassignment(expert_id, by, reason, force)


def parse_priority_change(case: Case, data: Any, by: str) -> PriorityChange:
    """`priority`, with the site's promise for it: its deadlines count from the request."""
    f = Fields(data)
    priority = f.choice("priority", Priority)
    f.check()
    assert priority is not None
    promise = site_promise(case.site, priority)
    return PriorityChange(priority, promise.level, list(promise.ladder), by)
