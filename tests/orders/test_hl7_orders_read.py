"""ORM^O01 messages read offline (orders.hl7_orders.read, its AE by orders.acks), exactly as
a RIS writes them: another version than 2.5, escape sequences hl7apy would write otherwise,
and the refusals that name their field. No stack: nothing here touches a database."""

from __future__ import annotations

import logging
from datetime import date

import pytest

from orders import acks
from orders.hl7_orders import Cancel, Location, NewOrder, Refused, read
from tests.orders.conftest import ack, errors

PID = {3: "IPP-4711^^^CHU", 5: "DUPONT^Jeanne", 7: "19410517", 8: "F"}
ORC = {1: "NW", 2: "PO-1", 7: "^^^^^S", 12: "12345^MARTIN^Paul^^^Dr", 14: "^WPN^PH^^33^4^71000000"}
OBR = {1: "1", 4: "ZCT01^CT tête sans injection^L", 13: "Chute", 18: "ACC-1", 24: "CT"}


def segment(name: str, fields: dict[int, str]) -> str:
    return "|".join([name] + [fields.get(n, "") for n in range(1, max(fields) + 1)])


def message(
    *segments: str, version: str = "2.5", charset: str = "UNICODE UTF-8", codec: str = "utf-8"
) -> bytes:
    """MSH, then `segments` (by default PID, ORC and OBR above), CR-terminated."""
    msh = f"MSH|^~\\&|RIS|HL7-CHU|GARDE|GARDE|20250301120000||ORM^O01|MSG-1|P|{version}"
    msh += "|" * 6 + charset
    body = segments or (segment("PID", PID), segment("ORC", ORC), segment("OBR", OBR))
    return "\r".join([msh, *body, ""]).encode(codec)


def order(**changes: dict[int, str]) -> bytes:
    """The default message with some fields of PID, ORC or OBR changed (pid={7: "x"})."""
    return message(
        segment("PID", PID | changes.get("pid", {})),
        segment("ORC", ORC | changes.get("orc", {})),
        segment("OBR", OBR | changes.get("obr", {})),
    )


def refused(raw: bytes) -> Refused:
    with pytest.raises(Refused) as raised:
        read(raw)
    return raised.value


def test_an_order_in_version_2_3_1_is_read_like_2_5() -> None:
    read_25 = read(message())
    read_231 = read(message(version="2.3.1"))
    assert isinstance(read_231, NewOrder) and isinstance(read_25, NewOrder)
    assert read_231.request == read_25.request
    assert read_231.request["requesting_physician"] == "Dr Paul MARTIN"
    assert read_231.request["callback_phone"] == "+33 4 71000000"
    assert read_231.request["priority"] == "stat"
    assert read_231.patient == read_25.patient
    assert read_231.header.control_id == "MSG-1" and read_231.header.facility == "HL7-CHU"


def test_hex_and_line_break_escapes_are_decoded_in_the_message_s_charset() -> None:
    # é is C3 A9 in UTF-8, E9 in ISO 8859-1: \X..\ is bytes of the message's own charset.
    question = "Chute\\.br\\h\\XC3A9\\matome \\F\\ 3 h\\E\\4 h\\.sp\\fin"
    read_utf8 = read(order(obr={13: question}))
    assert isinstance(read_utf8, NewOrder)
    assert read_utf8.request["clinical_question"] == "Chute\nhématome | 3 h\\4 h\nfin"
    latin = message(
        segment("PID", PID | {5: "L\\XE9\\ON^Ren\\XE9\\"}),
        segment("ORC", ORC),
        segment("OBR", OBR),
        charset="8859/1",
        codec="iso8859-1",
    )
    read_latin = read(latin)
    assert isinstance(read_latin, NewOrder) and read_latin.patient
    assert read_latin.patient.name == "LéON René"
    # Highlighting and unknown sequences are dropped, never quoted.
    highlighted = read(order(obr={13: "\\H\\urgent\\N\\ \\Zfoo\\ok"}))
    assert isinstance(highlighted, NewOrder)
    assert highlighted.request["clinical_question"] == "urgent ok"
    # A backslash alone (a RIS that does not escape it) is kept, and all that follows it.
    lone = read(order(obr={13: "Vu \\F\\ voir C:\\dossier"}))
    assert isinstance(lone, NewOrder)
    assert lone.request["clinical_question"] == "Vu | voir C:\\dossier"


def test_a_bad_birth_date_and_sex_are_each_named_in_the_ae() -> None:
    raw = order(pid={7: "1941-05-17", 8: "Z"})
    refusal = refused(raw)
    assert not refusal.reject
    assert [(p.location, p.code) for p in refusal.problems] == [
        (Location("PID", 7), 102),
        (Location("PID", 8), 103),
    ]
    answer = acks.ack(refusal.header, acks.ERROR, refusal.problems).decode()
    assert ack(answer).msa.msa_1.to_er7() == "AE"
    assert errors(answer) == [("PID^1^7", "102"), ("PID^1^8", "103")]
    assert ack(answer).msa.msa_3.to_er7() == "PID-7: must be a date YYYYMMDD"
    # The reasons name the fields, never the values sent.
    assert "1941-05-17" not in answer and "DUPONT" not in answer


def test_a_birth_date_with_its_time_and_a_sex_of_table_0001_are_taken() -> None:
    taken = read(order(pid={7: "194105171230", 8: "a"}))
    assert isinstance(taken, NewOrder) and taken.patient
    assert (taken.patient.birth_date, taken.patient.sex) == (date(1941, 5, 17), "O")


def test_an_unsupported_version_is_rejected_naming_msh_12() -> None:
    refusal = refused(message(version="2.9"))
    assert refusal.reject
    assert [(p.location, p.code) for p in refusal.problems] == [(Location("MSH", 12), 203)]
    answer = acks.ack(refusal.header, acks.REJECTED, refusal.problems).decode()
    assert ack(answer).msa.msa_1.to_er7() == "AR"
    assert errors(answer) == [("MSH^1^12", "203")]


def test_two_orders_in_one_message_are_refused_naming_orc_1() -> None:
    second = segment("ORC", ORC | {2: "PO-2"})
    raw = message(segment("PID", PID), segment("ORC", ORC), segment("OBR", OBR), second)
    refusal = refused(raw)
    assert not refusal.reject
    assert [(p.location, p.code) for p in refusal.problems] == [(Location("ORC", 1), 100)]
    assert str(refusal.problems[0]) == "ORC-1: one order (ORC) per message"


def test_a_cancellation_and_segments_ended_by_line_feeds() -> None:
    cancel = read(order(orc={1: "CA"}).replace(b"\r", b"\n"))
    assert cancel == Cancel(cancel.header, "PO-1")


def test_odd_escape_sequences_in_the_patient_s_name_are_never_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # An empty sequence, an unknown one, a character-set switch, a hex one cut short.
    name = "QUENOUILLE\\\\BARBOTIN^Eul\\Zq\\alie\\C2842\\\\X4\\"
    with caplog.at_level(logging.DEBUG):
        taken = read(order(pid={5: name}))
    assert isinstance(taken, NewOrder) and taken.patient
    assert taken.patient.name == "QUENOUILLEBARBOTIN Eulalie"
    logged = " ".join(f"{r.getMessage()} {r.exc_text or ''}" for r in caplog.records)
    assert "QUENOUILLE" not in logged and "alie" not in logged, logged
