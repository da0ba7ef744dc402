"""The gateway with dcmtk, as a site's modality or PACS talks to it: who may associate, objects
in their own transfer syntaxes stored as received and indexed, bad objects refused with a
failure status, a repeated object stored once, text in its character set."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.data import get_charset_files, get_testdata_file
from pydicom.uid import generate_uid
from pynetdicom import AE, _config
from sqlalchemy import select

from dicom.ingest import Source, ingest, ingest_stream
from dicom.objects import Refused, read_object
from dicom.storage import Storage
from dicom.whole import data_set_start
from garde.db import SessionFactory
from garde.models import Instance, Series, Study
from tests.conftest import wait_for
from tests.dicom.conftest import GatewayProcess, Sites, with_new_uids

pytestmark = pytest.mark.usefixtures("dcmtk")

# One file of pydicom's per transfer syntax the gateway accepts.
BY_SYNTAX = {
    "1.2.840.10008.1.2": "MR_small_implicit.dcm",
    "1.2.840.10008.1.2.1": "CT_small.dcm",
    "1.2.840.10008.1.2.1.99": "image_dfl.dcm",
    "1.2.840.10008.1.2.4.50": "SC_rgb_jpeg_dcmtk.dcm",
    "1.2.840.10008.1.2.4.51": "JPGExtended.dcm",
    "1.2.840.10008.1.2.4.70": "SC_rgb_jpeg_gdcm.dcm",
    "1.2.840.10008.1.2.4.80": "MR_small_jpeg_ls_lossless.dcm",
    "1.2.840.10008.1.2.4.81": "JPEGLSNearLossless_08.dcm",
    "1.2.840.10008.1.2.4.90": "MR_small_jp2klossless.dcm",
    "1.2.840.10008.1.2.4.91": "JPEG2000.dcm",
    "1.2.840.10008.1.2.5": "MR_small_RLE.dcm",
}


def _title(sites: Sites, n: int) -> str:
    return list(sites.ids)[n]


def _instances(sessions: SessionFactory, uids: list[str]) -> dict[str, Instance]:
    with sessions() as s:
        found = s.scalars(select(Instance).where(Instance.sop_instance_uid.in_(uids)))
        return {i.sop_instance_uid: i for i in found}


def _indexed(sessions: SessionFactory, uids: list[str]) -> dict[str, Instance]:
    """The instances, once all indexed: the gateway writes an association's batch when it
    closes, which may be after the sender has left."""

    def all_of_them() -> dict[str, Instance] | None:
        found = _instances(sessions, uids)
        return found if len(found) == len(uids) else None

    return wait_for(all_of_them, what=f"{len(uids)} instances indexed")


def test_a_site_ae_title_may_echo_and_any_other_is_rejected(
    gateway: GatewayProcess, gateway_sites: Sites
) -> None:
    assert gateway.echo(_title(gateway_sites, 0)).returncode == 0
    refused = gateway.echo("NOT-A-SITE")
    assert refused.returncode != 0
    said = refused.stdout + refused.stderr
    assert "Rejected Permanent, Source: Service User" in said
    assert "Calling AE Title Not Recognized" in said
    wait_for(
        lambda: "rejected an association from AE NOT-A-SITE" in gateway.log_text(),
        what="the rejection in the gateway's log",
    )


def test_objects_are_stored_as_received_in_their_transfer_syntax_and_indexed(
    gateway: GatewayProcess, gateway_sites: Sites, sessions: SessionFactory, tmp_path: Path
) -> None:
    title = _title(gateway_sites, 1)
    study = generate_uid()
    files = {
        syntax: with_new_uids(get_testdata_file(name) or name, tmp_path, study_uid=study)
        for syntax, name in BY_SYNTAX.items()
    }
    implicit = files["1.2.840.10008.1.2"]
    sent = gateway.send(title, *(f for f in files.values() if f != implicit))
    assert sent.returncode == 0, sent.stderr
    sent = gateway.store_implicit(title, implicit)
    assert sent.returncode == 0, sent.stderr

    uids = {syntax: str(dcmread(path).SOPInstanceUID) for syntax, path in files.items()}
    indexed = _indexed(sessions, list(uids.values()))
    assert {syntax: indexed[uid].transfer_syntax_uid for syntax, uid in uids.items()} == {
        syntax: syntax for syntax in BY_SYNTAX
    }
    for syntax, path in files.items():
        row = indexed[uids[syntax]]
        stored = gateway.data_dir / row.path
        assert row.size_bytes == stored.stat().st_size
        # As received: the same data set, pixel data byte for byte, in the same syntax.
        original, kept = dcmread(path), dcmread(stored)
        assert kept.file_meta.TransferSyntaxUID == syntax
        assert kept.PixelData == original.PixelData
        assert read_object(stored).sop_instance_uid == uids[syntax]
    with sessions() as s:
        found = s.scalars(select(Study).where(Study.study_instance_uid == study)).one()
        series = s.scalars(select(Series).where(Series.study_id == found.id)).all()
        assert found.site_id == gateway_sites.ids[title]
        assert found.calling_ae == title
        assert (found.series_count, found.instance_count) == (len(files), len(files))
        assert found.size_bytes == sum(i.size_bytes for i in indexed.values())
        assert found.modalities == sorted(
            {dcmread(p).get("Modality", "") for p in files.values()} - {""}
        )
        assert sum(s.instance_count for s in series) == len(files)
        assert found.first_arrival_at <= found.last_arrival_at


def test_a_repeated_instance_is_acknowledged_and_stored_once(
    gateway: GatewayProcess, gateway_sites: Sites, sessions: SessionFactory, tmp_path: Path
) -> None:
    title = _title(gateway_sites, 2)
    path = with_new_uids(get_testdata_file("CT_small.dcm") or "", tmp_path)
    uid = str(dcmread(path).SOPInstanceUID)
    assert gateway.send(title, path).returncode == 0
    row = _indexed(sessions, [uid])[uid]
    stored = gateway.data_dir / row.path
    before = stored.stat()

    # The same UID again, with other contents: acknowledged, and nothing stored changes.
    again = with_new_uids(path, tmp_path / "again", PatientName="Other^Name")
    ds = dcmread(again)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    ds.save_as(again)
    # A new object of the study in the same association: once it is indexed, so is the
    # batch that held the repeats.
    study_uid, series_uid = (
        str(dcmread(path).StudyInstanceUID),
        str(dcmread(path).SeriesInstanceUID),
    )
    marker = with_new_uids(path, tmp_path / "again", study_uid=study_uid, series_uid=series_uid)
    sent = gateway.send(title, again, path, marker)
    assert sent.returncode == 0, sent.stderr
    _indexed(sessions, [str(dcmread(marker).SOPInstanceUID)])
    with sessions() as s:
        study = s.scalars(select(Study).where(Study.study_instance_uid == study_uid)).one()
        assert (study.series_count, study.instance_count) == (1, 2)
    after = stored.stat()
    assert (after.st_ino, after.st_mtime_ns, after.st_size) == (
        before.st_ino,
        before.st_mtime_ns,
        before.st_size,
    )
    assert dcmread(stored).PatientName == dcmread(path).PatientName
    copies = [p for p in (gateway.data_dir / "dicom").rglob("*.dcm") if p.name == stored.name]
    assert copies == [stored]


def test_text_is_read_in_its_character_set(
    gateway: GatewayProcess, gateway_sites: Sites, sessions: SessionFactory, tmp_path: Path
) -> None:
    """pydicom's charset files (those with UIDs to store them by), a misspelled term read as
    meant, and no (0008,0005) read as Latin-1."""
    title = _title(gateway_sites, 3)
    files = [
        with_new_uids(path, tmp_path)
        for path in get_charset_files("chr*.dcm")
        if "SOPClassUID" in dcmread(path)
    ]
    misspelled = with_new_uids(
        get_charset_files("chrX1.dcm")[0], tmp_path, SpecificCharacterSet="ISO IR 192"
    )
    latin1 = with_new_uids(get_charset_files("chrFren.dcm")[0], tmp_path, SpecificCharacterSet=None)
    assert len(files) >= 14
    sent = gateway.send(title, *files, misspelled, latin1)
    assert sent.returncode == 0, sent.stderr

    _indexed(sessions, [str(dcmread(p).SOPInstanceUID) for p in [*files, misspelled, latin1]])
    expected = {str(dcmread(p).StudyInstanceUID): str(dcmread(p).PatientName) for p in files}
    expected[str(dcmread(misspelled).StudyInstanceUID)] = "Wang^XiaoDong=王^小東"
    expected[str(dcmread(latin1).StudyInstanceUID)] = "Buc^Jérôme"
    with sessions() as s:
        found = dict(
            s.execute(
                select(Study.study_instance_uid, Study.patient_name).where(
                    Study.study_instance_uid.in_(expected)
                )
            ).all()
        )
        charsets = dict(
            s.execute(
                select(Study.study_instance_uid, Study.character_set).where(
                    Study.study_instance_uid.in_(expected)
                )
            ).all()
        )
    assert found == expected
    assert charsets[str(dcmread(misspelled).StudyInstanceUID)] == "ISO IR 192"
    assert charsets[str(dcmread(latin1).StudyInstanceUID)] == ""
    assert "Jérôme" not in gateway.log_text() and "Buc" not in gateway.log_text()


def _c_store(gateway: GatewayProcess, title: str, path: Path) -> int:
    """Send the file's bytes as they are (pynetdicom's chunked send: dcmtk would refuse to
    send a broken file); the status the gateway answered."""
    _config.STORE_SEND_CHUNKED_DATASET = True
    try:
        ae = AE(title)
        ds = dcmread(path, stop_before_pixels=True, force=True)
        ae.add_requested_context(
            ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.TransferSyntaxUID
        )
        assoc = ae.associate("127.0.0.1", gateway.port, ae_title=gateway.ae_title)
        assert assoc.is_established
        status = assoc.send_c_store(path)
        assoc.release()
        return int(status.Status)
    finally:
        _config.STORE_SEND_CHUNKED_DATASET = False


def test_broken_objects_get_a_failure_status_and_nothing_is_stored(
    gateway: GatewayProcess, gateway_sites: Sites, sessions: SessionFactory, tmp_path: Path
) -> None:
    title = _title(gateway_sites, 4)
    whole = with_new_uids(get_testdata_file("CT_small.dcm") or "", tmp_path)
    truncated = tmp_path / "truncated.dcm"
    truncated.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    # A file meta saying CT, then bytes that are no data set.
    garbage = tmp_path / "garbage.dcm"
    with whole.open("rb") as fp:
        meta_end = data_set_start(fp)
    garbage.write_bytes(whole.read_bytes()[:meta_end] + os.urandom(4000))
    no_study = with_new_uids(whole, tmp_path, StudyInstanceUID=None)
    bad_uid = with_new_uids(whole, tmp_path, SeriesInstanceUID="1.2.abc")

    assert _c_store(gateway, title, truncated) == 0xA900
    assert _c_store(gateway, title, garbage) == 0xA900
    assert _c_store(gateway, title, no_study) & 0xF000 == 0xC000
    assert _c_store(gateway, title, bad_uid) & 0xF000 == 0xC000

    uids = [str(dcmread(p).SOPInstanceUID) for p in (whole, no_study, bad_uid)]
    assert _instances(sessions, uids) == {}
    storage = Storage(gateway.data_dir)
    assert not any(storage.path(storage.relative_path(uid)).exists() for uid in uids)
    log = gateway.log_text()
    assert "not whole" in log and "no Study Instance UID" in log
    assert "CompressedSamples" not in log  # CT_small's patient name


def test_a_file_that_is_not_dicom_is_refused_on_every_way_in(tmp_path: Path) -> None:
    storage = Storage(tmp_path)
    text = tmp_path / "notes.dcm"
    text.write_text("not an image\n" * 100)
    with pytest.raises(Refused) as refused:
        ingest(text, Source(1), storage, 1 << 20)
    assert (refused.value.status, refused.value.reason) == (0xA900, "not a DICOM file")
    with text.open("rb") as stream, pytest.raises(Refused) as too_big:
        ingest_stream(stream, Source(1), storage, 100)
    assert too_big.value.status == 0xA700
    assert list(storage.incoming.iterdir()) == []
    assert not list(storage.root.glob("??/??/*.dcm"))
