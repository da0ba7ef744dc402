"""The DICOMweb roots a viewer is given: a signed viewer link to one case (no token, no cookie;
lapses after its lifetime), and a share link's study, de-identified or not, each use recorded;
CORS for a viewer served from another origin; and the four calls OHIF makes, replayed with
its headers through a viewer link and a share link."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from pydicom.dataset import Dataset
from sqlalchemy import select

from dicom.deidentify import new_uid
from garde.models import Case, ShareAccess, ShareLink, User
from garde.settings import Settings
from garde.shares import create_share, share_key
from garde.temporal import wait_for_port
from tests.conftest import Stack, free_port
from tests.dicomweb.conftest import Pushed, client, json_of, multipart
from web.dicomweb_access import viewer_token

VIEWER_ORIGIN = "http://viewer.example:3000"
OHIF_FRAMES = "multipart/related; type=application/octet-stream; transfer-syntax=*"


@pytest.fixture(scope="module")
def cors_web(stack: Stack) -> Iterator[str]:
    """A second web process of the stack letting VIEWER_ORIGIN's pages read DICOMweb."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack.start(
        "web-cors",
        "web",
        {
            "GARDE_WEB_PORT": str(port),
            "GARDE_PUBLIC_URL": url,
            "GARDE_DICOMWEB_CORS_ORIGINS": f"{VIEWER_ORIGIN}, https://other.example",
        },
    )
    wait_for_port("127.0.0.1", port, stack.processes["web-cors"])
    yield url
    stack.stop("web-cors")


def _viewer_root(stack: Stack, base: str, pushed: Pushed, lifetime: timedelta) -> str:
    with stack.sessions() as s:
        alice = s.scalars(
            select(User).where(User.expert_id == pushed.region.experts["alice"].id)
        ).one()
        token = viewer_token(
            Settings.from_env(stack.env).secret_key, pushed.case_id, alice, lifetime
        )
    return f"{base}/viewer/{token}/dicomweb"


def _ohif(
    root: str, pushed: Pushed, origin: str | None = None, study_uid: str | None = None
) -> dict[str, Any]:
    """OHIF's four calls, with its headers: the study list (includefield), the study's series,
    a series' metadata, a frame; each answer checked, the last frame returned."""
    extra = {"Origin": origin} if origin else {}
    json_accept = {"Accept": "application/dicom+json", **extra}
    studies = requests.get(
        f"{root}/studies?limit=101&offset=0&fuzzymatching=false"
        f"&includefield=00081030%2C00080060&StudyInstanceUID={study_uid or pushed.study}",
        headers=json_accept,
        timeout=30,
    )
    [study] = json_of(studies)
    uid = study["0020000D"]["Value"][0]
    assert study["00080061"]["Value"] == ["CT", "MR"]
    series = json_of(requests.get(f"{root}/studies/{uid}/series", headers=json_accept, timeout=30))
    ct = next(s for s in series if s["00080060"]["Value"] == ["CT"])
    series_uid = ct["0020000E"]["Value"][0]
    metadata = json_of(
        requests.get(
            f"{root}/studies/{uid}/series/{series_uid}/metadata", headers=json_accept, timeout=30
        )
    )
    assert len(metadata) == 2
    instance = metadata[0]["00080018"]["Value"][0]
    assert metadata[0]["7FE00010"]["BulkDataURI"].startswith(f"{root}/studies/{uid}/")
    frame = requests.get(
        f"{root}/studies/{uid}/series/{series_uid}/instances/{instance}/frames/1",
        headers={"Accept": OHIF_FRAMES, **extra},
        timeout=30,
    )
    got = multipart(frame)
    [(headers, body)] = got.parts
    assert (
        headers["content-type"] == "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
    )
    assert len(body) == 128 * 128 * 2
    for response in (studies, frame):
        if origin:
            assert response.headers["Access-Control-Allow-Origin"] == origin
            assert "Access-Control-Allow-Credentials" not in response.headers
    return {"study": study, "series": series, "metadata": metadata}


def test_viewer_link_reads_one_case_without_token_and_lapses(
    stack: Stack, pushed: Pushed, cors_web: str
) -> None:
    root = _viewer_root(stack, cors_web, pushed, timedelta(hours=8))
    answers = _ohif(root, pushed, origin=VIEWER_ORIGIN)
    assert answers["study"]["00081030"]["Value"] == ["CT HEAD"]
    # Only the case's study: the site's other study is not there.
    listed = json_of(requests.get(f"{root}/studies?PatientName=*{pushed.tag}*", timeout=30))
    assert [d["0020000D"]["Value"][0] for d in listed] == [pushed.study]
    assert requests.get(f"{root}/studies/{pushed.study2}/metadata", timeout=30).status_code == 404
    # A token altered, or a link past its lifetime: 404, as a study that is not there.
    assert (
        requests.get(root.replace("/viewer/", "/viewer/x") + "/studies", timeout=30).status_code
        == 404
    )
    short = _viewer_root(stack, cors_web, pushed, timedelta(seconds=1))
    assert requests.get(f"{short}/studies", timeout=30).status_code == 200
    time.sleep(2.2)
    lapsed = requests.get(f"{short}/studies", timeout=30)
    assert lapsed.status_code == 404 and lapsed.json()["error"]
    # Read-only.
    assert requests.post(f"{root}/studies", timeout=30).status_code in (400, 405)


def test_viewer_link_is_made_from_the_public_url(stack: Stack, pushed: Pushed) -> None:
    from web import create_app
    from web.dicomweb_access import viewer_link

    app = create_app(Settings.from_env(stack.env))
    with app.app_context(), stack.sessions() as s:
        alice = s.scalars(
            select(User).where(User.expert_id == pushed.region.experts["alice"].id)
        ).one()
        link = viewer_link(pushed.case_id, alice)
    assert link.startswith(stack.env["GARDE_PUBLIC_URL"] + "/viewer/") and link.endswith(
        "/dicomweb"
    )
    found = client(stack, root=link).search_for_studies()
    assert [Dataset.from_json(d).StudyInstanceUID for d in found] == [pushed.study]


def test_cors_preflight(stack: Stack, cors_web: str) -> None:
    def preflight(origin: str, method: str = "GET") -> requests.Response:
        return requests.options(
            f"{cors_web}/dicomweb/studies",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "authorization",
            },
            timeout=30,
        )

    allowed = preflight(VIEWER_ORIGIN)
    assert allowed.status_code == 204
    assert allowed.headers["Access-Control-Allow-Origin"] == VIEWER_ORIGIN
    assert "GET" in allowed.headers["Access-Control-Allow-Methods"]
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"].lower()
    assert "Access-Control-Allow-Credentials" not in allowed.headers
    for refused in (preflight("http://evil.example"), preflight(VIEWER_ORIGIN, "DELETE")):
        assert refused.status_code == 403
        assert "Access-Control-Allow-Origin" not in refused.headers
    # The session stack names no origin: no page of another origin reads.
    assert (
        "Access-Control-Allow-Origin"
        not in requests.get(
            f"{stack.url}/dicomweb/studies", headers={"Origin": VIEWER_ORIGIN}, timeout=30
        ).headers
    )


def _share(
    stack: Stack, pushed: Pushed, deidentify: bool, expires_in_s: int = 3600
) -> tuple[int, str]:
    with stack.sessions.begin() as s:
        case = s.get_one(Case, pushed.case_id)
        site = s.scalars(select(User).where(User.username == pushed.region.site_username)).one()
        link, token = create_share(s, case, site, expires_in_s, deidentify)
        return link.id, token


def _accesses(stack: Stack, share_id: int) -> list[tuple[str, int]]:
    with stack.sessions() as s:
        rows = s.scalars(
            select(ShareAccess).where(ShareAccess.share_id == share_id).order_by(ShareAccess.id)
        )
        return [(a.what, a.status) for a in rows]


def test_share_link_reads_its_study_and_records_each_use(stack: Stack, pushed: Pushed) -> None:
    share_id, token = _share(stack, pushed, deidentify=False)
    root = f"{stack.url}/share/{token}/dicomweb"
    answers = _ohif(root, pushed)
    assert answers["study"]["0020000D"]["Value"] == [pushed.study]
    assert requests.get(f"{root}/studies/{pushed.study2}", timeout=30).status_code == 404
    assert _accesses(stack, share_id) == [
        ("qido", 200),
        ("qido", 200),
        ("metadata", 200),
        ("frames", 200),
        ("wado", 404),
    ]
    with stack.sessions.begin() as s:  # its expiry reached
        s.get_one(ShareLink, share_id).expires_at = datetime.now(UTC) - timedelta(seconds=1)
    assert requests.get(f"{root}/studies", timeout=30).status_code == 404
    assert _accesses(stack, share_id)[-1] == ("qido", 404)


def test_deidentified_share_maps_uids_both_ways(stack: Stack, pushed: Pushed) -> None:
    share_id, token = _share(stack, pushed, deidentify=True)
    with stack.sessions() as s:
        key = share_key(s.get_one(ShareLink, share_id), Settings.from_env(stack.env).secret_key)
    new_study = new_uid(key, pushed.study)
    root = f"{stack.url}/share/{token}/dicomweb"
    answers = _ohif(root, pushed, study_uid=new_study)
    study = answers["study"]
    assert study["0020000D"]["Value"] == [new_study]
    assert pushed.tag not in str(study) and "CT HEAD" not in str(study)
    for ds in answers["metadata"]:
        text = str(ds)
        assert pushed.tag not in text and pushed.study not in text
    # The original UIDs open nothing; the new ones, everything, the same each time.
    assert requests.get(f"{root}/studies/{pushed.study}/series", timeout=30).status_code == 404
    again = json_of(requests.get(f"{root}/studies/{new_study}/series", timeout=30))
    assert again == answers["series"]
    instance = Dataset.from_json(answers["metadata"][0])
    wado = multipart(
        requests.get(
            f"{root}/studies/{new_study}/series/{instance.SeriesInstanceUID}/instances/{instance.SOPInstanceUID}",
            timeout=30,
        )
    )
    [(_, body)] = wado.parts
    assert pushed.tag.encode() not in body and pushed.study.encode() not in body
    # Searched by what it shows (OHIF looks up the patient's other studies by the PatientID
    # it was given): the study; by the hidden identity: nothing.
    shown = study.get("00100020", {}).get("Value", [""])[0]
    by_shown = requests.get(f"{root}/studies", params={"PatientID": shown}, timeout=30)
    assert [s["0020000D"]["Value"] for s in json_of(by_shown)] == [[new_study]]
    for hidden in ({"PatientName": "Dupont*"}, {"PatientID": str(pushed.ct[0].PatientID)}):
        found = requests.get(f"{root}/studies", params=hidden, timeout=30)
        assert (found.status_code, json_of(found)) == (200, [])
