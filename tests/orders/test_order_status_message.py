"""A case's status as the ORM^O01 its RIS reads: each status with its order control and
order status, the RIS's placer number and Garde's filler number, the protocol and the note of
a validation, the reason of a refusal, every text read back as written (hostile text: HL7
delimiters and escape sequences, line breaks, letters beyond ASCII).

Model objects in memory: no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from hl7apy.consts import VALIDATION_LEVEL
from hl7apy.core import Message
from hl7apy.parser import parse_message

from garde.domain import CaseStatus, OrderSource
from garde.models import Case, Expert, Protocol, Site
from orders.order_status import order_status
from reports.hl7 import lines
from tests.reports.test_formats import HOSTILE, unescape

AT = datetime(2026, 3, 29, 1, 5, tzinfo=UTC)


def make_case(*, validated: bool = True, text: str = HOSTILE) -> Case:
    site = Site(code="CH-T", name="CH T", hl7_facility="CHT^RIS")
    protocol = Protocol(code="CTA-WILLIS", name=f"CT angio {text}", modality="CT", text=text)
    return Case(
        id=42,
        site=site,
        ordered_via=OrderSource.HL7,
        placer_order_number="PL|7^8",
        accession_number="ACC-1",
        exam_code="ZCT&01",
        study_description="CT head",
        modality="CT",
        protocol=protocol if validated else None,
        validation_note=f"Note: {text}" if validated else "",
        validated_at=AT if validated else None,
        refusal_reason="" if validated else f"No indication: {text}",
    )


def parsed(message: str) -> Message:
    """hl7apy parses it strictly as an ORM^O01 of v2.5 (its validator wants every segment of
    the order detail's choice at once: it cannot judge that group)."""
    assert "\x0b" not in message and "\x1c" not in message and "\n" not in message
    return parse_message(message, find_groups=True, validation_level=VALIDATION_LEVEL.STRICT)


def notes(message: Message) -> dict[str, list[str]]:
    """NTE-3 of the order detail's notes, by their NTE-4 code, as a receiver reads them."""
    found: dict[str, list[str]] = {}
    for nte in message.orm_o01_order.orm_o01_order_detail.nte:
        found.setdefault(nte.nte_4.ce_1.to_er7(), []).append(unescape(nte.nte_3.to_er7()))
    return found


@pytest.mark.parametrize(
    ("status", "validated", "control", "order_status_code"),
    [
        (CaseStatus.VALIDATED, True, "OK", "SC"),
        (CaseStatus.ACCEPTED, False, "OK", "IP"),
        (CaseStatus.ACCEPTED, True, "SC", "IP"),  # read after its validation: status changed
        (CaseStatus.REFUSED, False, "UA", "CA"),
        (CaseStatus.CANCELLED, True, "OC", "CA"),
    ],
)
def test_each_status_names_the_order_and_says_what_became_of_it(
    status: CaseStatus, validated: bool, control: str, order_status_code: str
) -> None:
    case = make_case(validated=validated)
    message = parsed(order_status(case, status, AT))
    msh = message.msh
    assert msh.msh_9.to_er7() == "ORM^O01^ORM_O01" and msh.msh_12.to_er7() == "2.5"
    assert msh.msh_10.to_er7() == f"GARDE-42-{status}"
    assert unescape(msh.msh_6.to_er7()) == "CHT^RIS"  # the site's facility, escaped
    assert msh.msh_18.to_er7() == "UNICODE UTF-8"
    orc = message.orm_o01_order.orc
    assert (orc.orc_1.to_er7(), orc.orc_5.to_er7()) == (control, order_status_code)
    assert unescape(orc.orc_2.to_er7()) == "PL|7^8"
    assert orc.orc_3.to_er7() == "42^GARDE"
    assert orc.orc_9.to_er7() == "20260329010500+0000"
    obr = message.orm_o01_order.orm_o01_order_detail.children[0].obr
    assert unescape(obr.obr_2.to_er7()) == "PL|7^8" and obr.obr_3.to_er7() == "42^GARDE"
    assert unescape(obr.obr_4.ce_1.to_er7()) == "ZCT&01"
    assert obr.obr_4.ce_2.to_er7() == "CT head" and obr.obr_24.to_er7() == "CT"
    # The same status is the same message, whenever it is sent again.
    assert order_status(case, status, AT) == order_status(case, status, AT)


def test_a_validation_gives_the_protocol_its_text_and_the_note_as_written() -> None:
    case = make_case()
    expert = Expert(code="DR-A", name="Dr Ève Ä")
    message = parsed(order_status(case, CaseStatus.VALIDATED, AT, expert))
    obr = message.orm_o01_order.orm_o01_order_detail.children[0].obr
    assert obr.obr_44.ce_1.to_er7() == "CTA-WILLIS" and obr.obr_44.ce_3.to_er7() == "L"
    assert unescape(obr.obr_44.ce_2.to_er7()) == " ".join(lines(f"CT angio {HOSTILE}"))
    assert obr.obr_32.to_er7() == "DR-A&Dr Ève Ä"
    assert notes(message) == {
        "GARDE-PROTOCOL": lines(HOSTILE),
        "GARDE-NOTE": lines(f"Note: {HOSTILE}"),
    }
    details = message.orm_o01_order.orm_o01_order_detail.nte
    assert [n.nte_1.to_er7() for n in details] == [str(i) for i in range(1, len(details) + 1)]
    assert not message.orm_o01_order.orc.orc_16.to_er7()


def test_a_refusal_gives_its_reason_and_no_protocol() -> None:
    case = make_case(validated=False)
    message = parsed(order_status(case, CaseStatus.REFUSED, AT))
    orc = message.orm_o01_order.orc
    reason = f"No indication: {HOSTILE}"
    assert unescape(orc.orc_16.ce_2.to_er7()) == " ".join(lines(reason))
    assert notes(message) == {"GARDE-REFUSAL": lines(reason)}
    obr = message.orm_o01_order.orm_o01_order_detail.children[0].obr
    assert not obr.obr_44.to_er7()


def test_a_cancellation_says_no_more_than_the_order_it_ends() -> None:
    message = parsed(order_status(make_case(), CaseStatus.CANCELLED, AT))
    assert notes(message) == {}
    assert not message.orm_o01_order.orm_o01_order_detail.children[0].obr.obr_44.to_er7()
