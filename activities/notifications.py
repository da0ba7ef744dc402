"""Activities that text people about cases: offers, notices to experts, alerts to coordinators.

The workflow names a kind of message; the words are chosen here, and never carry patient
data (a case is named by its number, its site, modality and priority). A phone the
provider refuses for good fails the activity at once as non-retryable (`Undeliverable`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select
from temporalio import activity

from activities.errors import rows_must_exist, undeliverable
from activities.sms import Sms, SmsPort, Undeliverable
from garde.db import SessionFactory
from garde.domain import AlertKind, NoticeKind
from garde.messages import CoordinatorNotice, ExpertNotice, PersonText
from garde.models import Alert, Case, Coordinator, Expert, Offer
from garde.texts import render


def offer_text(site_name: str, modality: str, priority: str, code: str, minutes: int) -> str:
    return (
        f"Garde: {priority.upper()} {modality} read for {site_name}. "
        f"Reply YES {code} to accept or NO {code} to decline ({minutes} min)."
    )


def notice_text(kind: NoticeKind, case: Case) -> str:
    n = case.id
    due = case.requested_at + timedelta(seconds=case.report_within_s)
    texts: dict[NoticeKind, Callable[[], str]] = {
        NoticeKind.YOURS: lambda: f"Garde: case {n} is yours. Open Garde to read it.",
        NoticeKind.TAKEN: lambda: f"Garde: case {n} was already taken or closed.",
        NoticeKind.NOT_ELIGIBLE: lambda: (
            f"Garde: case {n} was not given to you: you may no longer take it "
            "(off duty, or at your case limit)."
        ),
        NoticeKind.WITHDRAWN: lambda: (
            f"Garde: the offer of case {n} is withdrawn. No need to answer."
        ),
        NoticeKind.CANCELLED: lambda: f"Garde: case {n} was cancelled by the site.",
        NoticeKind.REASSIGNED: lambda: (
            f"Garde: case {n} was reassigned by a coordinator; you no longer hold it."
        ),
        NoticeKind.REMINDER: lambda: (
            f"Garde: the report of case {n} is due at "
            f"{due.astimezone(ZoneInfo(case.site.timezone)):%H:%M} ({case.site.code} time)."
        ),
    }
    return texts[kind]()


def alert_text(kind: AlertKind, case: Case, expert: Expert | None) -> str:
    what = f"{case.priority.upper()} {case.modality} case {case.id} ({case.site.code})"
    texts: dict[AlertKind, str] = {
        AlertKind.UNASSIGNED: f"Garde alert: {what} is still unassigned after the whole ladder.",
        AlertKind.NOBODY_ELIGIBLE: f"Garde alert: nobody on duty may read {what}.",
        AlertKind.ACCEPT_BREACH: f"Garde alert: {what} passed its accept deadline.",
        AlertKind.REPORT_BREACH: f"Garde alert: {what} passed its report deadline.",
        AlertKind.UNREACHABLE: (
            f"Garde alert: {expert.code if expert else 'an expert'} could not be reached "
            f"by SMS for {what}."
        ),
        AlertKind.STUCK: f"Garde alert: {what} cannot save its progress; it keeps retrying.",
    }
    return texts[kind]


class Notifications:
    def __init__(self, sessions: SessionFactory, sms: SmsPort) -> None:
        self._sessions = sessions
        self._sms = sms

    @activity.defn
    def send_offer_sms(self, offer_id: int) -> None:
        with rows_must_exist(f"offer {offer_id}"), self._sessions() as s:
            offer = s.get_one(Offer, offer_id)
            minutes = max(1, round((offer.expires_at - offer.sent_at).total_seconds() / 60))
            text = offer_text(
                offer.case.site.name, offer.case.modality, offer.case.priority, offer.code, minutes
            )
            sms = Sms(offer.phone, text, f"offer:{offer_id}", "offer", None, offer.case_id)
        with _refusals_are_final():
            self._sms.send(sms)

    @activity.defn
    def notify_expert(self, notice: ExpertNotice) -> None:
        with rows_must_exist(f"case {notice.case_id}"), self._sessions() as s:
            phone = s.get_one(Expert, notice.expert_id).phone
            text = notice_text(notice.kind, s.get_one(Case, notice.case_id))
        key = f"case-{notice.case_id}:{notice.key}"
        with _refusals_are_final():
            self._sms.send(Sms(phone, text, key, notice.kind, None, notice.case_id))

    @activity.defn
    def notify_coordinator(self, notice: CoordinatorNotice) -> None:
        with rows_must_exist(f"case {notice.case_id}"), self._sessions() as s:
            coordinator = s.get_one(Coordinator, notice.coordinator_id)
            alert = s.scalar(select(Alert).where(Alert.key == notice.alert_key))
            text = alert_text(
                notice.kind, s.get_one(Case, notice.case_id), alert.expert if alert else None
            )
            phone = coordinator.phone
        key = f"{notice.alert_key}:to:{notice.coordinator_id}"
        with _refusals_are_final():
            self._sms.send(Sms(phone, text, key, f"alert_{notice.kind}", None, notice.case_id))

    @activity.defn
    def text_person(self, text: PersonText) -> None:
        who = "expert" if text.expert_id is not None else "coordinator"
        with rows_must_exist(f"{who} of {text.key}"), self._sessions() as s:
            person: Expert | Coordinator = (
                s.get_one(Expert, text.expert_id)
                if text.expert_id is not None
                else s.get_one(Coordinator, text.coordinator_id)
            )
            body = render(text.kind, person.language, **text.params)
            sms = Sms(person.phone, body, text.key, text.kind, person.language, text.case_id)
        with _refusals_are_final():
            self._sms.send(sms)


@contextmanager
def _refusals_are_final() -> Iterator[None]:
    try:
        yield
    except Undeliverable as e:
        raise undeliverable(str(e)) from e
