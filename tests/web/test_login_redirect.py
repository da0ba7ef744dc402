"""Defect 3 of issue 8, as found: `next=/%09/evil.com` sent a fresh login to `//evil.com` (the
browser drops the tab), and a `next` with CR/LF gave a 500. Only this site's paths are followed;
anything else goes to the role's home page."""

from __future__ import annotations

import pytest

from tests.conftest import Region
from tests.web.test_pages import Browser

HOME = "/site/cases"


@pytest.mark.parametrize(
    "query",
    [
        "next=/%09/evil.com",  # as found: a tab, which browsers drop
        "next=/\t/evil.com",  # the same, as typed (the client encodes it)
        "next=/%0a/evil.com",
        "next=/%0d/%0d/evil.com",
        "next=%0d%0aSet-Cookie:x",  # as found: a 500
        "next=//evil.com",
        "next=///evil.com",
        "next=/%5cevil.com",  # a backslash, which browsers read as a slash
        "next=/\\evil.com",
        "next=/%5c/evil.com",
        "next=%20//evil.com",
        "next=https://evil.com",
        "next=https:evil.com",
        "next=javascript:alert(1)",
        "next=",
    ],
)
def test_login_goes_home_instead_of_to_another_site(shared_region: Region, query: str) -> None:
    region = shared_region
    r = Browser(region.stack).submit(
        f"/login?{query}",
        f"/login?{query}",
        {"username": region.site_username, "password": region.password},
    )
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == HOME


def test_a_next_with_a_nul_is_refused_naming_it(shared_region: Region) -> None:
    """A NUL in any address parameter is a 400 naming it (web/url_controls.py), the login's
    `next` included: no redirect anywhere, and no 500."""
    region = shared_region
    r = Browser(region.stack).get("/login?next=/%00/evil.com")
    assert r.status_code == 400
    assert "next" in r.text and "Location" not in r.headers


@pytest.mark.parametrize(
    ("query", "target"),
    [
        ("next=/site/cases/new", "/site/cases/new"),
        ("next=/expert/", "/expert/"),
        ("next=/site/cases%3Fstatus%3Dfinal", "/site/cases?status=final"),
        # CR/LF dropped as a browser drops them: a path here, and no header of the attacker's.
        ("next=/%0d%0aSet-Cookie:x", "/Set-Cookie:x"),
    ],
)
def test_login_follows_a_path_of_this_site(shared_region: Region, query: str, target: str) -> None:
    region = shared_region
    r = Browser(region.stack).submit(
        f"/login?{query}",
        f"/login?{query}",
        {"username": region.site_username, "password": region.password},
    )
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == target
    assert "x" not in r.cookies
