"""Defect 8 of issue 8, as found: an id beyond 32 bits (PostgreSQL) or 64 bits (SQLite) in a URL,
and a deeply nested JSON body, gave 500s. Every route with an id, in the URL map, for every role:
a 404; a body nested too deep or too large: a 4xx naming the body."""

from __future__ import annotations

import secrets
from collections.abc import Iterator

import pytest
from werkzeug.routing import AnyConverter, IntegerConverter

from garde.domain import Role
from garde.settings import Settings
from tests.conftest import Region, add_login, case_request
from tests.web.test_pages import Browser, coordinator, csrf_token

# Past PostgreSQL's `integer`, past SQLite's 64 bits, and far past both.
HUGE = (2**31, 2**63, 10**20, 10**400)


def _routes_with_ids(region: Region) -> Iterator[tuple[str, str]]:
    """(method, path) of every route taking an `<int:…>`, the id a huge number."""
    from web import create_app

    app = create_app(Settings.from_env(region.stack.env))
    for rule in app.url_map.iter_rules():
        converters = rule._converters  # noqa: SLF001 - the map's own description of each part
        ints = [n for n, c in converters.items() if isinstance(c, IntegerConverter)]
        if not ints:
            continue
        # Any other part gets a value that exists (a choice it offers, a real login's name), so
        # only the id can be wrong.
        values = {
            n: sorted(c.items)[0] if isinstance(c, AnyConverter) else region.site_username
            for n, c in converters.items()
            if n not in ints
        }
        for huge in HUGE:
            path = rule.build({**values, **dict.fromkeys(ints, huge)})[1]
            for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
                yield method, path


def _admin(region: Region) -> Browser:
    username = "admin-" + secrets.token_hex(3)
    with region.stack.sessions.begin() as s:
        add_login(s, username, Role.ADMIN)
    return Browser(region.stack).login(username)


def test_a_huge_id_in_any_url_is_a_404_for_every_role(region: Region) -> None:
    stack = region.stack
    alice = region.experts["alice"]
    tokens = [region.site_token, alice.token, region.coordinator_token, region.admin_token]
    browsers = [
        Browser(stack).login(region.site_username),
        Browser(stack).login(alice.username),
        coordinator(stack),
        _admin(region),
    ]
    forms = [csrf_token(b.get("/").text) for b in browsers]
    routes = list(_routes_with_ids(region))
    assert len(routes) > 3 * len(HUGE)
    answers: dict[tuple[str, str, int], int] = {}
    for method, path in routes:
        for who in range(len(tokens)):
            if path.startswith("/api/"):
                r = stack.api(tokens[who]).request(method, path, json={})
            else:
                data = {"csrf_token": forms[who]} if method == "POST" else None
                r = browsers[who].http.request(
                    method, stack.url + path, data=data, allow_redirects=False, timeout=60
                )
            answers[(method, path, who)] = r.status_code
    wrong = {k: status for k, status in answers.items() if status != 404}
    assert not wrong


@pytest.mark.parametrize(
    "deep",
    [
        "[" * 10_000 + "]" * 10_000,
        '{"a":' * 10_000 + "1" + "}" * 10_000,
        '{"modality": ' + "[" * 33 + "]" * 33 + "}",
    ],
    ids=["10000 lists", "10000 objects", "33 levels"],
)
def test_a_deeply_nested_body_is_a_400_naming_the_body(region: Region, deep: str) -> None:
    api = region.stack.api(region.site_token)
    headers = {"Content-Type": "application/json"}
    before = api.get("/api/v1/cases").json()
    r = api.post("/api/v1/cases", data=deep, headers=headers)
    assert r.status_code == 400, r.text
    assert r.json()["detail"] == {"body": "must nest at most 32 levels"}
    case = region.submit()
    r = api.post(f"/api/v1/cases/{case['id']}/priority", data=deep, headers=headers)
    assert r.status_code == 400, r.text
    assert "body" in r.json()["detail"]
    assert len(api.get("/api/v1/cases").json()) == len(before) + 1


def test_a_body_that_is_not_json_or_too_large_names_the_body(region: Region) -> None:
    api = region.stack.api(region.site_token)
    headers = {"Content-Type": "application/json"}
    for broken in ('{"modality": "CT"', "NaN", b"\xff{}", '{"n": 1' + "0" * 5000 + "}"):
        r = api.post("/api/v1/cases", data=broken, headers=headers)
        assert r.status_code == 400, r.text
        assert r.json()["detail"] == {"body": "is not valid JSON"}
    large = case_request(clinical_question="x" * 1_100_000)
    r = api.post("/api/v1/cases", json=large)
    assert r.status_code == 413, r.text
    assert "body" in r.json()["detail"]
    assert api.get("/api/v1/cases").json() == []
