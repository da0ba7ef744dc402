"""/metrics only for the bearer of GARDE_METRICS_TOKEN (issue 8, defect 11).

As found, anyone reaching the web app read the counts of cases, offers and SMS; a loopback
address proves nothing, since behind a reverse proxy every request comes from loopback.
"""

from __future__ import annotations

import requests

from tests.conftest import Region, Stack
from tests.web.test_site_flood import web_in_process


def scrape(stack: Stack, **headers: str) -> requests.Response:
    return requests.get(stack.url + "/metrics", headers=headers, timeout=10)


def test_metrics_need_their_token_whatever_the_address_claims(region: Region) -> None:
    stack = region.stack
    token = stack.env["GARDE_METRICS_TOKEN"]
    for refused in (
        scrape(stack),
        scrape(stack, Authorization="Bearer wrong"),
        scrape(stack, Authorization="Bearer " + token[:-1]),
        scrape(stack, Authorization="Bearer " + region.admin_token),  # a user's API token
        scrape(stack, **{"X-Forwarded-For": "127.0.0.1", "X-Real-IP": "127.0.0.1"}),
    ):
        assert refused.status_code == 401, refused.text
        assert refused.json()["error"] and "garde_cases" not in refused.text
    served = scrape(stack, Authorization="Bearer " + token)
    assert served.status_code == 200
    assert "# TYPE garde_cases gauge" in served.text


def test_without_a_token_set_there_are_no_metrics(stack: Stack) -> None:
    with web_in_process(stack, GARDE_METRICS_TOKEN="") as web:
        for headers in ({}, {"Authorization": "Bearer " + stack.env["GARDE_METRICS_TOKEN"]}):
            r = requests.get(web.url + "/metrics", headers=headers, timeout=10)
            assert r.status_code == 404 and "garde_cases" not in r.text
