"""WADO-RS with a real client (dicomweb-client): studies, series and instances as stored (their
transfer syntax kept), metadata whose BulkDataURIs resolve, frames of uncompressed and
compressed objects with the transfer syntax of each part, and the 406s."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.uid import JPEG2000, ExplicitVRLittleEndian, RLELossless
from sqlalchemy import select

from garde.models import Instance
from tests.conftest import Stack
from tests.dicomweb.conftest import Pushed, as_data_set, client, json_of, multipart

ANY_SYNTAX = 'multipart/related; type="application/dicom"; transfer-syntax=*'
OHIF_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"


def stored(stack: Stack, sop_instance_uid: str) -> bytes:
    with stack.sessions() as s:
        path = s.scalar(select(Instance.path).where(Instance.sop_instance_uid == sop_instance_uid))
    assert path is not None
    return (Path(stack.env["GARDE_DATA_DIR"]) / path).read_bytes()


def test_study_series_instance_as_stored(stack: Stack, pushed: Pushed) -> None:
    http = client(stack, pushed.region.site_token)
    study = http.retrieve_study(pushed.study)
    assert sorted(ds.SOPInstanceUID for ds in study) == sorted(
        ds.SOPInstanceUID for ds in [*pushed.ct, pushed.rle]
    )
    rle = http.retrieve_series(pushed.study, pushed.rle.SeriesInstanceUID)
    assert [ds.file_meta.TransferSyntaxUID for ds in rle] == [RLELossless]  # not transcoded
    ct = pushed.ct[1]
    got = http.retrieve_instance(pushed.study, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert got.SOPInstanceUID == ct.SOPInstanceUID and got.PatientName == ct.PatientName
    # The bytes as stored, in a multipart/related answer with a fresh quoted boundary.
    url = f"/dicomweb/studies/{pushed.study}/series/{ct.SeriesInstanceUID}/instances/{ct.SOPInstanceUID}"
    api = stack.api(pushed.region.site_token)
    first, second = (multipart(api.get(url, headers={"Accept": ANY_SYNTAX})) for _ in "12")
    [(headers, body)] = first.parts
    assert headers["content-type"] == "application/dicom"
    assert body == stored(stack, ct.SOPInstanceUID)
    assert first.content_type.startswith('multipart/related; type="application/dicom"; boundary="')
    assert first.content_type != second.content_type  # a boundary per answer
    # A transfer syntax Garde does not hold: 406.
    with pytest.raises(requests.HTTPError) as refused:
        http.retrieve_series(
            pushed.study,
            pushed.rle.SeriesInstanceUID,
            media_types=(("application/dicom", "1.2.840.10008.1.2.4.50"),),
        )
    assert refused.value.response.status_code == 406


def test_metadata_with_bulk_data_uris_that_resolve(stack: Stack, pushed: Pushed) -> None:
    http = client(stack, pushed.region.site_token)
    ct = pushed.ct[0]
    found = http.retrieve_series_metadata(pushed.study, ct.SeriesInstanceUID)
    assert sorted(Dataset.from_json(d).SOPInstanceUID for d in found) == sorted(
        d.SOPInstanceUID for d in pushed.ct
    )
    first = next(d for d in found if d["00080018"]["Value"] == [ct.SOPInstanceUID])
    assert first["00100010"]["Value"] == [{"Alphabetic": str(ct.PatientName)}]
    assert first["00083002"]["Value"] == [ExplicitVRLittleEndian]
    pixels = first["7FE00010"]
    assert pixels["vr"] == "OW" and "InlineBinary" not in pixels
    base = f"{stack.url}/dicomweb/studies/{pushed.study}/series/{ct.SeriesInstanceUID}"
    assert pixels["BulkDataURI"] == f"{base}/instances/{ct.SOPInstanceUID}/bulkdata/7FE00010"
    # A plain GET of the URI: the value, as one octet-stream part.
    got = multipart(requests.get(pixels["BulkDataURI"], headers=_bearer(pushed), timeout=30))
    [(headers, body)] = got.parts
    assert body == ct.PixelData
    assert headers["content-type"].startswith("application/octet-stream")
    private = first["00431029"]["BulkDataURI"]  # another large value: a private OB
    [(_, value)] = multipart(requests.get(private, headers=_bearer(pushed), timeout=30)).parts
    assert value == ct[0x00431029].value
    # Study and instance level too; each instance of a study once.
    study = http.retrieve_study_metadata(pushed.study)
    assert len(study) == 3
    one = http.retrieve_instance_metadata(pushed.study, ct.SeriesInstanceUID, ct.SOPInstanceUID)
    assert one["0020000D"]["Value"] == [pushed.study]


def _bearer(pushed: Pushed) -> dict[str, str]:
    return {"Authorization": f"Bearer {pushed.region.site_token}"}


def test_frames_uncompressed_and_compressed(stack: Stack, pushed: Pushed) -> None:
    http = client(stack, pushed.region.site_token)
    ct = pushed.ct[0]
    [frame] = http.retrieve_instance_frames(
        pushed.study, ct.SeriesInstanceUID, ct.SOPInstanceUID, [1],
        media_types=(("application/octet-stream", "*"),),
    )  # fmt: skip
    assert frame == ct.PixelData
    api = stack.api(pushed.region.site_token)

    def frames(ds: Dataset, numbers: str, accept: str = OHIF_FRAMES) -> requests.Response:
        return api.get(
            f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{ds.SeriesInstanceUID}"
            f"/instances/{ds.SOPInstanceUID}/frames/{numbers}",
            headers={"Accept": accept},
        )

    native = multipart(frames(ct, "1"))
    assert native.parts == [
        (
            {"content-type": f"application/octet-stream; transfer-syntax={ExplicitVRLittleEndian}"},
            ct.PixelData,
        )
    ]
    for ds, syntax in (
        (pushed.rle, RLELossless),
        (pushed.j2k, JPEG2000),
        (pushed.rgb, RLELossless),
    ):
        count = int(ds.get("NumberOfFrames") or 1)
        want = list(generate_frames(ds.PixelData, number_of_frames=count))
        numbers = list(range(count, 0, -1))  # asked in any order
        via_client = http.retrieve_instance_frames(
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID, numbers,
            media_types=(("application/octet-stream", "*"),),
        )  # fmt: skip
        assert via_client == [want[n - 1] for n in numbers]
        got = multipart(frames(ds, ",".join(map(str, numbers))))
        assert [body for _, body in got.parts] == [want[n - 1] for n in numbers]
        for headers, _ in got.parts:
            assert headers["content-type"] == f"application/octet-stream; transfer-syntax={syntax}"
        # Asked for anything, each compressed frame comes as its own image type.
        typed = multipart(frames(ds, "1", 'multipart/related; type="*/*"'))
        assert typed.parts[0][0]["content-type"].endswith(f"; transfer-syntax={syntax}")
        # Asked uncompressed only: Garde does not decompress.
        refused = frames(ds, "1", 'multipart/related; type="application/octet-stream"')
        assert refused.status_code == 406, refused.text
    j2k = multipart(frames(pushed.j2k, "1", 'multipart/related; type="image/jp2"'))
    assert j2k.parts[0][0]["content-type"] == f"image/jp2; transfer-syntax={JPEG2000}"
    assert frames(pushed.rgb, "3").status_code == 404  # it has two
    bad = frames(ct, "0,x")
    assert bad.status_code == 400 and "frames" in bad.json()["detail"]


def test_who_reads_which_study(stack: Stack, pushed: Pushed) -> None:
    """A site its own; an expert the studies of cases they hold; another site nothing (404)."""
    study = f"/dicomweb/studies/{pushed.study}"
    other_site = stack.api(pushed.other_site_token)
    assert other_site.get(f"{study}/metadata").status_code == 404
    assert other_site.get(f"/dicomweb/studies?StudyInstanceUID={pushed.study}").json() == []
    alice = stack.api(pushed.region.experts["alice"].token)  # holds the case of study 1
    assert len(json_of(alice.get(f"{study}/metadata"))) == 3
    assert alice.get(f"/dicomweb/studies/{pushed.study2}/metadata").status_code == 404
    listed = json_of(alice.get(f"/dicomweb/studies?PatientName=*{pushed.tag}*"))
    assert [d["0020000D"]["Value"][0] for d in listed] == [pushed.study]
    bruno = stack.api(pushed.region.experts["bruno"].token)  # was offered nothing of it
    assert bruno.get(f"{study}/series").status_code == 404
    coordinator = stack.api(pushed.region.coordinator_token)
    assert len(json_of(coordinator.get(f"{study}/metadata"))) == 3
    anonymous = requests.get(f"{stack.url}{study}/metadata", timeout=30)
    assert anonymous.status_code == 401
    instance = as_data_set(multipart(stack.api(pushed.region.site_token).get(study)).parts[0][1])
    assert instance.StudyInstanceUID == pushed.study
