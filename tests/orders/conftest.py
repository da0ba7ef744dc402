"""HL7 v2 orders in: ORM^O01 messages built with hl7apy, python-hl7's MLLP client,
and `garde gateway` (its MLLP listener on a free GARDE_HL7_PORT) beside the real stack."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hl7.client import MLLPClient
from hl7apy.base_datatypes import ST
from hl7apy.core import Message
from hl7apy.parser import parse_message
from sqlalchemy import update

from garde.models import Site
from reports.mllp import END_BLOCK, START_BLOCK
from tests.conftest import Region, Stack, free_port, make_region, on_sqlite_only
from tests.dicom.conftest import GatewayProcess


def orm(
    facility: str,
    placer: str,
    control: str = "NW",
    question: str = "Chute sous anticoagulants, hématome ?",
    charset: str = "UNICODE UTF-8",
    **fields: str,
) -> str:
    """An ORM^O01 as a RIS sends it; `fields` set more (obr_24="CT") or, empty, leave out."""
    message = Message("ORM_O01", version="2.5")
    msh = message.msh
    msh.msh_3 = "RIS"
    msh.msh_4 = facility
    msh.msh_9 = "ORM^O01^ORM_O01"
    msh.msh_10 = "MSG-" + secrets.token_hex(4)
    msh.msh_11 = "P"
    msh.msh_18 = charset
    patient = message.add_group("ORM_O01_PATIENT")
    patient.pid.pid_3 = "IPP-4711^^^CHU"
    patient.pid.pid_5 = "DUPONT^Jeanne"
    patient.pid.pid_7 = "19410517"
    patient.pid.pid_8 = "F"
    order = message.add_group("ORM_O01_ORDER")
    order.orc.orc_1 = control
    order.orc.orc_2 = placer
    values: dict[str, str] = {
        "orc_7": "^^^^^S",
        "orc_12": "12345^MARTIN^Paul^^^Dr",
        "orc_14": "^WPN^PH^^33^4^71000000",
        "obr_4": "ZCT01^CT tête sans injection^L",
        "obr_18": "ACC-" + secrets.token_hex(4),
        "obr_24": "CT",
        **fields,
    }
    for name, value in values.items():
        if value:
            segment = order.orc if name.startswith("orc") else order.orm_o01_order_detail.obr
            setattr(segment, name, value)
    if question:
        order.orm_o01_order_detail.obr.obr_13.value = ST(question)
    return str(message.to_er7()) + "\r"


def send(port: int, *messages: str | bytes, encoding: str = "utf-8") -> list[str]:
    """Each message sent on one connection by python-hl7's MLLP client, each ACK read back
    (as text, CR-separated)."""
    answers = []
    with MLLPClient("127.0.0.1", port, encoding=encoding) as client:
        client.socket.settimeout(30)
        for message in messages:
            framed: bytes = client.send_message(message)
            assert framed.startswith(START_BLOCK) and END_BLOCK in framed, framed
            answers.append(framed[1 : framed.index(END_BLOCK)].decode(encoding))
    return answers


def ack(text: str) -> Any:
    """The ACK parsed by hl7apy."""
    return parse_message(text, find_groups=False)


def errors(text: str) -> list[tuple[str, str]]:
    """Each ERR's location (ERR-2) and code (ERR-3.1)."""
    return [
        (err.err_2.to_er7(), err.err_3.cwe_1.to_er7())
        for err in ack(text).children
        if err.name == "ERR"
    ]


@pytest.fixture(scope="module")
def ordering(stack: Stack) -> Iterator[Region]:
    """A region whose site takes orders from HL7 facility HL7-<site>; its open cases are
    cancelled after the module."""
    region = make_region(stack)
    with stack.sessions.begin() as s:
        s.execute(
            update(Site).where(Site.code == region.site).values(hl7_facility=facility(region))
        )
    yield region
    region.cancel_open_cases()


def facility(region: Region) -> str:
    return f"HL7-{region.site}"


@pytest.fixture(scope="module")
def hl7_port(
    stack: Stack, ordering: Region, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[int]:
    """`garde gateway` beside the stack's web and worker; its MLLP port."""
    yield from _gateway(stack.env, tmp_path_factory.mktemp("hl7-gateway"))


def _gateway(env: dict[str, str], tmp: Path) -> Iterator[int]:
    port, hl7_port = free_port(), free_port()
    gateway = GatewayProcess(
        env=env
        | {
            "GARDE_DICOM_PORT": str(port),
            "GARDE_DICOM_HOST": "127.0.0.1",
            "GARDE_HL7_PORT": str(hl7_port),
        },
        data_dir=Path(env["GARDE_DATA_DIR"]),
        log=tmp / "gateway.log",
        port=port,
    )
    gateway.start()  # its MLLP listener is bound before its DICOM port
    yield hl7_port
    gateway.stop()


@pytest.fixture
def gateway_without_temporal(stack: Stack, ordering: Region, tmp_path: Path) -> Iterator[int]:
    """A gateway of the same database whose Temporal is nowhere; its MLLP port."""
    on_sqlite_only(
        stack.env["GARDE_DATABASE_URL"],
        "Temporal away; the reconciler's queries run on every stack",
    )
    yield from _gateway(
        stack.env | {"GARDE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}"}, tmp_path
    )
