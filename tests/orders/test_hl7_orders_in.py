"""Orders from a site's RIS over MLLP, on the real stack (`garde gateway`'s listener, the
worker and Temporal dev server): a new order becomes a routed case, the same order again
changes nothing, a cancellation cancels it; every refusal is an ACK naming its field."""

from __future__ import annotations

import secrets
from concurrent.futures import ThreadPoolExecutor
from datetime import date

from sqlalchemy import func, select, update

from garde.domain import OrderSource
from garde.models import Case, Site
from tests.conftest import Region, on_sqlite_only
from tests.orders.conftest import ack, errors, facility, orm, send


def placer() -> str:
    return "PO-" + secrets.token_hex(4)


def cases_of(region: Region, number: str) -> list[Case]:
    with region.stack.sessions() as s:
        return list(s.scalars(select(Case).where(Case.placer_order_number == number)))


def test_a_new_order_is_a_case_routed_like_a_request(ordering: Region, hl7_port: int) -> None:
    number = placer()
    message = orm(facility(ordering), number, question="Chute | céphalées ^ à 3 h")
    (answer,) = send(hl7_port, message)
    parsed = ack(answer)
    assert parsed.msa.msa_1.to_er7() == "AA"
    assert parsed.msa.msa_2.to_er7() == ack(message).msh.msh_10.to_er7()
    (case,) = cases_of(ordering, number)
    assert case.ordered_via == OrderSource.HL7
    assert (case.modality, case.priority, case.exam_code) == ("CT", "stat", "ZCT01")
    assert case.study_description == "CT tête sans injection"
    assert case.body_part == "tête sans injection"
    # The escape sequences (\F\, \S\) read back as the RIS wrote them, accents too.
    assert case.clinical_question == "Chute | céphalées ^ à 3 h"
    assert case.requesting_physician == "Dr Paul MARTIN"
    assert case.callback_phone == "+33471000000"
    assert case.accession_number.startswith("ACC-")
    assert (case.patient_id, case.patient_name) == ("IPP-4711", "DUPONT Jeanne")
    assert (case.patient_birth_date, case.patient_sex) == (date(1941, 5, 17), "F")
    ordering.wait_status(case.id, "offered")


def test_an_order_without_a_call_back_number_is_called_back_on_the_site_phone(
    ordering: Region, hl7_port: int
) -> None:
    on_sqlite_only(ordering.stack.env["GARDE_DATABASE_URL"], "the order desk's fallback")
    site_phone = "+33465719999"
    with ordering.stack.sessions.begin() as s:
        s.execute(update(Site).where(Site.code == ordering.site).values(phone=site_phone))
    number = placer()
    (answer,) = send(hl7_port, orm(facility(ordering), number, orc_14=""))
    assert ack(answer).msa.msa_1.to_er7() == "AA", answer
    (case,) = cases_of(ordering, number)
    assert case.callback_phone == site_phone


def test_the_same_order_again_is_acknowledged_and_makes_nothing_new(
    ordering: Region, hl7_port: int
) -> None:
    message = orm(facility(ordering), number := placer())
    first, again = send(hl7_port, message, message)
    assert ack(first).msa.msa_1.to_er7() == ack(again).msa.msa_1.to_er7() == "AA"
    assert len(cases_of(ordering, number)) == 1


def test_a_cancellation_cancels_the_case_and_again_changes_nothing(
    ordering: Region, hl7_port: int
) -> None:
    number = placer()
    send(hl7_port, orm(facility(ordering), number))
    (case,) = cases_of(ordering, number)
    ordering.wait_status(case.id, "offered")
    cancel = orm(facility(ordering), number, control="CA")
    (answer,) = send(hl7_port, cancel)
    assert ack(answer).msa.msa_1.to_er7() == "AA"
    ordering.wait_status(case.id, "cancelled")
    (again,) = send(hl7_port, cancel)
    assert ack(again).msa.msa_1.to_er7() == "AA"


def test_an_order_for_a_case_the_site_already_asked_for_takes_it_and_can_cancel_it(
    ordering: Region, hl7_port: int
) -> None:
    """The site's form (or API) came first with the accession number: the RIS's order is the
    same case, and its cancellation finds it by the order's number."""
    asked = ordering.submit()
    number = placer()
    (answer,) = send(hl7_port, orm(facility(ordering), number, obr_18=asked["accession_number"]))
    assert ack(answer).msa.msa_1.to_er7() == "AA"
    (case,) = cases_of(ordering, number)
    assert case.id == asked["id"]
    (answer,) = send(hl7_port, orm(facility(ordering), number, control="CA"))
    assert ack(answer).msa.msa_1.to_er7() == "AA"
    ordering.wait_status(case.id, "cancelled")


def test_cancelling_an_unknown_order_names_orc_2(ordering: Region, hl7_port: int) -> None:
    (answer,) = send(hl7_port, orm(facility(ordering), placer(), control="CA"))
    assert ack(answer).msa.msa_1.to_er7() == "AE"
    assert errors(answer) == [("ORC^1^2", "204")]


def test_an_unknown_facility_is_rejected(ordering: Region, hl7_port: int) -> None:
    on_sqlite_only(
        ordering.stack.env["GARDE_DATABASE_URL"],
        "the MLLP listener and the reading of HL7, before the database",
    )
    (answer,) = send(hl7_port, orm("NOBODY-" + secrets.token_hex(3), placer()))
    assert ack(answer).msa.msa_1.to_er7() == "AR"
    assert errors(answer) == [("MSH^1^4", "204")]


def test_bad_fields_are_each_named_and_nothing_is_stored(ordering: Region, hl7_port: int) -> None:
    on_sqlite_only(
        ordering.stack.env["GARDE_DATABASE_URL"],
        "the MLLP listener and the reading of HL7, before the database",
    )
    number = placer()
    # No modality anywhere (OBR-4's text does not start with one), a phone of letters.
    message = orm(
        facility(ordering),
        number,
        obr_24="",
        obr_4="ZX^Examen^L",
        orc_14="^WPN^PH^^^^^^^^^not a phone",
    )
    (answer,) = send(hl7_port, message)
    assert ack(answer).msa.msa_1.to_er7() == "AE"
    assert errors(answer) == [("OBR^1^24", "101")]  # found before the request is checked
    (answer,) = send(hl7_port, orm(facility(ordering), number, orc_14="^WPN^PH^^^^^^^^^nope"))
    assert errors(answer) == [("ORC^1^14", "102")]
    assert "ORC-14" in ack(answer).msa.msa_3.to_er7()
    (answer,) = send(hl7_port, orm(facility(ordering), number, orc_7="^^^^^Q", question=""))
    assert sorted(errors(answer)) == [("OBR^1^13", "102"), ("ORC^1^7^1^6", "102")]
    assert cases_of(ordering, number) == []


def test_connections_at_once_each_get_their_answer(ordering: Region, hl7_port: int) -> None:
    on_sqlite_only(
        ordering.stack.env["GARDE_DATABASE_URL"],
        "the MLLP listener and the reading of HL7, before the database",
    )
    numbers = [placer() for _ in range(8)]

    def one(number: str) -> str:
        # Each connection sends its order, then it again: answered in order, on it.
        return [
            ack(a).msa.msa_1.to_er7()
            for a in send(hl7_port, *[orm(facility(ordering), number)] * 2)
        ]

    with ThreadPoolExecutor(max_workers=8) as pool:
        assert list(pool.map(one, numbers)) == [["AA", "AA"]] * 8
    assert all(len(cases_of(ordering, n)) == 1 for n in numbers)


def test_garbage_is_answered_and_the_listener_lives(ordering: Region, hl7_port: int) -> None:
    on_sqlite_only(
        ordering.stack.env["GARDE_DATABASE_URL"],
        "the MLLP listener and the reading of HL7, before the database",
    )
    (answer,) = send(hl7_port, b"GET / HTTP/1.1\r\n\r\n")
    assert ack(answer).msa.msa_1.to_er7() == "AR"
    (answer,) = send(hl7_port, b"MSH|^~\\&|RIS|X|||||ADT^A01|9|P|2.5\r")
    assert ack(answer).msa.msa_1.to_er7() == "AR"
    assert errors(answer) == [("MSH^1^9", "200")]
    (answer,) = send(hl7_port, orm(facility(ordering), placer()))
    assert ack(answer).msa.msa_1.to_er7() == "AA"


def test_an_order_in_latin_1_is_read_and_answered_in_it(ordering: Region, hl7_port: int) -> None:
    on_sqlite_only(
        ordering.stack.env["GARDE_DATABASE_URL"],
        "the MLLP listener and the reading of HL7, before the database",
    )
    number = placer()
    message = orm(facility(ordering), number, charset="8859/1", question="Douleur thoracique é")
    (answer,) = send(hl7_port, message, encoding="iso8859-1")
    assert ack(answer).msa.msa_1.to_er7() == "AA"
    assert ack(answer).msh.msh_18.to_er7() == "8859/1"
    (case,) = cases_of(ordering, number)
    assert case.clinical_question == "Douleur thoracique é"


def test_with_temporal_away_an_order_is_recorded_and_the_reconciler_routes_it(
    ordering: Region, gateway_without_temporal: int
) -> None:
    number = placer()
    (answer,) = send(gateway_without_temporal, orm(facility(ordering), number))
    assert ack(answer).msa.msa_1.to_er7() == "AA"
    (case,) = cases_of(ordering, number)
    # The stack's worker, whose Temporal answers, starts it (its reconciler).
    ordering.wait_status(case.id, "offered")
    # A cancellation needs the workflow: refused, to be sent again.
    (answer,) = send(gateway_without_temporal, orm(facility(ordering), number, control="CA"))
    assert ack(answer).msa.msa_1.to_er7() == "AR"
    with ordering.stack.sessions() as s:
        assert s.scalar(select(func.count()).where(Case.id == case.id, Case.status == "offered"))
