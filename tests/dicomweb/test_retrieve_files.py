"""dicom/retrieve.py on stored files of every uncompressed encoding: a frame is the same
Explicit VR Little Endian bytes whether the file is implicit VR or big endian, metadata names
large values by BulkDataURIs without reading them, and a nested value's tag path resolves."""

from __future__ import annotations

from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom import retrieve

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")
MR_BIG_ENDIAN = get_testdata_file("MR_small_bigendian.dcm")


def test_frames_of_implicit_and_big_endian_files(tmp_path: Path) -> None:
    implicit = dcmread(CT)
    implicit.file_meta.TransferSyntaxUID = ImplicitVRLittleEndian
    path = tmp_path / "implicit.dcm"
    implicit.save_as(path, enforce_file_format=True)

    got = retrieve.frames(path, [1])
    assert got.transfer_syntax == ExplicitVRLittleEndian and not got.compressed
    assert list(got.data) == [dcmread(CT).PixelData]
    big = retrieve.frames(Path(MR_BIG_ENDIAN), [1])
    assert list(big.data) == [dcmread(MR).PixelData]  # swapped to little endian

    found = retrieve.metadata(path, lambda tags: f"URI/{tags}", None)
    assert found["7FE00010"] == {"vr": "OW", "BulkDataURI": "URI/7FE00010"}
    assert found["00083002"]["Value"] == [ImplicitVRLittleEndian]


def test_a_nested_bulk_value_resolves(tmp_path: Path) -> None:
    ds = dcmread(CT)
    item = Dataset()
    item.add_new(0x00420011, "OB", b"\x01" * 3000)  # Encapsulated Document: an OB value
    ds.add_new(0x00540016, "SQ", [item])  # Radiopharmaceutical Information Sequence
    path = tmp_path / "nested.dcm"
    ds.save_as(path, enforce_file_format=True)

    found = retrieve.metadata(path, lambda tags: tags, None)
    uri = found["00540016"]["Value"][0]["00420011"]["BulkDataURI"]
    assert uri == "00540016/0/00420011"
    assert retrieve.bulk_value(path, uri.split("/"), None) == b"\x01" * 3000
