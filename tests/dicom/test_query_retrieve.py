"""A site's PACS restoring from the gateway with dcmtk: C-FIND finds its own studies only,
C-GET brings every object back over the association, C-MOVE sends them to the site's AE
title at its host and port, and an unknown destination is refused."""

from __future__ import annotations

import secrets
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import select

from garde.db import SessionFactory
from garde.models import Instance, SiteAeTitle
from garde.temporal import wait_for_port
from tests.conftest import free_port, wait_for
from tests.dicom.conftest import GatewayProcess, Sites, with_new_uids

pytestmark = pytest.mark.usefixtures("dcmtk")


@dataclass(frozen=True)
class Pushed:
    """Studies of two sites sharing a patient name prefix: `mine` (two studies of site A),
    `theirs` (one of site B); their files by SOP Instance UID."""

    prefix: str
    mine: list[str]
    theirs: str
    own_title: str
    other_title: str
    files: dict[str, Path]


@pytest.fixture(scope="module")
def pushed(
    gateway: GatewayProcess,
    gateway_sites: Sites,
    sessions: SessionFactory,
    tmp_path_factory: pytest.TempPathFactory,
) -> Pushed:
    folder = tmp_path_factory.mktemp("pushed")
    own, other = list(gateway_sites.ids)[:2]
    prefix = "RESTORE" + secrets.token_hex(3).upper()
    ct, mr, jpeg = (
        get_testdata_file(name) or name
        for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_jpeg_gdcm.dcm")
    )
    first, second, theirs = generate_uid(), generate_uid(), generate_uid()
    series = generate_uid()
    mine_files = [
        *(
            with_new_uids(
                ct,
                folder,
                first,
                series,
                PatientName=f"{prefix}^ONE",
                PatientID=f"{prefix}-1",
                StudyDate="20260110",
            )
            for _ in range(2)
        ),
        with_new_uids(
            jpeg,
            folder,
            first,
            None,
            PatientName=f"{prefix}^ONE",
            PatientID=f"{prefix}-1",
            StudyDate="20260110",
        ),
        with_new_uids(
            mr,
            folder,
            second,
            None,
            PatientName=f"{prefix}^TWO",
            PatientID=f"{prefix}-2",
            StudyDate="20260301",
        ),
    ]
    their_file = with_new_uids(ct, folder, theirs, None, PatientName=f"{prefix}^ONE")
    for title, files in ((own, mine_files), (other, [their_file])):
        sent = gateway.send(title, *files)
        assert sent.returncode == 0, sent.stderr
    files = {str(dcmread(p).SOPInstanceUID): p for p in [*mine_files, their_file]}

    def indexed() -> bool:
        with sessions() as s:
            found = s.scalars(
                select(Instance.sop_instance_uid).where(Instance.sop_instance_uid.in_(files))
            )
            return len(found.all()) == len(files)

    wait_for(indexed, what="the pushed objects indexed")
    return Pushed(prefix, [first, second], theirs, own, other, files)


def _find(gateway: GatewayProcess, title: str, folder: Path, *keys: str, root: str = "-S") -> list:
    """findscu's answers, each extracted to a file and read back."""
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["findscu", root, "-aet", title, "-aec", gateway.ae_title, "-X", "-od", str(folder),
         "127.0.0.1", str(gateway.port), *(arg for key in keys for arg in ("-k", key))],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    return [dcmread(p) for p in sorted(folder.glob("rsp*.dcm"))]


def test_c_find_answers_the_own_sites_studies_only(
    gateway: GatewayProcess, pushed: Pushed, tmp_path: Path
) -> None:
    answers = _find(
        gateway, pushed.own_title, tmp_path / "study",
        "QueryRetrieveLevel=STUDY", f"PatientName={pushed.prefix.lower()}*",
        "StudyInstanceUID", "ModalitiesInStudy", "NumberOfStudyRelatedInstances",
        "StudyTime", "PatientBirthDate", "OperatorsName",
    )  # fmt: skip
    assert {str(a.StudyInstanceUID) for a in answers} == set(pushed.mine)
    first = next(a for a in answers if a.StudyInstanceUID == pushed.mine[0])
    assert str(first.PatientName) == f"{pushed.prefix}^ONE"
    assert int(first.NumberOfStudyRelatedInstances) == 3
    assert "CT" in list(first.ModalitiesInStudy)
    assert first.StudyTime == "072730"  # not in the index: from a stored header
    assert first.PatientBirthDate == ""  # asked, empty in the header
    assert first.OperatorsName == ""  # asked, in neither: empty
    assert "RetrieveAETitle" in first and "PatientSex" not in first  # asked for only

    # The other site, the same name: its own study alone.
    answers = _find(
        gateway, pushed.other_title, tmp_path / "other",
        "QueryRetrieveLevel=STUDY", f"PatientName={pushed.prefix}*", "StudyInstanceUID",
    )  # fmt: skip
    assert [str(a.StudyInstanceUID) for a in answers] == [pushed.theirs]

    # A date range, a list of UIDs, a modality.
    answers = _find(
        gateway, pushed.own_title, tmp_path / "dates",
        "QueryRetrieveLevel=STUDY", "StudyDate=20260201-20260331",
        f"StudyInstanceUID={pushed.mine[0]}\\{pushed.mine[1]}\\{pushed.theirs}",
    )  # fmt: skip
    assert [str(a.StudyInstanceUID) for a in answers] == [pushed.mine[1]]
    answers = _find(
        gateway, pushed.own_title, tmp_path / "modality",
        "QueryRetrieveLevel=STUDY", f"PatientName={pushed.prefix}*", "ModalitiesInStudy=MR",
        "StudyInstanceUID",
    )  # fmt: skip
    assert [str(a.StudyInstanceUID) for a in answers] == [pushed.mine[1]]


def test_c_find_at_series_and_image_level_and_patient_root(
    gateway: GatewayProcess, pushed: Pushed, tmp_path: Path
) -> None:
    series = _find(
        gateway, pushed.own_title, tmp_path / "series",
        "QueryRetrieveLevel=SERIES", f"StudyInstanceUID={pushed.mine[0]}", "SeriesInstanceUID",
        "Modality", "NumberOfSeriesRelatedInstances",
    )  # fmt: skip
    assert sorted(int(a.NumberOfSeriesRelatedInstances) for a in series) == [1, 2]
    images = _find(
        gateway, pushed.own_title, tmp_path / "images",
        "QueryRetrieveLevel=IMAGE", f"StudyInstanceUID={pushed.mine[0]}", "SeriesInstanceUID",
        "SOPInstanceUID", "SOPClassUID",
    )  # fmt: skip
    mine = {uid for uid, p in pushed.files.items() if dcmread(p).StudyInstanceUID == pushed.mine[0]}
    assert {str(a.SOPInstanceUID) for a in images} == mine
    # Another site's study, asked by its UID: nothing.
    assert _find(
        gateway, pushed.own_title, tmp_path / "theirs",
        "QueryRetrieveLevel=SERIES", f"StudyInstanceUID={pushed.theirs}", "SeriesInstanceUID",
    ) == []  # fmt: skip
    patients = _find(
        gateway, pushed.own_title, tmp_path / "patients",
        "QueryRetrieveLevel=PATIENT", f"PatientName={pushed.prefix}^T*", "PatientID",
        "NumberOfPatientRelatedStudies", root="-P",
    )  # fmt: skip
    assert [(str(a.PatientName), int(a.NumberOfPatientRelatedStudies)) for a in patients] == [
        (f"{pushed.prefix}^TWO", 1)
    ]


def _same_objects(received: Path, pushed: Pushed, uids: set[str], decompressed: bool) -> None:
    """The objects received are the ones pushed: as stored, byte for byte in their syntax;
    with `decompressed`, a compressed one as its decoded pixels, in explicit VR."""
    got = {str(dcmread(p).SOPInstanceUID): dcmread(p) for p in received.iterdir() if p.is_file()}
    assert set(got) == uids
    for uid, ds in got.items():
        original = dcmread(pushed.files[uid])
        assert ds.PatientName == original.PatientName
        stored = original.file_meta.TransferSyntaxUID
        if decompressed and stored.is_compressed:
            assert ds.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
            assert (ds.pixel_array == original.pixel_array).all()
        else:
            assert ds.file_meta.TransferSyntaxUID == stored
            assert ds.PixelData == original.PixelData


def _get(
    gateway: GatewayProcess,
    title: str,
    folder: Path,
    *keys: str,
    options: tuple[str, ...] = ("-S",),
) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["getscu", "-v", *options, "-aet", title, "-aec", gateway.ae_title, "-od", str(folder),
         "127.0.0.1", str(gateway.port), *(arg for key in keys for arg in ("-k", key))],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout + done.stderr


def test_c_get_brings_every_object_of_a_study_back(
    gateway: GatewayProcess, pushed: Pushed, tmp_path: Path
) -> None:
    study = pushed.mine[0]
    uids = {u for u, p in pushed.files.items() if dcmread(p).StudyInstanceUID == study}
    compressed = {
        u for u in uids if dcmread(pushed.files[u]).file_meta.TransferSyntaxUID.is_compressed
    }
    assert len(compressed) == 1
    said = _get(
        gateway, pushed.own_title, tmp_path / "study",
        "QueryRetrieveLevel=STUDY", f"StudyInstanceUID={study}",
    )  # fmt: skip
    # getscu accepts uncompressed syntaxes only: the JPEG object comes decompressed.
    _same_objects(tmp_path / "study", pushed, uids, decompressed=True)
    assert "Number of Completed Suboperations : 3" in said, said
    assert "Number of Failed Suboperations    : 0" in said

    # Patient Root, a patient by its ID: that patient's study of this site.
    _get(
        gateway, pushed.own_title, tmp_path / "patient",
        "QueryRetrieveLevel=PATIENT", f"PatientID={pushed.prefix}-2", options=("-P",),
    )  # fmt: skip
    mr = {u for u, p in pushed.files.items() if dcmread(p).StudyInstanceUID == pushed.mine[1]}
    _same_objects(tmp_path / "patient", pushed, mr, decompressed=False)

    # No Study Instance UID at level STUDY: refused before anything is sent.
    said = _get(
        gateway, pushed.own_title, tmp_path / "none",
        "QueryRetrieveLevel=STUDY", "StudyDate=20260110",
    )  # fmt: skip
    assert "C-GET Response (Error: DataSetDoesNotMatchSOPClass)" in said, said  # 0xA900
    assert "Number of Completed Suboperations : 0" in said
    assert list((tmp_path / "none").iterdir()) == []


@pytest.fixture
def storescp(tmp_path: Path) -> Iterator[Callable[..., tuple[int, Path]]]:
    """Start dcmtk's storescp on a free port: `+xa` accepts every transfer syntax it knows,
    without it only the uncompressed ones."""
    started: list[subprocess.Popen[bytes]] = []

    def start(*options: str) -> tuple[int, Path]:
        port, folder = free_port(), tmp_path / f"received-{len(started)}"
        folder.mkdir()
        process = subprocess.Popen(
            ["storescp", *options, "-od", str(folder), str(port)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        started.append(process)
        wait_for_port("127.0.0.1", port, process)
        return port, folder

    yield start
    for process in started:
        process.terminate()
        process.wait(timeout=20)


def _move(gateway: GatewayProcess, title: str, destination: str, study: str) -> str:
    done = subprocess.run(
        ["movescu", "-v", "-S", "-aet", title, "-aec", gateway.ae_title, "-aem", destination,
         "127.0.0.1", str(gateway.port),
         "-k", "QueryRetrieveLevel=STUDY", "-k", f"StudyInstanceUID={study}"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    return done.stdout + done.stderr


def _destination(sessions: SessionFactory, title: str, port: int) -> None:
    with sessions.begin() as s:
        row = s.scalars(select(SiteAeTitle).where(SiteAeTitle.ae_title == title)).one()
        row.host, row.port = "127.0.0.1", port


def test_c_move_sends_a_study_to_the_sites_destination(
    gateway: GatewayProcess,
    pushed: Pushed,
    sessions: SessionFactory,
    storescp: Callable[..., tuple[int, Path]],
) -> None:
    study = pushed.mine[0]
    uids = {u for u, p in pushed.files.items() if dcmread(p).StudyInstanceUID == study}
    port, folder = storescp("+xa")
    _destination(sessions, pushed.own_title, port)
    said = _move(gateway, pushed.own_title, pushed.own_title, study)
    assert "Received Move Response 3 (Pending)" in said, said
    assert "Received Final Move Response (Success)" in said, said
    _same_objects(folder, pushed, uids, decompressed=False)  # the JPEG one as stored

    # Another site's study, named by its UID: nothing to send.
    said = _move(gateway, pushed.own_title, pushed.own_title, pushed.theirs)
    assert "Received Final Move Response (Success)" in said, said
    assert "Pending" not in said
    assert len(list(folder.iterdir())) == len(uids)

    # A destination that takes no JPEG: the JPEG object decompressed.
    port, folder = storescp()
    _destination(sessions, pushed.own_title, port)
    said = _move(gateway, pushed.own_title, pushed.own_title, study)
    assert "Received Final Move Response (Success)" in said, said
    _same_objects(folder, pushed, uids, decompressed=True)


def test_c_move_to_an_unknown_destination_fails_with_a801(
    gateway: GatewayProcess, pushed: Pushed, sessions: SessionFactory
) -> None:
    """A title of no site, and another site's title (with an address), are both unknown."""
    with sessions.begin() as s:
        row = s.scalars(select(SiteAeTitle).where(SiteAeTitle.ae_title == pushed.other_title)).one()
        row.host, row.port = "127.0.0.1", free_port()
    for destination in ("NOWHERE", pushed.other_title):
        said = _move(gateway, pushed.own_title, destination, pushed.mine[0])
        # dcmtk's name for 0xA801
        assert "Final Move Response (Refused: MoveDestinationUnknown)" in said, said
