"""A site's read request, from the API or the form: recorded first, then routed.

The case is stored before its workflow is started, so a request that arrives while Temporal
is away is kept and answered as usual; the worker's reconciler starts its routing later.

A site sends at most GARDE_CASES_PER_SITE_PER_HOUR new cases an hour (`per_site`, counted by
flask-limiter where failed logins are): past it the API answers 429 naming the limit, with
Retry-After, and the form says so above the values typed. A request sent again is answered
as before and does not count.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import g
from flask.wrappers import Response

from garde.errors import Unavailable
from garde.intake import CaseRequest, Order, record_case
from garde.models import Case, Site, utcnow
from web import services
from web.audit import audit
from web.login_limits import limiter

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitted:
    case: Case
    created: bool  # False: the same accession number was sent before
    routing: bool  # False: recorded, the reconciler will start routing


def _allowance() -> str:
    return f"{services().settings.cases_per_site_per_hour} per hour"


def _refusal() -> str:
    per_hour = services().settings.cases_per_site_per_hour
    return (
        f"at most {per_hour} new cases per hour per site (GARDE_CASES_PER_SITE_PER_HOUR); "
        "try again later"
    )


def _site_key() -> str:
    return f"site:{g.user.site_id}"


def _created(_response: Response) -> bool:
    return bool(g.get("case_created"))


# One allowance for the API and the form; for views open to site logins only (the key is the
# logged-in user's site).
per_site = limiter.shared_limit(
    _allowance,
    "cases-per-site",
    key_func=_site_key,
    methods=["POST"],
    error_message=_refusal,
    deduct_when=_created,
)


def submit_case(site: Site, request: CaseRequest, order: Order | None = None) -> Submitted:
    case, created = record_case(g.db, site, request, order or Order())
    g.case_created = created
    if created:
        audit("case.submit", f"case:{case.id}")
        g.db.commit()
    return Submitted(case, created, start_routing(case))


def start_routing(case: Case) -> bool:
    if case.workflow_started_at is not None:
        return True
    try:
        services().cases.start(case)
    except Unavailable:
        log.warning("case %s recorded; routing waits for Temporal", case.id)
        return False
    case.workflow_started_at = utcnow()
    g.db.commit()
    return True
