"""A site's endpoints for its reports: each version goes to every one the site has set."""

from __future__ import annotations

from garde.models import Site

WEBHOOK = "webhook"
HL7 = "hl7"


def channels(site: Site) -> list[str]:
    """The site's endpoints a report version goes to."""
    found = []
    if site.report_webhook_url and site.report_webhook_secret:
        found.append(WEBHOOK)
    if site.hl7_endpoint:
        found.append(HL7)
    return found
