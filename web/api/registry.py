"""Sites (with their contract: service levels and escalation), experts, coordinators."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from flask import Response, g, jsonify
from sqlalchemy import select

from garde.domain import STAFF, Priority, Role
from garde.models import Coordinator, Expert, Site
from garde.registry import create_coordinator
from garde.service_levels import site_promise
from web import registry_changes
from web.access import roles
from web.api import body, bp
from web.audit import audit
from web.case_views import iso
from web.registry_changes import expert_coded, site_coded


@bp.post("/sites")
@roles(*STAFF)
def add_site() -> tuple[Response, int]:
    return jsonify(site_json(registry_changes.add_site(body()))), 201


@bp.get("/sites")
@roles(*STAFF)
def list_sites() -> Response:
    return jsonify([site_json(s) for s in g.db.scalars(select(Site).order_by(Site.code))])


@bp.get("/sites/<code>")
@roles(*STAFF)
def get_site(code: str) -> Response:
    return jsonify(site_json(site_coded(code)))


@bp.patch("/sites/<code>")
@roles(*STAFF)
def patch_site(code: str) -> Response:
    site = site_coded(code)
    registry_changes.change_site(site, body())
    return jsonify(site_json(site))


@bp.post("/experts")
@roles(*STAFF)
def add_expert() -> tuple[Response, int]:
    return jsonify(expert_json(registry_changes.add_expert(body()))), 201


@bp.get("/experts")
@roles(*STAFF)
def list_experts() -> Response:
    return jsonify([expert_json(e) for e in g.db.scalars(select(Expert).order_by(Expert.code))])


@bp.get("/experts/<code>")
@roles(*STAFF)
def get_expert(code: str) -> Response:
    return jsonify(expert_json(expert_coded(code)))


@bp.patch("/experts/<code>")
@roles(*STAFF)
def patch_expert(code: str) -> Response:
    expert = expert_coded(code)
    registry_changes.change_expert(expert, body())
    return jsonify(expert_json(expert))


@bp.post("/coordinators")
@roles(Role.ADMIN)
def add_coordinator() -> tuple[Response, int]:
    coordinator = create_coordinator(g.db, body())
    audit("coordinator.create", f"coordinator:{coordinator.code}")
    g.db.commit()
    return jsonify(coordinator_json(coordinator)), 201


@bp.get("/coordinators")
@roles(Role.ADMIN)
def list_coordinators() -> Response:
    found = g.db.scalars(select(Coordinator).order_by(Coordinator.code))
    return jsonify([coordinator_json(c) for c in found])


def site_json(site: Site) -> dict[str, Any]:
    promises = {p: site_promise(site, p) for p in Priority}
    return {
        "code": site.code,
        "name": site.name,
        "timezone": site.timezone,
        "ae_titles": site.ae_titles,
        "phone": site.phone,
        "language": site.language,
        "prices": site.prices,
        "expert_share_percent": site.expert_share_percent,
        "service_levels": {p.value: asdict(promise.level) for p, promise in promises.items()},
        "escalation": {
            p.value: [str(step) for step in promise.ladder] for p, promise in promises.items()
        },
    }


def expert_json(expert: Expert) -> dict[str, Any]:
    return {
        "code": expert.code,
        "name": expert.name,
        "phone": expert.phone,
        "subspecialties": expert.subspecialties,
        "modalities": expert.modalities,
        "sites": sorted(s.code for s in expert.sites),
        "credentials": [
            {
                "site": c.site.code,
                "valid_from": c.valid_from.isoformat() if c.valid_from else None,
                "valid_until": c.valid_until.isoformat() if c.valid_until else None,
            }
            for c in sorted(expert.credentials, key=lambda c: c.site.code)
        ],
        "max_concurrent": expert.max_concurrent,
        "language": expert.language,
        "timezone": expert.timezone,
        "active": expert.active,
        "sms_enabled": expert.sms_enabled,
        "sms_unreachable_since": iso(expert.sms_unreachable_since),
    }


def coordinator_json(coordinator: Coordinator) -> dict[str, Any]:
    return {
        "code": coordinator.code,
        "name": coordinator.name,
        "phone": coordinator.phone,
        "language": coordinator.language,
        "username": coordinator.user.username if coordinator.user else None,
        "active": coordinator.active,
    }
