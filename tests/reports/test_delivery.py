"""Each report version pushed to the site's webhook and MLLP listener, durably: an endpoint
down is retried until it takes the version, without holding up the other; every attempt
shows on the case; a channel the site removes ends its delivery."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest

from activities.delivery import REMOVED
from garde.temporal import delivery_workflow_id
from tests.conftest import Region, wait_for
from tests.reports.site_endpoints import MllpListener, Webhook
from tests.web.test_pages import Browser, coordinator

SECRET = "site-secret-" + "0123456789"


@pytest.fixture
def endpoints(region: Region) -> Iterator[tuple[Webhook, MllpListener]]:
    """The site's webhook and MLLP listener, set as its endpoints by the admin."""
    webhook, listener = Webhook(SECRET).start(), MllpListener().start()
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}",
        json={
            "report_webhook_url": webhook.url,
            "report_webhook_secret": SECRET,
            "hl7_endpoint": listener.endpoint,
        },
    )
    assert r.status_code == 200, r.text
    yield webhook, listener
    webhook.stop()
    listener.stop()


def attempts(region: Region, case: int, channel: str) -> list[tuple[int, int, str, str]]:
    """(version, attempt, outcome, detail) of one channel, as the site reads its case."""
    r = region.stack.api(region.site_token).get(f"/api/v1/cases/{case}")
    assert r.status_code == 200, r.text
    return [
        (d["version"], d["attempt"], d["outcome"], d["detail"])
        for d in r.json()["deliveries"]
        if d["channel"] == channel
    ]


def delivered(region: Region, case: int, channel: str, version: int) -> Any:
    return wait_for(
        lambda: (
            (found := attempts(region, case, channel))
            and (version, found[-1][1], "delivered") == found[-1][:3]
            and found
        ),
        what=f"version {version} delivered by {channel}",
    )


def test_a_final_reaches_both_endpoints_each_retried_on_its_own(
    region: Region, endpoints: tuple[Webhook, MllpListener]
) -> None:
    webhook, listener = endpoints
    webhook.gate.clear()  # its first answer waits (then says 503)
    webhook.answers.append(503)
    listener.answers.append(("AE", "Order unknown"))
    alice = region.stack.api(region.experts["alice"].token)
    case = region.submit()["id"]
    assert alice.post(f"/api/v1/cases/{case}/accept").status_code == 200
    r = alice.post(
        f"/api/v1/cases/{case}/report",
        json={"kind": "final", "findings": "Hématome sous-dural.", "impression": "HSD | aigu"},
    )
    assert r.status_code == 201, r.text

    # The listener refused once, then took it, while the webhook's first answer still waits:
    # one endpoint down holds up nothing else.
    assert delivered(region, case, "hl7", 1) == [
        (1, 1, "failed", "AE: Order unknown"),
        (1, 2, "delivered", "AA"),
    ]
    assert len(webhook.received) == 1 and attempts(region, case, "webhook") == []
    webhook.gate.set()
    assert delivered(region, case, "webhook", 1) == [
        (1, 1, "failed", "HTTP 503"),
        (1, 2, "delivered", "HTTP 201"),
    ]
    first, second = webhook.received
    assert first.signed and second.signed and first.body == second.body
    assert first.headers["X-Garde-Delivery"] == second.headers["X-Garde-Delivery"]
    assert first.headers["Content-Type"] == "application/fhir+json"
    bundle = json.loads(first.body)
    assert bundle["resourceType"] == "Bundle"
    assert "Hématome sous-dural." in json.dumps(bundle, ensure_ascii=False)
    assert len(listener.received) == 2 and "ORU^R01" in listener.received[0]
    # Coordinators see the same attempts; both case pages list them.
    assert len(region.case(case)["deliveries"]) == 4
    for browser, page in (
        (Browser(region.stack).login(region.site_username), f"/site/cases/{case}"),
        (coordinator(region.stack), f"/coordinator/cases/{case}"),
    ):
        shown = browser.get(page).text
        assert shown.count('<tr class="delivery-') == 4, page
        assert "AE: Order unknown" in shown and "HTTP 503" in shown, page

    # An addendum while the webhook is down; the site then removes it: its delivery stops,
    # recorded, and the version's delivery ends.
    webhook.answers.extend([503] * 20)
    r = alice.post(
        f"/api/v1/cases/{case}/report",
        json={"kind": "addendum", "findings": "Compared: new.", "impression": "New."},
    )
    assert r.status_code == 201, r.text
    delivered(region, case, "hl7", 2)
    wait_for(lambda: (2, 1, "failed", "HTTP 503") in attempts(region, case, "webhook"))
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/sites/{region.site}", json={"report_webhook_url": None}
    )
    assert r.status_code == 200, r.text
    addendum = region.case(case)["addenda"][0]["id"]

    async def finished() -> None:
        handle = (await region.stack.client()).get_workflow_handle(
            delivery_workflow_id(case, addendum)
        )
        await asyncio.wait_for(handle.result(), timedelta(seconds=30).total_seconds())

    asyncio.run(finished())
    *failed, last = [a for a in attempts(region, case, "webhook") if a[0] == 2]
    assert last[2:] == ("failed", REMOVED)
    assert failed and all(a[2:] == ("failed", "HTTP 503") for a in failed)
