"""A report version as an HL7 v2.5 ORU^R01, built with hl7apy.

MSH, then OBR (the request: accession number, study, ordering physician, interpreter, result
status P/F/C for preliminary/final/addendum), then the OBX: each non-empty section of the
report (technique, findings, impression, recommendations, LOINC-coded) one OBX of type TX
per line, then the ACR critical category, the discrepancy and the version's SHA-256 as coded
or string OBX of local codes. No PID: the case holds no patient identity (the site finds its
patient by the accession number in OBR-2/OBR-3).

Line breaks: one TX OBX per line rather than FT with `\\.br\\`. TX lines are what every
RIS shows as lines, a receiver needs no formatting commands, and hl7apy escapes delimiters
of a TX value itself (it would escape the backslashes of a `\\.br\\` we wrote).

Escaping: hl7apy writes `| ^ & ~` as `\\F\\ \\S\\ \\T\\ \\R\\`, but leaves a backslash alone when
it looks like part of an escape sequence (text holding `\\F\\` would come back as `|`). So
every backslash of the text is written `\\E\\` first; hl7apy then leaves those sequences as they
are, and the text reads back as written. Control characters never reach a field: MLLP
frames messages with 0x0B and 0x1C (the line splitting takes them as breaks; what else of
C0/C1 a row stored before input refused them may hold is dropped).

Machines read it: English, whoever asks.
"""

from __future__ import annotations

from datetime import UTC, datetime

from hl7apy.base_datatypes import IS, ST, TX
from hl7apy.core import Field, Message

from garde.domain import Discrepancy, ReportKind
from garde.models import Case, Report
from garde.validation import CONTROL
from reports.fhir import CRITICAL_WORDS, SECTIONS

RESULT_STATUS = {
    ReportKind.PRELIMINARY.value: "P",
    ReportKind.FINAL.value: "F",
    ReportKind.ADDENDUM.value: "C",
}
# OBX-3 of the coded observations (local codes, coding system "L").
CRITICAL_CATEGORY = ("GARDE-ACR", "ACR critical result category")
DISCREPANCY = ("GARDE-DISCREPANCY", "Discrepancy with the preliminary report")
SHA256 = ("GARDE-SHA256", "Report version SHA-256")
DISCREPANCIES = {d.value for d in Discrepancy}


def oru_r01(case: Case, report: Report) -> str:
    """The ORU^R01 of `report` (one version of `case`'s report), segments separated by CR."""
    status = RESULT_STATUS.get(report.kind, "F")
    reported = hl7_time(report.created_at)
    message = Message("ORU_R01", version="2.5")
    msh = message.msh
    msh.msh_3 = "GARDE"
    msh.msh_4 = "GARDE"
    msh.msh_6.hd_1.value = IS(flat(case.site.code))
    msh.msh_7 = reported
    msh.msh_9 = "ORU^R01^ORU_R01"
    # One id per version: a retried delivery sends the same message, the receiver sees it again.
    msh.msh_10 = f"GARDE-{case.id}-{report.version}"
    msh.msh_11 = "P"
    msh.msh_12 = "2.5"
    msh.msh_18 = "UNICODE UTF-8"
    order = message.add_group("ORU_R01_PATIENT_RESULT").add_group("ORU_R01_ORDER_OBSERVATION")
    obr = order.obr
    obr.obr_1 = "1"
    # Placer order number: the RIS's own (ORC-2) when it ordered over HL7.
    obr.obr_2.ei_1.value = ST(flat(case.placer_order_number or case.accession_number))
    obr.obr_3.ei_1.value = ST(flat(case.accession_number))  # filler order number
    obr.obr_4.ce_2.value = ST(flat(case.study_description or case.modality))
    obr.obr_7 = hl7_time(case.requested_at)
    if case.clinical_question.strip():
        obr.obr_13.value = ST(flat(case.clinical_question))
    if case.requesting_physician.strip():
        obr.obr_16.xcn_2.fn_1.value = ST(flat(case.requesting_physician))
    obr.obr_22 = reported
    obr.obr_24 = "RAD"
    obr.obr_25 = status
    obr.obr_32.ndl_1.cnn_1.value = ST(flat(report.expert.code))
    obr.obr_32.ndl_1.cnn_2.value = ST(flat(report.expert.name))

    set_id = 0

    def observation(kind: str, identifier: tuple[str, str], sub_id: str = "") -> Field:
        nonlocal set_id
        set_id += 1
        obx = order.add_group("ORU_R01_OBSERVATION").obx
        obx.obx_1 = str(set_id)
        obx.obx_2 = kind
        # Our own constants, free of delimiters: written as they are.
        obx.obx_3.ce_1 = identifier[0]
        obx.obx_3.ce_2 = identifier[1]
        obx.obx_3.ce_3 = "LN" if identifier[0][0].isdigit() else "L"
        if sub_id:
            obx.obx_4 = sub_id
        obx.obx_11 = status
        obx.obx_14 = reported
        obx.obx_16.xcn_1.value = ST(flat(report.expert.code))
        obx.obx_16.xcn_2.fn_1.value = ST(flat(report.expert.name))
        return obx

    abnormal = {1: "AA", 2: "AA", 3: "A"}.get(report.critical_category or 0, "")
    for sub_id, (name, _, loinc, loinc_name) in enumerate(SECTIONS, start=1):
        text = getattr(report, name)
        if not text.strip():
            continue
        for line in lines(text):
            obx = observation("TX", (loinc, loinc_name), str(sub_id))
            obx.obx_5.datatype = "TX"
            obx.obx_5.value = TX(_escaped(line))
            if name == "impression" and abnormal:
                obx.obx_8 = abnormal
    if report.critical_category in CRITICAL_WORDS:
        category = report.critical_category
        obx = observation("CE", CRITICAL_CATEGORY)
        obx.obx_5 = f"{category}^{CRITICAL_WORDS[category]}^L"  # constants, no delimiter
        obx.obx_8 = abnormal
    if report.discrepancy in DISCREPANCIES:
        discrepancy = Discrepancy(report.discrepancy)
        observation("CE", DISCREPANCY).obx_5 = f"{discrepancy}^{discrepancy.title()}^L"
    digest = observation("ST", SHA256)
    digest.obx_5.datatype = "ST"
    digest.obx_5.value = ST(flat(report.sha256))
    return str(message.to_er7()) + "\r"


def lines(text: str) -> list[str]:
    """The lines of a section as its OBX carry them: split at any line break (CR, LF,
    CRLF, and the 0x0B, 0x1C… str.splitlines takes for breaks), control characters dropped."""
    return [CONTROL.sub("", line) for line in text.splitlines()]


def flat(text: str) -> str:
    """A one-line value: its line breaks made spaces, control characters dropped,
    backslashes written as HL7's escape sequence (hl7apy escapes the delimiters)."""
    return _escaped(" ".join(lines(text)))


def _escaped(text: str) -> str:
    return text.replace("\\", "\\E\\")


def hl7_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%d%H%M%S+0000")
