"""What people do to a case: reassign (forced or not), release, cancel, and the reports."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sqlalchemy import update
from temporalio.client import WorkflowHandle

from garde.domain import CaseStatus, EventKind, OfferStatus, Priority, ReportKind
from garde.messages import Cancellation, Decline, PriorityChange, Reassignment, Release
from garde.models import Case
from garde.service_levels import DEFAULT_LADDER, ServiceLevel
from tests.workflows.harness import Night, night, seed_region


def test_reassign_to_an_eligible_expert_tells_the_previous_holder_and_bills_the_new_one(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            await n.report(case_id, alice, "preliminary")

            await n.handle(case_id).execute_update(
                "reassign", Reassignment(bruno.id, "coord-1", "Alice is unwell")
            )
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, bruno.id)
            await n.sms_seen(alice, "a été réattribué")
            await n.sms_seen(bruno, "est à vous")
            event = await n.event_seen(case_id, EventKind.REASSIGNED)
            assert (event.expert_id, event.detail) == (bruno.id, "by coord-1")

            # The case is Bruno's now: Alice cannot file; Bruno's final report is billed to him.
            refused = await n.refused(n.report(case_id, alice, "final"))
            assert refused.type == "NotHolder"
            await n.report(case_id, bruno, "final")
            [line] = await n.eventually(lambda: n.billing_lines(case_id), "the billing line")
            assert line.expert_id == bruno.id
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.FINAL, bruno.id)

    asyncio.run(scenario())


def test_reassign_to_an_ineligible_expert_is_refused_unless_forced(database_url: str) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(
                n.sessions, primary=("alice",), backup=("bruno",), off_duty=("dora",)
            )
            alice, dora = region.experts["alice"], region.experts["dora"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            handle = n.handle(case_id)

            refused = await n.refused(
                handle.execute_update("reassign", Reassignment(dora.id, "coord-1", "she knows it"))
            )
            assert refused.type == "NotEligible"
            view = await n.agrees(case_id)
            assert view.holder == alice.id
            assert n.sms_to(alice, "a été réattribué") == []

            await handle.execute_update(
                "reassign", Reassignment(dora.id, "coord-1", "she knows it", force=True)
            )
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, dora.id)
            event = await n.event_seen(case_id, EventKind.REASSIGNED)
            assert (event.expert_id, event.detail) == (dora.id, "by coord-1 (forced)")
            await n.sms_seen(alice, "a été réattribué")
            await n.sms_seen(dora, "est à vous")

    asyncio.run(scenario())


def test_release_sends_the_case_back_to_the_ladder_without_the_releaser(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            await n.agrees(case_id)

            await n.handle(case_id).execute_update("release", Release(alice.id))
            offers = await n.offers_made(case_id, 2)
            assert (offers[1].expert_id, offers[1].step, offers[1].round) == (
                bruno.id,
                "backup",
                2,
            )
            await n.event_seen(case_id, EventKind.RELEASED)
            view = await n.offers_in_hand(case_id, [offers[1].id])
            assert view.holder is None
            assert n.case(case_id).assigned_expert_id is None
            await n.record_history(case_id, "release")

    asyncio.run(scenario())


def test_cancel_during_a_broadcast_withdraws_every_offer_and_tells_each_expert(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(
                n.sessions,
                primary=("alice", "carla"),
                backup=("bruno",),
                escalation={"urgent": ["broadcast", "coordinator"]},
            )
            experts = list(region.experts.values())
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 3)
            for expert in experts:
                await n.sms_seen(expert, "Répondez OUI")

            handle = n.handle(case_id)
            await handle.signal("cancel", Cancellation("site"))
            assert await handle.result() == CaseStatus.CANCELLED
            for expert in experts:
                await n.sms_seen(expert, "est retirée")
            assert {o.status for o in n.offers(case_id)} == {OfferStatus.WITHDRAWN}
            view = await n.agrees(case_id)
            assert (view.status, view.holder, view.open_offers) == (CaseStatus.CANCELLED, None, [])
            assert n.case(case_id).closed_at is not None
            await n.record_history(case_id, "cancel")

    asyncio.run(scenario())


def test_a_cancel_after_a_preliminary_report_is_ignored_and_the_final_report_follows(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            await n.report(case_id, alice, "preliminary")

            # What a site's cancel would send, had it passed the web's refusal (409).
            await n.handle(case_id).signal("cancel", Cancellation("site"))
            filed = await n.report(case_id, alice, "final")
            assert filed.status == CaseStatus.FINAL
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.FINAL, alice.id)
            assert CaseStatus.CANCELLED not in {e.status for e in n.events(case_id)}
            [line] = await n.eventually(lambda: n.billing_lines(case_id), "the billing line")
            assert line.expert_id == alice.id
            await n.record_history(case_id, "cancel_after_report")

    asyncio.run(scenario())


def test_preliminary_then_final_then_addendum_bills_the_final_reporter_once(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)

            filed = await n.report(case_id, alice, "preliminary")
            assert filed.status == CaseStatus.PRELIMINARY
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.PRELIMINARY, alice.id)
            assert [r.kind for r in n.reports(case_id)] == [ReportKind.PRELIMINARY]
            assert n.billing_lines(case_id) == []

            # While the final report is filed, the record never says final without it.
            seen_final_without_report = False

            async def watch() -> None:
                nonlocal seen_final_without_report
                while True:
                    if n.case(case_id).status == CaseStatus.FINAL:
                        kinds = [r.kind for r in n.reports(case_id)]
                        seen_final_without_report |= ReportKind.FINAL not in kinds
                        return
                    await asyncio.sleep(0.005)

            watcher = asyncio.create_task(watch())
            filed = await n.report(case_id, alice, "final")
            assert filed.status == CaseStatus.FINAL
            await asyncio.wait_for(watcher, 20)
            assert not seen_final_without_report
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.FINAL, alice.id)
            final = next(r for r in n.reports(case_id) if r.id == filed.report_id)
            assert final.kind == ReportKind.FINAL
            final_event = next(e for e in n.events(case_id) if e.status == CaseStatus.FINAL)
            assert final.created_at <= final_event.at
            [line] = await n.eventually(lambda: n.billing_lines(case_id), "the billing line")
            assert line.expert_id == alice.id

            filed = await n.report(case_id, alice, "addendum")
            assert filed.status == CaseStatus.FINAL
            assert [r.kind for r in n.reports(case_id)] == [
                ReportKind.PRELIMINARY,
                ReportKind.FINAL,
                ReportKind.ADDENDUM,
            ]
            await n.event_seen(case_id, EventKind.REPORT, "addendum")
            view = await n.agrees(case_id)
            assert view.status == CaseStatus.FINAL
            assert len(n.billing_lines(case_id)) == 1
            await n.record_history(case_id, "preliminary_final_addendum")

    asyncio.run(scenario())


def test_each_report_version_is_stored_with_its_record_in_one_step(database_url: str) -> None:
    """A version, the case record it makes and the site's endpoints are one transaction: a
    report update runs one local activity where it ran three (bench/README.md, "Profile")."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            await accepted_and_offers_closed(n, case_id)
            for kind, status in (
                ("preliminary", CaseStatus.PRELIMINARY),
                ("final", CaseStatus.FINAL),
                ("addendum", CaseStatus.FINAL),
            ):
                before = len(await local_activities(n.handle(case_id)))
                filed = await n.report(case_id, alice, kind)
                assert filed.status == status
                view = await n.agrees(case_id)
                assert (view.status, n.case(case_id).status) == (status, status)
                steps = (await local_activities(n.handle(case_id)))[before:]
                assert steps.count("file_report") == 1, (kind, steps)
                assert not {"record_report", "record_case", "delivery_channels"} & set(steps)

            timeline = [(e.kind, e.status) for e in n.events(case_id) if e.seq > 1]
            assert timeline == [
                (EventKind.STATUS, CaseStatus.ACCEPTED),
                (EventKind.STATUS, CaseStatus.PRELIMINARY),
                (EventKind.STATUS, CaseStatus.FINAL),
                (EventKind.REPORT, None),
            ]
            case = n.case(case_id)
            assert case.reported_at is not None and case.closed_at == case.reported_at
            assert [r.kind for r in n.reports(case_id)] == [
                ReportKind.PRELIMINARY,
                ReportKind.FINAL,
                ReportKind.ADDENDUM,
            ]

    asyncio.run(scenario())


async def accepted_and_offers_closed(n: Night, case_id: int) -> None:
    """The acceptance's aftermath, which runs after its update returned: the ladder closes
    the case's offers (under load, this came in the middle of the next steps)."""
    for _ in range(400):
        if "close_offers" in await local_activities(n.handle(case_id)):
            return
        await asyncio.sleep(0.05)
    raise AssertionError("the offers were never closed after the acceptance")


async def local_activities(handle: WorkflowHandle[Any, Any]) -> list[str]:
    """The local activities a workflow's history has run, in order."""
    history = await handle.fetch_history()
    return [
        json.loads(event.marker_recorded_event_attributes.details["data"].payloads[0].data)[
            "activity_type"
        ]
        for event in history.events
        if event.marker_recorded_event_attributes.marker_name == "core_local_activity"
    ]


def test_a_write_that_comes_while_a_report_is_stored_does_not_leave_the_record_behind(
    database_url: str,
) -> None:
    """The record a report version is stored with is numbered before another write that
    comes meanwhile (here a priority change, taken in the same workflow task): that write
    has the status before the version, and the workflow writes the case again after it."""

    async def scenario() -> None:
        async with night(database_url) as n:
            region = seed_region(n.sessions, primary=("alice",), backup=("bruno",))
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            await n.agrees(case_id)
            await n.quiet()
            handle = n.handle(case_id)
            stat = ServiceLevel(offer_timeout_s=180, accept_within_s=600, report_within_s=1800)
            change = PriorityChange(Priority.STAT, stat, list(DEFAULT_LADDER), "coord-1")

            # The case row is locked while the workflow writes a decline: its task stays open,
            # and the report and the priority change both come to the next one.
            with n.sessions() as lock:
                lock.execute(update(Case).where(Case.id == case_id).values(priority=Case.priority))
                await handle.signal("decline", Decline(bruno.id, "busy"))
                await n.quiet()
                report = asyncio.create_task(n.report(case_id, alice, "preliminary"))
                await asyncio.sleep(0.3)
                changed = asyncio.create_task(handle.execute_update("change_priority", change))
                await n.quiet()
                lock.rollback()
            assert (await report).status == CaseStatus.PRELIMINARY
            await changed

            view = await n.agrees(case_id)
            case = n.case(case_id)
            assert (view.status, case.status, case.priority) == (
                CaseStatus.PRELIMINARY,
                CaseStatus.PRELIMINARY,
                Priority.STAT,
            )

    asyncio.run(scenario())
