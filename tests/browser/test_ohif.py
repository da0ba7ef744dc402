"""OHIF itself, as `make ohif` unpacked it, served by `garde web` at /ohif: a study a site
pushed opens in Debian's chromium and its image is drawn: for a coordinator by the session
cookie (/dicomweb); by the case's "open in viewer" link (a signed viewer link's root) and, for
a doctor in town with no login, by a share link's root, both through OHIF's dicomwebproxy.
No DICOMweb request fails and the viewer's policy refuses nothing.
Screenshots of the drawn viewports are kept in the test's folder.

Without the unpacked viewer the test is skipped with the reason, unless
GARDE_REQUIRE_BROWSER=1 (CI runs `make ohif` first), where that is a failure. SQLite only:
the DICOMweb tests cover both databases.
"""

from __future__ import annotations

import html
import io
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast
from urllib.parse import urlsplit

import pytest
import requests
from babel.support import NullTranslations
from dicomweb_client.api import DICOMwebClient
from PIL import Image
from playwright.sync_api import Browser, Page, Request, Response, expect
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

from garde.settings import Settings
from tests.browser.visit import Visit
from tests.conftest import Region, Stack, free_port, wait_for, wait_for_port
from web.ohif import served

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

CT = cast(str, get_testdata_file("CT_small.dcm"))  # a path: pydicom's own test files
# OHIF's viewport: cornerstone draws each into a canvas of this class.
VIEWPORT = "canvas.cornerstone-canvas"


@dataclass
class DicomwebTraffic:
    """What the viewer asked of Garde's DICOMweb, and what failed: an error status, or no
    complete answer. The viewer sometimes cancels a frame's request once Garde's 200 came
    (net::ERR_ABORTED, its image drawn all the same): that is its choice, noted, not failed."""

    asked: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    answered: list[Request] = field(default_factory=list)

    def watch(self, page: Page) -> None:
        page.on("request", self._request)
        page.on("response", self._response)
        page.on("requestfailed", self._failed)

    def _request(self, request: Request) -> None:
        if self._dicomweb(request):
            self.asked.append(f"{_line(request)} Accept: {request.headers.get('accept')}")

    def _failed(self, request: Request) -> None:
        if not self._dicomweb(request):
            return
        if request.failure == "net::ERR_ABORTED" and request in self.answered:
            self.asked.append(f"{_line(request)} cancelled by the viewer after its answer")
        else:
            self.failed.append(f"{_line(request)}: {request.failure}")

    def _response(self, response: Response) -> None:
        if not self._dicomweb(response.request):
            return
        if response.status >= 400:
            self.failed.append(f"{_line(response.request)}: {response.status}")
        else:
            self.answered.append(response.request)

    @staticmethod
    def _dicomweb(request: Request) -> bool:
        return "/dicomweb/" in urlsplit(request.url).path


def _line(request: Request) -> str:
    parts = urlsplit(request.url)
    return f"{request.method} {parts.path}{'?' + parts.query if parts.query else ''}"


@pytest.fixture(scope="module")
def ohif_dir() -> Path:
    folder = served(Settings.from_env())
    if folder is None:
        reason = "no OHIF viewer unpacked (`make ohif` fetches it with npm)"
        if os.environ.get("GARDE_REQUIRE_BROWSER"):
            pytest.fail(reason + " and GARDE_REQUIRE_BROWSER is set")
        pytest.skip(reason + "; the OHIF test needs it")
    return folder


@pytest.fixture(scope="module")
def ohif_web(stack: Stack, ohif_dir: Path) -> Iterator[str]:
    """A web app of the stack that serves the viewer; its address."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stack.start("web-ohif", "web", {"GARDE_WEB_PORT": str(port), **ohif_env(url, ohif_dir)})
    try:
        wait_for_port("127.0.0.1", port, stack.processes["web-ohif"])
        yield url
    finally:
        stack.stop("web-ohif")


def ohif_env(url: str, ohif_dir: Path) -> dict[str, str]:
    return {"GARDE_PUBLIC_URL": url, "GARDE_OHIF_DIR": str(ohif_dir)}


def test_a_pushed_study_opens_in_ohif_with_its_image_drawn(
    browser: Browser, stack: Stack, region: Region, ohif_web: str, ohif_dir: Path, tmp_path: Path
) -> None:
    case = region.submit()
    study = generate_uid()
    ct = dcmread(CT)
    ct.StudyInstanceUID, ct.SeriesInstanceUID = study, generate_uid()
    ct.SOPInstanceUID = ct.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ct.AccessionNumber = case["accession_number"]
    site = DICOMwebClient(
        f"{ohif_web}/dicomweb", headers={"Authorization": f"Bearer {region.site_token}"}
    )
    assert "FailedSOPSequence" not in site.store_instances([ct])
    traffic = DicomwebTraffic()
    viewer = Viewer(browser, ohif_web, traffic, tmp_path)

    # The coordinator, logged in: OHIF reads /dicomweb with the session cookie.
    coordinator = f"coord-{region.site.removeprefix('SITE-')}"
    viewer.opens(f"/ohif/viewer?StudyInstanceUIDs={study}", "coordinator", login=coordinator)

    # The case's "open in viewer" link (the API's viewer_url): a signed viewer link's root,
    # which needs no cookie, through OHIF's dicomwebproxy.
    api = {"Authorization": f"Bearer {region.coordinator_token}"}
    shown = requests.get(f"{ohif_web}/api/v1/cases/{case['id']}/study", headers=api, timeout=30)
    assert shown.status_code == 200, shown.text
    (linked,) = shown.json()["studies"]
    assert "/ohif/viewer/dicomwebproxy?" in linked["viewer_url"]
    viewer.opens(linked["viewer_url"], "viewer-link")

    # A doctor in town, no login: a share link's root, the same way.
    answer = requests.post(
        f"{ohif_web}/api/v1/cases/{case['id']}/share",
        json={"expires_in_s": 3600, "deidentify": True},
        headers={"Authorization": f"Bearer {region.site_token}"},
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    # De-identified: the share page's link names the study by its new UID.
    page = requests.get(answer.json()["url"], timeout=30).text
    found = re.search(r'<p class="open"><a href="([^"]+)"', page)
    assert found, page
    link = html.unescape(found.group(1))
    assert study not in link and "/ohif/viewer/dicomwebproxy?" in link
    viewer.opens(link, "share-link")

    # What OHIF asked, with its Accept headers: what the DICOMweb tests replay.
    (tmp_path / "dicomweb-requests.txt").write_text("\n".join(traffic.asked) + "\n")
    assert not traffic.failed, f"DICOMweb requests failed: {traffic.failed}"


@dataclass
class Viewer:
    """Opens OHIF in a fresh browser (no cookie), logged in when asked."""

    browser: Browser
    base_url: str
    traffic: DicomwebTraffic
    shots: Path

    def opens(self, url: str, who: str, login: str | None = None) -> None:
        context = self.browser.new_context(
            base_url=self.base_url, viewport={"width": 1280, "height": 800}
        )
        try:
            visit = Visit(context.new_page(), "en", "desktop", self.shots, NullTranslations())
            self.traffic.watch(visit.page)
            if login:
                visit.login(login)
            visit.page.goto(url)
            drawn(visit.page, self.shots / f"ohif-{who}.png")
        finally:
            context.close()
        assert not visit.script_errors, f"OHIF failed for the {who}: {visit.script_errors}"


def drawn(page: Page, shot: Path) -> None:
    """The viewport's canvas shows an image (not one flat colour); its screenshot kept."""
    canvas = page.locator(VIEWPORT).first
    expect(canvas).to_be_visible(timeout=60_000)

    def image() -> bool:
        canvas.screenshot(path=shot)
        grey = Image.open(io.BytesIO(shot.read_bytes())).convert("L")
        low, high = cast(tuple[int, int], grey.getextrema())  # one band: its (min, max)
        return high - low > 50

    wait_for(image, 60, "the viewport to draw the study's image")
    page.wait_for_load_state("networkidle")  # what it still fetches, answered before it closes


def test_the_viewer_has_its_own_policy_and_reads_only_gardes_dicomweb(ohif_web: str) -> None:
    """OHIF's pages may run WebAssembly and workers, Garde's may not; its files may be cached,
    its page not; the proxy's source is one of Garde's DICOMweb roots on Garde's address,
    never another site."""
    viewer = requests.get(f"{ohif_web}/ohif/viewer?StudyInstanceUIDs=1.2.3", timeout=30)
    assert viewer.status_code == 200 and 'window.PUBLIC_URL="/ohif/"' in viewer.text
    policy = viewer.headers["Content-Security-Policy"]
    assert "'wasm-unsafe-eval'" in policy and "connect-src 'self'" in policy
    assert (
        "wasm"
        not in requests.get(f"{ohif_web}/login", timeout=30).headers["Content-Security-Policy"]
    )
    assert viewer.headers["Cache-Control"] == "no-store"
    bundle = re.search(r'src="(/ohif/app\.bundle\.[0-9a-f]+\.js)"', viewer.text)
    assert bundle, "OHIF's page loads its bundle from /ohif/"
    cached = requests.get(f"{ohif_web}{bundle[1]}", timeout=30).headers["Cache-Control"]
    assert cached.startswith("public"), cached  # its name changes with its content
    config = requests.get(f"{ohif_web}/ohif/app-config.js", timeout=30).text
    assert f'"qidoRoot": "{ohif_web}/dicomweb"' in config
    source = f"{ohif_web}/ohif/datasource.json"
    root = f"{ohif_web}/share/some-token/dicomweb"
    answer = requests.get(source, params={"root": root}, timeout=30).json()
    assert answer["servers"]["dicomWeb"][0]["wadoRoot"] == root
    for elsewhere in (
        "https://elsewhere.example/dicomweb",
        "/dicomweb/../api/v1/cases",
        "/share/some-token/dicomweb?x=1",
        "//elsewhere.example/dicomweb",
    ):
        refused = requests.get(source, params={"root": elsewhere}, timeout=30)
        assert refused.status_code == 400, elsewhere
