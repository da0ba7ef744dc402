"""A site's read request, from the API or the form: recorded first, then routed.

The case is stored before its workflow is started, so a request that arrives while Temporal
is away is kept and answered as usual; the worker's reconciler starts its routing later.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from flask import g

from garde.errors import Unavailable
from garde.intake import CaseRequest, record_case
from garde.models import Case, Site, utcnow
from web import services
from web.audit import audit

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Submitted:
    case: Case
    created: bool  # False: the same accession number was sent before
    routing: bool  # False: recorded, the reconciler will start routing


def submit_case(site: Site, request: CaseRequest) -> Submitted:
    case, created = record_case(g.db, site, request)
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
