"""A real PACS at a site: Orthanc, under the site's AE title, pushes a study to the gateway
(C-STORE as a PACS sends it, not as dcmtk does), and the study reaches its case."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from sqlalchemy import select

from garde.domain import EventKind
from garde.models import CaseEvent, Instance, Series, Site, Study
from garde.temporal import wait_for_port
from tests.conftest import Region, Stack, free_port, wait_for
from tests.dicom.conftest import GatewayProcess, with_new_uids

# SQLite only: the gateway's index on PostgreSQL is the other DICOM tests' business.
pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)


@dataclass
class OrthancProcess:
    """Orthanc on loopback with its own storage; `api` is its REST root."""

    process: subprocess.Popen[bytes]
    api: str

    def upload(self, path: Path) -> dict[str, str]:
        answer = requests.post(f"{self.api}/instances", data=path.read_bytes(), timeout=30)
        assert answer.status_code == 200, answer.text
        uploaded: dict[str, str] = answer.json()
        return uploaded

    def push(self, modality: str, resource: str) -> dict[str, object]:
        """C-STORE of a resource to a modality, waiting for the outcome."""
        answer = requests.post(
            f"{self.api}/modalities/{modality}/store",
            json={"Resources": [resource], "Synchronous": True},
            timeout=60,
        )
        assert answer.status_code == 200, answer.text
        outcome: dict[str, object] = answer.json()
        return outcome


@pytest.fixture(scope="session")
def orthanc_binary() -> str:
    """Debian's Orthanc (in /usr/sbin, off a user's PATH), or the test is skipped (failed
    under GARDE_REQUIRE_DICOM_TOOLS=1)."""
    found = shutil.which("Orthanc", path=f"{os.environ.get('PATH', '')}:/usr/sbin")
    if found is None:
        reason = "Orthanc is not installed (Debian package orthanc)"
        if os.environ.get("GARDE_REQUIRE_DICOM_TOOLS") == "1":
            pytest.fail(reason + " and GARDE_REQUIRE_DICOM_TOOLS=1")
        pytest.skip(reason)
    return found


@pytest.fixture
def orthanc(
    orthanc_binary: str, region: Region, stack_gateway: GatewayProcess, tmp_path: Path
) -> Iterator[OrthancProcess]:
    """Orthanc as the region's site's PACS, knowing the gateway as the modality "garde"."""
    dicom_port, http_port = free_port(), free_port()
    folder = tmp_path / "orthanc"
    config = tmp_path / "orthanc.json"
    config.write_text(
        json.dumps(
            {
                "Name": "site-pacs",
                "StorageDirectory": str(folder / "storage"),
                "IndexDirectory": str(folder / "index"),
                "DicomAet": region.site[:16],
                "DicomPort": dicom_port,
                "HttpPort": http_port,
                "RemoteAccessAllowed": False,
                "AuthenticationEnabled": False,
                "Plugins": [],
                "DicomModalities": {
                    "garde": [stack_gateway.ae_title, "127.0.0.1", stack_gateway.port]
                },
            }
        )
    )
    with (tmp_path / "orthanc.log").open("ab") as log:
        # Nagle's algorithm off, as bench.ingest runs it: no delayed ACK on each C-STORE.
        process = subprocess.Popen(
            [orthanc_binary, str(config)],
            env={**os.environ, "TCP_NODELAY": "1"},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port("127.0.0.1", http_port, process)
        yield OrthancProcess(process, f"http://127.0.0.1:{http_port}")
    finally:
        process.kill()
        process.wait(timeout=20)


def test_a_study_orthanc_pushes_is_indexed_for_its_site_and_reaches_its_case(
    stack: Stack,
    region: Region,
    stack_gateway: GatewayProcess,
    orthanc: OrthancProcess,
    tmp_path: Path,
) -> None:
    case = region.submit()
    study_uid = generate_uid()
    first, second = generate_uid(), generate_uid()
    files = [
        with_new_uids(
            get_testdata_file("CT_small.dcm") or "",
            tmp_path / "sent",
            study_uid=study_uid,
            series_uid=series_uid,
            AccessionNumber=case["accession_number"],
        )
        for series_uid in (first, first, second)
    ]
    studies = {orthanc.upload(path)["ParentStudy"] for path in files}
    assert len(studies) == 1

    pushed = orthanc.push("garde", studies.pop())
    assert (pushed["InstancesCount"], pushed["FailedInstancesCount"]) == (3, 0), pushed

    def linked() -> Study | None:
        with stack.sessions() as s:
            study = s.scalar(select(Study).where(Study.study_instance_uid == study_uid))
            return study if study is not None and study.case_id == case["id"] else None

    study = wait_for(linked, what="the study linked to its case")
    with stack.sessions() as s:
        site_id = s.scalar(select(Site.id).where(Site.code == region.site))
        stored = s.execute(
            select(Instance.sop_instance_uid, Instance.path)
            .join(Series, Instance.series_id == Series.id)
            .where(Series.study_id == study.id)
        ).all()
        kinds = s.scalars(select(CaseEvent.kind).where(CaseEvent.case_id == case["id"])).all()
    assert (study.site_id, study.calling_ae) == (site_id, region.site[:16])
    assert (study.series_count, study.instance_count) == (2, 3)
    assert sorted(uid for uid, _ in stored) == sorted(path.stem for path in files)
    assert all((stack_gateway.data_dir / path).is_file() for _, path in stored)
    assert EventKind.STUDY_ARRIVED in kinds
    assert region.case(case["id"])["study"]["instances"] == 3
