"""A case's status told back to the RIS that ordered it, as an HL7 v2.5 ORM^O01 from the
filler (Garde) to the placer (the site's RIS), built with hl7apy.

The order is the RIS's: ORC-2 and OBR-2 its placer order number, ORC-3 and OBR-3 Garde's
filler number (the case id, namespace GARDE), OBR-4 the procedure as ordered (exam code ^
description), OBR-24 the modality. What changed is in ORC-1 (order control, HL7 table 0119)
and ORC-5 (order status, table 0038):

    validated   OK  SC   régulation: the indication validated, the scan to do with the protocol
    accepted    OK  IP   an expert reads it (SC IP when it was validated first: status changed)
    refused     UA  CA   régulation: the indication refused, ORC-16 text the reason
    cancelled   OC  CA

The protocol picked at validation (on `validated`, and on `accepted` after it): OBR-44
procedure code `code^name^L` (local coding system), and its text as NTE segments after the
OBR, NTE-4 `GARDE-PROTOCOL`, one NTE per line (as the ORU's TX lines: any RIS shows them as
lines); the validating expert's note the same with `GARDE-NOTE`; a refusal's whole reason
with `GARDE-REFUSAL`. The expert who validated or accepted is OBR-32 (code^name), as in the
ORU. ORC-9 and MSH-7 are when the case reached the status, and MSH-10 names the case and the
status: a retried send is the same message, and a receiver sees it again.

No PID: the RIS finds its order by ORC-2. Escaping and line breaks as reports/hl7.py.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from hl7apy.base_datatypes import FT, ID, IS, ST
from hl7apy.core import Group, Message

from garde.domain import CaseStatus
from garde.models import Case, Expert
from reports.hl7 import flat, hl7_time, lines

FILLER = "GARDE"
PROTOCOL_TEXT = ("GARDE-PROTOCOL", "Acquisition protocol")
NOTE = ("GARDE-NOTE", "Validating radiologist's note")
REFUSAL = ("GARDE-REFUSAL", "Reason for refusal")


@dataclass(frozen=True)
class OrderControl:
    """ORC-1 and ORC-5 for a status."""

    control: str
    order_status: str


CONTROLS = {
    CaseStatus.VALIDATED: OrderControl("OK", "SC"),
    CaseStatus.ACCEPTED: OrderControl("OK", "IP"),
    CaseStatus.REFUSED: OrderControl("UA", "CA"),
    CaseStatus.CANCELLED: OrderControl("OC", "CA"),
}
# The statuses a RIS is told of.
TOLD = tuple(CONTROLS)


def message_control_id(case_id: int, status: CaseStatus) -> str:
    """MSH-10: one per case and status, the same on every attempt."""
    return f"{FILLER}-{case_id}-{status}"


def order_status(case: Case, status: CaseStatus, at: datetime, expert: Expert | None = None) -> str:
    """The ORM^O01 telling `case`'s RIS that it reached `status` at `at` (by `expert`, when
    one validated or accepted it), segments separated by CR."""
    said = CONTROLS[status]
    if status == CaseStatus.ACCEPTED and case.validated_at is not None:
        said = OrderControl("SC", said.order_status)
    message = Message("ORM_O01", version="2.5")
    msh = message.msh
    msh.msh_3 = FILLER
    msh.msh_4 = FILLER
    msh.msh_6.hd_1.value = IS(flat(case.site.hl7_facility or case.site.code))
    msh.msh_7 = hl7_time(at)
    msh.msh_9 = "ORM^O01^ORM_O01"
    msh.msh_10 = message_control_id(case.id, status)
    msh.msh_11 = "P"
    msh.msh_12 = "2.5"
    msh.msh_18 = "UNICODE UTF-8"
    order = message.add_group("ORM_O01_ORDER")
    orc = order.orc
    orc.orc_1 = said.control
    orc.orc_2.ei_1.value = ST(flat(case.placer_order_number or case.accession_number))
    orc.orc_3.ei_1 = str(case.id)
    orc.orc_3.ei_2 = FILLER
    orc.orc_5 = said.order_status
    orc.orc_9 = hl7_time(at)
    if status == CaseStatus.REFUSED and case.refusal_reason.strip():
        orc.orc_16.ce_2.value = ST(flat(case.refusal_reason))

    detail = order.add_group("ORM_O01_ORDER_DETAIL")
    obr = detail.add_group("ORM_O01_OBRRQDRQ1RXOODSODT_SUPPGRP").add_segment("OBR")
    obr.obr_1 = "1"
    obr.obr_2.ei_1.value = ST(flat(case.placer_order_number or case.accession_number))
    obr.obr_3.ei_1 = str(case.id)
    obr.obr_3.ei_2 = FILLER
    if case.exam_code:
        obr.obr_4.ce_1.value = ST(flat(case.exam_code))
    obr.obr_4.ce_2.value = ST(flat(case.study_description or case.modality))
    obr.obr_24.value = ID(flat(case.modality))
    if expert is not None:
        obr.obr_32.ndl_1.cnn_1.value = ST(flat(expert.code))
        obr.obr_32.ndl_1.cnn_2.value = ST(flat(expert.name))
    protocol = case.protocol if status in (CaseStatus.VALIDATED, CaseStatus.ACCEPTED) else None
    if protocol is not None:
        obr.obr_44.ce_1.value = ST(flat(protocol.code))
        obr.obr_44.ce_2.value = ST(flat(protocol.name))
        obr.obr_44.ce_3 = "L"
        _notes(detail, PROTOCOL_TEXT, protocol.text)
        _notes(detail, NOTE, case.validation_note)
    if status == CaseStatus.REFUSED:
        _notes(detail, REFUSAL, case.refusal_reason)
    return str(message.to_er7()) + "\r"


def _notes(detail: Group, kind: tuple[str, str], text: str) -> None:
    """One NTE per line of `text` (none when it is blank), numbered after those before."""
    if not text.strip():
        return
    for line in lines(text):
        nte = detail.add_segment("NTE")
        nte.nte_1 = str(len(detail.nte))
        nte.nte_2 = "L"  # the filler's (ancillary's) comment
        nte.nte_3.value = FT(flat(line))
        nte.nte_4 = f"{kind[0]}^{kind[1]}^L"  # our constants, no delimiter
