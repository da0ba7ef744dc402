"""The gateway killed (-9) in the middle of an association: what it indexed is whole, a file
half received is never indexed, and sending the study again completes it, each object once."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import ExplicitVRLittleEndian, generate_uid
from sqlalchemy import func, select

from dicom.objects import read_object
from garde.db import SessionFactory
from garde.models import Instance, Series, Study
from tests.conftest import wait_for
from tests.dicom.conftest import ae_title, new_site, start_gateway

pytestmark = pytest.mark.usefixtures("dcmtk")

SLICES = 60


def _series(folder: Path) -> list[Path]:
    """A CT series of SLICES slices of 1 MiB each, one study."""
    folder.mkdir()
    ds = dcmread(get_testdata_file("CT_small.dcm") or "")
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.Rows, ds.Columns = 512, 1024
    ds.PixelData = bytes(512 * 1024 * 2)
    paths = []
    for n in range(SLICES):
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = n + 1
        paths.append(folder / f"{n:03}.dcm")
        ds.save_as(paths[-1], enforce_file_format=True)
    return paths


def _stored(data_dir: Path) -> list[Path]:
    return list((data_dir / "dicom").glob("??/??/*.dcm"))


def test_a_gateway_killed_mid_association_indexes_only_whole_objects_and_a_resend_completes(
    sessions: SessionFactory, database_url: str, tmp_path: Path
) -> None:
    title = ae_title()
    with sessions.begin() as s:
        new_site(s, title)
    files = _series(tmp_path / "series")
    study_uid = str(dcmread(files[0]).StudyInstanceUID)
    gateway = start_gateway(tmp_path, database_url)
    assert gateway.process is not None
    sending = subprocess.Popen(
        ["dcmsend", "-dn", "-aet", title, "-aec", gateway.ae_title, "127.0.0.1",
         str(gateway.port), *map(str, files)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        # Frozen as soon as a few objects are kept (the sender then waits on the socket),
        # so that it dies in the middle of the association.
        while len(_stored(gateway.data_dir)) < 3 and sending.poll() is None:
            time.sleep(0.01)
        os.kill(gateway.process.pid, signal.SIGSTOP)
        gateway.kill()
    finally:
        assert sending.wait(timeout=60) != 0, "the association ended before the gateway died"

    kept = _stored(gateway.data_dir)
    assert 3 <= len(kept) < SLICES
    for path in kept:
        read_object(path)  # each whole: kept by a link once received, never written in place
    with sessions() as s:
        rows = s.scalars(
            select(Instance).join(Series).join(Study).where(Study.study_instance_uid == study_uid)
        ).all()
    assert {gateway.data_dir / row.path for row in rows} <= set(kept)

    gateway.start()  # indexes what was kept and not yet indexed
    sent = gateway.send(title, *files)
    assert sent.returncode == 0, sent.stderr

    def complete() -> Study | None:
        with sessions() as s:
            study = s.scalars(select(Study).where(Study.study_instance_uid == study_uid)).one()
            return study if study.instance_count == SLICES else None

    study = wait_for(complete, 60, what="the study complete")
    pending = gateway.data_dir / "dicom" / "pending"
    wait_for(lambda: not any(pending.iterdir()), what="nothing left pending once indexed")
    gateway.stop()
    assert study.series_count == 1
    with sessions() as s:
        count, size = s.execute(
            select(func.count(), func.sum(Instance.size_bytes))
            .join(Series)
            .where(Series.study_id == study.id)
        ).one()
    assert (count, size) == (SLICES, study.size_bytes)
    assert len(_stored(gateway.data_dir)) == SLICES
