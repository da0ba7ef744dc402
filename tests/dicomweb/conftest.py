"""Studies pushed once per stack through STOW-RS for the DICOMweb read tests, the logins that
read them, and a reader of multipart/related answers that keeps each part's headers."""

from __future__ import annotations

import io
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, cast

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from garde.accounts import create_token
from garde.domain import Role
from tests.conftest import Region, Stack, add_login, make_region
from web.multipart_related import parts

CT = get_testdata_file("CT_small.dcm")
RLE = get_testdata_file("MR_small_RLE.dcm")
J2K = get_testdata_file("JPEG2000.dcm")
RLE_2_FRAMES = get_testdata_file("SC_rgb_rle_2frame.dcm")


def copy(source: str, study: str, series: str, **changes: object) -> Dataset:
    ds = dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return ds


def client(stack: Stack, token: str | None = None, root: str | None = None) -> DICOMwebClient:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return DICOMwebClient(root or f"{stack.url}/dicomweb", headers=headers)


@dataclass
class Pushed:
    """Two studies of one site; the first linked to a case alice holds."""

    region: Region
    case_id: int
    tag: str  # in every patient name and ID here, so searches find only these
    ct: list[Dataset]  # study 1, series 1: two uncompressed CT instances
    rle: Dataset  # study 1, series 2: one RLE MR instance
    j2k: Dataset  # study 2: JPEG 2000
    rgb: Dataset  # study 2: two RLE frames, RGB
    other_site_token: str

    @property
    def study(self) -> str:
        return str(self.ct[0].StudyInstanceUID)

    @property
    def study2(self) -> str:
        return str(self.j2k.StudyInstanceUID)


@pytest.fixture(scope="session")
def pushed(stack: Stack) -> Iterator[Pushed]:
    region = make_region(stack)
    tag = secrets.token_hex(3).upper()
    case = region.submit()
    study, series, study2, series2 = (generate_uid() for _ in range(4))
    common = {
        "PatientName": f"Dupont{tag}^Jean^Marc",
        "PatientID": f"P{tag}",
        "AccessionNumber": case["accession_number"],
        "StudyDate": "20240102",
        "StudyDescription": "CT HEAD",
        "StudyTime": "101500",
        "PatientSex": "M",
    }
    ct = [copy(CT, study, series, **common, InstanceNumber=n) for n in (1, 2)]
    rle = copy(RLE, study, generate_uid(), **common, Modality="MR")
    other = {
        "PatientName": f"Martin{tag}^Eloise",
        "PatientID": f"Q{tag}",
        "AccessionNumber": f"A{tag}",
        "StudyDate": "20230505",
        "StudyDescription": "Hand",
    }
    j2k = copy(J2K, study2, series2, **other)
    rgb = copy(RLE_2_FRAMES, study2, series2, **other)
    answer = client(stack, region.site_token).store_instances([*ct, rle, j2k, rgb])
    assert "FailedSOPSequence" not in answer
    alice = region.experts["alice"]
    taken = stack.api(alice.token).post(f"/api/v1/cases/{case['id']}/accept")
    assert taken.status_code == 200, taken.text
    region.wait_status(case["id"], "accepted")
    with stack.sessions.begin() as s:
        other_site = add_login(
            s, f"other-{tag}", Role.SITE, site_code=region.site.replace("SITE", "ELSEWHERE")
        )
        other_token = create_token(s, other_site)
    yield Pushed(region, case["id"], tag, ct, rle, j2k, rgb, other_token)
    region.cancel_open_cases()


@dataclass
class Answer:
    content_type: str
    parts: list[tuple[dict[str, str], bytes]]


def multipart(response: requests.Response) -> Answer:
    """The parts of a multipart/related answer, each with its headers."""
    assert response.status_code == 200, response.text
    content_type = response.headers["Content-Type"]
    params = dict(
        (k.strip().lower(), v.strip().strip('"'))
        for k, _, v in (p.partition("=") for p in content_type.split(";")[1:])
    )
    found = [
        (part.headers, cast(BinaryIO, part).read())
        for part in parts(io.BytesIO(response.content), params["boundary"])
    ]
    return Answer(content_type, found)


def as_data_set(data: bytes) -> Dataset:
    return dcmread(io.BytesIO(data))


def json_of(response: requests.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()
