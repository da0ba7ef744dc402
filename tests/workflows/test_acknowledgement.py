"""A report version the site must acknowledge, on the time-skipping server: the callback phone
texted at once and at a third of the deadline, the site's phone called at two thirds, the
coordinators alerted at the deadline, each step on the case's timeline; the acknowledgement
(a key pressed on the site's call, signalled at once or by the reconciler, or a signal
from the web or an SMS) stops the ladder wherever it is.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from garde.domain import AlertKind, EventKind, Priority, ReportKind
from garde.messages import Acknowledgement, ReportDraft, ReportFiled
from garde.models import ReportAcknowledgement, Site, VoiceCall
from garde.reconciler import deliver_site_acknowledgement, pending_site_acknowledgements
from garde.temporal import acknowledgement_workflow_id
from tests.phones import mobile
from tests.workflows.harness import Night, Person, night, seed_region

CALLBACK = "+33471000000"  # the harness's requests all give it


async def _reported(
    n: Night, case_id: int, expert: Person, draft: ReportDraft
) -> tuple[int, ReportAcknowledgement]:
    """The version filed; its acknowledgement row once its workflow has written it."""
    filed: ReportFiled = await n.handle(case_id).execute_update(
        "file_report", draft, result_type=ReportFiled
    )

    def row() -> ReportAcknowledgement | None:
        with n.sessions() as s:
            return s.scalar(
                select(ReportAcknowledgement).where(
                    ReportAcknowledgement.report_id == filed.report_id
                )
            )

    return filed.report_id, await n.eventually(row, "the acknowledgement requested")


def _row(n: Night, report_id: int) -> ReportAcknowledgement:
    with n.sessions() as s:
        return s.scalars(
            select(ReportAcknowledgement).where(ReportAcknowledgement.report_id == report_id)
        ).one()


def _steps(n: Night, case_id: int, report_id: int) -> list[tuple[str, str]]:
    prefix = f"ack-{report_id}-"
    return [(e.kind, e.detail) for e in n.events(case_id) if e.key.startswith(prefix)]


def _texts(n: Night, case_id: int) -> list[str]:
    """What the callback phone was asked to acknowledge for this case (not other notices)."""
    return [m.body for m in n.twilio.to(CALLBACK) if f"OK {case_id}" in m.body]


def test_category_1_escalates_to_the_site_phone_then_the_coordinators_until_a_key_on_a_call(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            phone = mobile()
            with n.sessions.begin() as s:
                s.get_one(Site, region.site_id).phone = phone
            case_id = await n.request(region, Priority.STAT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            draft = ReportDraft(
                alice.id, ReportKind.FINAL, "Findings.", "Impression.", True, critical_category=1
            )
            report_id, row = await _reported(n, case_id, alice, draft)
            assert (row.reason, row.category) == ("critical", 1)
            assert row.due_at - row.requested_at == timedelta(minutes=15)  # the default

            # At once: the callback phone, never the report's words; no "report ready".
            [asked] = await n.eventually(lambda: _texts(n, case_id), "the first SMS")
            assert f"cas {case_id}" in asked and f"OK {case_id}" in asked
            assert "catégorie 1" in asked and "Findings" not in asked
            assert not [m for m in n.twilio.to(CALLBACK) if "disponible" in m.body]

            # A third of 15 minutes: the reminder; not before.
            await n.sleep_until(row.requested_at + timedelta(minutes=4, seconds=50))
            await n.quiet()
            assert len(_texts(n, case_id)) == 1
            await n.sleep_until(row.requested_at + timedelta(minutes=5, seconds=1))
            await n.eventually(
                lambda: [t for t in _texts(n, case_id) if "RAPPEL" in t], "the reminder"
            )

            # Two thirds: the site's phone rings.
            site = Person(region.site_id, region.site_code, phone)
            assert n.calls_to(site) == []
            await n.sleep_until(row.requested_at + timedelta(minutes=10, seconds=1))
            [call] = await n.called(site)

            # The deadline: the coordinators, on the board and by SMS.
            await n.sleep_until(row.requested_at + timedelta(minutes=15, seconds=1))
            [alert] = await n.alerts_raised(case_id, AlertKind.ACK_OVERDUE)
            await n.sms_seen(region.coordinator, f"cas {case_id}")
            # Closing the case does not settle it: the case is final already.
            assert n.case(case_id).status == "final" and alert.resolved_at is None

            # The site picks up the call and presses 1: acknowledged via voice.
            await asyncio.to_thread(n.twilio.voice.pick_up, call)
            said = await asyncio.to_thread(n.twilio.voice.press, call, "1")
            assert said.status_code == 200
            done = await n.eventually(
                lambda: (r := _row(n, report_id)).acknowledged_at and r, "the acknowledgement"
            )
            assert (done.acknowledged_by, done.acknowledged_via) == (phone, "voice")
            await n.eventually(
                lambda: all(a.resolved_at for a in n.alerts(case_id)), "the alert resolved"
            )

            # Nothing more, however long.
            texts = len(_texts(n, case_id))
            await n.sleep(timedelta(hours=2))
            await n.quiet()
            assert len(_texts(n, case_id)) == texts and len(n.calls_to(site)) == 1
            assert _steps(n, case_id, report_id) == [
                (EventKind.ACK_REQUESTED, f"critical category 1, report {report_id}"),
                (EventKind.SITE_TEXTED, "asked"),
                (EventKind.SITE_TEXTED, "reminded"),
                (EventKind.SITE_CALLED, ""),
                (EventKind.COORDINATORS_ALERTED, AlertKind.ACK_OVERDUE),
                (EventKind.ACKNOWLEDGED, f"by {phone} via voice"),
            ]
            handle = n.client.get_workflow_handle(acknowledgement_workflow_id(case_id, report_id))
            assert await handle.result() == "voice"
            await n.record_workflow_history(handle, "acknowledgement_ladder")

    asyncio.run(scenario())


def test_an_acknowledgement_midway_stops_the_ladder_on_the_sites_deadline(
    database_url: str,
) -> None:
    """Category 2 within the site's 30 minutes, no site phone (the call is skipped, and
    said so); acknowledged at 25 minutes (a key the reconciler delivers): no alert at 30. A major discrepancy
    acknowledged at once is texted once, never reminded."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            with n.sessions.begin() as s:
                s.get_one(Site, region.site_id).critical_ack_within_s = {"2": 1800}
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            draft = ReportDraft(
                alice.id, ReportKind.FINAL, "Findings.", "Impression.", True, critical_category=2
            )
            report_id, row = await _reported(n, case_id, alice, draft)
            assert row.due_at - row.requested_at == timedelta(minutes=30)

            await n.sleep_until(row.requested_at + timedelta(minutes=20, seconds=1))
            await n.event_seen(case_id, EventKind.SITE_CALLED)
            handle = n.client.get_workflow_handle(acknowledgement_workflow_id(case_id, report_id))
            await n.sleep_until(row.requested_at + timedelta(minutes=25))
            # 1 pressed on a call to the site while Temporal was away (the key stored, not
            # signalled): the reconciler tells the version's workflow.
            with n.sessions.begin() as s:
                s.add(
                    VoiceCall(
                        case_id=case_id,
                        idempotency_key=f"test-{case_id}-site-call",
                        to_number="+33471999999",
                        from_number="+33700000000",
                        site_id=region.site_id,
                        status="completed",
                        digits="1",
                    )
                )
            [pressed] = [
                p for p in pending_site_acknowledgements(n.sessions) if p.case_id == case_id
            ]
            assert pressed.report_ids == [report_id]
            await deliver_site_acknowledgement(n.client, pressed)
            assert await handle.result() == "voice"
            await n.sleep_until(row.requested_at + timedelta(hours=1))
            await n.quiet()
            assert [a for a in n.alerts(case_id) if a.kind == AlertKind.ACK_OVERDUE] == []
            assert [k for k, _ in _steps(n, case_id, report_id)] == [
                EventKind.ACK_REQUESTED,
                EventKind.SITE_TEXTED,
                EventKind.SITE_TEXTED,
                EventKind.SITE_CALLED,
                EventKind.ACKNOWLEDGED,
            ]
            assert (EventKind.SITE_CALLED, "skipped: no phone") in _steps(n, case_id, report_id)
            done = _row(n, report_id)
            assert (done.acknowledged_by, done.acknowledged_via) == ("+33471999999", "voice")
            assert done.acknowledged_at is not None
            since = done.acknowledged_at - row.requested_at
            # When the reconciler told it, not at a later step (minutes apart); the test
            # server's clock runs on while a loaded machine delivers it.
            assert timedelta(minutes=25) <= since < timedelta(minutes=25, seconds=10)

            # A major discrepancy (a final after a preliminary), urgent: the site's 30
            # minutes too; acknowledged before the reminder, it is never reminded.
            other = await n.request(region, Priority.URGENT)
            await n.offers_made(other, 1)
            await n.accept(other, alice)
            preliminary = ReportDraft(alice.id, ReportKind.PRELIMINARY, "F.", "I.")
            await n.handle(other).execute_update(
                "file_report", preliminary, result_type=ReportFiled
            )
            final = ReportDraft(alice.id, ReportKind.FINAL, "F2.", "I2.", discrepancy="major")
            report_id, row = await _reported(n, other, alice, final)
            assert (row.reason, row.category) == ("discrepancy", 2)
            await n.eventually(
                lambda: [t for t in _texts(n, other) if "discordance majeure" in t],
                "the discrepancy texted",
            )
            handle = n.client.get_workflow_handle(acknowledgement_workflow_id(other, report_id))
            await handle.signal("acknowledge", Acknowledgement("+33471000000", "sms"))
            assert await handle.result() == "sms"
            await n.sleep(timedelta(hours=1))
            await n.quiet()
            assert [t for t in _texts(n, other) if "RAPPEL" in t] == []

    asyncio.run(scenario())
