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
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.errors import NotAuthenticated, NotFound
from garde.models import BillingLine, Case, Offer, SmsMessage
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
