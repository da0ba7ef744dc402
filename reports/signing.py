"""Each report version is signed when stored: the SHA-256 of its canonical content.

The canonical content is the version's clinical text and what makes it a signature (author,
instant, kind, version, the previous version's digest) as JSON with sorted keys and no
spaces, UTF-8. Chaining the previous digest makes the versions one chain: a changed byte in
any version, or a version removed or reordered, fails the check of every version after it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol


class Signed(Protocol):
    """What a stored version carries (garde.models.Report)."""

    case_id: int
    version: int
    kind: str
    template: str | None
    technique: str
    findings: str
    impression: str
    recommendations: str
    critical_category: int | None
    discrepancy: str | None
    created_at: datetime
    previous_sha256: str | None
    sha256: str


@dataclass(frozen=True)
class Content:
    """The signed fields of one version, before it is stored."""

    case_id: int
    version: int
    kind: str
    author: str  # the expert's code
    signed_at: datetime
    technique: str
    findings: str
    impression: str
    recommendations: str
    critical_category: int | None
    discrepancy: str | None
    template: str | None
    previous_sha256: str | None

    def canonical(self) -> bytes:
        fields = {
            "case_id": self.case_id,
            "version": self.version,
            "kind": self.kind,
            "author": self.author,
            "signed_at": self.signed_at.astimezone(UTC).isoformat(timespec="microseconds"),
            "template": self.template,
            "technique": self.technique,
            "findings": self.findings,
            "impression": self.impression,
            "recommendations": self.recommendations,
            "critical_category": self.critical_category,
            "discrepancy": self.discrepancy,
            "previous_sha256": self.previous_sha256,
        }
        return json.dumps(fields, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode(
            "utf-8"
        )

    def sha256(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()

    @classmethod
    def of(cls, report: Signed, author: str) -> Content:
        return cls(
            case_id=report.case_id,
            version=report.version,
            kind=report.kind,
            author=author,
            signed_at=report.created_at,
            technique=report.technique,
            findings=report.findings,
            impression=report.impression,
            recommendations=report.recommendations,
            critical_category=report.critical_category,
            discrepancy=report.discrepancy,
            template=report.template,
            previous_sha256=report.previous_sha256,
        )


def verify(report: Signed, author: str, previous: Signed | None) -> bool:
    """The stored digest is that of the stored content, and it follows `previous` (the
    version before it, None for the first)."""
    follows = report.previous_sha256 == (previous.sha256 if previous is not None else None)
    return follows and Content.of(report, author).sha256() == report.sha256


def verify_chain(versions: Sequence[tuple[Signed, str]]) -> list[bool]:
    """Each version of a case (oldest first, with its author's code) checked against its
    content and the one before it."""
    checked = []
    previous: Signed | None = None
    for report, author in versions:
        checked.append(verify(report, author, previous))
        previous = report
    return checked
