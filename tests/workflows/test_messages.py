"""What people read, through the real path (the case workflow, its activities, the real
`twilio` client, the Twilio double): each in their own language; the site's callback phone
told who took its case and when the report is expected, then that the report is there (or
has a critical finding to acknowledge), with the case's page and never a patient field."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, update

from activities.notifications import report_due
from garde.domain import Priority
from garde.messages import Reassignment
from garde.models import Case, Coordinator, Expert, Site, SmsMessage
from tests.conftest import on_sqlite_only
from tests.phones import mobile
from tests.twilio_double import SentMessage
from tests.workflows.harness import Night, Person, night, seed_region


@pytest.fixture(autouse=True)
def _once(database_url: str) -> None:
    on_sqlite_only(
        database_url,
        "the texts' choice; SMS are sent and recorded on both databases by the real-stack tests",
    )


def page(message: SentMessage, path: str) -> str:
    """A page of Garde at the public URL the message was sent with (its status callback)."""
    assert message.status_callback is not None
    return message.status_callback.removesuffix("/sms/status") + path


def speaks(
    n: Night, model: type[Expert] | type[Coordinator] | type[Site], id_: int, lang: str
) -> None:
    with n.sessions.begin() as s:
        s.execute(update(model).where(model.id == id_).values(language=lang))


def recorded(n: Night, case_id: int, kind: str) -> list[SmsMessage]:
    with n.sessions() as s:
        return list(
            s.scalars(
                select(SmsMessage).where(SmsMessage.case_id == case_id, SmsMessage.kind == kind)
            )
        )


async def site_told(n: Night, case_id: int, containing: str, count: int = 1) -> list[str]:
    """The texts to the case's callback phone about this case (its page ends each one)."""
    case = n.case(case_id)

    def about_case() -> list[str]:
        return [
            m.body
            for m in n.twilio.to(case.callback_phone)
            if m.body.endswith(page(m, f"/site/cases/{case_id}"))
        ]

    found = await n.eventually(
        lambda: (b := [t for t in about_case() if containing in t]) and len(b) >= count and b,
        f"{count} texts to the site of case {case_id} containing {containing!r}",
    )
    for body in about_case():
        for field in (
            case.accession_number,
            case.clinical_question,
            case.study_description,
            case.requesting_physician,
        ):
            assert field not in body, f"a patient field in {body!r}"
    return found


def test_each_expert_reads_the_offer_in_their_language(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            speaks(n, Expert, bruno.id, "en")
            case_id = await n.request(region, Priority.STAT)

            [first] = await n.offers_made(case_id, 1)
            [offer] = await n.sms_seen(alice, f"OUI {first.code} pour accepter")
            assert "URGENCE VITALE CT" in offer.body and region.site_code in offer.body
            assert "Reply" not in offer.body

            await n.answer_sms(case_id, first, accept=False)
            second = (await n.offers_made(case_id, 2))[1]
            [offer] = await n.sms_seen(bruno, f"Reply YES {second.code} to accept")
            assert "STAT CT" in offer.body and "OUI" not in offer.body
            rows = recorded(n, case_id, "offer")
            assert sorted((r.to_number, r.language) for r in rows) == sorted(
                [(alice.phone, "fr"), (bruno.phone, "en")]
            )

    asyncio.run(scenario())


def test_the_site_hears_who_accepted_on_the_web_then_that_the_report_is_there(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)

            await n.accept(case_id, alice)
            due = report_due(n.case(case_id))
            [text] = await site_told(n, case_id, "accepté par Dr Alice")
            assert f"Compte rendu attendu avant {due}." in text
            assert n.sms_to(alice, "est à vous") == []  # she took it on the web: no notice

            # A coordinator gives the case to Bruno: the site hears of him too.
            await n.handle(case_id).execute_update(
                "reassign", Reassignment(bruno.id, "coordinator", force=True)
            )
            await site_told(n, case_id, "accepté par Dr Bruno")

            await n.report(case_id, bruno, "final")
            [ready] = await site_told(n, case_id, "est disponible")
            assert ready.startswith(f"Garde: le compte rendu du cas {case_id} (CT)")
            [row] = recorded(n, case_id, "site_report_ready")
            assert (row.language, row.to_number) == ("fr", n.case(case_id).callback_phone)
            assert len(recorded(n, case_id, "site_accepted")) == 2
            assert recorded(n, case_id, "site_critical") == []
            await n.record_history(case_id, "site_notices")

    asyncio.run(scenario())


def test_the_site_hears_in_english_of_an_sms_yes_and_of_a_critical_finding(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            speaks(n, Site, region.site_id, "en")
            case_id = await n.request(region, Priority.STAT)
            [offer] = await n.offers_made(case_id, 1)
            await n.sms_seen(alice, f"OUI {offer.code}")  # the expert's language, not the site's

            await n.answer_sms(case_id, offer, accept=True)
            await n.sms_seen(alice, "est à vous")
            [text] = await site_told(n, case_id, "accepted by Dr Alice")
            assert f"Report expected by {report_due(n.case(case_id))}." in text

            # A critical final: the site is asked to acknowledge it (workflows/acknowledgement.py),
            # not told that the report is ready.
            await n.report(case_id, alice, "final", critical=True)
            [asked] = await site_told(n, case_id, "critical finding (category 1)")
            assert f"Acknowledge: reply OK {case_id}" in asked
            await n.quiet()
            assert recorded(n, case_id, "site_report_ready") == []
            [row] = recorded(n, case_id, "site_ack_request")
            assert row.language == "en"

    asyncio.run(scenario())


def test_coordinators_are_alerted_each_in_their_language(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=(), backup=(), off_duty=("alice",))
            with n.sessions.begin() as s:
                english = Coordinator(
                    code=f"{region.coordinator.code}-EN",
                    name="Night desk",
                    phone=mobile(),
                    language="en",
                )
                s.add(english)
                s.flush()
                en = Person(english.id, english.code, english.phone)
            case_id = await n.request(region, Priority.STAT)

            [fr_text] = await n.sms_seen(region.coordinator, "personne de garde ne peut lire")
            [en_text] = await n.sms_seen(en, "nobody on duty may read")
            for sent in (fr_text, en_text):
                assert f" {case_id} ({region.site_code})" in sent.body
                assert sent.body.endswith(page(sent, f"/coordinator/cases/{case_id}"))
            assert "URGENCE VITALE CT cas" in fr_text.body and "STAT CT case" in en_text.body
            with n.sessions() as s:
                case = s.get_one(Case, case_id)
                assert case.clinical_question not in fr_text.body + en_text.body

    asyncio.run(scenario())
