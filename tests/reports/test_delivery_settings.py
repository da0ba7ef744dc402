"""The admin sets a site's report endpoints in the browser, checked as the API checks them;
the webhook's secret is never shown back, and a blank one keeps the one stored."""

from __future__ import annotations

import re

from sqlalchemy import select

from garde.models import Site
from tests.conftest import Region
from tests.web.test_admin_pages import admin_browser, errors_shown

SECRET = "the-site-secret-" + "4242"


def test_the_admin_sets_a_sites_report_endpoints(shared_region: Region) -> None:
    region = shared_region
    admin, _ = admin_browser(region)
    page = f"/admin/sites/{region.site}"
    # The form as the page fills it: each input's value, the language chosen.
    base = dict(
        re.findall(r'<input name="(\w+)" type="[a-z]+" value="([^"]*)"', admin.get(page).text)
    )
    base["language"] = "fr"
    r = admin.submit(
        page,
        page,
        base
        | {
            "report_webhook_url": "http://ris.example.org/reports",
            "hl7_endpoint": "ris.example.org",
            "critical_ack_within_s": "1=30",
        },
    )
    assert r.status_code == 400
    shown = errors_shown(r.text)
    assert "http:// only to this machine" in shown["report_webhook_url"]
    assert "host:port" in shown["hl7_endpoint"]
    assert "from 60 seconds to 7 days" in shown["critical_ack_within_s"]

    url = "https://ris.example.org/garde/reports"
    r = admin.submit(page, page, base | {"report_webhook_url": url})
    assert r.status_code == 400
    assert errors_shown(r.text)["report_webhook_secret"].endswith(
        "is required with report_webhook_url"
    )

    changes = {
        "report_webhook_url": url,
        "hl7_endpoint": "10.0.0.7:2575",
        "critical_ack_within_s": "1=600",
    }
    r = admin.submit(page, page, base | changes | {"report_webhook_secret": SECRET})
    assert r.status_code == 302, r.text
    site = region.stack.api(region.admin_token).get(f"/api/v1/sites/{region.site}").json()
    assert (site["report_webhook_url"], site["hl7_endpoint"]) == (url, "10.0.0.7:2575")
    assert site["report_webhook_secret_set"] is True
    assert site["critical_ack_within_s"] == {"1": 600, "2": 3600}

    # The page shows the settings but never the secret; saved with it blank, it stays.
    form = admin.get(page).text
    assert url in form and "1=600" in form and SECRET not in form
    r = admin.submit(page, page, base | changes | {"critical_ack_within_s": "1=600, 2=1800"})
    assert r.status_code == 302, r.text
    with region.stack.sessions() as s:
        stored = s.scalars(select(Site).where(Site.code == region.site)).one()
        assert stored.report_webhook_secret == SECRET
        assert stored.critical_ack_within_s == {"1": 600, "2": 1800}
