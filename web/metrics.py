"""Prometheus metrics, counted from the database at scrape time.

Counting from the record (not from in-process counters) gives the same answer from every
web process, however many run behind a load balancer.

Served only to the bearer of GARDE_METRICS_TOKEN (Prometheus: `authorization: {credentials:
...}`); without it set, /metrics does not exist. Never to "whoever comes from loopback":
behind a reverse proxy every request does.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterator

from flask import Blueprint, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from garde.domain import CaseStatus, EventKind
from garde.errors import NotAuthenticated, NotFound
from garde.models import BillingLine, Case, CaseEvent, Offer, Site, SmsMessage
from web import services

bp = Blueprint("metrics", __name__)


class RecordCollector(Collector):
    def __init__(self, db: Session) -> None:
        self._db = db

    def collect(self) -> Iterator[Metric]:
        cases = GaugeMetricFamily(
            "garde_cases", "Cases by status and priority", labels=["status", "priority"]
        )
        for status, priority, count in self._db.execute(
            select(Case.status, Case.priority, func.count()).group_by(Case.status, Case.priority)
        ):
            cases.add_metric([status, priority], count)
        yield cases
        offers = GaugeMetricFamily("garde_offers", "Offers by outcome", labels=["status"])
        for status, count in self._db.execute(
            select(Offer.status, func.count()).group_by(Offer.status)
        ):
            offers.add_metric([status], count)
        yield offers
        sms = GaugeMetricFamily(
            "garde_sms_messages", "SMS by direction and status", labels=["direction", "status"]
        )
        for direction, status, count in self._db.execute(
            select(SmsMessage.direction, SmsMessage.status, func.count()).group_by(
                SmsMessage.direction, SmsMessage.status
            )
        ):
            sms.add_metric([direction, status], count)
        yield sms
        billed = GaugeMetricFamily("garde_billed_reads", "Billing lines recorded")
        billed.add_metric([], self._db.scalar(select(func.count()).select_from(BillingLine)) or 0)
        yield billed
        yield from self._by_site()

    def _by_site(self) -> Iterator[Metric]:
        """What each site was promised and got, as counters: the record only ever grows."""
        yield self._counter(
            "garde_offers_sent",
            "Offers sent to experts, by site",
            select(Site.code, func.count())
            .select_from(Offer)
            .join(Case)
            .join(Site)
            .group_by(Site.code),
        )
        # An expert took the case (web, SMS or phone); a coordinator's reassignment is not one.
        accepted = (CaseEvent.kind == EventKind.STATUS) & (CaseEvent.status == CaseStatus.ACCEPTED)
        yield self._counter(
            "garde_acceptances",
            "Cases accepted by an expert, by site",
            select(Site.code, func.count())
            .select_from(CaseEvent)
            .join(Case)
            .join(Site)
            .where(accepted)
            .group_by(Site.code),
        )
        breaches = CounterMetricFamily(
            "garde_sla_breaches",
            "Service-level deadlines passed, by site and deadline (accept, report)",
            labels=["site", "deadline"],
        )
        for site, deadline, count in self._db.execute(
            select(Site.code, CaseEvent.detail, func.count())
            .select_from(CaseEvent)
            .join(Case)
            .join(Site)
            .where(CaseEvent.kind == EventKind.SLA_BREACH)
            .group_by(Site.code, CaseEvent.detail)
        ):
            breaches.add_metric([site, deadline], count)
        yield breaches
        # Twilio's failed or undelivered; an SMS about no case (a coverage summary) has site "".
        failed = (
            select(func.coalesce(Site.code, ""), func.count())
            .select_from(SmsMessage)
            .outerjoin(Case, SmsMessage.case_id == Case.id)
            .outerjoin(Site, Case.site_id == Site.id)
            .where(SmsMessage.direction == "out", SmsMessage.status.in_(("failed", "undelivered")))
            .group_by(Site.code)
        )
        yield self._counter("garde_sms_failures", "SMS that failed or were not delivered", failed)

    def _counter(
        self, name: str, documentation: str, query: Select[str, int]
    ) -> CounterMetricFamily:
        counter = CounterMetricFamily(name, documentation, labels=["site"])
        for site, count in self._db.execute(query):
            counter.add_metric([site], count)
        return counter


@bp.get("/metrics")
def metrics() -> Response:
    expected = services().settings.metrics_token
    if expected is None:
        raise NotFound()
    given = request.headers.get("Authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(given.encode(), expected.encode()):
        raise NotAuthenticated("the metrics token is missing or wrong")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(RecordCollector(g.db))
    return Response(generate_latest(registry), mimetype=CONTENT_TYPE_LATEST)
