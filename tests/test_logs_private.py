"""Log lines are JSON and never name the patient (issue 10).

A case's whole life (request, images over DICOM, SMS offer, SMS acceptance, reports, billing)
on a stack of its own whose web, worker and gateway all log at DEBUG; then every line of every
log of that stack is read back. The same stack's worker serves Temporal's SDK metrics.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import hl7
import pytest
import requests
from flask import Response
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from pynetdicom import AE
from sqlalchemy import select, update

from garde.db import upgrade
from garde.logs import JsonFormatter, TextFormatter
from garde.models import BillingLine, Case, Site, Study
from garde.settings import Settings
from garde.temporal import start_dev_server, wait_for_port
from tests.conftest import (
    Region,
    Stack,
    case_request,
    free_port,
    make_region,
    start_stack,
    wait_for,
)
from tests.orders.conftest import ack, orm, send
from web import create_app
from web.api.describe import check_answer

SURNAME, GIVEN = "Quenouille-Barbotin", "Eulalie"
QUESTION = f"Mme {GIVEN} {SURNAME}: chute escalier, anticoagulants, hematome sousdural ?"
# Every one of these, in any case, is patient data: the name, each part of it, the question's
# telling words (the accession number is added per run).
PRIVATE = list(
    dict.fromkeys(
        [f"{SURNAME}^{GIVEN}", SURNAME, *SURNAME.split("-"), GIVEN]
        + [word for word in re.findall(r"\w+", QUESTION) if len(word) >= 6]
    )
)
KEYS = ("time", "level", "logger", "role", "message")


def leak(line: str, private: list[str]) -> str | None:
    """Why this log line is not acceptable, or None: not one JSON object with the expected
    keys, or quoting any of `private` (case ignored, JSON escapes read)."""
    try:
        entry = json.loads(line)
    except ValueError:
        return "not JSON"
    if not isinstance(entry, dict) or any(key not in entry for key in KEYS):
        return f"not an object with {', '.join(KEYS)}"
    text = (line + json.dumps(entry, ensure_ascii=False)).lower()
    quoted = [p for p in private if p.lower() in text]
    return f"quotes {quoted}" if quoted else None


def _record(message: str, *args: object, error: BaseException | None = None) -> logging.LogRecord:
    exc_info = (type(error), error, error.__traceback__) if error else None
    return logging.LogRecord("garde.test", logging.ERROR, __file__, 1, message, args, exc_info)


def _raised(text: str) -> BaseException:
    try:
        try:
            raise KeyError(text)
        except KeyError as e:
            raise ValueError(f"refused {text}") from e
    except ValueError as e:
        return e


def test_the_checker_finds_a_leak_and_the_formatters_drop_exception_texts() -> None:
    """The grep below is proven on a line that leaks: a message quoting the patient."""
    formatter = JsonFormatter("worker")
    leaking = formatter.format(_record("case %s for %s", 7, SURNAME.upper()))
    assert leak(leaking, PRIVATE) == f"quotes {[SURNAME, *SURNAME.split('-')]}", PRIVATE
    assert leak("Traceback (most recent call last):", PRIVATE) == "not JSON"
    assert leak('{"message": "x"}', PRIVATE) == f"not an object with {', '.join(KEYS)}"

    # An exception is its types and its stack: its text may quote what it refused.
    line = formatter.format(_record("case %s failed", 7, error=_raised(QUESTION)))
    assert leak(line, PRIVATE) is None
    entry = json.loads(line)
    assert entry["message"] == "case 7 failed" and entry["role"] == "worker"
    assert entry["exception"] == "ValueError" and entry["caused_by"] == "KeyError"
    assert "_raised" in entry["stack"] and entry["time"].endswith("+00:00")
    text = TextFormatter("web").format(_record("case %s failed", 7, error=_raised(QUESTION)))
    assert "ValueError (caused by KeyError)" in text and "_raised" in text
    assert not any(p.lower() in text.lower() for p in PRIVATE)

    # Extras are written as fields: ids a line is about.
    structured = logging.makeLogRecord({"msg": "offer sent", "case_id": 7, "site": "SITE-A"})
    entry = json.loads(formatter.format(structured))
    assert (entry["message"], entry["case_id"], entry["site"]) == ("offer sent", 7, "SITE-A")


def test_an_uncaught_exception_and_a_warning_are_json_lines_without_their_text(
    tmp_path: Path,
) -> None:
    program = (
        "import warnings\n"
        "from garde.logs import configure_logging\n"
        "from garde.settings import Settings\n"
        "configure_logging('worker', Settings.from_env())\n"
        "warnings.warn('about case 7')\n"
        f"raise ValueError({QUESTION!r})\n"
    )
    env = {
        **os.environ,
        "GARDE_DATA_DIR": str(tmp_path),
        "GARDE_LOG_FORMAT": "json",
        "GARDE_LOG_LEVEL": "INFO",
    }
    ran = subprocess.run(
        [sys.executable, "-c", program], env=env, capture_output=True, text=True, timeout=60
    )
    assert ran.returncode == 1 and ran.stdout == ""
    lines = ran.stderr.splitlines()
    assert [leak(line, PRIVATE) for line in lines] == [None, None], ran.stderr
    warned, uncaught = (json.loads(line) for line in lines)
    assert warned["logger"] == "py.warnings" and "about case 7" in warned["message"]
    assert (uncaught["level"], uncaught["exception"]) == ("CRITICAL", "ValueError")


def test_an_answer_unlike_its_model_is_logged_without_its_values(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Found leaking: in the tests' stacks (GARDE_CHECK_API_ANSWERS) an answer unlike its
    model was logged with pydantic's text, which quotes the whole answer."""
    settings = Settings.from_env({"GARDE_DATA_DIR": str(tmp_path)})
    upgrade(settings.database_url)
    app = create_app(settings)
    stray = {"id": 1, "sight": "record", "clinical_question": QUESTION, "status": SURNAME}
    with app.test_request_context("/api/v1/cases/1"), caplog.at_level(logging.ERROR):
        app.preprocess_request()
        answer = check_answer(Response(json.dumps(stray), mimetype="application/json"))
    assert answer.status_code == 500
    [line] = [r.getMessage() for r in caplog.records if r.name == "web.api.describe"]
    assert "GET /api/v1/cases/1 answered 200 unlike its model: " in line
    assert "status: " in line and "site: Field required" in line
    assert leak(JsonFormatter("web").format(caplog.records[-1]), PRIVATE) is None


@pytest.fixture(scope="module")
def observed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Web, worker (serving its SDK metrics) and gateway on a Temporal server of their own,
    all at DEBUG: the session's stacks log at INFO and share their namespaces."""
    tmp = tmp_path_factory.mktemp("observed")
    port = free_port()
    temporal = start_dev_server(tmp / "temporal", port=port, persist=False)
    env = {
        "GARDE_LOG_LEVEL": "DEBUG",
        "GARDE_LOG_FORMAT": "json",
        "GARDE_WORKER_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "GARDE_DICOM_HOST": "127.0.0.1",
        "GARDE_DICOM_PORT": str(free_port()),
        "GARDE_HL7_PORT": str(free_port()),
    }
    try:
        yield from start_stack(
            tmp, f"sqlite:///{tmp / 'garde.db'}", f"127.0.0.1:{port}", "default", True, env
        )
    finally:
        temporal.terminate()
        temporal.wait(timeout=20)


@pytest.fixture(scope="module")
def lived(observed: Stack) -> dict[str, object]:
    """One urgent case from request to billing line, with the patient named in its request,
    its images and its report, and the same patient ordered over HL7; what a test must look
    for."""
    stack = observed
    region = make_region(stack)
    stack.start("gateway")  # after the region: it reads the sites' AE titles at start
    wait_for_port("127.0.0.1", int(stack.env["GARDE_DICOM_PORT"]), stack.processes["gateway"])
    accession = "ACC-" + secrets.token_hex(5)
    # Refusals quote nothing they refused: a request, an image, an SMS each naming the patient.
    refused = stack.api(region.site_token).post(
        "/api/v1/cases", json=case_request(accession_number=accession, priority=SURNAME)
    )
    assert refused.status_code == 400, refused.text
    case = region.submit(accession_number=accession, clinical_question=QUESTION)
    assert _send_image(stack, region, accession, StudyInstanceUID=None) != 0x0000
    assert _send_image(stack, region, accession) == 0x0000
    alice = region.experts["alice"]
    code = region.offer_sms("alice")
    assert stack.sms_reply(alice.phone, f"{SURNAME} ?").status_code == 200
    assert stack.sms_reply(alice.phone, f"oui {code}").status_code == 200
    region.wait_status(case["id"], "accepted")
    api = stack.api(alice.token)
    for kind in ("preliminary", "final"):
        r = api.post(
            f"/api/v1/cases/{case['id']}/report",
            json={"kind": kind, "findings": f"{SURNAME}: {QUESTION}", "impression": GIVEN},
        )
        assert r.status_code == 201, r.text
    with stack.sessions() as s:
        wait_for(
            lambda: s.scalar(select(BillingLine.id).where(BillingLine.case_id == case["id"])),
            what="the billing line",
        )
        wait_for(
            lambda: s.scalar(select(Study.case_id).where(Study.accession_number == accession)),
            what="the images linked to the case",
        )
    return {"accession": accession, "case_id": case["id"], "patient_id": _order(stack, region)}


def _order(stack: Stack, region: Region) -> str:
    """The patient ordered over HL7 (the gateway's MLLP port): taken, sent again with an
    empty escape sequence in the name (python-hl7 warns of it quoting the value), refused
    for a bad birth date, then cancelled; the patient's id."""
    patient_id = "IPP-" + secrets.token_hex(5)
    with stack.sessions.begin() as s:
        s.execute(update(Site).where(Site.code == region.site).values(hl7_facility=region.site))

    def message(number: str, surname: str = SURNAME, **fields: str) -> bytes:
        parsed = hl7.parse(orm(region.site, number, question=QUESTION))
        parsed["PID.F3.R1.C1"], parsed["PID.F5.R1.C1"] = patient_id, surname
        parsed["PID.F5.R1.C2"] = GIVEN
        for key, value in fields.items():  # accessor keys: "PID.F7"
            parsed[key] = value
        return (str(parsed) + "\r").encode()

    number = "PO-" + secrets.token_hex(4)
    port = int(stack.env["GARDE_HL7_PORT"])
    answers = send(port, message(number), message(number, surname=f"{SURNAME}\\\\"))
    assert [ack(a).msa.msa_1.to_er7() for a in answers] == ["AA", "AA"]
    (refused,) = send(port, message("PO-" + secrets.token_hex(4), **{"PID.F7": "1941-05-17"}))
    assert ack(refused).msa.msa_1.to_er7() == "AE"
    with stack.sessions() as s:
        case = s.scalars(select(Case).where(Case.placer_order_number == number)).one()
    assert (case.patient_id, case.patient_name) == (patient_id, f"{SURNAME} {GIVEN}")
    region.wait_status(case.id, "offered")
    (cancelled,) = send(port, message(number, **{"ORC.F1": "CA"}))
    assert ack(cancelled).msa.msa_1.to_er7() == "AA"
    region.wait_status(case.id, "cancelled")
    return patient_id


def _send_image(stack: Stack, region: Region, accession: str, **changes: object) -> int:
    """A CT slice of the patient, as the site's PACS sends it (C-STORE from its AE title),
    with `changes` (None: without that element); the C-STORE status."""
    ds = dcmread(get_testdata_file("CT_small.dcm") or "")
    ds.PatientName, ds.AccessionNumber = f"{SURNAME}^{GIVEN}", accession
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ae = AE(ae_title=region.site[:16])
    ae.add_requested_context(ds.SOPClassUID, ds.file_meta.TransferSyntaxUID)
    port = int(stack.env["GARDE_DICOM_PORT"])
    association = ae.associate("127.0.0.1", port, ae_title="GARDE")
    assert association.is_established
    try:
        status: int = association.send_c_store(ds).Status
    finally:
        association.release()
    return status


def test_the_worker_serves_temporal_sdk_metrics(observed: Stack, lived: dict[str, object]) -> None:
    address = observed.env["GARDE_WORKER_METRICS_ADDRESS"]
    served = requests.get(f"http://{address}/metrics", timeout=10)
    assert served.status_code == 200
    names = {line.split("{")[0].split(" ")[0] for line in served.text.splitlines()}
    assert "temporal_request" in names
    assert any(name.startswith("temporal_workflow_task_") for name in names), sorted(names)
    assert any(name.startswith("temporal_activity_") for name in names), sorted(names)


def test_no_log_line_of_a_case_s_life_names_the_patient(
    observed: Stack, lived: dict[str, object]
) -> None:
    for name in list(observed.processes):  # stopping logs too: those lines are read as well
        observed.stop(name)
    accession = str(lived["accession"])
    patient_id = str(lived["patient_id"])
    private = [*PRIVATE, accession, accession.removeprefix("ACC-"), patient_id]
    private.append(patient_id.removeprefix("IPP-"))
    roles: set[str] = set()
    problems = []
    logs = sorted(observed.logs.glob("*.log"))
    assert {p.name for p in logs} >= {"web.log", "worker.log", "gateway.log"}
    for path in logs:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            why = leak(line, private)
            if why:
                problems.append(f"{path.name}:{number}: {why}: {line[:300]}")
            else:
                roles.add(json.loads(line)["role"])
    assert not problems, "\n".join(problems)
    assert roles == {"web", "worker", "gateway"}
