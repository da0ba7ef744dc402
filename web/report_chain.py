"""What was signed, as the case pages show it: each version of the report with its signature
checked against the chain (reports/signing.py), and the acknowledgement the site owes or gave."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from flask import Blueprint, g
from sqlalchemy import select

from garde.models import Case, Report, ReportAcknowledgement
from reports.signing import verify_chain


@dataclass(frozen=True)
class SignedVersion:
    report: Report
    verified: bool
    acknowledgement: ReportAcknowledgement | None


def signed_versions(
    reports: Sequence[Report], acknowledgements: Sequence[ReportAcknowledgement]
) -> list[SignedVersion]:
    """The versions oldest first, each checked against its content and the one before it."""
    ordered = sorted(reports, key=lambda r: r.version)
    checked = verify_chain([(r, r.expert.code) for r in ordered])
    asked = {a.report_id: a for a in acknowledgements}
    return [SignedVersion(r, ok, asked.get(r.id)) for r, ok in zip(ordered, checked, strict=True)]


def report_chain(case: Case) -> list[SignedVersion]:
    """The case's versions for a page (its templates call this; web/templates/report_chain.html)."""
    asked = g.db.scalars(
        select(ReportAcknowledgement).where(ReportAcknowledgement.case_id == case.id)
    ).all()
    return signed_versions(case.reports, asked)


def install(bp: Blueprint) -> None:
    """Available to every template (the expert's, the site's and the coordinator's pages)."""
    bp.add_app_template_global(report_chain, "report_chain")
