"""Sites and experts: created from validated input (API, demo data)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import MODALITIES
from garde.models import Expert, Site
from garde.validation import AE_TITLE, CODE, E164, Fields


def create_site(session: Session, data: Any) -> Site:
    f = Fields(data)
    code = f.text("code", max_len=32, pattern=CODE)
    site = Site(
        code=code,
        name=f.text("name", max_len=200),
        timezone=f.timezone("timezone") if f.data.get("timezone") else "Europe/Paris",
        ae_titles=f.string_list("ae_titles", pattern=AE_TITLE),
        phone=f.optional_text("phone", max_len=20, pattern=E164) or "",
        prices=_prices(f),
        expert_share_percent=f.integer("expert_share_percent", default=70, maximum=100),
    )
    if code and session.scalar(select(Site.id).where(Site.code == code)):
        f.fail("code", "is already used by another site")
    f.check()
    session.add(site)
    session.flush()
    return site


def create_expert(session: Session, data: Any) -> Expert:
    f = Fields(data)
    code = f.text("code", max_len=32, pattern=CODE)
    phone = f.text("phone", max_len=20, pattern=E164)
    modalities = [m.upper() for m in f.string_list("modalities")]
    unknown = [m for m in modalities if m not in MODALITIES]
    if unknown:
        f.fail(
            "modalities", f"unknown modality {', '.join(unknown)}; known: {', '.join(MODALITIES)}"
        )
    elif not modalities:
        f.fail("modalities", "must name at least one modality")
    site_codes = f.string_list("sites")
    sites = (
        list(session.scalars(select(Site).where(Site.code.in_(site_codes)))) if site_codes else []
    )
    missing = sorted(set(site_codes) - {s.code for s in sites})
    if missing:
        f.fail("sites", f"unknown site {', '.join(missing)}")
    expert = Expert(
        code=code,
        name=f.text("name", max_len=200),
        phone=phone,
        subspecialties=f.string_list("subspecialties"),
        modalities=modalities,
        max_concurrent=f.integer("max_concurrent", default=2, minimum=1, maximum=50),
        sites=sites,
    )
    if code and session.scalar(select(Expert.id).where(Expert.code == code)):
        f.fail("code", "is already used by another expert")
    if phone and session.scalar(select(Expert.id).where(Expert.phone == phone)):
        f.fail("phone", "is already the phone of another expert")
    f.check()
    session.add(expert)
    session.flush()
    return expert


def _prices(f: Fields) -> dict[str, int]:
    raw = f.data.get("prices", {})
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in raw.items()
    ):
        f.fail("prices", "must map modality codes to non-negative prices in cents")
        return {}
    return {k.upper() if k != "default" else k: v for k, v in raw.items()}
