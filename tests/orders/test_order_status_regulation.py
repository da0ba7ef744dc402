"""Régulation end to end for a RIS, on the real stack with `garde gateway` (its MLLP and
DICOM ports): the RIS orders over HL7 for a régulation site; the expert takes the request,
validates it with a protocol through the API; the RIS gets OK with the protocol and the
site's phone an SMS naming it; the images pushed with dcmtk mark the scan done, and the same
expert reads; the final report's ORU^R01 reaches the RIS. Or the expert refuses, and the RIS
gets UA with the reason."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hl7apy.parser import parse_message
from pydicom.data import get_testdata_file
from sqlalchemy import select

from garde.intake import find_order
from garde.models import Case, Site
from tests.conftest import Region, on_sqlite_only, wait_for
from tests.dicom import conftest as dicom
from tests.orders.conftest import ack, orm, send
from tests.orders.test_order_status import set_endpoint, statuses
from tests.reports.site_endpoints import MllpListener
from tests.reports.test_formats import unescape

# The DICOM tests' gateway beside the stack (its HL7 port too), and dcmtk's tools.
stack_gateway = dicom.stack_gateway
dcmtk = dicom.dcmtk
SITE_PHONE = "+33471000000"  # ORC-14 of the orders tests/orders/conftest.py builds


@pytest.fixture
def ris(region: Region, stack_gateway: dicom.GatewayProcess) -> Iterator[RIS]:
    """The site under régulation, taking HL7 orders from its RIS, whose listener is the
    site's hl7_endpoint."""
    listener = MllpListener().start()
    facility = f"RIS-{region.site}"
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}", json={"regulation": True, "hl7_facility": facility}
    )
    assert r.status_code == 200, r.text
    set_endpoint(region, listener.endpoint)
    yield RIS(region, facility, int(stack_gateway.env["GARDE_HL7_PORT"]), listener)
    listener.stop()


class RIS:
    def __init__(self, region: Region, facility: str, port: int, listener: MllpListener):
        self.region, self.facility, self.port, self.listener = region, facility, port, listener

    def order(self, accession: str) -> tuple[int, str]:
        """An order sent over MLLP, acknowledged AA; its case and placer number."""
        placer = "PL-" + secrets.token_hex(4)
        [answer] = send(self.port, orm(self.facility, placer, obr_18=accession))
        assert ack(answer).msa.msa_1.to_er7() == "AA", answer
        with self.region.stack.sessions() as s:
            site_id = s.scalars(select(Site.id).where(Site.code == self.region.site)).one()
            case = find_order(s, site_id, placer)
            assert case is not None
            return case.id, placer

    def told(self, count: int) -> list[tuple[str, str, str, str]]:
        return wait_for(
            lambda: len(found := statuses(self.listener)) >= count and found,
            what=f"{count} statuses at the RIS",
        )

    def message(self, control_id: str) -> Any:
        [text] = [
            m
            for m in self.listener.received
            if parse_message(m, find_groups=False).msh.msh_10.to_er7() == control_id
        ]
        return parse_message(text, find_groups=False)


def take(region: Region, case: int) -> dict[str, Any]:
    """Alice takes the request to validate it (the ladder offered it to her)."""
    region.offer_sms("alice")
    r = region.stack.api(region.experts["alice"].token).post(f"/api/v1/cases/{case}/accept")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def test_validated_the_ris_gets_the_protocol_then_the_same_expert_reads_and_reports(
    ris: RIS, stack_gateway: dicom.GatewayProcess, tmp_path: Path
) -> None:
    region, alice = ris.region, ris.region.experts["alice"]
    accession = "ACC-" + secrets.token_hex(4)
    case, placer = ris.order(accession)
    assert region.case(case)["status"] == "to_validate"
    assert take(region, case)["status"] == "to_validate"
    r = region.stack.api(alice.token).post(
        f"/api/v1/cases/{case}/validate", json={"protocol": "CT-HEAD-NC", "note": "Coupes fines"}
    )
    assert r.status_code == 200, r.text

    assert ris.told(1) == [(f"GARDE-{case}-validated", "OK", placer, "SC")]
    validated = ris.message(f"GARDE-{case}-validated")
    assert validated.obr.obr_44.to_er7() == "CT-HEAD-NC^CT head without contrast^L"
    assert validated.obr.obr_32.to_er7().split("&")[0] == alice.code
    texts = {nte.nte_4.ce_1.to_er7(): unescape(nte.nte_3.to_er7()) for nte in validated.nte}
    assert texts["GARDE-NOTE"] == "Coupes fines" and texts["GARDE-PROTOCOL"]
    assert region.stack.twilio is not None
    wait_for(
        lambda: [
            m
            for m in region.stack.twilio.to(SITE_PHONE)  # type: ignore[union-attr]
            if f" {case} " in m.body and "CT head without contrast" in m.body
        ],
        what="the site's SMS naming the protocol",
    )

    # The technologist scans; the images' arrival marks it done: alice reads.
    image = dicom.with_new_uids(
        get_testdata_file("CT_small.dcm") or "", tmp_path, AccessionNumber=accession
    )
    sent = stack_gateway.send(region.site[:16], image)
    assert sent.returncode == 0, sent.stderr
    assert region.wait_status(case, "accepted")["assigned_expert"] == alice.code
    assert ris.told(2)[1] == (f"GARDE-{case}-accepted", "SC", placer, "IP")
    accepted = ris.message(f"GARDE-{case}-accepted")
    assert accepted.obr.obr_44.to_er7() == "CT-HEAD-NC^CT head without contrast^L"

    r = region.stack.api(alice.token).post(
        f"/api/v1/cases/{case}/report",
        json={"kind": "final", "findings": "Pas d'hémorragie.", "impression": "Normal."},
    )
    assert r.status_code == 201, r.text
    [oru] = wait_for(
        lambda: [m for m in ris.listener.received if "ORU^R01" in m], what="the ORU at the RIS"
    )
    obr = parse_message(oru, find_groups=False).obr
    assert obr.obr_2.to_er7() == placer and obr.obr_25.to_er7() == "F"
    assert len(statuses(ris.listener)) == 2  # nothing told twice
    with region.stack.sessions() as s:
        assert s.get_one(Case, case).scanned_at is not None


def test_refused_the_ris_gets_the_reason(ris: RIS) -> None:
    on_sqlite_only(
        ris.region.stack.env["GARDE_DATABASE_URL"],
        "the validated path runs on both; a refusal's message is the workflow's",
    )
    region = ris.region
    case, placer = ris.order("ACC-" + secrets.token_hex(4))
    take(region, case)
    reason = "Scanner normal il y a 2 jours | pas de fait nouveau"
    r = region.stack.api(region.experts["alice"].token).post(
        f"/api/v1/cases/{case}/refuse", json={"reason": reason}
    )
    assert r.status_code == 200, r.text
    assert ris.told(1) == [(f"GARDE-{case}-refused", "UA", placer, "CA")]
    refused = ris.message(f"GARDE-{case}-refused")
    assert unescape(refused.orc.orc_16.ce_2.to_er7()) == reason
    assert [unescape(n.nte_3.to_er7()) for n in refused.nte] == [reason]
    assert region.stack.twilio is not None
    wait_for(
        lambda: [
            m
            for m in region.stack.twilio.to(SITE_PHONE)  # type: ignore[union-attr]
            if f" {case} " in m.body and "refus" in m.body
        ],
        what="the site's SMS of the refusal",
    )
