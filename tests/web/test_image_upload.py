"""A site uploads images on its case page: DICOM files and .zip archives of them, through the
checks every image passes, indexed and linked to the case; what was refused is named with its
reason, in English and in French. A zip slip or a zip bomb is refused whole: nothing of it is
stored."""

from __future__ import annotations

import html
import re
import zipfile
from io import BytesIO
from pathlib import Path

from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from sqlalchemy import select

from garde.models import Instance
from tests.conftest import Region
from tests.web.test_pages import Browser, csrf_token

CT = get_testdata_file("CT_small.dcm")


def dicom(study: str, **changes: object) -> tuple[str, bytes]:
    """A DICOM file of `study` under a fresh SOP Instance UID: its UID and its bytes."""
    ds = dcmread(CT)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, generate_uid()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return ds.SOPInstanceUID, out.getvalue()


def archive(entries: dict[str, bytes]) -> bytes:
    out = BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, data in entries.items():
            z.writestr(name, data)
    return out.getvalue()


def send(
    site: Browser, case_id: int, files: list[tuple[str, bytes]], **headers: str
) -> tuple[int, str]:
    page = f"/site/cases/{case_id}"
    token = csrf_token(site.get(page).text)
    r = site.http.post(
        f"{site.base}{page}/images",
        data={"csrf_token": token},
        files=[("files", (name, data)) for name, data in files],
        headers=headers,
        timeout=60,
    )
    text = re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", r.text)))
    return r.status_code, text.replace(" :", ":")


def stored(region: Region, *uids: str) -> list[str]:
    with region.stack.sessions() as s:
        return list(
            s.scalars(select(Instance.sop_instance_uid).where(Instance.sop_instance_uid.in_(uids)))
        )


def test_files_and_a_zip_are_kept_and_linked_refusals_named(region: Region) -> None:
    case = region.submit()
    study = generate_uid()
    accession = case["accession_number"]
    one, one_bytes = dicom(study, AccessionNumber=accession)
    two, two_bytes = dicom(study, AccessionNumber=accession)
    three, three_bytes = dicom(study, AccessionNumber=accession)
    site = Browser(region.stack).login(region.site_username)

    status, page = send(
        site,
        case["id"],
        [
            ("one.dcm", one_bytes),
            ("study.zip", archive({"a/two.dcm": two_bytes, "a/three": three_bytes,
                                   "a/DICOMDIR": b"index", "a/notes.txt": b"hello"})),
            ("cut.dcm", one_bytes[:-100]),
        ],
    )  # fmt: skip

    assert status == 200
    assert "3 images kept." in page
    assert "2 refused: study.zip: a/notes.txt: not a DICOM file" in page
    assert "cut.dcm: incomplete: the file ends before its data" in page
    assert sorted(stored(region, one, two, three)) == sorted([one, two, three])
    found = region.stack.api(region.site_token).get(f"/api/v1/cases/{case['id']}/study").json()
    assert [s["instance_count"] for s in found["studies"]] == [3]

    # Again, in French, with a study of another case: kept, and said to wait for its own.
    other, other_bytes = dicom(generate_uid(), AccessionNumber="ACC-elsewhere")
    status, page = send(
        site, case["id"], [("one.dcm", one_bytes), ("other.dcm", other_bytes)],
        **{"Accept-Language": "fr"},
    )  # fmt: skip
    assert status == 200
    assert "1 image gardée. 1 était déjà là." in page
    assert "1 étude n’est pas de ce dossier" in page
    assert stored(region, other) == [other]


def test_a_zip_slip_or_a_zip_bomb_is_refused_whole(region: Region, tmp_path: Path) -> None:
    case = region.submit()
    site = Browser(region.stack).login(region.site_username)
    study = generate_uid()
    kept, kept_bytes = dicom(study)
    climbing, climbing_bytes = dicom(study)
    rooted, rooted_bytes = dicom(study)
    bomb = archive({"ok.dcm": kept_bytes, "zeros.dcm": bytes(20 << 20)})

    status, page = send(
        site,
        case["id"],
        [
            ("slip.zip", archive({"ok.dcm": kept_bytes, "../../evil.dcm": climbing_bytes})),
            ("rooted.zip", archive({"ok.dcm": kept_bytes, "/etc/evil.dcm": rooted_bytes})),
            ("bomb.zip", bomb),
        ],
    )

    assert status == 200
    assert "0 images kept." in page
    leaves = "a name leaves the archive's folder (../ or /); nothing was taken from it"
    assert f"slip.zip: {leaves}" in page and f"rooted.zip: {leaves}" in page
    assert "bomb.zip: it would unpack to more than 100 times its size" in page
    assert stored(region, kept, climbing, rooted) == []
    status, page = send(site, case["id"], [("slip.zip", bomb)], **{"Accept-Language": "fr"})
    assert "rien n’en a été pris" in page

    # Nothing chosen: said so.
    token = csrf_token(site.get(f"/site/cases/{case['id']}").text)
    r = site.http.post(
        f"{site.base}/site/cases/{case['id']}/images", data={"csrf_token": token}, timeout=60
    )
    assert r.status_code == 400 and "Choose the images to send" in html.unescape(r.text)
