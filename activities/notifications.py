"""Activities that text people about cases: offers, notices to experts, alerts to
coordinators, notices to the site's callback phone.

The workflow names a kind of message; the words are the templates of `garde.texts`, in the
recipient's language, and never carry patient data (a case is named by its number, its
site's code, modality and priority; a link goes to its page, behind the login). A phone the
provider refuses for good fails the activity at once as non-retryable (`Undeliverable`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import select
from temporalio import activity

from activities.errors import rows_must_exist, undeliverable
from activities.links import Links
from activities.sms import Sms, SmsPort, Undeliverable
from garde.db import SessionFactory
from garde.domain import AlertKind, CaseStatus, Role
from garde.messages import (
    TEST_MESSAGE,
    CoordinatorNotice,
    ExpertNotice,
    PersonText,
    SiteNotice,
)
from garde.models import Alert, Case, Coordinator, Expert, Offer, ReportAcknowledgement
from garde.reachability import mark_reachable, person_to_text
from garde.service_levels import deadlines
from garde.texts import language_of, local_time, render


def case_params(case: Case, link: str) -> dict[str, Any]:
    """What a text may say of a case: its number, its site's code (short: one segment), its
    modality, priority and subspecialty, whether it asks for a validation (régulation), and
    its page."""
    return {
        "number": case.id,
        "site": case.site.code,
        "modality": case.modality,
        "priority": case.priority,
        "subspecialty": case.subspecialty or "",
        "to_validate": case.status == CaseStatus.TO_VALIDATE,
        "link": link,
    }


def report_due(case: Case) -> str:
    """When the report is due (a validation, while the case waits for one), on the site's
    clock, with the day when not the request's."""
    promised = deadlines(case)
    due = promised["validate" if "validate" in promised and not case.validated_at else "report"]
    return local_time(due.due, case.site.timezone, case.requested_at)


class Notifications:
    def __init__(self, sessions: SessionFactory, sms: SmsPort, links: Links) -> None:
        self._sessions = sessions
        self._sms = sms
        self._links = links

    @activity.defn
    def send_offer_sms(self, offer_id: int) -> None:
        """An expert Garde may not text (SMS off, or a STOP or refusal since) gets no SMS:
        the offer stays open on the web for its window, as routing expects."""
        with rows_must_exist(f"offer {offer_id}"), self._sessions() as s:
            offer = s.get_one(Offer, offer_id)
            if not offer.expert.textable:
                return
            minutes = max(1, round((offer.expires_at - offer.sent_at).total_seconds() / 60))
            language = language_of(offer.expert.language)
            params = case_params(offer.case, self._links.case(Role.EXPERT, offer.case_id))
            text = render("offer", language, code=offer.code, minutes=minutes, **params)
            sms = Sms(offer.phone, text, f"offer:{offer_id}", "offer", language, offer.case_id)
        with _refusals_are_final():
            self._sms.send(sms)

    @activity.defn
    def notify_expert(self, notice: ExpertNotice) -> None:
        with rows_must_exist(f"case {notice.case_id}"), self._sessions() as s:
            expert = s.get_one(Expert, notice.expert_id)
            if not expert.textable:
                return  # they read it on the web
            case = s.get_one(Case, notice.case_id)
            language = language_of(expert.language)
            params = case_params(case, self._links.case(Role.EXPERT, case.id))
            text = render(notice.kind, language, due=report_due(case), **params)
            key = f"case-{case.id}:{notice.key}"
            sms = Sms(expert.phone, text, key, notice.kind, language, case.id)
        with _refusals_are_final():
            self._sms.send(sms)

    @activity.defn
    def notify_coordinator(self, notice: CoordinatorNotice) -> None:
        with rows_must_exist(f"case {notice.case_id}"), self._sessions() as s:
            coordinator = s.get_one(Coordinator, notice.coordinator_id)
            alert = s.scalar(select(Alert).where(Alert.key == notice.alert_key))
            expert = alert.expert if alert else None
            case = s.get_one(Case, notice.case_id)
            language, kind = language_of(coordinator.language), f"alert_{notice.kind}"
            # What the site has not acknowledged, for an overdue acknowledgement's alert.
            waiting = (
                s.scalar(
                    select(ReportAcknowledgement.reason)
                    .where(
                        ReportAcknowledgement.case_id == case.id,
                        ReportAcknowledgement.acknowledged_at.is_(None),
                    )
                    .order_by(ReportAcknowledgement.requested_at)
                    .limit(1)
                )
                if notice.kind == AlertKind.ACK_OVERDUE
                else None
            )
            text = render(
                kind,
                language,
                expert=expert.name if expert else "",
                expert_code=expert.code if expert else "",
                reason=waiting or "critical",
                **case_params(case, self._links.case(Role.COORDINATOR, case.id)),
            )
            key = f"{notice.alert_key}:to:{notice.coordinator_id}"
            sms = Sms(coordinator.phone, text, key, kind, language, case.id)
        with _refusals_are_final():
            self._sms.send(sms)

    @activity.defn
    def notify_site(self, notice: SiteNotice) -> None:
        """To the case's callback phone, in the site's language: who took the case and when
        the report is expected, that the final report is there, or that a version waits for
        its acknowledgement (its category and reason, never its words)."""
        with rows_must_exist(f"case {notice.case_id}"), self._sessions() as s:
            case = s.get_one(Case, notice.case_id)
            expert = s.get_one(Expert, notice.expert_id) if notice.expert_id else None
            language, kind = language_of(case.site.language), f"site_{notice.kind}"
            text = render(
                kind,
                language,
                expert=expert.name if expert else "",
                due=report_due(case),
                category=notice.category,
                reason=notice.reason,
                protocol=case.protocol.name if case.protocol else "",
                **case_params(case, self._links.case(Role.SITE, case.id)),
            )
            key = f"case-{case.id}:{notice.key}"
            sms = Sms(case.callback_phone, text, key, kind, language, case.id)
        with _refusals_are_final():
            self._sms.send(sms)

    @activity.defn
    def text_person(self, text: PersonText) -> None:
        who = "expert" if text.expert_id is not None else "coordinator"
        with rows_must_exist(f"{who} of {text.key}"), self._sessions() as s:
            person = person_to_text(s, text.expert_id, text.coordinator_id)
            body = render(text.kind, person.language, **text.params)
            sms = Sms(person.phone, body, text.key, text.kind, person.language, text.case_id)
        with _refusals_are_final():
            self._sms.send(sms)
        if text.kind == TEST_MESSAGE:
            # Twilio took it (or the outbox kept it): the phone is reachable again, unless
            # its owner said STOP.
            with self._sessions.begin() as s:
                mark_reachable(s, sms.to)


@contextmanager
def _refusals_are_final() -> Iterator[None]:
    try:
        yield
    except Undeliverable as e:
        raise undeliverable(str(e)) from e
