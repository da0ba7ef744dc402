"""Sites, experts and coordinators: created and changed from validated input (API, demo)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import Role
from garde.models import Coordinator, Expert, Site, User
from garde.service_levels import parse_escalation, parse_service_levels
from garde.validation import AE_TITLE, CODE, E164, Fields
from garde.vocabulary import MODALITIES

LANGUAGES = ("fr", "en")


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
        service_levels=parse_service_levels(f, {}),
        escalation=parse_escalation(f, {}),
        language=_language(f, "fr"),
    )
    if code and session.scalar(select(Site.id).where(Site.code == code)):
        f.fail("code", "is already used by another site")
    f.check()
    session.add(site)
    session.flush()
    return site


def update_site(site: Site, data: Any) -> None:
    """Change the fields given, and only those; nothing changes when one of them is wrong.
    Cases already requested keep the promise they were made."""
    f = Fields(data)
    changes: dict[str, Any] = {}
    given = set(f.data)
    if "code" in given:
        f.fail("code", "cannot change: other systems know the site by it")
    if "name" in given:
        changes["name"] = f.text("name", max_len=200)
    if "timezone" in given:
        changes["timezone"] = f.timezone("timezone")
    if "ae_titles" in given:
        changes["ae_titles"] = f.string_list("ae_titles", pattern=AE_TITLE)
    if "phone" in given:
        changes["phone"] = f.optional_text("phone", max_len=20, pattern=E164) or ""
    if "prices" in given:
        changes["prices"] = _prices(f)
    if "expert_share_percent" in given:
        changes["expert_share_percent"] = f.integer(
            "expert_share_percent", default=site.expert_share_percent, maximum=100
        )
    if "service_levels" in given:
        changes["service_levels"] = parse_service_levels(f, site.service_levels)
    if "escalation" in given:
        changes["escalation"] = parse_escalation(f, site.escalation)
    if "language" in given:
        changes["language"] = _language(f, site.language)
    f.check()
    for name, value in changes.items():
        setattr(site, name, value)


def create_coordinator(session: Session, data: Any) -> Coordinator:
    """A person alerted by the ladder, linked to their coordinator login when one is named."""
    f = Fields(data)
    code = f.text("code", max_len=32, pattern=CODE)
    username = f.optional_text("username", max_len=64)
    user = None
    if username:
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            f.fail("username", f"no login is called {username}")
        elif user.role not in (Role.COORDINATOR, Role.ADMIN):
            f.fail("username", "must be the login of a coordinator or an admin")
        elif session.scalar(select(Coordinator.id).where(Coordinator.user_id == user.id)):
            f.fail("username", "is already linked to another coordinator")
    coordinator = Coordinator(
        code=code,
        name=f.text("name", max_len=200),
        phone=f.text("phone", max_len=20, pattern=E164),
        language=_language(f, "fr"),
        user_id=user.id if user else None,
    )
    if code and session.scalar(select(Coordinator.id).where(Coordinator.code == code)):
        f.fail("code", "is already used by another coordinator")
    f.check()
    session.add(coordinator)
    session.flush()
    return coordinator


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


def _language(f: Fields, default: str) -> str:
    value = f.optional_text("language", max_len=8) or default
    if value.lower() not in LANGUAGES:
        f.fail("language", "must be fr or en")
        return default
    return value.lower()


def _prices(f: Fields) -> dict[str, int]:
    raw = f.data.get("prices", {})
    if not isinstance(raw, dict) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in raw.items()
    ):
        f.fail("prices", "must map modality codes to non-negative prices in cents")
        return {}
    return {k.upper() if k != "default" else k: v for k, v in raw.items()}
