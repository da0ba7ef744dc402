"""Régulation on the time-skipping server: the request is validated before the scan by an
expert from the ladder (a protocol, or a refusal with its reason), the site told at once;
the scan sends it to the validating expert's reading; the validation has its own deadline,
reminder and breach alert, and the report's deadline counts from the scan."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select, update

from garde.domain import AlertKind, CaseStatus, EventKind, Priority
from garde.messages import Refusal, ScanDone, Validation
from garde.models import Protocol, Site
from tests.conftest import on_sqlite_only
from tests.workflows.harness import Night, Person, Region, night, seed_region

MINUTE = timedelta(minutes=1)
SECOND = timedelta(seconds=1)
# Every request of the harness gives this callback phone.
SITE_PHONE = Person(0, "site", "+33471000000")


def regulated(n: Night, reroute_after_scan: bool = False, **seed: object) -> Region:
    region = seed_region(n.sessions, **seed)  # type: ignore[arg-type]
    with n.sessions.begin() as s:
        s.execute(
            update(Site)
            .where(Site.id == region.site_id)
            .values(regulation=True, reroute_after_scan=reroute_after_scan)
        )
    return region


def protocol_id(n: Night, code: str) -> int:
    with n.sessions() as s:
        found = s.scalar(select(Protocol.id).where(Protocol.code == code))
        assert found is not None, f"the library lacks {code}"
        return found


def test_validated_with_a_protocol_the_site_told_then_scanned_and_read_by_the_same_expert(
    database_url: str,
) -> None:
    async def scenario() -> None:
        async with night(database_url) as n:
            region = regulated(n)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            [offer] = await n.offers_made(case_id, 1)
            assert offer.expert_id == alice.id
            await n.sms_seen(alice, "demande à valider")
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.TO_VALIDATE, None)

            await n.accept(case_id, alice)
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.TO_VALIDATE, alice.id)
            # Nothing to scan before a protocol, nor a report to file.
            early = await n.refused(n.handle(case_id).execute_update("scanned", ScanDone("site")))
            assert early.type == "NotValidated"

            ct_head = protocol_id(n, "CT-HEAD-NC")
            await n.handle(case_id).execute_update(
                "validate", Validation(alice.id, ct_head, "thin slices")
            )
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.VALIDATED, alice.id)
            case = n.case(case_id)
            assert (case.protocol_id, case.validated_by_id) == (ct_head, alice.id)
            assert case.validation_note == "thin slices" and case.validated_at is not None
            [told] = await n.sms_seen(SITE_PHONE, f"cas {case_id} valid")
            assert "CT head without contrast" in told.body
            await n.event_seen(case_id, EventKind.VALIDATED)

            # A second decision is refused: the indication is decided.
            again = await n.refused(
                n.handle(case_id).execute_update("refuse", Refusal(alice.id, "changed my mind"))
            )
            assert again.type == "NotToValidate"

            await n.handle(case_id).execute_update("scanned", ScanDone("site"))
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.ACCEPTED, alice.id)
            assert n.case(case_id).scanned_at is not None
            await n.event_seen(case_id, EventKind.SCANNED, "site")
            await n.sms_seen(alice, f"cas {case_id} (CT, {region.site_code}) acquis")
            # Said again: nothing changes.
            await n.handle(case_id).execute_update("scanned", ScanDone("site"))
            assert len([e for e in n.events(case_id) if e.kind == EventKind.SCANNED]) == 1

            await n.report(case_id, alice)
            view = await n.agrees(case_id)
            assert view.status == CaseStatus.FINAL
            assert await n.eventually(lambda: n.billing_lines(case_id), "a billing line")
            await n.record_history(case_id, "regulation_validated_scanned_read")

    asyncio.run(scenario())


def test_refused_with_a_reason_ends_the_case_and_tells_the_site(database_url: str) -> None:
    on_sqlite_only(database_url, "the workflow's refusal; its record is tested on both by the API")

    async def scenario() -> None:
        async with night(database_url) as n:
            region = regulated(n)
            alice, bruno = region.experts["alice"], region.experts["bruno"]
            case_id = await n.request(region, Priority.STAT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)

            stranger = await n.refused(
                n.handle(case_id).execute_update("refuse", Refusal(bruno.id, "no"))
            )
            assert stranger.type == "NotHolder"
            blank = await n.refused(
                n.handle(case_id).execute_update("refuse", Refusal(alice.id, "  "))
            )
            assert blank.type == "InvalidInput"

            reason = "Indication not justified: MRI tomorrow"
            await n.handle(case_id).execute_update("refuse", Refusal(alice.id, reason))
            view = await n.agrees(case_id)
            assert (view.status, view.holder) == (CaseStatus.REFUSED, alice.id)
            case = n.case(case_id)
            assert case.refusal_reason == reason and case.closed_at is not None
            [told] = await n.sms_seen(SITE_PHONE, f"cas {case_id} (CT) refus")
            assert reason not in told.body  # the reason is on the case's page, not in an SMS
            await n.event_seen(case_id, EventKind.REFUSED)
            # The case is over: its workflow ended there, nothing billed.
            assert await n.handle(case_id).result() == CaseStatus.REFUSED
            assert n.billing_lines(case_id) == []
            await n.record_history(case_id, "regulation_refused")

    asyncio.run(scenario())


def test_validation_deadline_reminds_then_breaches_and_a_validation_resolves_the_alert(
    database_url: str,
) -> None:
    on_sqlite_only(database_url, "the workflow's timers, whatever stores the case")

    async def scenario() -> None:
        async with night(database_url) as n:
            # Urgent: validate within 10 minutes; accept within 20; report within 60 of the scan.
            region = regulated(n)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            requested = n.case(case_id).requested_at

            await n.sleep_until(requested + 7 * MINUTE + 40 * SECOND)  # 75% of 10 minutes
            await n.sms_seen(alice, f"validez le cas {case_id}")
            await n.event_seen(case_id, EventKind.REMINDER_SENT, "validate")

            await n.sleep_until(requested + 10 * MINUTE - 10 * SECOND)
            await n.quiet()
            assert n.alerts(case_id) == []
            await n.sleep_until(requested + 10 * MINUTE + 5 * SECOND)
            await n.event_seen(case_id, EventKind.SLA_BREACH, "validate")
            [alert] = await n.alerts_raised(case_id, AlertKind.VALIDATE_BREACH)
            assert alert.resolved_at is None
            await n.sms_seen(region.coordinator, "délai de validation")

            await n.handle(case_id).execute_update(
                "validate", Validation(alice.id, protocol_id(n, "CT-HEAD-NC"))
            )
            await n.eventually(
                lambda: all(a.resolved_at is not None for a in n.alerts(case_id)),
                "the validation alert resolved",
            )

            # The report's clock starts at the scan: 60 minutes after the request, long
            # before any scan, nothing is late.
            await n.sleep_until(requested + 61 * MINUTE)
            await n.quiet()
            assert not [e for e in n.events(case_id) if e.detail == "report"]
            await n.handle(case_id).execute_update("scanned", ScanDone("site"))
            scanned = n.case(case_id).scanned_at
            assert scanned is not None
            await n.sleep_until(scanned + 60 * MINUTE + 5 * SECOND)
            await n.event_seen(case_id, EventKind.SLA_BREACH, "report")

    asyncio.run(scenario())


def test_a_contract_that_routes_again_after_the_scan_offers_the_reading_up_the_ladder(
    database_url: str,
) -> None:
    on_sqlite_only(database_url, "the workflow's ladder, whatever stores the case")

    async def scenario() -> None:
        async with night(database_url) as n:
            region = regulated(n, reroute_after_scan=True)
            alice = region.experts["alice"]
            case_id = await n.request(region, Priority.URGENT)
            await n.offers_made(case_id, 1)
            await n.accept(case_id, alice)
            await n.handle(case_id).execute_update(
                "validate", Validation(alice.id, protocol_id(n, "CT-HEAD-NC"))
            )
            await n.handle(case_id).execute_update("scanned", ScanDone("site"))
            # Back to the ladder for its reading: offered again.
            offers = await n.offers_made(case_id, 2)
            assert offers[-1].round == 2
            await n.sms_seen(alice, f"pour {region.site_code}, cas {case_id}.")
            await n.eventually(
                lambda: n.case(case_id).status == CaseStatus.OFFERED, "the reading offered"
            )
            view = await n.agrees(case_id)
            assert view.status == CaseStatus.OFFERED

    asyncio.run(scenario())
