"""The acknowledgement of an order (HL7 v2.5 original mode, built with hl7apy): AA taken;
AE refused for its content (each problem an ERR: ERR-2 where, ERR-3 the table 0357 code,
ERR-4 severity E, ERR-8 the reason in words), which sending it again will not mend; AR
rejected (not an order Garde takes: unknown facility, message type, version or character
set, or Garde could not take it now), which the RIS may send again.

MSA-3 holds the first reason, cut to its 80 characters; ERR-8 the whole. Reasons name
fields and what they must be, never a value of the order.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from datetime import UTC, datetime

from hl7apy.base_datatypes import ID, IS, ST, TX
from hl7apy.core import Message

from garde.validation import CONTROL
from orders.hl7_orders import ERROR_TEXT, Header, Problem

ACCEPTED, ERROR, REJECTED = "AA", "AE", "AR"
PROCESSING_IDS = ("P", "T", "D")  # HL7 table 0103: production, training, debugging
# HL7 v2.5 gives MSA-3 (text message) 80 characters.
MSA_3_LENGTH = 80


def ack(header: Header, code: str, problems: Sequence[Problem] = (), text: str = "") -> bytes:
    """The ACK for the message of `header`, encoded as it was (its MSH-18 repeated)."""
    message = Message("ACK", version="2.5")
    msh = message.msh
    msh.msh_3 = "GARDE"
    msh.msh_4 = "GARDE"
    msh.msh_5.hd_1.value = IS(_text(header.application))
    msh.msh_6.hd_1.value = IS(_text(header.facility))
    msh.msh_7 = datetime.now(UTC).strftime("%Y%m%d%H%M%S+0000")
    msh.msh_9.msg_1, msh.msh_9.msg_2, msh.msh_9.msg_3 = "ACK", "O01", "ACK"
    msh.msh_10 = "GARDE-" + secrets.token_hex(8)
    msh.msh_11 = header.processing_id if header.processing_id in PROCESSING_IDS else "P"
    msh.msh_12 = "2.5"
    if header.charset:
        msh.msh_18.value = ID(_text(header.charset))
    msa = message.msa
    msa.msa_1 = code
    msa.msa_2.value = ST(_text(header.control_id))
    said = text or (str(problems[0]) if problems else "")
    if said:
        msa.msa_3.value = ST(_text(said)[:MSA_3_LENGTH])
    for problem in problems:
        err = message.add_segment("ERR")
        where = problem.location
        if where is not None:  # ERL: segment, its sequence, field, repetition, component
            err.err_2.erl_1, err.err_2.erl_2, err.err_2.erl_3 = where.segment, "1", str(where.field)
            if where.component:
                err.err_2.erl_4, err.err_2.erl_5 = "1", str(where.component)
        condition = err.err_3  # CWE: code, text, coding system
        condition.cwe_1, condition.cwe_2 = str(problem.code), ERROR_TEXT[problem.code]
        condition.cwe_3 = "HL70357"
        err.err_4 = "E"
        err.err_8.value = TX(_text(str(problem)))
    body = str(message.to_er7()) + "\r"
    return body.encode(header.codec, "replace")


def _text(value: str) -> str:
    """A value written as it reads back: hl7apy escapes the delimiters, and every backslash
    is written HL7's way first (hl7apy leaves one that looks like an escape sequence)."""
    return CONTROL.sub("", value).replace("\\", "\\E\\")
