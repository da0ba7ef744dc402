"""Sites and experts created and changed, for the API and the admin pages alike: validated
by garde.registry, audited, and (when who may read changes) open cases told, here once."""

from __future__ import annotations

from typing import Any

from flask import g
from sqlalchemy import select

from garde.errors import NotFound
from garde.models import Expert, Site
from garde.registry import (
    ELIGIBILITY_FIELDS,
    create_expert,
    create_site,
    update_expert,
    update_site,
)
from web.audit import audit
from web.roster_changes import roster_changed


def site_coded(code: str) -> Site:
    site = g.db.scalar(select(Site).where(Site.code == code))
    if site is None:
        raise NotFound(f"no site has the code {code}")
    return site


def expert_coded(code: str) -> Expert:
    expert = g.db.scalar(select(Expert).where(Expert.code == code))
    if expert is None:
        raise NotFound(f"no expert has the code {code}")
    return expert


def add_site(data: Any) -> Site:
    site = create_site(g.db, data)
    audit("site.create", f"site:{site.code}")
    g.db.commit()
    return site


def change_site(site: Site, data: Any) -> None:
    """Change the fields given (InvalidInput naming each wrong one, and nothing changes)."""
    update_site(site, data)
    audit("site.update", f"site:{site.code}", ", ".join(sorted(data)))
    g.db.commit()


def add_expert(data: Any) -> Expert:
    expert = create_expert(g.db, data)
    audit("expert.create", f"expert:{expert.code}")
    g.db.commit()
    return expert


def change_expert(expert: Expert, data: Any) -> None:
    """Change the fields given; cases waiting for an expert look again when the change may
    change who is eligible."""
    given = update_expert(g.db, expert, data)
    audit("expert.update", f"expert:{expert.code}", ", ".join(sorted(given)))
    g.db.commit()
    if given & ELIGIBILITY_FIELDS:
        roster_changed("expert changed")
