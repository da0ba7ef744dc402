"""Sites, experts and coordinators: created and changed from validated input (API, demo)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from garde import phones, vocabulary
from garde.domain import Role
from garde.models import Coordinator, Credential, Expert, Site, User, expert_sites
from garde.service_levels import parse_escalation, parse_service_levels
from garde.validation import AE_TITLE, CODE, Fields

LANGUAGES = ("fr", "en")


def create_site(session: Session, data: Any) -> Site:
    f = Fields(data)
    code = f.text("code", max_len=32, pattern=CODE)
    timezone = f.timezone("timezone") if f.data.get("timezone") else "Europe/Paris"
    site = Site(
        code=code,
        name=f.text("name", max_len=200),
        timezone=timezone,
        ae_titles=f.string_list("ae_titles", pattern=AE_TITLE),
        phone=f.phone("phone", phones.region_of_zone(timezone), required=False),
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
        zone = changes.get("timezone") or site.timezone
        changes["phone"] = f.phone("phone", phones.region_of_zone(zone), required=False)
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
        phone=f.phone("phone", phones.REGION),
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
    """A new expert; credentials come from `credentials` (with dates) or `sites` (without)."""
    f = Fields(data)
    code = f.text("code", max_len=32, pattern=CODE)
    phone = f.phone("phone", phones.REGION)
    expert = Expert(
        code=code,
        name=f.text("name", max_len=200),
        phone=phone,
        subspecialties=f.words("subspecialties", vocabulary.subspecialty),
        modalities=_modalities(f),
        max_concurrent=f.integer("max_concurrent", default=2, minimum=1, maximum=50),
        language=_language(f, "fr"),
        timezone=f.timezone("timezone") if f.data.get("timezone") else "Europe/Paris",
    )
    credentials = _credentials(session, f)
    if code and session.scalar(select(Expert.id).where(Expert.code == code)):
        f.fail("code", "is already used by another expert")
    _phone_free(session, f, phone, None)
    f.check()
    session.add(expert)
    session.flush()
    _write_credentials(session, expert, credentials or [])
    return expert


# The fields whose change may change who is eligible: open cases then look again.
ELIGIBILITY_FIELDS = frozenset(
    {"subspecialties", "modalities", "max_concurrent", "active", "sites", "credentials"}
)
# The others: who the expert is, how Garde reaches them, the zone they read times in.
OWN_FIELDS = frozenset({"code", "name", "phone", "language", "timezone", "sms_enabled"})


def update_expert(session: Session, expert: Expert, data: Any) -> set[str]:
    """Change the fields given, and only those; nothing changes when one of them is wrong.
    The names of the fields given (see ELIGIBILITY_FIELDS)."""
    f = Fields(data)
    changes: dict[str, Any] = {}
    given = set(f.data)
    if "code" in given and f.data["code"] != expert.code:
        f.fail("code", "cannot change: shifts, offers and logins know the expert by it")
    if "name" in given:
        changes["name"] = f.text("name", max_len=200)
    if "phone" in given:
        changes["phone"] = f.phone("phone", phones.REGION)
        _phone_free(session, f, changes["phone"], expert.id)
    if "subspecialties" in given:
        changes["subspecialties"] = f.words("subspecialties", vocabulary.subspecialty)
    if "modalities" in given:
        changes["modalities"] = _modalities(f)
    if "max_concurrent" in given:
        changes["max_concurrent"] = f.integer(
            "max_concurrent", default=expert.max_concurrent, minimum=1, maximum=50
        )
    if "active" in given:
        changes["active"] = f.boolean("active", default=expert.active)
    if "language" in given:
        changes["language"] = _language(f, expert.language)
    if "timezone" in given:
        changes["timezone"] = f.timezone("timezone")
    if "sms_enabled" in given:
        changes["sms_enabled"] = f.boolean("sms_enabled", default=expert.sms_enabled)
    credentials = _credentials(session, f) if given & {"sites", "credentials"} else None
    unknown = given - ELIGIBILITY_FIELDS - OWN_FIELDS
    for name in sorted(unknown):
        f.fail(name, "is not a field of an expert")
    f.check()
    if changes.get("phone", expert.phone) != expert.phone:
        # What made the old number unreachable (a STOP, a refusal) says nothing of the new one.
        changes |= {"sms_unreachable_since": None, "sms_unreachable_reason": ""}
    for name, value in changes.items():
        setattr(expert, name, value)
    if credentials is not None:
        _write_credentials(session, expert, credentials)
    return given


@dataclass(frozen=True)
class _Credential:
    site_id: int
    valid_from: date | None
    valid_until: date | None


def _credentials(session: Session, f: Fields) -> list[_Credential] | None:
    """The credentials asked for: `credentials` with their dates, or `sites` without; None
    when neither is given. Errors name the item (`credentials[1].valid_until`)."""
    if "sites" in f.data and "credentials" in f.data:
        f.fail("sites", "give sites (without dates) or credentials, not both")
        return None
    if "sites" in f.data:
        items: list[dict[str, Any]] = [{"site": c} for c in f.string_list("sites")]
    elif "credentials" in f.data:
        raw = f.data["credentials"]
        if not isinstance(raw, list):
            f.fail("credentials", "must be a list of {site, valid_from, valid_until}")
            return None
        items = raw
    else:
        return None
    codes = {
        i["site"].strip() for i in items if isinstance(i, dict) and isinstance(i.get("site"), str)
    }
    sites: dict[str, int] = {
        code: site_id
        for code, site_id in session.execute(select(Site.code, Site.id).where(Site.code.in_(codes)))
    }
    found: list[_Credential] = []
    for n, item in enumerate(items):
        where = "sites" if "sites" in f.data else f"credentials[{n}]"
        if not isinstance(item, dict):
            f.fail(where, "must be an object with site, valid_from, valid_until")
            continue
        one = Fields(item)
        code = one.text("site", max_len=32)
        valid_from = one.day("valid_from", required=False)
        valid_until = one.day("valid_until", required=False)
        if code and "site" not in one.errors and code not in sites:
            one.fail("site", f"unknown site {code}")
        elif code and any(c.site_id == sites.get(code) for c in found):
            one.fail("site", f"{code} is given twice")
        if valid_from and valid_until and valid_until < valid_from:
            one.fail("valid_until", "must be on or after valid_from")
        for name, reason in one.errors.items():
            f.fail(where if where == "sites" else f"{where}.{name}", reason)
        if not one.errors:
            found.append(_Credential(sites[code], valid_from, valid_until))
    return found


def _write_credentials(session: Session, expert: Expert, credentials: list[_Credential]) -> None:
    """Replace the expert's credentials. `Expert.sites` and `Credential` share one table:
    the rows are written as Credentials and both relationships are read again."""
    for old in list(expert.credentials):
        session.expunge(old)
    session.execute(delete(expert_sites).where(expert_sites.c.expert_id == expert.id))
    session.add_all(
        Credential(
            expert_id=expert.id,
            site_id=c.site_id,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
        )
        for c in credentials
    )
    session.flush()
    session.expire(expert, ["sites", "credentials"])


def _modalities(f: Fields) -> list[str]:
    modalities = f.words("modalities", vocabulary.modality)
    if not modalities and "modalities" not in f.errors:
        f.fail("modalities", "must name at least one modality")
    return modalities


def _phone_free(session: Session, f: Fields, phone: str, expert_id: int | None) -> None:
    if phone and "phone" not in f.errors:
        other = session.scalar(select(Expert.id).where(Expert.phone == phone))
        if other is not None and other != expert_id:
            f.fail("phone", "is already the phone of another expert")


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
