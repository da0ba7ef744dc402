"""The admin's pages over real HTTP: logins made, refused, disabled and given a new password,
API tokens shown once and revoked, sites and experts edited, the audit log, and no page for
anyone but an admin."""

from __future__ import annotations

import html
import re
import secrets

from sqlalchemy import func, select

from garde.domain import Role
from garde.models import ApiToken, User
from garde.settings import Settings
from tests.conftest import Region, add_login
from tests.web.test_pages import Browser, csrf_token, flashes

SECRET = re.compile(r"gt_[A-Za-z0-9_-]{20,}")


def admin_browser(region: Region) -> tuple[Browser, str]:
    username = "root-" + secrets.token_hex(3)
    with region.stack.sessions.begin() as s:
        add_login(s, username, Role.ADMIN)
    return Browser(region.stack).login(username), username


def errors_shown(page: str) -> dict[str, str]:
    """The reason written under each field, by field name."""
    found = re.findall(r'<small class="error" id="([\w.\[\]]+)-error">(.*?)</small>', page, re.S)
    return {name: html.unescape(text).strip() for name, text in found}


def audit_rows(page: str) -> list[str]:
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    return re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S) if body else []


def test_an_admin_creates_disables_and_resets_a_login_and_the_audit_says_so(
    shared_region: Region,
) -> None:
    region = shared_region
    admin, admin_name = admin_browser(region)
    name = "newcomer-" + secrets.token_hex(3)
    alice = region.experts["alice"].code
    new = {"username": name, "role": "expert", "expert": alice, "site": ""}

    r = admin.submit("/admin/users/new", "/admin/users/new", {**new, "password": "short"})
    assert r.status_code == 400
    assert errors_shown(r.text)["password"] == "Initial password must be at least 12 characters"
    assert f'value="{name}"' in r.text  # what was typed stays
    with region.stack.sessions() as s:
        assert s.scalar(select(User).where(User.username == name)) is None

    first = "a first long passphrase"
    r = admin.submit("/admin/users/new", "/admin/users/new", {**new, "password": first})
    assert r.status_code == 302, r.text
    assert r.headers["Location"] == f"/admin/users/{name}"
    listed = admin.get("/admin/users").text
    assert f'id="user-{name}"' in listed

    newcomer = Browser(region.stack).login(name, first)
    assert newcomer.get("/expert/", allow_redirects=False).status_code == 200

    page = f"/admin/users/{name}"
    assert admin.submit(page, f"{page}/disable", {}).status_code == 302
    r = newcomer.get("/expert/", allow_redirects=False)
    assert r.status_code == 302 and r.headers["Location"].startswith("/login")  # out at once

    r = admin.submit(page, f"{page}/password", {"password": name})
    assert r.status_code == 400
    assert errors_shown(r.text)["password"] == "New password must not be the username"
    second = "another long passphrase"
    assert admin.submit(page, f"{page}/password", {"password": second}).status_code == 302
    assert admin.submit(page, f"{page}/enable", {}).status_code == 302
    assert (
        Browser(region.stack)
        .submit("/login", "/login", {"username": name, "password": first})
        .status_code
        == 401
    )
    Browser(region.stack).login(name, second)

    # An admin cannot lock themselves out.
    own = f"/admin/users/{admin_name}"
    r = admin.submit(own, f"{own}/disable", {})
    assert "an admin cannot disable their own login" in flashes(admin.get(own).text)
    r = admin.submit(own, f"{own}/role", {"role": "coordinator"})
    assert "an admin cannot take away their own admin role" in flashes(admin.get(own).text)

    rows = audit_rows(admin.get("/admin/audit", params={"actor": admin_name}).text)
    actions = [re.search(r'class="mono">([\w.]+)</td>', row).group(1) for row in rows]  # type: ignore[union-attr]
    assert actions == [
        "user.enable",
        "user.password_reset",
        "user.disable",
        "user.create",
        "user.login",
    ]
    assert all(f"user:{name}" in row and "127.0.0.1" in row for row in rows[:4])
    logins = audit_rows(admin.get("/admin/audit", params={"action": "user.", "actor": name}).text)
    assert len(logins) == 2 and all("user.login" in row for row in logins)  # twice, not a third


def test_no_admin_page_for_anyone_but_an_admin(shared_region: Region) -> None:
    """Every route of the admin blueprint, a route added later too."""
    from web import create_app

    region = shared_region
    app = create_app(Settings.from_env(region.stack.env))
    args = {"username": "nobody", "code": "NOWHERE", "token_id": 1}
    with app.test_request_context():
        from flask import url_for

        routes = [
            (method, url_for(rule.endpoint, **{a: args[a] for a in rule.arguments}))
            for rule in app.url_map.iter_rules()
            if rule.endpoint.startswith("admin.")
            for method in sorted((rule.methods or set()) & {"GET", "POST"})
        ]
    assert len(routes) > 15
    coordinator = "coord-" + secrets.token_hex(3)
    with region.stack.sessions.begin() as s:
        add_login(s, coordinator, Role.COORDINATOR)
    others = {
        "coordinator": Browser(region.stack).login(coordinator),
        "expert": Browser(region.stack).login(region.experts["alice"].username),
        "site": Browser(region.stack).login(region.site_username),
    }
    assert "/admin/users" not in others["coordinator"].get("/coordinator/").text
    for who, browser in others.items():
        token = csrf_token(browser.get("/account/password").text)
        for method, path in routes:
            r = browser.http.request(
                method, browser.base + path, data={"csrf_token": token}, allow_redirects=False
            )
            assert r.status_code == 403, (who, method, path, r.status_code)
    anonymous = Browser(region.stack)
    token = csrf_token(anonymous.get("/login").text)
    for method, path in routes:
        r = anonymous.http.request(
            method, anonymous.base + path, data={"csrf_token": token}, allow_redirects=False
        )
        assert r.status_code == 302, (method, path, r.status_code)
        assert r.headers["Location"].startswith("/login?next="), (method, path)
    admin, _ = admin_browser(region)
    assert 'href="/admin/users"' in admin.get("/coordinator/").text


def test_sites_and_experts_are_edited_in_the_browser(shared_region: Region) -> None:
    region = shared_region
    admin, _ = admin_browser(region)
    api = region.stack.api(region.admin_token)
    site_page = f"/admin/sites/{region.site}"
    form = {
        "name": "CH edited",
        "timezone": "Mars/Olympus_Mons",
        "ae_titles": "EDITED, EDITED2",
        "phone": "+33471000001",
        "language": "en",
        "prices": "CT=9500, MR=12000",
        "expert_share_percent": "65",
        "study_quiet_s": "45",
        "opens_cases": "EDITED2 = stat",
    }
    r = admin.submit(site_page, site_page, form)
    assert r.status_code == 400
    assert errors_shown(r.text).keys() == {"timezone"}
    assert 'value="Mars/Olympus_Mons"' in r.text and 'value="CH edited"' in r.text
    assert api.get(f"/api/v1/sites/{region.site}").json()["name"] == f"CH {region.site}"

    r = admin.submit(site_page, site_page, {**form, "timezone": "America/Martinique"})
    assert r.status_code == 302, r.text
    site = api.get(f"/api/v1/sites/{region.site}").json()
    assert (site["name"], site["timezone"], site["ae_titles"], site["prices"]) == (
        "CH edited",
        "America/Martinique",
        ["EDITED", "EDITED2"],
        {"CT": 9500, "MR": 12000},
    )
    assert (site["phone"], site["language"], site["expert_share_percent"]) == (
        "+33471000001",
        "en",
        65,
    )
    assert (site["study_quiet_s"], site["opens_cases"]) == (45, {"EDITED2": "stat"})

    bruno = region.experts["bruno"]
    expert_page = f"/admin/experts/{bruno.code}"
    form = {
        "name": "Dr Bruno Edited",
        "phone": "12",
        "language": "en",
        "timezone": "Europe/Paris",
        "modalities": "CT",
        "subspecialties": "neuro",
        "sites": region.site,
        "max_concurrent": "4",
        "sms_enabled": "",  # unticked
        "active": "true",
    }
    r = admin.submit(expert_page, expert_page, form)
    assert r.status_code == 400
    assert errors_shown(r.text).keys() == {"phone"}
    assert 'value="12"' in r.text and 'value="Dr Bruno Edited"' in r.text
    assert api.get(f"/api/v1/experts/{bruno.code}").json()["name"] == "Dr Bruno"

    r = admin.submit(expert_page, expert_page, {**form, "phone": bruno.phone})
    assert r.status_code == 302, r.text
    expert = api.get(f"/api/v1/experts/{bruno.code}").json()
    assert (expert["name"], expert["modalities"], expert["max_concurrent"]) == (
        "Dr Bruno Edited",
        ["CT"],
        4,
    )
    assert (expert["sms_enabled"], expert["language"], expert["sites"]) == (
        False,
        "en",
        [region.site],
    )
    log = admin.get("/admin/audit", params={"target": f"expert:{bruno.code}"}).text
    assert "language, max_concurrent, modalities, name, sms_enabled" in log  # what changed


def test_a_token_is_shown_once_and_revoked_from_the_browser(shared_region: Region) -> None:
    region = shared_region
    admin, _ = admin_browser(region)
    owner = "robot-" + secrets.token_hex(3)
    with region.stack.sessions.begin() as s:
        add_login(s, owner, Role.COORDINATOR)
    page = f"/admin/users/{owner}"
    secrets_made = []
    for _ in range(2):
        r = admin.submit(page, f"{page}/tokens", {"days": "3"})
        assert r.status_code == 200
        secrets_made.append(SECRET.findall(r.text)[0])
    first, second = secrets_made
    for secret in (first, second):
        assert region.stack.api(secret).get("/api/v1/sites").status_code == 200
    shown = admin.get(page).text
    assert first not in shown and second not in shown
    newest = re.findall(r'id="token-(\d+)"', shown)[0]  # newest first: the second

    assert admin.submit(page, f"{page}/tokens/{newest}/revoke", {}).status_code == 302
    assert region.stack.api(second).get("/api/v1/sites").status_code == 401
    assert region.stack.api(first).get("/api/v1/sites").status_code == 200
    assert admin.submit(page, f"{page}/tokens/revoke", {}).status_code == 302
    assert region.stack.api(first).get("/api/v1/sites").status_code == 401
    assert admin.get("/admin/users").text.count(f'id="user-{owner}"') == 1


def test_a_disabled_login_is_offered_no_token_and_refused_one(shared_region: Region) -> None:
    region = shared_region
    admin, _ = admin_browser(region)
    owner = "retired-" + secrets.token_hex(3)
    with region.stack.sessions.begin() as s:
        add_login(s, owner, Role.COORDINATOR)
    page = f"/admin/users/{owner}"
    assert 'id="new-token"' in admin.get(page).text  # offered while the login is live
    assert admin.submit(page, f"{page}/disable", {}).status_code == 302

    shown = admin.get(page).text
    assert 'id="new-token"' not in shown and "Create a token" not in shown
    assert "A disabled login gets no new token: enable it first." in shown
    r = admin.submit(page, f"{page}/tokens", {"days": "3"})  # posted anyway, from an old page
    assert r.status_code == 409
    assert f"{owner} is disabled: enable the login to create a token." in flashes(r.text)
    assert not SECRET.findall(r.text)
    with region.stack.sessions() as s:
        user = s.scalars(select(User).where(User.username == owner)).one()
        assert s.scalar(select(func.count(ApiToken.id)).where(ApiToken.user_id == user.id)) == 0
