"""STOW-RS (POST /dicomweb/studies) with a real client, dicomweb-client: all stored (200),
some refused (202 naming each failure beside what was stored), none stored (409); the objects
indexed as one batch, linked to the site's case by accession number and its workflow told;
a study's own path refuses instances of another study; only a site's bearer token writes.
The case's studies as GET /api/v1/cases/ID/study lists them."""

from __future__ import annotations

import asyncio
from io import BytesIO

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid
from sqlalchemy import select
from temporalio.api.enums.v1 import EventType

from dicom.objects import CANNOT_UNDERSTAND, DOES_NOT_MATCH
from garde.models import Instance, Series, Site, Study
from garde.temporal import case_workflow_id
from tests.conftest import Region, Stack, wait_for
from tests.web.test_pages import Browser

CT = get_testdata_file("CT_small.dcm")
MR = get_testdata_file("MR_small.dcm")


def instance(source: str, study_uid: str, series_uid: str, **changes: object) -> Dataset:
    ds = dcmread(source)
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return ds


def client(stack: Stack, token: str, chunk_size: int = 10**6) -> DICOMwebClient:
    return DICOMwebClient(
        f"{stack.url}/dicomweb",
        headers={"Authorization": f"Bearer {token}"},
        chunk_size=chunk_size,
    )


def signals(stack: Stack, case_id: int) -> list[str]:
    async def history() -> list[str]:
        handle = (await stack.client()).get_workflow_handle(case_workflow_id(case_id))
        return [
            e.workflow_execution_signaled_event_attributes.signal_name
            for e in (await handle.fetch_history()).events
            if e.event_type == EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED
        ]

    return asyncio.run(history())


def test_all_stored_indexed_linked_and_told(stack: Stack, region: Region) -> None:
    case = region.submit()
    study, series = generate_uid(), [generate_uid(), generate_uid()]
    sent = [
        instance(CT, study, series[0], AccessionNumber=case["accession_number"]),
        instance(CT, study, series[0], AccessionNumber=case["accession_number"]),
        instance(MR, study, series[1], AccessionNumber=case["accession_number"]),
    ]

    # Sent in chunks (Transfer-Encoding: chunked, no Content-Length), as the client sends
    # a large body.
    answer = client(stack, region.site_token, chunk_size=16384).store_instances(sent)

    assert "FailedSOPSequence" not in answer
    assert [i.ReferencedSOPInstanceUID for i in answer.ReferencedSOPSequence] == [
        ds.SOPInstanceUID for ds in sent
    ]
    # Where each can be read again, at Garde's public address (the client's Host header has
    # no port: the links are not made from it).
    assert [i.RetrieveURL for i in answer.ReferencedSOPSequence] == [
        f"{stack.url}/dicomweb/studies/{study}/series/{ds.SeriesInstanceUID}"
        f"/instances/{ds.SOPInstanceUID}"
        for ds in sent
    ]
    with stack.sessions() as s:
        row = s.scalars(select(Study).where(Study.study_instance_uid == study)).one()
        assert (row.case_id, row.series_count, row.instance_count) == (case["id"], 2, 3)
        assert row.calling_ae == ""
        assert s.scalar(select(Site.code).where(Site.id == row.site_id)) == region.site
    assert region.case(case["id"])["study"]["instances"] == 3
    linked = stack.api(region.site_token).get(f"/api/v1/cases/{case['id']}/study").json()
    [got] = linked["studies"]
    assert (got["study_instance_uid"], got["series_count"], got["instance_count"]) == (study, 2, 3)
    assert got["stable"] is False and got["viewer_url"] is None
    assert [(s["series_instance_uid"], s["instance_count"]) for s in got["series"]] == [
        (series[0], 2),
        (series[1], 1),
    ]
    offered_only = stack.api(region.experts["alice"].token)
    assert offered_only.get(f"/api/v1/cases/{case['id']}/study").status_code == 403
    wait_for(lambda: "study_arrived" in signals(stack, case["id"]), what="the case told")

    # Sent again: acknowledged as stored, nothing duplicated, the case not told again.
    again = client(stack, region.site_token).store_instances(sent[:1])
    assert "FailedSOPSequence" not in again and len(again.ReferencedSOPSequence) == 1
    with stack.sessions() as s:
        assert s.scalar(select(Study.instance_count).where(Study.study_instance_uid == study)) == 3


def test_partial_failure_is_202_naming_each_failure(stack: Stack, region: Region) -> None:
    study, series = generate_uid(), generate_uid()
    good = instance(CT, study, series)
    no_uid = instance(CT, study, series)
    del no_uid.SeriesInstanceUID
    other = instance(CT, generate_uid(), series)
    http = client(stack, region.site_token)

    # Whatever Host the request names (a proxy's, a forged one), links are Garde's own.
    response = _post(
        stack, region.site_token, f"/studies/{study}", [good, no_uid, other], "elsewhere.example"
    )

    assert response.status_code == 202, response.text
    assert response.headers["Content-Type"] == "application/dicom+json"
    answer = Dataset.from_json(response.json())
    assert answer.RetrieveURL == f"{stack.url}/dicomweb/studies/{study}"
    assert [i.ReferencedSOPInstanceUID for i in answer.ReferencedSOPSequence] == [
        good.SOPInstanceUID
    ]
    failed = {i.FailureReason: i for i in answer.FailedSOPSequence}
    assert sorted(failed) == sorted([CANNOT_UNDERSTAND, DOES_NOT_MATCH])
    assert failed[DOES_NOT_MATCH].ReferencedSOPInstanceUID == other.SOPInstanceUID
    with stack.sessions() as s:
        stored = s.scalars(
            select(Instance.sop_instance_uid)
            .join(Series)
            .join(Study)
            .where(Study.study_instance_uid.in_([study, other.StudyInstanceUID]))
        ).all()
    assert stored == [good.SOPInstanceUID]
    # The real client takes a 202 as an answer, not an error.
    mixed = http.store_instances([instance(CT, study, series), no_uid])
    assert len(mixed.ReferencedSOPSequence) == len(mixed.FailedSOPSequence) == 1


def test_none_stored_is_409(stack: Stack, shared_region: Region) -> None:
    bad = instance(CT, generate_uid(), generate_uid())
    del bad.StudyInstanceUID

    with pytest.raises(requests.HTTPError) as refused:
        client(stack, shared_region.site_token).store_instances([bad])

    assert refused.value.response.status_code == 409
    answer = Dataset.from_json(refused.value.response.json())
    assert "ReferencedSOPSequence" not in answer
    assert [i.FailureReason for i in answer.FailedSOPSequence] == [CANNOT_UNDERSTAND]
    # Not DICOM at all, and a part cut short: refused the same way.
    cut = _raw(stack, shared_region.site_token, [b"not a DICOM file", b"DICM"], close=False)
    assert cut.status_code == 409, cut.text
    reasons = [i.FailureReason for i in Dataset.from_json(cut.json()).FailedSOPSequence]
    assert reasons == [DOES_NOT_MATCH, CANNOT_UNDERSTAND]


def test_who_may_store_and_how(stack: Stack, shared_region: Region) -> None:
    region = shared_region
    one = [instance(CT, generate_uid(), generate_uid())]
    expert = region.experts["alice"].token
    assert _post(stack, expert, "/studies", one).status_code == 403
    anonymous = requests.post(f"{stack.url}/dicomweb/studies", timeout=30)
    assert anonymous.status_code == 401 and anonymous.json()["error"]
    # The site's page session is not a token: a page of another origin cannot post images.
    site = Browser(stack).login(region.site_username)
    body, content_type = _body(one)
    as_page = site.http.post(
        f"{stack.url}/dicomweb/studies", data=body, headers={"Content-Type": content_type}
    )
    assert as_page.status_code == 403 and "bearer token" in as_page.json()["error"]
    # Not multipart/related of application/dicom; a study that is no UID.
    token = region.site_token
    as_json = stack.api(token).post("/dicomweb/studies", json={})
    assert as_json.status_code == 415 and as_json.json()["detail"]["Content-Type"]
    bad_study = _post(stack, token, "/studies/1.2.x", one)
    assert bad_study.status_code == 400 and "study" in bad_study.json()["detail"]
    broken = stack.api(token).post(
        "/dicomweb/studies",
        data=b"no parts here",
        headers={"Content-Type": 'multipart/related; type="application/dicom"; boundary=XX'},
    )
    assert broken.status_code == 400 and "body" in broken.json()["detail"]


BOUNDARY = "garde-test-boundary"


def _body(datasets: list[Dataset]) -> tuple[bytes, str]:
    encoded = []
    for ds in datasets:
        out = BytesIO()
        ds.save_as(out, enforce_file_format=True)
        encoded.append(out.getvalue())
    return _multipart(encoded), _content_type()


def _content_type() -> str:
    return f'multipart/related; type="application/dicom"; boundary={BOUNDARY}'


def _multipart(parts: list[bytes], close: bool = True) -> bytes:
    body = b"".join(
        f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
        for part in parts
    )
    return body + (f"--{BOUNDARY}--\r\n".encode() if close else b"")


def _post(
    stack: Stack, token: str, path: str, datasets: list[Dataset], host: str | None = None
) -> requests.Response:
    body, content_type = _body(datasets)
    headers = {"Content-Type": content_type} | ({"Host": host} if host else {})
    return stack.api(token).post("/dicomweb" + path, data=body, headers=headers)


def _raw(stack: Stack, token: str, parts: list[bytes], close: bool) -> requests.Response:
    return stack.api(token).post(
        "/dicomweb/studies",
        data=_multipart(parts, close)[: -2 if not close else None],
        headers={"Content-Type": _content_type()},
    )
