"""A read's billing line: priced by the site's tariff version in force at the priced instant,
with its breakdown. The case workflow's activity and the demo's history both bill through
here, so that a line is priced one way only."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from billing.pricing import Part, percent_of, quote
from billing.tariffs import in_force_at
from billing.terms import DAY, PricedAt
from garde.models import BillingLine, Case


def bill(
    session: Session,
    case: Case,
    *,
    expert_id: int,
    read_at: datetime,
    accepted_at: datetime | None,
    cancelled: bool = False,
) -> BillingLine | None:
    """Add the case's line: its read by `expert_id`, reported at `read_at`, or with
    `cancelled` its cancellation at `read_at` after an acceptance. None when the tariff in
    force at the acceptance bills no cancellation. The caller makes sure the case has no line
    yet (one per case)."""
    site = case.site
    if cancelled:
        assert accepted_at is not None
        priced_at = accepted_at
        tariff = in_force_at(session, site, priced_at)
        fee = tariff.cancellation_cents
        if fee is None:
            return None
        terms = tariff.terms()
        parts = [Part("cancellation", fee)]
        amount, share = fee, percent_of(fee, terms.expert_share_percent)
        time_band, bands = DAY, []
    else:
        priced_at = read_at
        tariff = in_force_at(session, site, priced_at)
        if tariff.priced_at == PricedAt.ACCEPTANCE and accepted_at is not None:
            priced_at = accepted_at
            tariff = in_force_at(session, site, priced_at)
        price = quote(
            tariff.terms(),
            modality=case.modality,
            priority=case.priority,
            at=priced_at,
            timezone=site.timezone,
            exam_code=case.exam_code,
        )
        parts = list(price.parts)
        amount, share = price.amount_cents, price.expert_share_cents
        time_band, bands = price.time_band, list(price.bands)
    line = BillingLine(
        case_id=case.id,
        site_id=case.site_id,
        expert_id=expert_id,
        kind="cancellation" if cancelled else "read",
        modality=case.modality,
        priority=case.priority,
        time_band=time_band,
        bands=bands,
        parts=[{"what": p.what, "cents": p.cents} for p in parts],
        amount_cents=amount,
        expert_share_cents=share,
        currency=tariff.currency,
        tariff_id=tariff.id,
        tariff_version=tariff.version,
        priced_at=priced_at,
        read_at=read_at,
    )
    session.add(line)
    return line
