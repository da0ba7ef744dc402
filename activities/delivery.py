"""Activities that push a report version to the site's endpoints: its webhook (the FHIR
bundle, signed) and its MLLP listener (the ORU^R01).

Each attempt is one send, written down as a `ReportDelivery` row whatever it came to, so
that every attempt shows on the case; a failed one then raises and Temporal tries again
(workflows/policy.py DELIVERIES). The site's settings are read at each attempt: a corrected
address is used at once, and a channel the site removed meanwhile ends its delivery.

The coordinators' alert about a channel that has not delivered in time is raised by the
workflow (activities/alerts.py, which also puts it on the case's timeline), and resolved here
once the channel is done.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import select
from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.alerts import resolve_alert
from activities.errors import rows_must_exist
from garde.db import SessionFactory
from garde.domain import AlertKind
from garde.messages import DeliveryStart
from garde.models import Case, Report, ReportDelivery, utcnow
from garde.temporal import delivery_workflow_id
from reports import mllp, webhook
from reports.endpoints import HL7, WEBHOOK, channels
from reports.fhir import report_bundle
from reports.hl7 import oru_r01
from reports.outcome import Outcome

UNDELIVERED = "Undelivered"
REMOVED = "no longer set for the site: not sent, given up"
# The coordinators' alert when a channel has not delivered in time: one kind per channel, so
# that the banner and the SMS name the endpoint.
FAILING = {WEBHOOK: AlertKind.WEBHOOK_FAILING, HL7: AlertKind.HL7_FAILING}


@dataclass(frozen=True)
class ChannelDelivery:
    """One channel's part of a version's delivery."""

    case_id: int
    report_id: int
    channel: str

    @property
    def alert_key(self) -> str:
        """The coordinators' alert about it: once per version and channel."""
        return f"delivery-{self.report_id}-{self.channel}"


class Deliveries:
    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions

    @activity.defn
    def delivery_channels(self, start: DeliveryStart) -> list[str]:
        """Where the version goes: the site's endpoints now."""
        with rows_must_exist(f"case {start.case_id}"), self._sessions() as s:
            return channels(s.get_one(Case, start.case_id).site)

    @activity.defn
    def post_to_webhook(self, start: DeliveryStart) -> None:
        """POST the version's FHIR bundle to the site's webhook, signed with its secret."""

        def prepared(case: Case, report: Report) -> Callable[[], Outcome] | None:
            site = case.site
            if not (site.report_webhook_url and site.report_webhook_secret):
                return None
            url, secret = site.report_webhook_url, site.report_webhook_secret
            body = webhook.bundle_body(report_bundle(case, report))
            delivery_id = delivery_workflow_id(start.case_id, start.report_id)
            return lambda: webhook.post(url, secret, body, delivery_id)

        self._attempt(start, WEBHOOK, prepared)

    @activity.defn
    def send_to_hl7_listener(self, start: DeliveryStart) -> None:
        """Send the version's ORU^R01 to the site's MLLP listener and read its ACK."""

        def prepared(case: Case, report: Report) -> Callable[[], Outcome] | None:
            endpoint = case.site.hl7_endpoint
            if not endpoint:
                return None
            message = oru_r01(case, report)
            return lambda: mllp.send(endpoint, message)

        self._attempt(start, HL7, prepared)

    @activity.defn
    def resolve_delivery_alert(self, part: ChannelDelivery) -> None:
        """The channel is done: the coordinators' alert about it is over, saying how (it took
        the version, or the site removed it)."""
        with self._sessions.begin() as s:
            took = s.scalar(
                select(ReportDelivery.id).where(
                    ReportDelivery.report_id == part.report_id,
                    ReportDelivery.channel == part.channel,
                    ReportDelivery.outcome == "delivered",
                )
            )
            how = "delivered" if took else "removed"
            resolve_alert(s, part.alert_key, FAILING[part.channel], f"{part.channel} {how}")

    def _attempt(
        self,
        start: DeliveryStart,
        channel: str,
        prepare: Callable[[Case, Report], Callable[[], Outcome] | None],
    ) -> None:
        """Read what to send (None: the channel is gone), send it outside any transaction,
        write the attempt down; raise when it failed, so that Temporal tries again."""
        with rows_must_exist(f"report {start.report_id}"), self._sessions() as s:
            send = prepare(s.get_one(Case, start.case_id), s.get_one(Report, start.report_id))
        outcome = send() if send is not None else Outcome(False, REMOVED)
        self._record(start, channel, outcome)
        if send is not None and not outcome.delivered:
            raise ApplicationError(f"{channel}: {outcome.detail}", type=UNDELIVERED)

    def _record(self, start: DeliveryStart, channel: str, outcome: Outcome) -> None:
        attempt = activity.info().attempt
        with self._sessions.begin() as s:
            written = s.scalar(
                select(ReportDelivery.id).where(
                    ReportDelivery.report_id == start.report_id,
                    ReportDelivery.channel == channel,
                    ReportDelivery.attempt == attempt,
                )
            )
            if written is None:  # an activity is safe to run twice
                s.add(
                    ReportDelivery(
                        case_id=start.case_id,
                        report_id=start.report_id,
                        channel=channel,
                        attempt=attempt,
                        at=utcnow(),
                        outcome="delivered" if outcome.delivered else "failed",
                        detail=outcome.detail[:300],
                    )
                )
