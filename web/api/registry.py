"""Sites (with their contract: service levels and escalation), experts, coordinators."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Any, Literal

from flask import Response, g, jsonify
from pydantic import Field, RootModel
from sqlalchemy import select

from garde.critical import ACK_WITHIN, ack_within
from garde.domain import STAFF, Priority, Role
from garde.models import Coordinator, Expert, Site
from garde.registry import (
    WITH_CREDENTIALS,
    WITH_TITLES_AND_TARIFFS,
    CoordinatorInput,
    ExpertChange,
    ExpertInput,
    SiteChange,
    SiteInput,
    create_coordinator,
)
from garde.service_levels import LadderStep, site_promise
from web import registry_changes
from web.access import roles
from web.api import body, bp
from web.api.describe import Answer, operation
from web.audit import audit
from web.case_views import iso
from web.registry_changes import expert_coded, site_coded


class ServiceLevel(Answer):
    offer_timeout_s: int = Field(description="how long each expert has to answer an offer")
    accept_within_s: int = Field(description="from the request to an expert's acceptance")
    report_within_s: int = Field(
        description="from the request to the final report (under régulation, from the scan)"
    )
    validate_within_s: int = Field(
        description="régulation: from the request to the indication's validation"
    )


class SiteAnswer(Answer):
    """A site and its contract: per priority, its service levels and escalation ladder."""

    code: str
    name: str
    timezone: str
    ae_titles: list[str]
    phone: str
    language: Literal["fr", "en"]
    prices: dict[str, int] = Field(description="price in cents per modality code, and 'default'")
    expert_share_percent: int
    opens_cases: dict[str, Priority] = Field(
        description="the AE titles whose studies open a case when no request matches, with "
        "its priority"
    )
    study_quiet_s: int
    study_retention_days: int = Field(
        description="days a study stays retrievable after its last object arrived"
    )
    move_destinations: dict[str, str] = Field(
        description="the site's AE titles a C-MOVE may send its studies to, with host:port"
    )
    report_webhook_url: str = Field(description="where report versions are posted; empty: none")
    report_webhook_secret_set: bool = Field(description="the webhook's secret is set (never shown)")
    hl7_endpoint: str = Field(description="host:port of the site's MLLP listener; empty: none")
    hl7_facility: str | None = Field(
        description="the MSH-4 of the HL7 orders its RIS sends; null: it sends none"
    )
    regulation: bool = Field(
        description="each request's indication is validated with a protocol before the scan"
    )
    reroute_after_scan: bool = Field(
        description="under régulation, the scan sends the case up the ladder again"
    )
    critical_ack_within_s: dict[Literal["1", "2"], int] = Field(
        description="seconds the site has to acknowledge a critical finding, per category"
    )
    service_levels: dict[Priority, ServiceLevel]
    escalation: dict[Priority, list[LadderStep]]


class Sites(RootModel[list[SiteAnswer]]):
    """Sites by code."""


class CredentialAnswer(Answer):
    """The expert may read for the site between two dates of the site's zone, both
    included; null: without limit."""

    site: str
    valid_from: date | None
    valid_until: date | None


class ExpertAnswer(Answer):
    code: str
    name: str
    phone: str
    subspecialties: list[str]
    modalities: list[str]
    sites: list[str]
    credentials: list[CredentialAnswer]
    max_concurrent: int
    language: Literal["fr", "en"]
    timezone: str
    active: bool
    sms_enabled: bool
    sms_unreachable_since: datetime | None = Field(
        description="since when SMS cannot reach the phone (a STOP, a number the provider "
        "refuses); null: reachable"
    )


class Experts(RootModel[list[ExpertAnswer]]):
    """Experts by code."""


class CoordinatorAnswer(Answer):
    code: str
    name: str
    phone: str
    language: Literal["fr", "en"]
    username: str | None = Field(description="their login, if linked")
    active: bool


class Coordinators(RootModel[list[CoordinatorAnswer]]):
    """Coordinators by code."""


@bp.post("/sites")
@roles(*STAFF)
@operation(
    "registry",
    "Add a site (admin, coordinator)",
    {201: ("the new site", SiteAnswer)},
    body=SiteInput,
)
def add_site() -> tuple[Response, int]:
    return jsonify(site_json(registry_changes.add_site(body()))), 201


@bp.get("/sites")
@roles(*STAFF)
@operation(
    "registry",
    "List the sites (admin, coordinator)",
    {200: ("the sites by code", Sites)},
)
def list_sites() -> Response:
    found = g.db.scalars(select(Site).options(*WITH_TITLES_AND_TARIFFS).order_by(Site.code))
    return jsonify([site_json(s) for s in found])


@bp.get("/sites/<code>")
@roles(*STAFF)
@operation(
    "registry",
    "One site, with its service levels and escalation (admin, coordinator)",
    {200: ("the site", SiteAnswer)},
    errors=(404,),
)
def get_site(code: str) -> Response:
    return jsonify(site_json(site_coded(code)))


@bp.patch("/sites/<code>")
@roles(*STAFF)
@operation(
    "registry",
    "Change a site's fields and contract (admin, coordinator)",
    {200: ("the site", SiteAnswer)},
    body=SiteChange,
    errors=(404,),
)
def patch_site(code: str) -> Response:
    site = site_coded(code)
    registry_changes.change_site(site, body())
    return jsonify(site_json(site))


@bp.post("/experts")
@roles(*STAFF)
@operation(
    "registry",
    "Add an expert (admin, coordinator)",
    {201: ("the new expert", ExpertAnswer)},
    body=ExpertInput,
)
def add_expert() -> tuple[Response, int]:
    return jsonify(expert_json(registry_changes.add_expert(body()))), 201


@bp.get("/experts")
@roles(*STAFF)
@operation(
    "registry",
    "List the experts (admin, coordinator)",
    {200: ("the experts by code", Experts)},
)
def list_experts() -> Response:
    return jsonify(
        [
            expert_json(e)
            for e in g.db.scalars(select(Expert).options(*WITH_CREDENTIALS).order_by(Expert.code))
        ]
    )


@bp.get("/experts/<code>")
@roles(*STAFF)
@operation(
    "registry",
    "One expert, with their credentials (admin, coordinator)",
    {200: ("the expert", ExpertAnswer)},
    errors=(404,),
)
def get_expert(code: str) -> Response:
    return jsonify(expert_json(expert_coded(code)))


@bp.patch("/experts/<code>")
@roles(*STAFF)
@operation(
    "registry",
    "Change an expert's fields and credentials (admin, coordinator)",
    {200: ("the expert", ExpertAnswer)},
    body=ExpertChange,
    errors=(404,),
    description="""
        A change of what decides eligibility (modalities, subspecialties, max_concurrent,
        active, sites, credentials) makes the cases waiting for an expert look again.
    """,
)
def patch_expert(code: str) -> Response:
    expert = expert_coded(code)
    registry_changes.change_expert(expert, body())
    return jsonify(expert_json(expert))


@bp.post("/coordinators")
@roles(Role.ADMIN)
@operation(
    "registry",
    "Add a coordinator, alerted by the ladder (admin)",
    {201: ("the new coordinator", CoordinatorAnswer)},
    body=CoordinatorInput,
)
def add_coordinator() -> tuple[Response, int]:
    coordinator = create_coordinator(g.db, body())
    audit("coordinator.create", f"coordinator:{coordinator.code}")
    g.db.commit()
    return jsonify(coordinator_json(coordinator)), 201


@bp.get("/coordinators")
@roles(Role.ADMIN)
@operation(
    "registry",
    "List the coordinators (admin)",
    {200: ("by code", Coordinators)},
)
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
        "opens_cases": site.opens_cases,
        "study_quiet_s": site.study_quiet_s,
        "study_retention_days": site.study_retention_days,
        "move_destinations": site.move_destinations,
        "report_webhook_url": site.report_webhook_url,
        "report_webhook_secret_set": bool(site.report_webhook_secret),
        "hl7_endpoint": site.hl7_endpoint,
        "hl7_facility": site.hl7_facility,
        "regulation": site.regulation,
        "reroute_after_scan": site.reroute_after_scan,
        "critical_ack_within_s": {
            str(c): int(ack_within(site.critical_ack_within_s, c).total_seconds())
            for c in ACK_WITHIN
        },
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
