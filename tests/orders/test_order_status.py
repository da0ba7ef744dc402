"""A case ordered over HL7 tells its RIS each status, on the real stack (Temporal dev server,
`garde worker`, `garde web`): an ORM^O01 to the site's MLLP listener (a loopback one answering
with hl7apy ACKs), tried again until the RIS takes it, written once on the case's timeline;
the final report's ORU^R01 reaches the same listener. A case not ordered over HL7 tells
nothing.

HL7-ordered cases are recorded as the HL7 intake records them (garde.intake.record_case with
an HL7 Order); the reconciler starts their workflows."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from datetime import date, timedelta

import pytest
from hl7apy.parser import parse_message
from sqlalchemy import select
from temporalio.service import RPCError

from activities.order_status import told_key
from garde.domain import CaseStatus, EventKind, OrderSource
from garde.intake import CaseRequest, Order, Patient, record_case
from garde.messages import CANCELLED_BY_RIS, Cancellation, OrderStatusStart
from garde.models import CaseEvent, Site
from garde.temporal import TASK_QUEUE, case_workflow_id, order_status_workflow_id
from tests.conftest import Region, case_request, free_port, on_sqlite_only, wait_for
from tests.reports.site_endpoints import MllpListener

PATIENT = Patient("IPP-7731", "DUPONT^Jeanne", date(1941, 5, 17), "F")


@pytest.fixture
def listener(region: Region) -> Iterator[MllpListener]:
    """The site's RIS listener, set as its hl7_endpoint by the admin."""
    started = MllpListener().start()
    set_endpoint(region, started.endpoint)
    yield started
    started.stop()


def set_endpoint(region: Region, endpoint: str) -> None:
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}", json={"hl7_endpoint": endpoint}
    )
    assert r.status_code == 200, r.text


def ordered(region: Region, via: OrderSource = OrderSource.HL7) -> tuple[int, str]:
    """A case recorded as the RIS ordered it (its placer number, its patient), and that
    number; the reconciler starts its workflow."""
    placer = "PL-" + secrets.token_hex(4)
    with region.stack.sessions() as s:
        site = s.scalars(select(Site).where(Site.code == region.site)).one()
        request = CaseRequest.parse(case_request(exam_code="ZCT01"), site)
        case, created = record_case(s, site, request, Order(via, placer, PATIENT))
        assert created
        return case.id, placer


def statuses(listener: MllpListener) -> list[tuple[str, str, str, str]]:
    """(MSH-10, ORC-1, ORC-2, ORC-5) of each ORM^O01 the listener received."""
    found = []
    for text in listener.received:
        message = parse_message(text, find_groups=False)
        if message.msh.msh_9.to_er7() == "ORM^O01^ORM_O01":
            orc = message.orc
            found.append(
                (
                    message.msh.msh_10.to_er7(),
                    orc.orc_1.to_er7(),
                    orc.orc_2.to_er7(),
                    orc.orc_5.to_er7(),
                )
            )
    return found


def told(region: Region, case: int) -> list[str]:
    """The case's timeline entries about its RIS, oldest first."""
    with region.stack.sessions() as s:
        return list(
            s.scalars(
                select(CaseEvent.detail)
                .where(CaseEvent.case_id == case, CaseEvent.kind == EventKind.ORDER_STATUS_SENT)
                .order_by(CaseEvent.id)
            )
        )


def accept(region: Region, case: int) -> None:
    region.wait_status(case, "offered")
    r = region.stack.api(region.experts["alice"].token).post(f"/api/v1/cases/{case}/accept")
    assert r.status_code == 200, r.text


def test_an_accepted_hl7_order_is_told_to_its_ris_and_its_report_follows(
    region: Region, listener: MllpListener
) -> None:
    case, placer = ordered(region)
    accept(region, case)
    wait_for(lambda: statuses(listener), what="the accepted status at the RIS")
    assert statuses(listener) == [(f"GARDE-{case}-accepted", "OK", placer, "IP")]
    message = parse_message(listener.received[0], find_groups=False)
    assert message.orc.orc_3.to_er7() == f"{case}^GARDE"
    assert message.obr.obr_32.to_er7().split("&")[0] == region.experts["alice"].code
    assert wait_for(lambda: told(region, case)) == ["accepted: AA"]

    r = region.stack.api(region.experts["alice"].token).post(
        f"/api/v1/cases/{case}/report",
        json={"kind": "final", "findings": "No bleed.", "impression": "Normal CT."},
    )
    assert r.status_code == 201, r.text
    oru = wait_for(
        lambda: [m for m in listener.received if "ORU^R01" in m],
        what="the final report at the RIS",
    )
    report = parse_message(oru[0], find_groups=False)
    assert report.msh.msh_10.to_er7() == f"GARDE-{case}-1"
    assert report.obr.obr_2.to_er7() == placer  # the RIS's own number for its order
    # The RIS knew the patient; nothing Garde sent or logged names them.
    for text in listener.received:
        assert "DUPONT" not in text and "IPP-7731" not in text
    for log in region.stack.logs.glob("*.log"):
        assert b"DUPONT" not in log.read_bytes(), log.name
    assert told(region, case) == ["accepted: AA"]  # told once


def test_a_ris_down_is_told_once_it_is_back(region: Region) -> None:
    on_sqlite_only(
        region.stack.env["GARDE_DATABASE_URL"],
        "the workflow's retries and choices, whatever stores the case",
    )
    set_endpoint(region, f"127.0.0.1:{free_port()}")  # nothing listens there
    case, placer = ordered(region)
    accept(region, case)
    failed = wait_for(lambda: told(region, case), what="the first failed attempt")
    assert failed[0].startswith("accepted not taken: ConnectionRefusedError")
    # The RIS is back, at a new address: the next attempt reads it.
    listener = MllpListener().start()
    try:
        set_endpoint(region, listener.endpoint)
        wait_for(lambda: len(told(region, case)) == 2, what="the status taken")
        assert told(region, case) == [failed[0], "accepted: AA"]  # each once, retries aside
        assert statuses(listener) == [(f"GARDE-{case}-accepted", "OK", placer, "IP")]
    finally:
        listener.stop()


def test_a_ris_that_refuses_the_status_gets_it_again_until_it_takes_it(
    region: Region, listener: MllpListener
) -> None:
    on_sqlite_only(
        region.stack.env["GARDE_DATABASE_URL"],
        "the workflow's retries and choices, whatever stores the case",
    )
    listener.answers.extend([("AE", "Order locked"), ("AR", "Busy")])
    case, placer = ordered(region)
    region.wait_status(case, "offered")
    r = region.stack.api(region.site_token).post(f"/api/v1/cases/{case}/cancel")
    assert r.status_code == 200, r.text
    wait_for(lambda: len(told(region, case)) == 2, what="the cancellation taken")
    assert told(region, case) == ["cancelled not taken: AE: Order locked", "cancelled: AA"]
    sent = [(f"GARDE-{case}-cancelled", "OC", placer, "CA")]
    assert statuses(listener) == sent * 3  # the same message each time


def test_a_case_not_ordered_over_hl7_tells_its_ris_nothing(
    region: Region, listener: MllpListener
) -> None:
    on_sqlite_only(
        region.stack.env["GARDE_DATABASE_URL"],
        "the workflow's retries and choices, whatever stores the case",
    )
    case, _ = ordered(region, OrderSource.WEB)
    accept(region, case)
    region.wait_status(case, "accepted")

    async def told_directly() -> None:
        """Even asked to (the case workflow never does), the workflow ends sending nothing."""
        client = await region.stack.client()
        await client.execute_workflow(
            "OrderStatus",
            OrderStatusStart(case, CaseStatus.ACCEPTED),
            id=order_status_workflow_id(case, CaseStatus.ACCEPTED),
            task_queue=TASK_QUEUE,
            execution_timeout=timedelta(seconds=30),
        )

    asyncio.run(told_directly())
    assert listener.received == [] and told(region, case) == []
    with region.stack.sessions() as s:
        entry = select(CaseEvent.id).where(
            CaseEvent.case_id == case, CaseEvent.key == told_key(CaseStatus.ACCEPTED)
        )
        assert s.scalar(entry) is None


def test_the_ris_is_not_told_back_its_own_cancellation(
    region: Region, listener: MllpListener
) -> None:
    on_sqlite_only(
        region.stack.env["GARDE_DATABASE_URL"],
        "the workflow's retries and choices, whatever stores the case",
    )
    case, placer = ordered(region)
    accept(region, case)
    wait_for(lambda: told(region, case) == ["accepted: AA"], what="the acceptance told")

    async def cancelled_by_the_ris() -> None:
        client = await region.stack.client()
        handle = client.get_workflow_handle(case_workflow_id(case))
        await handle.signal("cancel", Cancellation(CANCELLED_BY_RIS))
        assert await handle.result() == CaseStatus.CANCELLED  # its last child started by then
        with pytest.raises(RPCError):
            await client.get_workflow_handle(
                order_status_workflow_id(case, CaseStatus.CANCELLED)
            ).describe()

    asyncio.run(cancelled_by_the_ris())
    assert statuses(listener) == [(f"GARDE-{case}-accepted", "OK", placer, "IP")]
