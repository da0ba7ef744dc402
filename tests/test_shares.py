"""Share links for a doctor in town (garde/shares.py, web/api/shares.py, web/share_pages.py):
made by the case's site or the expert holding it and by no one else; the public page shows
the final report and the study's DICOMweb root, never indexed; each use is recorded and
counted; revocation and expiry hold from the next request; the case pages' form shows a
link once and revokes it; a de-identified link's page leaves out what ties it to the
patient's record."""

from __future__ import annotations

import hashlib
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import quote

import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from pydicom import dcmread
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid
from sqlalchemy import select

from dicom.deidentify import new_uid
from garde.accounts import create_token
from garde.domain import Role
from garde.models import AuditEvent, Case, ShareAccess, ShareLink, Study, User
from garde.settings import Settings
from garde.shares import create_share, share_key
from tests.conftest import Region, Stack, add_login, make_region, wait_for
from tests.web.test_pages import Browser, flashes
from web import create_app

CT = get_testdata_file("CT_small.dcm") or ""
SHARE_URL = re.compile(r'value="(http[^"]+/share/([A-Za-z0-9_-]+))"')


@dataclass
class Shared:
    """A case with its study stored, held by alice; the other logins of the region."""

    region: Region
    case_id: int
    accession: str
    other_site_token: str

    @property
    def stack(self) -> Stack:
        return self.region.stack

    def api(self, who: str) -> requests.Session:
        region = self.region
        tokens = {
            "site": region.site_token,
            "coordinator": region.coordinator_token,
            "other site": self.other_site_token,
            **{name: login.token for name, login in region.experts.items()},
        }
        return self.stack.api(tokens[who])

    def share(self, who: str = "site", **body: object) -> requests.Response:
        return self.api(who).post(
            f"/api/v1/cases/{self.case_id}/share", json={"expires_in_s": 3600, **body}
        )


@pytest.fixture(scope="module")
def shared(stack: Stack) -> Iterator[Shared]:
    region = make_region(stack)
    case = region.submit()
    study = generate_uid()
    sent = []
    for _ in range(2):
        ds = dcmread(CT)
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.StudyInstanceUID, ds.AccessionNumber = study, case["accession_number"]
        sent.append(ds)
    DICOMwebClient(
        f"{stack.url}/dicomweb", headers={"Authorization": f"Bearer {region.site_token}"}
    ).store_instances(sent)
    wait_for(lambda: _study_of(stack, case["id"]), what="the study linked to its case")
    region.wait_status(case["id"], "offered")
    alice = stack.api(region.experts["alice"].token)
    assert alice.post(f"/api/v1/cases/{case['id']}/accept").status_code == 200
    elsewhere = "ELSEWHERE-" + region.site.removeprefix("SITE-")
    with stack.sessions.begin() as s:
        other = add_login(s, "elsewhere-" + secrets.token_hex(3), Role.SITE, site_code=elsewhere)
        other_token = create_token(s, other)
    yield Shared(region, case["id"], case["accession_number"], other_token)
    region.cancel_open_cases()


def test_the_site_and_the_holding_expert_share_the_study_and_no_one_else(shared: Shared) -> None:
    no_study = shared.region.submit()
    r = shared.api("site").post(
        f"/api/v1/cases/{no_study['id']}/share", json={"expires_in_s": 3600}
    )
    assert r.status_code == 409 and "study" in r.json()["error"], r.text
    for bad in ({"expires_in_s": 60}, {"expires_in_s": 90 * 86400 + 1}, {"expires_in_s": "soon"}):
        r = shared.share(**bad)
        assert r.status_code == 400 and "expires_in_s" in r.json()["detail"], (bad, r.text)
    assert shared.share(deidentify="maybe").json()["detail"] == {
        "deidentify": "must be true or false"
    }

    made = {who: shared.share(who) for who in ("site", "alice")}

    for who, r in made.items():
        assert r.status_code == 201, (who, r.text)
        answer = r.json()
        page = f"{shared.stack.env['GARDE_PUBLIC_URL']}/share/{answer['token']}"
        assert answer["url"] == page and answer["dicomweb_root"] == page + "/dicomweb"
        assert answer["deidentify"] is False
    # Seen but not theirs: 403; not seen at all: 404, as for the case itself.
    assert shared.share("coordinator").status_code == 403
    for who in ("bruno", "chloe", "other site"):
        assert shared.share(who).status_code == 404, who
    with shared.stack.sessions() as s:
        links = s.scalars(select(ShareLink).where(ShareLink.case_id == shared.case_id)).all()
        audited = s.scalars(
            select(AuditEvent).where(
                AuditEvent.action == "share.create", AuditEvent.target == f"case:{shared.case_id}"
            )
        ).all()
    tokens = [r.json()["token"] for r in made.values()]
    # Only each token's hash is kept, and the audit log names the link, never its token.
    assert {link.token_hash for link in links} >= {_hash(t) for t in tokens}
    assert not {link.token_hash for link in links} & set(tokens)
    assert len(audited) >= 2
    assert not any(t in e.detail for e in audited for t in tokens)


def test_the_page_shows_the_final_report_and_the_dicomweb_root_and_counts_each_access(
    shared: Shared,
) -> None:
    answer = shared.share().json()
    anyone = requests.Session()

    before = anyone.get(answer["url"], timeout=30)
    before_pdf = anyone.get(answer["url"] + "/report.pdf", timeout=30)
    _file_final_report(shared, "Shared findings: no bleed.", "Normal CT, shared.")
    after = anyone.get(answer["url"], timeout=30)
    after_pdf = anyone.get(answer["url"] + "/report.pdf", timeout=30)

    assert before.status_code == 200 and after.status_code == 200
    assert before_pdf.status_code == 404
    assert after_pdf.status_code == 200 and after_pdf.content.startswith(b"%PDF")
    assert after_pdf.headers["Content-Type"] == "application/pdf"
    assert "report.pdf" not in before.text and "report.pdf" in after.text
    assert "No final report yet" in before.text
    assert "no bleed" not in before.text
    assert "Shared findings: no bleed." in after.text and "Normal CT, shared." in after.text
    assert shared.accession in after.text  # not de-identified: the site's report as printed
    # The finding's category, not the site's business of acknowledging it.
    assert "ACR category 1: immediate" in after.text
    assert "must acknowledge" not in after.text and "acknowledgement" not in after.text.lower()
    for shown in (before, after):
        assert answer["dicomweb_root"] in shown.text
        assert shown.headers["X-Robots-Tag"].startswith("noindex")
        assert '<meta name="robots" content="noindex' in shown.text
    accesses = _accesses(shared.stack, answer["token"])
    assert [(a.what, a.status, a.address) for a in accesses] == [
        ("page", 200, "127.0.0.1"),
        ("report", 404, "127.0.0.1"),
        ("page", 200, "127.0.0.1"),
        ("report", 200, "127.0.0.1"),
    ]

    # The site's case page counts them; the coordinator's lists each.
    site = Browser(shared.stack).login(shared.region.site_username)
    page = site.get(f"/site/cases/{shared.case_id}").text
    link_id = _link_id(shared.stack, answer["token"])
    assert re.search(rf"Link #{link_id}\b.*?4 accesses", page, re.DOTALL), page
    coordinator = Browser(shared.stack).login(f"coord-{shared.region.site.removeprefix('SITE-')}")
    page = coordinator.get(f"/coordinator/cases/{shared.case_id}").text
    listed = page[page.index(f"Link #{link_id}") :]
    assert listed.count('<td data-label="Read">page</td>') >= 2
    assert '<td data-label="Read">report</td>' in listed

    # De-identified: the report without what ties it to the patient's record.
    hidden = shared.share("alice", deidentify=True).json()
    page = anyone.get(hidden["url"], timeout=30).text
    assert "Shared findings: no bleed." in page
    assert shared.accession not in page and "de-identified" in page
    assert anyone.get(hidden["url"] + "/report.pdf", timeout=30).status_code == 200


def test_the_viewer_link_opens_the_links_own_root_on_the_study_as_served(shared: Shared) -> None:
    """GARDE_VIEWER_URL_TEMPLATE filled with the link's DICOMweb root, and the study's UID as
    that root serves it: the original, or the de-identified link's own."""
    template = "https://viewer.example.org/?study={study_uid}&root={dicomweb_root_quoted}"
    settings = Settings.from_env(shared.stack.env | {"GARDE_VIEWER_URL_TEMPLATE": template})
    browser = create_app(settings).test_client()
    plain, hidden = shared.share().json(), shared.share(deidentify=True).json()
    with shared.stack.sessions() as s:
        original = s.scalars(
            select(Study.study_instance_uid).where(Study.case_id == shared.case_id)
        ).one()
        key = share_key(
            s.get_one(ShareLink, _link_id(shared.stack, hidden["token"])), settings.secret_key
        )

    for link, uid in ((plain, original), (hidden, new_uid(key, original))):
        page = browser.get(f"/share/{link['token']}").get_data(as_text=True)
        root = quote(link["dicomweb_root"], safe="")
        assert f'href="https://viewer.example.org/?study={uid}&amp;root={root}"' in page, page
    assert original not in browser.get(f"/share/{hidden['token']}").get_data(as_text=True)


def test_revocation_holds_at_once_for_its_creator_the_site_or_a_coordinator(
    shared: Shared,
) -> None:
    by_site = shared.share().json()
    by_alice = [shared.share("alice").json() for _ in range(2)]
    anyone = requests.Session()
    assert anyone.get(by_site["url"], timeout=30).status_code == 200

    refused = {
        who: shared.api(who).delete(f"/api/v1/shares/{by_site['token']}").status_code
        for who in ("alice", "bruno", "chloe", "other site")
    }
    revoked = shared.api("site").delete(f"/api/v1/shares/{by_site['token']}")

    assert refused == {"alice": 403, "bruno": 403, "chloe": 403, "other site": 403}
    assert revoked.status_code == 204
    assert anyone.get(by_site["url"], timeout=30).status_code == 404
    assert anyone.get(by_site["dicomweb_root"] + "/studies", timeout=30).status_code == 404
    assert shared.api("site").delete(f"/api/v1/shares/{by_site['token']}").status_code == 204
    assert shared.api("site").delete("/api/v1/shares/no-such-token").status_code == 404
    # Its creator, and a coordinator, revoke the expert's links.
    assert shared.api("alice").delete(f"/api/v1/shares/{by_alice[0]['token']}").status_code == 204
    r = shared.api("coordinator").delete(f"/api/v1/shares/{by_alice[1]['token']}")
    assert r.status_code == 204
    for link in by_alice:
        assert anyone.get(link["url"], timeout=30).status_code == 404
    # The refused use is on record too; the audit log has each revocation.
    statuses = [a.status for a in _accesses(shared.stack, by_site["token"]) if a.what == "page"]
    assert statuses == [200, 404]
    with shared.stack.sessions() as s:
        revocations = s.scalars(
            select(AuditEvent.detail).where(
                AuditEvent.action == "share.revoke", AuditEvent.target == f"case:{shared.case_id}"
            )
        ).all()
    ids = {f"share:{_link_id(shared.stack, t['token'])}" for t in (by_site, *by_alice)}
    assert ids <= set(revocations)


def test_a_link_expires_on_time(shared: Shared) -> None:
    with shared.stack.sessions.begin() as s:
        case = s.get_one(Case, shared.case_id)
        site_user = s.scalars(select(User).where(User.username == shared.region.site_username))
        link, token = create_share(s, case, site_user.one(), 2, False)
        expires_at = link.expires_at
    url = f"{shared.stack.url}/share/{token}"
    assert requests.get(url, timeout=30).status_code == 200
    time.sleep(max(0.0, (expires_at.timestamp() - time.time())) + 0.2)
    assert requests.get(url, timeout=30).status_code == 404
    assert [a.status for a in _accesses(shared.stack, token)] == [200, 404]


def test_the_case_page_form_shows_a_link_once_and_revokes_it(shared: Shared) -> None:
    site = Browser(shared.stack).login(shared.region.site_username)
    case_page = f"/site/cases/{shared.case_id}"
    assert 'name="days"' in site.get(case_page).text

    refused = site.submit(case_page, f"/cases/{shared.case_id}/share", {"days": "3"})
    refusal = flashes(site.get(case_page).text)
    made = site.submit(
        case_page, f"/cases/{shared.case_id}/share", {"days": "1", "deidentify": "true"}
    )

    assert refused.status_code == 302
    assert any("days: must be one of 1, 7, 30" in f for f in refusal), refusal
    assert made.status_code == 201, made.text
    found = SHARE_URL.search(made.text)
    assert found, made.text
    url, token = found.groups()
    with shared.stack.sessions() as s:
        link = s.scalars(select(ShareLink).where(ShareLink.token_hash == _hash(token))).one()
    assert link.deidentify
    assert 0 < (link.expires_at - link.created_at).total_seconds() <= 86400
    page = requests.get(f"{shared.stack.url}/share/{token}", timeout=30)
    assert page.status_code == 200 and "de-identified" in page.text
    listed = site.get(case_page).text
    assert f"Link #{link.id}" in listed and token not in listed
    # The holding expert has the form too; an expert who does not hold the case does not.
    alice = Browser(shared.stack).login(shared.region.experts["alice"].username)
    assert 'name="days"' in alice.get(f"/expert/cases/{shared.case_id}").text

    revoked = site.submit(case_page, f"/shares/{link.id}/revoke", {})

    assert revoked.status_code == 302
    assert requests.get(f"{shared.stack.url}/share/{token}", timeout=30).status_code == 404
    assert f"Link #{link.id}" not in site.get(case_page).text  # live links only


def _file_final_report(shared: Shared, findings: str, impression: str) -> None:
    r = shared.api("alice").post(
        f"/api/v1/cases/{shared.case_id}/report",
        json={
            "kind": "final",
            "findings": findings,
            "impression": impression,
            "critical_category": 1,
        },
    )
    assert r.status_code == 201, r.text


def _study_of(stack: Stack, case_id: int) -> Study | None:
    with stack.sessions() as s:
        return s.scalar(select(Study).where(Study.case_id == case_id))


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _link_id(stack: Stack, token: str) -> int:
    with stack.sessions() as s:
        return s.scalars(select(ShareLink.id).where(ShareLink.token_hash == _hash(token))).one()


def _accesses(stack: Stack, token: str) -> list[ShareAccess]:
    with stack.sessions() as s:
        return list(
            s.scalars(
                select(ShareAccess)
                .join(ShareLink, ShareLink.id == ShareAccess.share_id)
                .where(ShareLink.token_hash == _hash(token))
                .order_by(ShareAccess.id)
            )
        )
