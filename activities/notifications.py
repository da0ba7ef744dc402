"""Activities that tell experts about cases by SMS: offers and short notices. No patient data."""

from __future__ import annotations

from temporalio import activity

from activities.sms import SmsPort
from garde.db import SessionFactory
from garde.messages import ExpertNotice
from garde.models import Expert, Offer


def offer_text(site_name: str, modality: str, priority: str, code: str, minutes: int) -> str:
    return (
        f"Garde: {priority.upper()} {modality} read for {site_name}. "
        f"Reply YES {code} to accept or NO {code} to decline ({minutes} min)."
    )


class Notifications:
    def __init__(self, sessions: SessionFactory, sms: SmsPort) -> None:
        self._sessions = sessions
        self._sms = sms

    @activity.defn
    def send_offer_sms(self, offer_id: int) -> None:
        with self._sessions() as s:
            offer = s.get_one(Offer, offer_id)
            minutes = max(1, round((offer.expires_at - offer.sent_at).total_seconds() / 60))
            text = offer_text(
                offer.case.site.name, offer.case.modality, offer.case.priority, offer.code, minutes
            )
            phone = offer.phone
        self._sms.send(phone, text, key=f"offer:{offer_id}")

    @activity.defn
    def notify_expert(self, notice: ExpertNotice) -> None:
        with self._sessions() as s:
            phone = s.get_one(Expert, notice.expert_id).phone
        self._sms.send(
            phone,
            f"Garde: case {notice.case_id} {notice.text}.",
            key=f"case-{notice.case_id}:{notice.key}",
        )
