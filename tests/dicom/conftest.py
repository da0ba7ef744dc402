"""The DICOM gateway as a real process on a free loopback port, dcmtk's tools to talk to it,
and copies of pydicom's test files under fresh UIDs (each test sends objects of its own)."""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.uid import generate_uid
from sqlalchemy.orm import Session

from dicom.index import StudyBatch
from garde.db import SessionFactory
from garde.models import Study
from garde.registry import create_site
from garde.temporal import wait_for_port
from tests.conftest import Region, Stack, free_port

DCMTK_TOOLS = ("echoscu", "storescu", "dcmsend")


@pytest.fixture(scope="session")
def dcmtk() -> None:
    """dcmtk's command line tools, or the test is skipped (failed under
    GARDE_REQUIRE_DICOM_TOOLS=1)."""
    missing = [tool for tool in DCMTK_TOOLS if shutil.which(tool) is None]
    if missing:
        reason = f"dcmtk is not installed ({', '.join(missing)} missing; Debian package dcmtk)"
        if os.environ.get("GARDE_REQUIRE_DICOM_TOOLS") == "1":
            pytest.fail(reason + " and GARDE_REQUIRE_DICOM_TOOLS=1")
        pytest.skip(reason)


@dataclass
class GatewayProcess:
    """`garde gateway` on loopback, its data folder and log; started, killed, started again."""

    env: dict[str, str]
    data_dir: Path
    log: Path
    port: int
    ae_title: str = "GARDE"
    process: subprocess.Popen[bytes] | None = field(default=None)

    def start(self) -> None:
        log = self.log.open("ab")  # closed with the process
        self.process = subprocess.Popen(
            [sys.executable, "-m", "garde.cli", "gateway"],
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        wait_for_port("127.0.0.1", self.port, self.process)

    def kill(self) -> None:
        assert self.process is not None
        self.process.kill()
        self.process.wait(timeout=20)

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(timeout=30)

    def send(self, calling_ae: str, *files: Path) -> subprocess.CompletedProcess[str]:
        """dcmsend the files on one association, each in its own transfer syntax (-dn: never
        decompressed), every file tried whatever the others' fate."""
        return subprocess.run(
            ["dcmsend", "-dn", "-aet", calling_ae, "-aec", self.ae_title, "127.0.0.1",
             str(self.port), *map(str, files)],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip

    def store_implicit(self, calling_ae: str, path: Path) -> subprocess.CompletedProcess[str]:
        """storescu proposing implicit VR little endian only (dcmsend proposes the other
        uncompressed syntaxes beside it, and the gateway prefers explicit VR)."""
        return subprocess.run(
            ["storescu", "-xi", "-nh", "-aet", calling_ae, "-aec", self.ae_title, "127.0.0.1",
             str(self.port), str(path)],
            capture_output=True,
            text=True,
            timeout=120,
        )  # fmt: skip

    def echo(self, calling_ae: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["echoscu", "-aet", calling_ae, "-aec", self.ae_title, "127.0.0.1", str(self.port)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def log_text(self) -> str:
        return self.log.read_text(errors="replace")


def new_site(session: Session, *titles: str) -> int:
    """A site with its own code sending from `titles`; its id."""
    code = "dcm-" + secrets.token_hex(4)
    return create_site(session, {"code": code, "name": code, "ae_titles": list(titles)}).id


def ae_title() -> str:
    return "PACS" + secrets.token_hex(4).upper()


def start_gateway(tmp: Path, database_url: str) -> GatewayProcess:
    port = free_port()
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("GARDE_")},
        "GARDE_DATA_DIR": str(tmp / "data"),
        "GARDE_DATABASE_URL": database_url,
        "GARDE_DICOM_HOST": "127.0.0.1",
        "GARDE_DICOM_PORT": str(port),
        "GARDE_HL7_PORT": str(free_port()),
        # No case is linked here: nothing is told to a workflow (tests of arrivals do that).
        "GARDE_TEMPORAL_ADDRESS": f"127.0.0.1:{free_port()}",
    }
    gateway = GatewayProcess(env=env, data_dir=tmp / "data", log=tmp / "gateway.log", port=port)
    gateway.start()
    return gateway


@pytest.fixture
def stack_gateway(stack: Stack, region: Region, tmp_path: Path) -> Iterator[GatewayProcess]:
    """A gateway beside the stack's web and worker, started after the region's site."""
    port = free_port()
    gateway = GatewayProcess(
        env=stack.env
        | {
            "GARDE_DICOM_PORT": str(port),
            "GARDE_DICOM_HOST": "127.0.0.1",
            "GARDE_HL7_PORT": str(free_port()),
        },
        data_dir=Path(stack.env["GARDE_DATA_DIR"]),
        log=tmp_path / "gateway.log",
        port=port,
    )
    gateway.start()
    yield gateway
    gateway.stop()


@dataclass
class Sites:
    """Sites made before the module's gateway started (it reads their titles at once)."""

    ids: dict[str, int]  # AE title -> site id


@pytest.fixture(scope="module")
def gateway_sites(sessions: SessionFactory) -> Sites:
    titles = [ae_title() for _ in range(8)]
    with sessions.begin() as s:
        return Sites({title: new_site(s, title) for title in titles})


@pytest.fixture(scope="module")
def gateway(
    dcmtk: None,
    database_url: str,
    gateway_sites: Sites,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[GatewayProcess]:
    running = start_gateway(tmp_path_factory.mktemp("gateway"), database_url)
    yield running
    running.stop()


def with_new_uids(
    source: str | Path,
    folder: Path,
    study_uid: str | None = None,
    series_uid: str | None = None,
    **changes: object,
) -> Path:
    """A copy of `source` under a fresh SOP Instance UID (and Study, Series UIDs unless
    given), in its own transfer syntax (pixel data as they were), with `changes` applied."""
    ds = dcmread(source)
    uid = generate_uid()
    ds.SOPInstanceUID = uid
    ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = series_uid or generate_uid()
    for keyword, value in changes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{uid}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path


def batch(study: Study, title: str, new_series: int, new_instances: int) -> StudyBatch:
    """What the index says a committed batch did to the study (its counts as stored)."""
    return StudyBatch(
        study_id=study.id,
        site_id=study.site_id,
        study_instance_uid=study.study_instance_uid,
        accession_number=study.accession_number,
        calling_ae=title,
        series_count=study.series_count,
        instance_count=study.instance_count,
        new_series=new_series,
        new_instances=new_instances,
        first_at=study.first_arrival_at,
        last_at=study.last_arrival_at,
    )
