"""The monthly invoices' activity: the month's invoices of every site (billing.invoicing),
issued by "schedule". Safe to run again: a site already invoiced for the month is skipped."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from temporalio import activity

from billing.invoicing import issue_month, month_end
from garde.db import SessionFactory
from garde.models import Site, utcnow

ISSUER = "schedule"


@dataclass(frozen=True)
class MonthToInvoice:
    month: str  # YYYY-MM
    region_timezone: str  # its year of issue numbers the invoices


@dataclass(frozen=True)
class InvoicesIssued:
    numbers: list[str]
    # The month is not over yet in some site's zone (west of the region's): when it will be.
    pending_until: datetime | None


class Invoicing:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def issue_month_invoices(self, run: MonthToInvoice) -> InvoicesIssued:
        with self._sessions() as s:
            zones = set(s.scalars(select(Site.timezone)))
        now = utcnow()
        later = [end for zone in zones if (end := month_end(run.month, zone)) > now]
        issued = []
        if len(later) < len(zones):
            issued = issue_month(
                self._sessions, run.month, by=ISSUER, region_timezone=run.region_timezone
            )
        return InvoicesIssued([i.number for i in issued], max(later, default=None))
