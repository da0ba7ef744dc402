"""The case pages show each series of the case's studies as a thumbnail Garde's DICOMweb draws
(read with the session cookie), with its name, modality and image count, and an "open in
viewer" link from GARDE_VIEWER_URL_TEMPLATE or to Garde's own OHIF; the API's `viewer_url`
is the same link. Only those who may read the case see them: not another expert, not another
site. Images are sent as a site sends them on its case page."""

from __future__ import annotations

import html
import io
import re
from collections.abc import Iterator
from urllib.parse import parse_qs, quote, unquote, urlsplit

import pytest
import requests
from PIL import Image
from pydicom.uid import generate_uid

from tests.conftest import Region, Stack, make_region, start_stack
from tests.web.test_image_upload import dicom, send
from tests.web.test_pages import Browser

TEMPLATE = "https://viewer.example.org/open?study={study_uid}&root={dicomweb_root_quoted}"
THUMBNAIL = re.compile(
    r'<li>\s*<img src="(?P<src>[^"]+)" alt="(?P<alt>[^"]+)" loading="lazy"[^>]*>\s*'
    r'<span class="series-name">(?P<name>[^<]*)</span>\s*<small class="muted">(?P<facts>[^<]*)'
)
VIEWER_LINK = re.compile(r'<a class="button viewer" href="([^"]+)" target="_blank"')


def thumbnails(page: str) -> list[tuple[str, ...]]:
    """Each series' image source, alt text, name and facts, in the page's order."""
    return [
        tuple(html.unescape(" ".join(m[k].split())) for k in ("src", "alt", "name", "facts"))
        for m in THUMBNAIL.finditer(page)
    ]


def viewer_links(page: str) -> list[str]:
    return [html.unescape(href) for href in VIEWER_LINK.findall(page)]


def held_case_with_images(region: Region) -> tuple[int, str, list[str]]:
    """A case alice holds, its study of two series (two CT images, then one) sent by its
    site: the case id, the Study Instance UID, the series UIDs in order."""
    case = region.submit()
    r = region.stack.api(region.experts["alice"].token).post(f"/api/v1/cases/{case['id']}/accept")
    assert r.status_code == 200, r.text
    study, axial, coronal = generate_uid(), generate_uid(), generate_uid()
    accession = case["accession_number"]
    files = [
        dicom(study, SeriesInstanceUID=uid, SeriesNumber=number, SeriesDescription=name,
              AccessionNumber=accession)
        for uid, number, name in ((axial, 1, "AX SOFT"), (axial, 1, "AX SOFT"),
                                  (coronal, 2, "COR MPR"))
    ]  # fmt: skip
    site = Browser(region.stack).login(region.site_username)
    status, page = send(site, case["id"], [(f"{i}.dcm", data) for i, (_, data) in enumerate(files)])
    assert status == 200 and "3 images kept." in page, page
    return case["id"], study, [axial, coronal]


def test_the_case_pages_show_a_thumbnail_of_each_series_to_its_readers_only(
    region: Region,
) -> None:
    case_id, study, series = held_case_with_images(region)
    expected = [
        (
            f"/dicomweb/studies/{study}/series/{series[0]}/thumbnail",
            "Thumbnail of AX SOFT",
            "AX SOFT",
            "CT · 2 images",
        ),
        (
            f"/dicomweb/studies/{study}/series/{series[1]}/thumbnail",
            "Thumbnail of COR MPR",
            "COR MPR",
            "CT · 1 image",
        ),
    ]
    alice = Browser(region.stack).login(region.experts["alice"].username)
    page = alice.get(f"/expert/cases/{case_id}").text
    assert thumbnails(page) == expected
    french = alice.get(f"/expert/cases/{case_id}", headers={"Accept-Language": "fr"}).text
    assert [t[1:] for t in thumbnails(french)] == [
        ("Vignette de AX SOFT", "AX SOFT", "CT · 2 images"),
        ("Vignette de COR MPR", "COR MPR", "CT · 1 image"),
    ]
    # No viewer configured here, and no OHIF unpacked: no link, in the page or the API.
    assert viewer_links(page) == []
    api = region.stack.api(region.experts["alice"].token)
    answer = api.get(f"/api/v1/cases/{case_id}/study").json()
    assert [s["viewer_url"] for s in answer["studies"]] == [None]
    # Each thumbnail is drawn, with the session cookie the page's browser sends.
    for src, *_ in expected:
        r = alice.get(src)
        assert (r.status_code, r.headers["Content-Type"]) == (200, "image/png"), r.text
        assert Image.open(io.BytesIO(r.content)).size == (128, 128)

    site = Browser(region.stack).login(region.site_username)
    site_page = site.get(f"/site/cases/{case_id}").text
    assert thumbnails(site_page) == expected
    assert site.get(expected[0][0]).status_code == 200

    # Bruno never held the case; another site's staff never had it.
    bruno = Browser(region.stack).login(region.experts["bruno"].username)
    other_site = Browser(region.stack).login(make_region(region.stack).site_username)
    for stranger, page_path in ((bruno, "/expert/cases"), (other_site, "/site/cases")):
        r = stranger.get(f"{page_path}/{case_id}")
        assert r.status_code in (403, 404) and thumbnails(r.text) == []
        assert stranger.get(expected[0][0]).status_code in (403, 404)


def once_is_enough(stack: Stack) -> None:
    """A second web app costs seconds, and the viewer link reads nothing of the database the
    thumbnail test does not: on SQLite only."""
    if not stack.env["GARDE_DATABASE_URL"].startswith("sqlite"):
        pytest.skip("the viewer link is tested on SQLite only")


@pytest.fixture(scope="module")
def viewer_web(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second web app on the session stack's database, with a viewer URL template."""
    once_is_enough(stack)
    tmp = tmp_path_factory.mktemp("web-viewer")
    yield from start_stack(
        tmp,
        stack.env["GARDE_DATABASE_URL"],
        stack.env["GARDE_TEMPORAL_ADDRESS"],
        stack.env["GARDE_TEMPORAL_NAMESPACE"],
        twilio=False,
        extra_env={"GARDE_VIEWER_URL_TEMPLATE": TEMPLATE},
        processes=("web",),
    )


def test_the_viewer_link_follows_the_template_with_a_root_for_that_case(
    region: Region, viewer_web: Stack
) -> None:
    case_id, study, _ = held_case_with_images(region)
    alice = Browser(viewer_web).login(region.experts["alice"].username)
    [link] = viewer_links(alice.get(f"/expert/cases/{case_id}").text)
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "https://viewer.example.org/open"
    query = parse_qs(parts.query)
    assert query["study"] == [study]
    root = query["root"][0]
    assert link.endswith(f"&root={quote(root, safe='')}")
    assert re.fullmatch(re.escape(viewer_web.url) + r"/viewer/[A-Za-z0-9._-]+/dicomweb", root)

    answer = viewer_web.api(region.experts["alice"].token).get(f"/api/v1/cases/{case_id}/study")
    [api_link] = [s["viewer_url"] for s in answer.json()["studies"]]
    assert unquote(api_link).startswith(f"https://viewer.example.org/open?study={study}&root=")

    # The root opens that study, with no cookie and no token, as a viewer elsewhere reads it.
    r = requests.get(f"{root}/studies", timeout=30)
    assert r.status_code == 200, r.text
    assert [s["0020000D"]["Value"] for s in r.json()] == [[study]]
    assert requests.get(f"{root}/studies/{generate_uid()}/series", timeout=30).status_code in (
        403,
        404,
    )


@pytest.fixture(scope="module")
def ohif_web(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second web app on the session stack's database serving an OHIF (a stand-in page:
    what `make ohif` unpacks is the OHIF tests' business), no viewer URL template."""
    once_is_enough(stack)
    tmp = tmp_path_factory.mktemp("web-ohif")
    (tmp / "ohif").mkdir()
    (tmp / "ohif" / "index.html").write_text("<!doctype html><title>OHIF</title>")
    yield from start_stack(
        tmp,
        stack.env["GARDE_DATABASE_URL"],
        stack.env["GARDE_TEMPORAL_ADDRESS"],
        stack.env["GARDE_TEMPORAL_NAMESPACE"],
        twilio=False,
        extra_env={"GARDE_OHIF_DIR": str(tmp / "ohif")},
        processes=("web",),
    )


def test_without_a_template_the_link_opens_gardes_own_ohif(region: Region, ohif_web: Stack) -> None:
    case_id, study, _ = held_case_with_images(region)
    site = Browser(ohif_web).login(region.site_username)
    [link] = viewer_links(site.get(f"/site/cases/{case_id}").text)
    parts = urlsplit(link)
    assert (
        f"{parts.scheme}://{parts.netloc}{parts.path}"
        == f"{ohif_web.url}/ohif/viewer/dicomwebproxy"
    )
    query = parse_qs(parts.query)
    assert [study] in query.values()  # under the name web/ohif.py knows OHIF reads
    # OHIF's dicomwebproxy reads the data source Garde describes for the case's signed root.
    source = requests.get(f"{ohif_web.url}{query['url'][0]}", timeout=30)
    assert source.status_code == 200, source.text
    [server] = source.json()["servers"]["dicomWeb"]
    assert re.fullmatch(
        re.escape(ohif_web.url) + r"/viewer/[A-Za-z0-9._-]+/dicomweb", server["wadoRoot"]
    )
    answer = ohif_web.api(region.site_token).get(f"/api/v1/cases/{case_id}/study").json()
    assert urlsplit(answer["studies"][0]["viewer_url"]).path == "/ohif/viewer/dicomwebproxy"
