"""An expert's monthly statement: JSON for machines, PDF and CSV in the expert's language."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from flask import Response, g, jsonify, request
from pydantic import Field, RootModel
from sqlalchemy import select

from billing.documents import document_csv, document_pdf
from billing.invoicing import parse_month
from billing.statement_documents import statement_document
from billing.statements import Statement, Tally, expert_statement
from garde.domain import STAFF, Role
from garde.errors import NotFound
from garde.models import Expert
from garde.validation import Input, validated
from web.access import current_user, roles
from web.api import bp
from web.api.describe import Answer, Reply, operation
from web.api.invoices import DOCUMENTS
from web.case_views import iso


class StatementQuery(Input):
    format: Literal["json", "pdf", "csv"] = "json"


class TallyAnswer(Answer):
    reads: int = Field(description="reads done (a credit note counts none)")
    share_cents: int = Field(description="the expert's share, credit notes taken off")


class EntryAnswer(Answer):
    at: datetime = Field(description="the line's priced instant, or the credit note's issue")
    kind: Literal["read", "cancellation", "credit"]
    case_id: int
    site: str
    modality: str
    band: str = Field(examples=["day", "night", "sunday", "holiday"])
    stat: bool
    share_cents: int = Field(description="negative on a credit note")
    reference: str = Field(description="the credit note's number; empty on a line")


class Tallies(RootModel[dict[str, TallyAnswer]]):
    """By band (day, night, sunday, holiday) or by site code."""


class StatementAnswer(Answer):
    expert: str
    month: str = Field(description="YYYY-MM in the expert's time zone")
    timezone: str
    currency: str
    reads: int
    share_cents: int
    by_band: Tallies
    by_site: Tallies
    entries: list[EntryAnswer]


@bp.get("/experts/<code>/statements/<month>")
@roles(Role.EXPERT, *STAFF)
@operation(
    "billing",
    "An expert's monthly statement (the expert, admin, coordinator)",
    {
        200: Reply(
            "the statement in the format asked for",
            StatementAnswer,
            media=DOCUMENTS,
        )
    },
    query=StatementQuery,
    errors=(404, 409),
    description="""
        The expert's share of every line priced in `month` (YYYY-MM, cut in the expert's own
        time zone) and of every credit note issued in it (negative), with the reads and the
        share by band and by site. The PDF and CSV are in the expert's language. An expert
        reads only their own (another's is a 404); 409 when the month's lines are in several
        currencies.
    """,
)
def get_statement(code: str, month: str) -> Response:
    user = current_user()
    expert = g.db.scalar(select(Expert).where(Expert.code == code))
    if expert is None or (user.role == Role.EXPERT and user.expert_id != expert.id):
        raise NotFound(f"no expert has the code {code}")
    parse_month(month)
    fmt = validated(StatementQuery, request.args).format
    statement = expert_statement(g.db, expert, month)
    if fmt == "json":
        return jsonify(statement_json(statement))
    document = statement_document(statement)
    filename = f"garde-statement-{expert.code}-{month}"
    if fmt == "pdf":
        return Response(
            document_pdf(document),
            mimetype="application/pdf",
            headers={"Content-Disposition": f'attachment; filename="{filename}.pdf"'},
        )
    return Response(
        document_csv(document),
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}.csv"'},
    )


def statement_json(statement: Statement) -> dict[str, object]:
    def tally(t: Tally) -> dict[str, int]:
        return {"reads": t.reads, "share_cents": t.share_cents}

    return {
        "expert": statement.expert,
        "month": statement.month,
        "timezone": statement.timezone,
        "currency": statement.currency,
        "reads": statement.total.reads,
        "share_cents": statement.total.share_cents,
        "by_band": {band: tally(t) for band, t in statement.by_band.items()},
        "by_site": {site: tally(t) for site, t in statement.by_site.items()},
        "entries": [
            {
                "at": iso(e.at),
                "kind": e.kind.value,
                "case_id": e.case_id,
                "site": e.site,
                "modality": e.modality,
                "band": e.band,
                "stat": e.stat,
                "share_cents": e.share_cents,
                "reference": e.reference,
            }
            for e in statement.entries
        ],
    }
