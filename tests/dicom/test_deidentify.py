"""De-identification for share links (PS3.15 E.1-1, Basic Profile) on pydicom's test files:
every attribute of the table that carried a value no longer carries it, at any depth; UIDs
are new, the same for the same input and key, and references inside sequences follow them;
private attributes, curves and overlay data go; the pixel data is untouched."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.tag import BaseTag
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from dicom.deidentify import BASIC_PROFILE, deidentify, new_uid

KEY = b"a share's key"
FILES = ("CT_small.dcm", "MR_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "examples_overlay.dcm")
UID_2_25 = re.compile(r"^2\.25\.(0|[1-9][0-9]{0,38})$")


def read(name: str) -> Dataset:
    path = get_testdata_file(name)
    assert path is not None, f"pydicom's test file {name} is missing"
    return dcmread(path)


def values(ds: Dataset) -> set[tuple[str, str]]:
    """Each attribute of the table with a value, at any depth, as (keyword, value)."""
    found: set[tuple[str, str]] = set()

    def note(_: Dataset, elem: DataElement) -> None:
        empty = elem.value in (None, "", b"")
        if elem.keyword in BASIC_PROFILE and elem.VR != "SQ" and not empty:
            found.add((elem.keyword, str(elem.value)))

    ds.walk(note)
    return found


def private_tags(ds: Dataset) -> list[BaseTag]:
    found: list[BaseTag] = []
    ds.walk(lambda _, elem: found.append(elem.tag) if elem.tag.is_private else None)
    return found


@pytest.mark.parametrize("name", FILES)
def test_every_profile_attribute_with_a_value_is_gone_or_replaced(name: str) -> None:
    original = read(name)
    before = values(original)
    assert before, f"{name} has attributes of the table"

    done = deidentify(read(name), KEY)

    assert not before & values(done), "values of the table left as they were"
    assert private_tags(done) == []
    assert done.PatientIdentityRemoved == "YES"
    assert done.DeidentificationMethodCodeSequence[0].CodeValue == "113100"
    assert done.DeidentificationMethodCodeSequence[0].CodingSchemeDesignator == "DCM"
    # Still a DICOM file that reads back, with the same pixels.
    written = BytesIO()
    done.save_as(written, enforce_file_format=True)
    again = dcmread(BytesIO(written.getvalue()))
    if "PixelData" in original:
        assert again.PixelData == original.PixelData


def test_each_action_of_the_basic_profile_column() -> None:
    ds = read("CT_small.dcm")
    assert ds.PatientName and ds.PatientAge and ds.StudyDate and ds.InstitutionName
    study, series = ds.StudyInstanceUID, ds.SeriesInstanceUID

    deidentify(ds, KEY)

    # Z: present, empty.
    for keyword in ("PatientName", "PatientBirthDate", "PatientSex", "AccessionNumber"):
        assert keyword in ds and not ds[keyword].value, keyword
    for keyword in ("StudyDate", "StudyTime", "StudyID", "ReferringPhysicianName"):
        assert keyword in ds and not ds[keyword].value, keyword
    # X: removed.
    for keyword in ("PatientAge", "PatientWeight", "OtherPatientIDsSequence", "StudyDescription"):
        assert keyword not in ds, keyword
    # X/Z/D (Institution Name, Station Name), Z/D (Patient ID): a dummy, valid whatever
    # the attribute's type in the IOD.
    assert ds.InstitutionName == "ANONYMIZED"
    assert ds.StationName == "ANONYMIZED"
    assert ds.PatientID == "ANONYMIZED"
    # U: consistent new UIDs.
    assert ds.StudyInstanceUID == new_uid(KEY, study)
    assert ds.SeriesInstanceUID == new_uid(KEY, series)
    assert ds.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    # Outside the table: kept.
    assert ds.Modality == "CT" and ds.Rows == 128


def test_new_uids_are_2_25_the_same_for_the_same_input_and_key_and_unlike_the_original() -> None:
    uid = generate_uid()
    made = new_uid(KEY, uid)
    assert UID_2_25.match(made) and len(made) <= 64
    assert made != uid
    assert new_uid(KEY, uid) == made
    assert new_uid(b"another share", uid) != made
    assert new_uid(KEY, generate_uid()) != made
    # Two instances of one study and series, asked one after the other: the same parents.
    first, second = read("CT_small.dcm"), read("CT_small.dcm")
    second.SOPInstanceUID = second.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    deidentify(first, KEY)
    deidentify(second, KEY)
    assert first.StudyInstanceUID == second.StudyInstanceUID
    assert first.SeriesInstanceUID == second.SeriesInstanceUID
    assert first.FrameOfReferenceUID == second.FrameOfReferenceUID
    assert first.SOPInstanceUID != second.SOPInstanceUID


def test_references_inside_sequences_follow_the_new_uids() -> None:
    referenced = read("CT_small.dcm")
    referring = _referring_to(referenced)
    original_ref = referenced.SOPInstanceUID

    deidentify(referenced, KEY)
    deidentify(referring, KEY)

    item = referring.ReferencedImageSequence[0]
    assert item.ReferencedSOPInstanceUID == referenced.SOPInstanceUID != original_ref
    assert item.ReferencedSOPClassUID == referenced.SOPClassUID  # a class UID: kept
    deeper = referring.SourceImageSequence[0].ReferencedImageSequence[0]
    assert deeper.ReferencedSOPInstanceUID == referenced.SOPInstanceUID
    assert deeper.PersonName == "ANONYMOUS"  # a table row at depth two
    # pydicom's own file with a reference in a sequence.
    jpeg = read("JPEG2000.dcm")
    refs = [e.value for e in _all(jpeg) if e.keyword == "ReferencedSOPInstanceUID"]
    deidentify(jpeg, KEY)
    assert [e.value for e in _all(jpeg) if e.keyword == "ReferencedSOPInstanceUID"] == [
        new_uid(KEY, r) for r in refs
    ]


def test_private_attributes_curves_and_overlay_data_and_comments_go() -> None:
    ds = read("examples_overlay.dcm")
    assert (0x6000, 0x3000) in ds and private_tags(ds)
    ds.add_new((0x6000, 0x4000), "LT", "overlay drawn by Dr Who")
    ds.add_new((0x5000, 0x3000), "OB", b"\x01\x02")
    rows = ds[0x6000, 0x0010].value

    deidentify(ds, KEY)

    assert private_tags(ds) == []
    assert (0x6000, 0x3000) not in ds and (0x6000, 0x4000) not in ds
    assert not any(elem.tag.group == 0x5000 for elem in ds)
    assert ds[0x6000, 0x0010].value == rows  # outside the table: kept


def _referring_to(target: Dataset) -> Dataset:
    """An instance whose sequences, two deep, name `target`."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = target.SOPClassUID
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = target.StudyInstanceUID, generate_uid()
    ref = Dataset()
    ref.ReferencedSOPClassUID, ref.ReferencedSOPInstanceUID = (
        target.SOPClassUID,
        target.SOPInstanceUID,
    )
    ds.ReferencedImageSequence = [ref]
    deeper = Dataset()
    deeper.ReferencedSOPClassUID, deeper.ReferencedSOPInstanceUID = (
        target.SOPClassUID,
        target.SOPInstanceUID,
    )
    deeper.PersonName = "Who^Doctor"
    source = Dataset()
    source.ReferencedImageSequence = [deeper]
    ds.SourceImageSequence = [source]
    return ds


def _all(ds: Dataset) -> list[DataElement]:
    found: list[DataElement] = []
    ds.walk(lambda _, elem: found.append(elem))
    return found
