"""The OpenAPI 3.1 description of the JSON API under /api/v1, served at /api/v1/openapi.json."""

from __future__ import annotations

import copy
from typing import Any

from garde.domain import (
    CaseStatus,
    EventKind,
    OfferStatus,
    Priority,
    ReportKind,
    ShiftSource,
    SwapStatus,
    Tier,
)
from garde.service_levels import LadderStep
from garde.vocabulary import MODALITIES

JSON = dict[str, Any]


def _ref(name: str) -> JSON:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: JSON) -> JSON:
    return {"application/json": {"schema": schema}}


def _ok(description: str, schema: JSON) -> JSON:
    return {"description": description, "content": _json(schema)}


def _errors(*statuses: int) -> JSON:
    return {str(status): {"$ref": f"#/components/responses/{status}"} for status in statuses}


def _body(name: str) -> JSON:
    return {"required": True, "content": _json(_ref(name))}


def _query(name: str, description: str, schema: JSON | None = None, **extra: Any) -> JSON:
    return {
        "name": name,
        "in": "query",
        "description": description,
        "schema": schema or {"type": "string"},
        **extra,
    }


_CASE_ID = {
    "name": "case_id",
    "in": "path",
    "required": True,
    "description": "the case id",
    "schema": {"type": "integer"},
}

_CODE_PARAM = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "the site's code",
    "schema": {"type": "string"},
}

_EXPERT_CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "the expert's code",
    "schema": {"type": "string"},
}

_TIME = {"type": "string", "format": "date-time"}
_OPTIONAL_TIME = {"type": ["string", "null"], "format": "date-time"}
# A phone as people type it; stored and answered in E.164 (+33471000000). Without its country
# code it is read in the site's country (from its time zone) for a site's or a case's phone,
# in the region's (France) for an expert's or a coordinator's.
_PHONE = {
    "type": "string",
    "maxLength": 32,
    "examples": ["04 71 00 00 00", "+33 4 71 00 00 00", "+33471000000"],
}
_CODE = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$"}
_MODALITY = {"type": "string", "enum": list(MODALITIES)}


def _case_action(summary: str, description: str, *errors: int) -> JSON:
    return {
        "post": {
            "tags": ["cases"],
            "summary": summary,
            "description": description,
            "parameters": [_CASE_ID],
            "responses": {
                "200": _ok("the case after the action", _ref("Case")),
                **_errors(*errors, 503),
            },
        }
    }


SCHEMAS: JSON = {
    "Error": {
        "type": "object",
        "required": ["error", "detail"],
        "properties": {
            "error": {"type": "string", "description": "what went wrong, in a sentence"},
            "detail": {
                "description": "more about it; for a 400, an object mapping each offending "
                "field to the reason"
            },
        },
    },
    "SiteInput": {
        "type": "object",
        "required": ["code", "name"],
        "properties": {
            "code": _CODE,
            "name": {"type": "string", "maxLength": 200},
            "timezone": {
                "type": "string",
                "description": "IANA time zone",
                "default": "Europe/Paris",
            },
            "ae_titles": {
                "type": "array",
                "items": {"type": "string", "minLength": 1, "maxLength": 16},
                "description": "the DICOM AE titles the site sends from",
            },
            "phone": _PHONE,
            "prices": {
                "type": "object",
                "additionalProperties": {"type": "integer", "minimum": 0},
                "description": "price in cents per modality code, and 'default'",
            },
            "expert_share_percent": {
                "type": "integer",
                "minimum": 0,
                "maximum": 100,
                "default": 70,
            },
        },
    },
    "Site": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "timezone": {"type": "string"},
            "ae_titles": {"type": "array", "items": {"type": "string"}},
            "phone": {"type": "string"},
            "language": {"type": "string", "enum": ["fr", "en"]},
            "prices": {"type": "object", "additionalProperties": {"type": "integer"}},
            "expert_share_percent": {"type": "integer"},
            "service_levels": _ref("ServiceLevels"),
            "escalation": _ref("Escalation"),
        },
    },
    "SitePatch": {
        "type": "object",
        "description": "only the fields given change; `code` cannot. Cases already requested "
        "keep the promise they were made.",
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "timezone": {"type": "string"},
            "ae_titles": {"type": "array", "items": {"type": "string"}},
            "phone": _PHONE,
            "language": {"type": "string", "enum": ["fr", "en"]},
            "prices": {"type": "object", "additionalProperties": {"type": "integer"}},
            "expert_share_percent": {"type": "integer", "minimum": 0, "maximum": 100},
            "service_levels": _ref("ServiceLevels"),
            "escalation": _ref("Escalation"),
        },
    },
    "ServiceLevel": {
        "type": "object",
        "properties": {
            "offer_timeout_s": {
                "type": "integer",
                "minimum": 1,
                "description": "how long each expert has to answer an offer",
            },
            "accept_within_s": {
                "type": "integer",
                "minimum": 1,
                "description": "from the request to an expert's acceptance",
            },
            "report_within_s": {
                "type": "integer",
                "minimum": 1,
                "description": "from the request to the final report",
            },
        },
    },
    "ServiceLevels": {
        "type": "object",
        "description": "per priority; in a PATCH, the numbers not given stay as they were",
        "properties": {p.value: _ref("ServiceLevel") for p in Priority},
    },
    "Escalation": {
        "type": "object",
        "description": "per priority, the ladder's steps in order: `primary` and `backup` "
        "offer the case to one expert of that tier at a time, best first; `broadcast` to "
        "every eligible expert at once; `coordinator` alerts the coordinators. The ladder "
        "starts again after a pause until the case is taken or cancelled.",
        "properties": {
            p.value: {
                "type": "array",
                "items": {"type": "string", "enum": [s.value for s in LadderStep]},
                "minItems": 1,
                "uniqueItems": True,
            }
            for p in Priority
        },
    },
    "CoordinatorInput": {
        "type": "object",
        "required": ["code", "name", "phone"],
        "properties": {
            "code": _CODE,
            "name": {"type": "string", "maxLength": 200},
            "phone": _PHONE,
            "language": {"type": "string", "enum": ["fr", "en"], "default": "fr"},
            "username": {
                "type": "string",
                "description": "their login (role coordinator or admin)",
            },
        },
    },
    "Coordinator": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "phone": {"type": "string"},
            "language": {"type": "string"},
            "username": {"type": ["string", "null"]},
            "active": {"type": "boolean"},
        },
    },
    "Reassignment": {
        "type": "object",
        "required": ["expert"],
        "properties": {
            "expert": {"type": "string", "description": "the expert's code"},
            "reason": {"type": "string", "maxLength": 300},
            "force": {
                "type": "boolean",
                "default": False,
                "description": "assign even an expert who is not eligible now; needs a "
                "reason, kept in the audit log",
            },
        },
    },
    "PriorityInput": {
        "type": "object",
        "required": ["priority"],
        "properties": {"priority": {"type": "string", "enum": [p.value for p in Priority]}},
    },
    "DeclineInput": {
        "type": "object",
        "properties": {"reason": {"type": "string", "maxLength": 200}},
    },
    "Offer": {
        "type": "object",
        "properties": {
            "code": {"type": "string", "description": "the reply code: in an expert's own offers"},
            "expert": {"type": "string"},
            "expert_name": {"type": "string"},
            "round": {"type": "integer", "description": "the round of the ladder"},
            "step": {"type": "string", "enum": [s.value for s in LadderStep]},
            "sent_at": _TIME,
            "expires_at": _TIME,
            "outcome": {"type": "string", "enum": [s.value for s in OfferStatus]},
            "answered_at": _OPTIONAL_TIME,
            "channel": {"type": ["string", "null"], "examples": ["sms", "web"]},
            "decline_reason": {"type": ["string", "null"]},
            "why": {
                "type": "object",
                "description": "why this expert was chosen: rank, tier, load against "
                "max_concurrent, reads_this_shift, minutes_since_last_offer, "
                "subspecialty_match",
            },
        },
    },
    "ExpertInput": {
        "type": "object",
        "required": ["code", "name", "phone", "modalities"],
        "properties": {
            "code": _CODE,
            "name": {"type": "string", "maxLength": 200},
            "phone": _PHONE,
            "subspecialties": {
                "type": "array",
                "items": {"type": "string"},
                "examples": [["neuro", "msk"]],
            },
            "modalities": {"type": "array", "items": _MODALITY, "minItems": 1},
            "sites": {
                "type": "array",
                "items": {"type": "string"},
                "description": "codes of the sites the expert is credentialed for",
            },
            "max_concurrent": {"type": "integer", "minimum": 1, "maximum": 50, "default": 2},
            "language": {"type": "string", "enum": ["fr", "en"], "default": "fr"},
            "timezone": {"type": "string", "description": "IANA time zone"},
            "credentials": {
                "type": "array",
                "items": _ref("Credential"),
                "description": "instead of `sites`: credentials with their dates",
            },
        },
    },
    "ExpertPatch": {
        "type": "object",
        "description": "only the fields given change; nothing changes when one is wrong. "
        "`sites` or `credentials` replaces every credential of the expert.",
        "properties": {
            "name": {"type": "string", "maxLength": 200},
            "phone": _PHONE,
            "subspecialties": {"type": "array", "items": {"type": "string"}},
            "modalities": {"type": "array", "items": _MODALITY, "minItems": 1},
            "max_concurrent": {"type": "integer", "minimum": 1, "maximum": 50},
            "language": {"type": "string", "enum": ["fr", "en"]},
            "timezone": {"type": "string", "description": "IANA time zone"},
            "active": {"type": "boolean"},
            "sms_enabled": {
                "type": "boolean",
                "description": "offers and notices by SMS (true) or on the web only; a new "
                "`phone` clears `sms_unreachable_since`",
            },
            "sites": {"type": "array", "items": {"type": "string"}},
            "credentials": {"type": "array", "items": _ref("Credential")},
        },
    },
    "Credential": {
        "type": "object",
        "required": ["site"],
        "description": "the expert may read for the site between two dates of the site's "
        "zone, both included; null: without limit",
        "properties": {
            "site": {"type": "string"},
            "valid_from": {"type": ["string", "null"], "format": "date"},
            "valid_until": {"type": ["string", "null"], "format": "date"},
        },
    },
    "Expert": {
        "type": "object",
        "properties": {
            "code": {"type": "string"},
            "name": {"type": "string"},
            "phone": {"type": "string"},
            "subspecialties": {"type": "array", "items": {"type": "string"}},
            "modalities": {"type": "array", "items": {"type": "string"}},
            "sites": {"type": "array", "items": {"type": "string"}},
            "credentials": {"type": "array", "items": _ref("Credential")},
            "max_concurrent": {"type": "integer"},
            "language": {"type": "string", "enum": ["fr", "en"]},
            "timezone": {"type": "string"},
            "active": {"type": "boolean"},
            "sms_enabled": {"type": "boolean"},
            "sms_unreachable_since": {
                **_OPTIONAL_TIME,
                "description": "since when SMS cannot reach the phone (a STOP, a number the "
                "provider refuses); null: reachable",
            },
        },
    },
    "ShiftInput": {
        "type": "object",
        "required": ["expert", "start", "end"],
        "properties": {
            "expert": {"type": "string", "description": "the expert's code"},
            "start": {**_TIME, "description": "ISO 8601 with a UTC offset"},
            "end": {**_TIME, "description": "after start, at most 48 hours later"},
            "tier": {"type": "string", "enum": [t.value for t in Tier], "default": "primary"},
        },
    },
    "Shift": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "expert": {"type": "string"},
            "start": _TIME,
            "end": _TIME,
            "tier": {"type": "string", "enum": [t.value for t in Tier]},
            "source": {"type": "string", "enum": [s.value for s in ShiftSource]},
            "rotation": {"type": ["integer", "null"], "description": "the rotation it came from"},
            "slot": {
                "type": ["string", "null"],
                "format": "date",
                "description": "a rotation's shift: the local date it starts on",
            },
            "edited": {"type": "boolean", "description": "a rotation's shift changed by hand"},
            "override": {"type": ["integer", "null"], "description": "the override it holds"},
        },
    },
    "OnCallExpert": {
        "type": "object",
        "description": "an eligible expert; the list is ranked best first",
        "properties": {
            "expert": {"type": "string"},
            "name": {"type": "string"},
            "tier": {"type": "string", "enum": [t.value for t in Tier]},
            "load": {"type": "integer", "description": "cases held now"},
            "max_concurrent": {"type": "integer"},
            "reads_this_shift": {"type": "integer"},
            "last_offer_at": _OPTIONAL_TIME,
            "shift_end": _TIME,
        },
    },
    "CaseInput": {
        "type": "object",
        "required": [
            "accession_number",
            "modality",
            "body_part",
            "study_description",
            "clinical_question",
            "requesting_physician",
            "callback_phone",
        ],
        "properties": {
            "accession_number": {"type": "string", "maxLength": 64},
            "study_instance_uid": {
                "type": "string",
                "maxLength": 64,
                "pattern": r"^[0-9]+(\.[0-9]+)*$",
            },
            "modality": _MODALITY,
            "body_part": {"type": "string", "maxLength": 64},
            "study_description": {"type": "string", "maxLength": 200},
            "priority": {
                "type": "string",
                "enum": [p.value for p in Priority],
                "default": "routine",
            },
            "clinical_question": {"type": "string", "maxLength": 2000},
            "requesting_physician": {"type": "string", "maxLength": 200},
            "callback_phone": _PHONE,
            "subspecialty": {"type": "string", "maxLength": 64},
        },
    },
    "TimelineEvent": {
        "type": "object",
        "properties": {
            "at": _TIME,
            "kind": {"type": "string", "enum": [k.value for k in EventKind]},
            "status": {"type": ["string", "null"]},
            "expert": {"type": ["string", "null"]},
            "detail": {"type": "string"},
        },
    },
    "Deadline": {
        "type": "object",
        "description": "a promise of the case, counted from the request time",
        "properties": {
            "due": _TIME,
            "within_s": {"type": "integer"},
            "done_at": _OPTIONAL_TIME,
            "taken_s": {
                "type": "integer",
                "description": "seconds from the request to done, or to now while not done",
            },
            "met": {
                "type": ["boolean", "null"],
                "description": "null while the clock is still running",
            },
            "breached": {"type": "boolean"},
        },
    },
    "Report": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "kind": {"type": "string", "enum": [k.value for k in ReportKind]},
            "findings": {"type": "string"},
            "impression": {"type": "string"},
            "critical": {"type": "boolean"},
            "expert": {"type": "string"},
            "expert_name": {"type": "string"},
            "created_at": _TIME,
        },
    },
    "ReportInput": {
        "type": "object",
        "required": ["findings", "impression"],
        "properties": {
            "kind": {
                "type": "string",
                "enum": [k.value for k in ReportKind],
                "default": "final",
            },
            "findings": {"type": "string", "maxLength": 20000},
            "impression": {"type": "string", "maxLength": 5000},
            "critical": {"type": "boolean", "default": False},
        },
    },
    "Case": {
        "type": "object",
        "description": "An expert only offered the case, or free to take it, gets its summary "
        "(sight: summary): id, status, priority, site, site_name, modality, subspecialty, "
        "requested_at, sla and their own offers; never the question, the study or a report.",
        "properties": {
            "id": {"type": "integer"},
            "sight": {
                "type": "string",
                "enum": ["summary", "record", "all"],
                "description": "summary: an expert offered the case or free to take it; record: "
                "its site or an expert who holds or held it; all: coordinators and admins",
            },
            "status": {"type": "string", "enum": [s.value for s in CaseStatus]},
            "priority": {"type": "string", "enum": [p.value for p in Priority]},
            "site": {"type": "string"},
            "site_name": {"type": "string"},
            "accession_number": {"type": "string"},
            "study_instance_uid": {"type": ["string", "null"]},
            "modality": {"type": "string"},
            "body_part": {"type": "string"},
            "study_description": {"type": "string"},
            "clinical_question": {"type": "string"},
            "requesting_physician": {"type": "string"},
            "callback_phone": {"type": "string"},
            "subspecialty": {"type": ["string", "null"]},
            "assigned_expert": {"type": ["string", "null"]},
            "requested_at": _TIME,
            "timeline": {"type": "array", "items": _ref("TimelineEvent")},
            "sla": {
                "type": "object",
                "properties": {"accept": _ref("Deadline"), "report": _ref("Deadline")},
            },
            "report": {"oneOf": [_ref("Report"), {"type": "null"}]},
            "addenda": {"type": "array", "items": _ref("Report")},
            "offers": {
                "type": "array",
                "items": _ref("Offer"),
                "description": "coordinators and admins: every offer, in order; an expert's "
                "summary: their own offers, with the code",
            },
        },
    },
    "Worklist": {
        "type": "object",
        "properties": {
            "offered": {
                "type": "array",
                "description": "open offers to this expert, with the reply code",
                "items": {
                    "type": "object",
                    "properties": {
                        "case": _ref("Case"),
                        "code": {"type": "string"},
                        "expires_at": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "open": {
                "type": "array",
                "items": _ref("Case"),
                "description": "unassigned cases this expert may take now",
            },
            "held": {"type": "array", "items": _ref("Case"), "description": "cases they hold"},
            "reported": {
                "type": "array",
                "items": _ref("Case"),
                "description": "cases they signed the final report of in the last 7 days, newest "
                "first (an addendum may still be added)",
            },
        },
    },
    "BillingLine": {
        "type": "object",
        "properties": {
            "case_id": {"type": "integer"},
            "site": {"type": "string"},
            "expert": {"type": "string"},
            "modality": {"type": "string"},
            "priority": {"type": "string", "enum": [p.value for p in Priority]},
            "time_band": {
                "type": "string",
                "examples": ["day", "night", "weekend", "public_holiday"],
            },
            "amount_cents": {"type": "integer"},
            "expert_share_cents": {"type": "integer"},
            "currency": {"type": "string"},
            "read_at": _TIME,
        },
    },
}


_EXPERT_CODE = {
    "name": "code",
    "in": "path",
    "required": True,
    "description": "the expert's code",
    "schema": {"type": "string"},
}

_IMPORT_ITEM = {
    "type": "object",
    "description": "one event instance (`uid`, `summary`) or CSV line (`line`)",
    "properties": {
        "uid": {"type": ["string", "null"]},
        "summary": {"type": "string"},
        "line": {"type": ["integer", "null"]},
        "expert": {"type": ["string", "null"]},
        "start": _OPTIONAL_TIME,
        "end": _OPTIONAL_TIME,
        "tier": {"type": ["string", "null"]},
        "reason": {"type": ["string", "null"], "description": "why it was refused or left"},
    },
}

SCHEMAS |= {
    "CalendarFeed": {
        "type": "object",
        "properties": {
            "url": {"type": "string", "description": "the secret URL, served without a login"},
            "expert": {"type": ["string", "null"], "description": "none: the region's feed"},
            "created_at": _TIME,
        },
    },
    "FeedRevoked": {
        "type": "object",
        "properties": {"expert": {"type": ["string", "null"]}, "revoked": {"type": "integer"}},
    },
    "ImportReport": {
        "type": "object",
        "properties": {
            "dry_run": {"type": "boolean"},
            "written": {"type": "boolean"},
            **{
                name: {"type": "array", "items": _IMPORT_ITEM}
                for name in ("created", "changed", "unchanged", "refused")
            },
        },
    },
}


RESPONSES: JSON = {
    "400": {
        "description": "bad input; `detail` says which field and why",
        "content": _json(_ref("Error")),
    },
    "401": {"description": "no valid API token", "content": _json(_ref("Error"))},
    "403": {
        "description": "this role or this user may not do that",
        "content": _json(_ref("Error")),
    },
    "404": {"description": "no such thing", "content": _json(_ref("Error"))},
    "409": {
        "description": "conflicts with the case's state (another expert holds it, it is closed)",
        "content": _json(_ref("Error")),
    },
    "429": {
        "description": "past the site's hourly allowance of new cases "
        "(GARDE_CASES_PER_SITE_PER_HOUR, named in `detail`); `Retry-After` says when to try again",
        "content": _json(_ref("Error")),
    },
    "503": {
        "description": "Temporal or every worker is away for now: nothing was changed, and "
        "the action will not happen later; try again in a moment",
        "content": _json(_ref("Error")),
    },
}


PATHS: JSON = {
    "/openapi.json": {
        "get": {
            "tags": ["meta"],
            "summary": "This description",
            "security": [],
            "responses": {"200": _ok("the OpenAPI document", {"type": "object"})},
        }
    },
    "/sites": {
        "post": {
            "tags": ["registry"],
            "summary": "Add a site (admin, coordinator)",
            "requestBody": _body("SiteInput"),
            "responses": {"201": _ok("the new site", _ref("Site")), **_errors(400, 401, 403)},
        },
        "get": {
            "tags": ["registry"],
            "summary": "List the sites (admin, coordinator)",
            "responses": {
                "200": _ok("the sites by code", {"type": "array", "items": _ref("Site")}),
                **_errors(401, 403),
            },
        },
    },
    "/sites/{code}": {
        "get": {
            "tags": ["registry"],
            "summary": "One site, with its service levels and escalation (admin, coordinator)",
            "parameters": [_CODE_PARAM],
            "responses": {"200": _ok("the site", _ref("Site")), **_errors(401, 403, 404)},
        },
        "patch": {
            "tags": ["registry"],
            "summary": "Change a site's fields and contract (admin, coordinator)",
            "parameters": [_CODE_PARAM],
            "requestBody": _body("SitePatch"),
            "responses": {"200": _ok("the site", _ref("Site")), **_errors(400, 401, 403, 404)},
        },
    },
    "/coordinators": {
        "post": {
            "tags": ["registry"],
            "summary": "Add a coordinator, alerted by the ladder (admin)",
            "requestBody": _body("CoordinatorInput"),
            "responses": {
                "201": _ok("the new coordinator", _ref("Coordinator")),
                **_errors(400, 401, 403),
            },
        },
        "get": {
            "tags": ["registry"],
            "summary": "List the coordinators (admin)",
            "responses": {
                "200": _ok("by code", {"type": "array", "items": _ref("Coordinator")}),
                **_errors(401, 403),
            },
        },
    },
    "/experts": {
        "post": {
            "tags": ["registry"],
            "summary": "Add an expert (admin, coordinator)",
            "requestBody": _body("ExpertInput"),
            "responses": {"201": _ok("the new expert", _ref("Expert")), **_errors(400, 401, 403)},
        },
        "get": {
            "tags": ["registry"],
            "summary": "List the experts (admin, coordinator)",
            "responses": {
                "200": _ok("the experts by code", {"type": "array", "items": _ref("Expert")}),
                **_errors(401, 403),
            },
        },
    },
    "/experts/{code}": {
        "get": {
            "tags": ["registry"],
            "summary": "One expert, with their credentials (admin, coordinator)",
            "parameters": [_EXPERT_CODE],
            "responses": {"200": _ok("the expert", _ref("Expert")), **_errors(401, 403, 404)},
        },
        "patch": {
            "tags": ["registry"],
            "summary": "Change an expert's fields and credentials (admin, coordinator)",
            "description": "A change of what decides eligibility (modalities, "
            "subspecialties, max_concurrent, active, sites, credentials) makes the cases "
            "waiting for an expert look again.",
            "parameters": [_EXPERT_CODE],
            "requestBody": _body("ExpertPatch"),
            "responses": {"200": _ok("the expert", _ref("Expert")), **_errors(400, 401, 403, 404)},
        },
    },
    "/shifts": {
        "post": {
            "tags": ["rosters"],
            "summary": "Add a shift (admin, coordinator)",
            "requestBody": _body("ShiftInput"),
            "responses": {"201": _ok("the new shift", _ref("Shift")), **_errors(400, 401, 403)},
        },
        "get": {
            "tags": ["rosters"],
            "summary": "List shifts by start (admin, coordinator); at most 5000",
            "parameters": [
                _query("from", "shifts ending after this instant", _TIME),
                _query("to", "shifts starting before this instant", _TIME),
                _query("expert", "an expert's code"),
            ],
            "responses": {
                "200": _ok("the shifts", {"type": "array", "items": _ref("Shift")}),
                **_errors(400, 401, 403),
            },
        },
    },
    "/oncall": {
        "get": {
            "tags": ["rosters"],
            "summary": "The experts eligible at an instant, ranked (coordinator, admin, site)",
            "description": "A site user sees only its own site and may omit `site`.",
            "parameters": [
                _query("site", "the site's code; required for staff"),
                _query("modality", "the modality to read", _MODALITY, required=True),
                _query("subspecialty", "only experts with this subspecialty"),
                _query("at", "the instant (ISO 8601 with offset); now by default", _TIME),
            ],
            "responses": {
                "200": _ok(
                    "eligible experts, best first",
                    {"type": "array", "items": _ref("OnCallExpert")},
                ),
                **_errors(400, 401, 403),
            },
        }
    },
    "/experts/{code}/roster.ics": {
        "get": {
            "tags": ["rosters"],
            "summary": "An expert's shifts as iCalendar (the expert, admin, coordinator)",
            "description": "Shifts from 30 days ago onwards, one VEVENT each (UID "
            "`shift-ID@garde`), times in the expert's zone with its VTIMEZONE.",
            "parameters": [
                {
                    "name": "code",
                    "in": "path",
                    "required": True,
                    "description": "the expert's code",
                    "schema": {"type": "string"},
                }
            ],
            "responses": {
                "200": {
                    "description": "an iCalendar VCALENDAR",
                    "content": {"text/calendar": {"schema": {"type": "string"}}},
                },
                **_errors(401, 403, 404),
            },
        }
    },
    "/experts/{code}/feed": {
        "post": {
            "tags": ["rosters"],
            "summary": "A new secret calendar feed URL for the expert (the expert, coordinator)",
            "description": "A phone calendar subscribes to the URL without a login. The "
            "expert's previous feed URL stops working.",
            "parameters": [_EXPERT_CODE],
            "responses": {
                "201": _ok("the feed", _ref("CalendarFeed")),
                **_errors(401, 403, 404),
            },
        },
        "delete": {
            "tags": ["rosters"],
            "summary": "Revoke the expert's calendar feed URL (the expert, coordinator)",
            "parameters": [_EXPERT_CODE],
            "responses": {
                "200": _ok("how many feeds were revoked", _ref("FeedRevoked")),
                **_errors(401, 403, 404),
            },
        },
    },
    "/feeds/region": {
        "post": {
            "tags": ["rosters"],
            "summary": "A new secret calendar feed URL for the whole region (coordinator)",
            "description": "Every expert's shifts, in the zone of `GARDE_REGION_TIMEZONE`. "
            "The previous region feed URL stops working.",
            "responses": {"201": _ok("the feed", _ref("CalendarFeed")), **_errors(401, 403)},
        },
        "delete": {
            "tags": ["rosters"],
            "summary": "Revoke the region's calendar feed URL (coordinator)",
            "responses": {
                "200": _ok("how many feeds were revoked", _ref("FeedRevoked")),
                **_errors(401, 403),
            },
        },
    },
    "/shifts/import": {
        "post": {
            "tags": ["rosters"],
            "summary": "Import shifts from an .ics or CSV file (coordinator)",
            "description": "The body is the file: `text/calendar` as Google Calendar, Outlook "
            "and Thunderbird export it (recurring events expanded over the window; floating "
            "times in the expert's zone; all-day events refused), or `text/csv` with a header "
            "line naming `start`, `end` (ISO 8601 with an offset, or local times with an IANA "
            "zone in a `timezone` column), `expert`, `tier`. Importing the same file again "
            "changes nothing. With `dry_run` nothing is written; without it, all or nothing: "
            "any refusal answers 400 with the report in `detail`.",
            "parameters": [
                _query("expert", "the expert's code; required for a calendar file"),
                _query(
                    "tier",
                    "the tier of every shift",
                    {"type": "string", "enum": [t.value for t in Tier]},
                ),
                _query("dry_run", "only say what would happen", {"type": "boolean"}),
                _query(
                    "from",
                    "expand recurring events from this instant; now − 1 day by default",
                    _TIME,
                ),
                _query("to", "… until this instant; now + 1 year by default", _TIME),
            ],
            "requestBody": {
                "required": True,
                "content": {
                    "text/calendar": {"schema": {"type": "string"}},
                    "text/csv": {"schema": {"type": "string"}},
                },
            },
            "responses": {
                "200": _ok(
                    "what was (or would be) created, changed, left and refused",
                    _ref("ImportReport"),
                ),
                **_errors(400, 401, 403),
            },
        }
    },
    "/cases": {
        "post": {
            "tags": ["cases"],
            "summary": "Request a read (site)",
            "description": "The same accession number again from the same site answers 200 "
            "with the existing case. The case is recorded before its routing starts: when "
            "Temporal is away it is still answered 201, and routing starts when it is back.",
            "requestBody": _body("CaseInput"),
            "responses": {
                "201": _ok("the new case", _ref("Case")),
                "200": _ok("the case this site already requested", _ref("Case")),
                **_errors(400, 401, 403, 429),
            },
        },
        "get": {
            "tags": ["cases"],
            "summary": "The cases this user may see, newest first; at most 500",
            "parameters": [
                _query(
                    "status",
                    "only cases in this status",
                    {"type": "string", "enum": [s.value for s in CaseStatus]},
                )
            ],
            "responses": {
                "200": _ok("the cases", {"type": "array", "items": _ref("Case")}),
                **_errors(401),
            },
        },
    },
    "/cases/{case_id}": {
        "get": {
            "tags": ["cases"],
            "summary": "One case, with its timeline, service levels and report",
            "parameters": [_CASE_ID],
            "responses": {"200": _ok("the case", _ref("Case")), **_errors(401, 403, 404)},
        }
    },
    "/worklist": {
        "get": {
            "tags": ["cases"],
            "summary": "An expert's worklist (expert)",
            "responses": {
                "200": _ok("offered, open, held and recently reported cases", _ref("Worklist")),
                **_errors(401, 403),
            },
        }
    },
    "/cases/{case_id}/accept": _case_action(
        "Take the case (expert)",
        "403 when this expert is not eligible for it (not on duty, not credentialed for the "
        "site, wrong modality); 409 when another expert holds it.",
        401,
        403,
        404,
        409,
    ),
    "/cases/{case_id}/decline": _case_action(
        "Decline an offer (expert)",
        "The case goes on to the next expert at once; an optional `reason` (DeclineInput) is "
        "kept with the offer.",
        401,
        403,
        404,
        409,
    ),
    "/cases/{case_id}/reassign": _case_action(
        "Give the case to a named expert (coordinator, admin)",
        "Body: Reassignment. 403 when that expert is not eligible and `force` is not set; "
        "409 when the case is closed. The previous holder and open offers are told.",
        400,
        401,
        403,
        404,
        409,
    ),
    "/cases/{case_id}/priority": _case_action(
        "Change the priority (site, coordinator, admin)",
        "Body: PriorityInput. The site's service levels and ladder for the new priority; "
        "deadlines are recomputed from the request time.",
        400,
        401,
        403,
        404,
        409,
    ),
    "/cases/{case_id}/release": _case_action(
        "Give a held case back (expert)",
        "The case goes back to routing.",
        401,
        403,
        404,
        409,
    ),
    "/cases/{case_id}/report": {
        "post": {
            "tags": ["cases"],
            "summary": "File a report (the expert holding the case)",
            "parameters": [_CASE_ID],
            "requestBody": _body("ReportInput"),
            "responses": {
                "201": _ok("the case with its report", _ref("Case")),
                **_errors(400, 401, 403, 404, 409),
            },
        },
        "get": {
            "tags": ["cases"],
            "summary": "The report (the site, the experts of the case, coordinator, admin)",
            "description": "The final report, else the newest preliminary one.",
            "parameters": [
                _CASE_ID,
                _query(
                    "format",
                    "the format of the answer",
                    {
                        "type": "string",
                        "enum": ["json", "html", "pdf", "fhir", "hl7"],
                        "default": "json",
                    },
                ),
            ],
            "responses": {
                "200": {
                    "description": "the report in the format asked for",
                    "content": {
                        "application/json": {"schema": _ref("Report")},
                        "text/html": {"schema": {"type": "string"}},
                        "application/pdf": {
                            "schema": {"type": "string", "contentMediaType": "application/pdf"}
                        },
                        "application/fhir+json": {
                            "schema": {
                                "type": "object",
                                "description": "a FHIR R4 DiagnosticReport resource",
                            }
                        },
                        "application/hl7-v2": {
                            "schema": {
                                "type": "string",
                                "description": "an HL7 v2.5 ORU^R01 message, segments "
                                "separated by carriage returns",
                            }
                        },
                    },
                },
                **_errors(400, 401, 403, 404),
            },
        },
    },
    "/cases/{case_id}/cancel": _case_action(
        "Cancel the case (site, coordinator, admin)", "", 401, 403, 404, 409
    ),
    "/cases/{case_id}/acknowledge": _case_action(
        "Acknowledge a critical finding (site)", "", 401, 403, 404, 409
    ),
    "/billing/lines": {
        "get": {
            "tags": ["billing"],
            "summary": "Billing lines, one per read (admin, coordinator)",
            "description": "JSON by default; CSV with `Accept: text/csv`.",
            "parameters": [
                _query("site", "a site's code"),
                _query("month", "YYYY-MM (UTC)", {"type": "string", "pattern": r"^\d{4}-\d{2}$"}),
            ],
            "responses": {
                "200": {
                    "description": "the lines by time of read",
                    "content": {
                        "application/json": {
                            "schema": {"type": "array", "items": _ref("BillingLine")}
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                **_errors(400, 401, 403),
            },
        }
    },
}


_GAP = {
    "type": "object",
    "description": "an interval [start, end): UTC, and in the site's zone",
    "properties": {
        "start": _TIME,
        "end": _TIME,
        "start_local": _TIME,
        "end_local": _TIME,
        "hours": {"type": "number", "description": "real elapsed hours"},
    },
}

PATHS |= {
    "/coverage": {
        "get": {
            "tags": ["rosters"],
            "summary": "Gaps of the rosters per site and modality (coordinator, admin)",
            "description": "For each site (or the one asked) and each modality its credentialed "
            "experts read: the intervals of [from, to) with no primary on duty "
            "(`no_primary`), and among them those a backup covers (`backup_only`). On duty "
            "as for /oncall, the concurrent limit aside. At most 62 days.",
            "parameters": [
                _query("from", "the start of the period (ISO 8601, offset)", _TIME, required=True),
                _query("to", "the end of the period, excluded", _TIME, required=True),
                _query("site", "only this site's code"),
            ],
            "responses": {
                "200": _ok(
                    "by site code, then modality",
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "site": {"type": "string"},
                                "site_name": {"type": "string"},
                                "timezone": {"type": "string"},
                                "modality": _MODALITY,
                                "no_primary": {"type": "array", "items": _GAP},
                                "backup_only": {"type": "array", "items": _GAP},
                            },
                        },
                    },
                ),
                **_errors(400, 401, 403),
            },
        }
    },
    "/fairness": {
        "get": {
            "tags": ["rosters"],
            "summary": "How the roster fell on each expert over a period (coordinator, admin)",
            "description": "Real hours on duty by tier; nights (20:00-08:00), weekends and "
            "French public holidays on the expert's clock (they overlap); reads billed; each "
            "expert's share of all hours and reads. At most 366 days.",
            "parameters": [
                _query("from", "the start of the period (ISO 8601, offset)", _TIME, required=True),
                _query("to", "the end of the period, excluded", _TIME, required=True),
            ],
            "responses": {
                "200": _ok(
                    "by expert code",
                    {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "properties": {
                                "expert": {"type": "string"},
                                "name": {"type": "string"},
                                "timezone": {"type": "string"},
                                **{
                                    name: {"type": "number"}
                                    for name in (
                                        "hours",
                                        "primary_hours",
                                        "backup_hours",
                                        "night_hours",
                                        "weekend_hours",
                                        "holiday_hours",
                                        "hours_share",
                                        "reads_share",
                                    )
                                },
                                "reads": {"type": "integer"},
                            },
                        },
                    },
                ),
                **_errors(400, 401, 403),
            },
        }
    },
}


def _id_param(name: str, what: str) -> JSON:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": what,
        "schema": {"type": "integer"},
    }


_SHIFT_ID = _id_param("shift_id", "the shift's id")
_ROTATION_ID = _id_param("rotation_id", "the rotation's id")
_SWAP_ID = _id_param("swap_id", "the swap request's id")
_DAY = {"type": "string", "enum": ["MO", "TU", "WE", "TH", "FR", "SA", "SU"]}
_HH_MM = {"type": "string", "pattern": r"^([01][0-9]|2[0-3]):[0-5][0-9]$", "examples": ["20:00"]}
_WINDOW = [
    _query("from", "only those ending after this instant", _TIME),
    _query("to", "only those starting before this instant", _TIME),
]
_ROTATION_FIELDS: JSON = {
    "name": {"type": "string", "maxLength": 200, "description": "unique"},
    "experts": {
        "type": "array",
        "items": {"type": "string"},
        "minItems": 1,
        "description": "experts' codes, in turn order",
    },
    "tier": {"type": "string", "enum": [t.value for t in Tier], "default": "primary"},
    "timezone": {"type": "string", "description": "IANA zone of the local times"},
    "days": {"type": "array", "items": _DAY, "minItems": 1},
    "start_time": {**_HH_MM, "description": "local start, HH:MM"},
    "end_time": {
        **_HH_MM,
        "description": "local end, HH:MM; at or before the start: the next day",
    },
    "handoff_every_days": {
        "type": "integer",
        "minimum": 1,
        "maximum": 366,
        "default": 7,
        "description": "the expert in turn on date d is experts[(d - from) // this % n]",
    },
    "from": {"type": "string", "format": "date", "description": "the first date (local)"},
    "until": {
        "type": "string",
        "format": "date",
        "description": "the last date (local), at most 400 days after from",
    },
}

SCHEMAS |= {
    "ShiftChange": {
        "type": "object",
        "description": "the fields to change; a rotation's shift is then marked edited",
        "properties": {
            "expert": {"type": "string"},
            "start": _TIME,
            "end": _TIME,
            "tier": {"type": "string", "enum": [t.value for t in Tier]},
        },
    },
    "RotationInput": {
        "type": "object",
        "required": [
            "name",
            "experts",
            "timezone",
            "days",
            "start_time",
            "end_time",
            "from",
            "until",
        ],
        "description": "one shift per matching local date (its slot); local times in the "
        "spring gap move forward by the gap, repeated ones are the first (fold=0)",
        "properties": _ROTATION_FIELDS,
    },
    "RotationChange": {
        "type": "object",
        "description": "the fields to change; the future is regenerated",
        "properties": _ROTATION_FIELDS,
    },
    "Rotation": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            **_ROTATION_FIELDS,
            "skipped": {
                "type": "array",
                "items": {"type": "string", "format": "date"},
                "description": "slots whose shift was deleted: never generated again",
            },
            "generated": {
                "type": "object",
                "description": "after a create or change: what generating did to its shifts",
                "properties": {
                    k: {"type": "integer"} for k in ("created", "updated", "deleted", "kept")
                },
            },
        },
    },
    "OverrideInput": {
        "type": "object",
        "required": ["expert", "replaces", "start", "end"],
        "properties": {
            "expert": {"type": "string", "description": "who takes over"},
            "replaces": {"type": "string", "description": "who is replaced: off duty then"},
            "start": _TIME,
            "end": _TIME,
        },
    },
    "Override": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "expert": {"type": "string"},
            "replaces": {"type": "string"},
            "start": _TIME,
            "end": _TIME,
            "created_by": {"type": "string", "description": "a username, or swap:ID"},
            "shifts": {
                "type": "array",
                "items": _ref("Shift"),
                "description": "the replaced expert's shifts in the interval, now held by "
                "the replacing expert at the same tier",
            },
        },
    },
    "UnavailabilityInput": {
        "type": "object",
        "required": ["expert", "start", "end"],
        "properties": {
            "expert": {"type": "string"},
            "start": _TIME,
            "end": _TIME,
            "reason": {"type": "string", "maxLength": 200},
        },
    },
    "Unavailability": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "expert": {"type": "string"},
            "start": _TIME,
            "end": _TIME,
            "reason": {"type": "string"},
            "created_by": {"type": "string"},
            "uncovers": {
                "type": "array",
                "items": {"type": "integer"},
                "description": "ids of the expert's shifts it takes them off",
            },
        },
    },
    "SwapInput": {
        "type": "object",
        "required": ["shift", "other"],
        "properties": {
            "shift": {"type": "integer", "description": "a shift of the requester, not started"},
            "other": {"type": "string", "description": "the expert asked to take it"},
            "other_shift": {
                "type": "integer",
                "description": "a shift of the other given back in exchange",
            },
            "note": {"type": "string", "maxLength": 200},
        },
    },
    "Swap": {
        "type": "object",
        "properties": {
            "id": {"type": "integer"},
            "status": {"type": "string", "enum": [s.value for s in SwapStatus]},
            "requester": {"type": "string"},
            "other": {"type": "string"},
            "shift": _ref("Shift"),
            "other_shift": {"oneOf": [_ref("Shift"), {"type": "null"}]},
            "note": {"type": "string"},
            "created_at": _TIME,
            "decided_at": _OPTIONAL_TIME,
            "decided_by": {"type": ["string", "null"]},
        },
    },
}


def _swap_decision(summary: str, *errors: int) -> JSON:
    return {
        "post": {
            "tags": ["rosters"],
            "summary": summary,
            "parameters": [_SWAP_ID],
            "responses": {"200": _ok("the swap request", _ref("Swap")), **_errors(*errors)},
        }
    }


PATHS |= {
    "/shifts/{shift_id}": {
        "patch": {
            "tags": ["rosters"],
            "summary": "Change a shift (admin, coordinator)",
            "description": "A rotation's shift is marked edited: generating leaves it alone. "
            "An override's shifts change with their override (409). Refused when the expert "
            "has another shift then.",
            "parameters": [_SHIFT_ID],
            "requestBody": _body("ShiftChange"),
            "responses": {
                "200": _ok("the shift", _ref("Shift")),
                **_errors(400, 401, 403, 404, 409),
            },
        },
        "delete": {
            "tags": ["rosters"],
            "summary": "Delete a shift (admin, coordinator)",
            "description": "A rotation's slot stays empty: generating does not bring it back.",
            "parameters": [_SHIFT_ID],
            "responses": {"204": {"description": "deleted"}, **_errors(401, 403, 404, 409)},
        },
    },
    "/rotations": {
        "post": {
            "tags": ["rosters"],
            "summary": "Add a rotation and generate its shifts from now on (admin, coordinator)",
            "requestBody": _body("RotationInput"),
            "responses": {
                "201": _ok("the rotation and what was generated", _ref("Rotation")),
                **_errors(400, 401, 403),
            },
        },
        "get": {
            "tags": ["rosters"],
            "summary": "The rotations by name (admin, coordinator)",
            "responses": {
                "200": _ok("the rotations", {"type": "array", "items": _ref("Rotation")}),
                **_errors(401, 403),
            },
        },
    },
    "/rotations/{rotation_id}": {
        "get": {
            "tags": ["rosters"],
            "summary": "A rotation (admin, coordinator)",
            "parameters": [_ROTATION_ID],
            "responses": {"200": _ok("the rotation", _ref("Rotation")), **_errors(401, 403, 404)},
        },
        "patch": {
            "tags": ["rosters"],
            "summary": "Change a rotation; only the future is regenerated (admin, coordinator)",
            "description": "Shifts started before now, edited by hand or in skipped slots stay "
            "as they are; the others are created, updated or deleted to match.",
            "parameters": [_ROTATION_ID],
            "requestBody": _body("RotationChange"),
            "responses": {
                "200": _ok("the rotation and what was generated", _ref("Rotation")),
                **_errors(400, 401, 403, 404),
            },
        },
        "delete": {
            "tags": ["rosters"],
            "summary": "Delete a rotation and its unedited future shifts (admin, coordinator)",
            "parameters": [_ROTATION_ID],
            "responses": {
                "200": _ok(
                    "how many shifts were deleted",
                    {
                        "type": "object",
                        "properties": {
                            "id": {"type": "integer"},
                            "deleted_shifts": {"type": "integer"},
                        },
                    },
                ),
                **_errors(401, 403, 404),
            },
        },
    },
    "/overrides": {
        "post": {
            "tags": ["rosters"],
            "summary": "One expert takes over from another (coordinator, either expert)",
            "description": "Refused when the replaced expert has no shift in the interval or "
            "is already replaced then.",
            "requestBody": _body("OverrideInput"),
            "responses": {"201": _ok("the override", _ref("Override")), **_errors(400, 401, 403)},
        },
        "get": {
            "tags": ["rosters"],
            "summary": "Overrides (coordinator: all; an expert: theirs)",
            "parameters": _WINDOW,
            "responses": {
                "200": _ok("by start", {"type": "array", "items": _ref("Override")}),
                **_errors(400, 401, 403),
            },
        },
    },
    "/overrides/{override_id}": {
        "delete": {
            "tags": ["rosters"],
            "summary": "Delete an override and its shifts (coordinator, whoever set it)",
            "parameters": [_id_param("override_id", "the override's id")],
            "responses": {"204": {"description": "deleted"}, **_errors(401, 403, 404)},
        }
    },
    "/unavailability": {
        "post": {
            "tags": ["rosters"],
            "summary": "An expert is off duty for an interval (coordinator, the expert)",
            "requestBody": _body("UnavailabilityInput"),
            "responses": {
                "201": _ok("the unavailability", _ref("Unavailability")),
                **_errors(400, 401, 403),
            },
        },
        "get": {
            "tags": ["rosters"],
            "summary": "Unavailability (coordinator: all; an expert: theirs)",
            "parameters": _WINDOW,
            "responses": {
                "200": _ok("by start", {"type": "array", "items": _ref("Unavailability")}),
                **_errors(400, 401, 403),
            },
        },
    },
    "/unavailability/{unavailability_id}": {
        "delete": {
            "tags": ["rosters"],
            "summary": "Delete an unavailability (coordinator, the expert)",
            "parameters": [_id_param("unavailability_id", "the unavailability's id")],
            "responses": {"204": {"description": "deleted"}, **_errors(401, 403, 404)},
        }
    },
    "/swaps": {
        "post": {
            "tags": ["rosters"],
            "summary": "Ask another expert to take a shift (the expert, a coordinator for them)",
            "requestBody": _body("SwapInput"),
            "responses": {"201": _ok("the swap request", _ref("Swap")), **_errors(400, 401, 403)},
        },
        "get": {
            "tags": ["rosters"],
            "summary": "Swap requests, newest first (coordinator: all; an expert: theirs)",
            "parameters": [
                _query(
                    "status",
                    "only those in this status",
                    {"type": "string", "enum": [s.value for s in SwapStatus]},
                )
            ],
            "responses": {
                "200": _ok("the swap requests", {"type": "array", "items": _ref("Swap")}),
                **_errors(400, 401, 403),
            },
        },
    },
    "/swaps/{swap_id}/accept": _swap_decision(
        "The expert asked accepts: applied at once, or waiting for a coordinator when "
        "GARDE_SWAP_NEEDS_APPROVAL is set",
        401,
        403,
        404,
        409,
    ),
    "/swaps/{swap_id}/refuse": _swap_decision(
        "The expert asked (pending) or a coordinator (not applied) refuses", 401, 403, 404, 409
    ),
    "/swaps/{swap_id}/approve": _swap_decision(
        "A coordinator approves an accepted swap: applied as overrides, both or none",
        401,
        403,
        404,
        409,
    ),
    "/swaps/{swap_id}/cancel": _swap_decision(
        "The requester or a coordinator withdraws a swap not applied", 401, 403, 404, 409
    ),
}


_USERNAME = {
    "name": "username",
    "in": "path",
    "required": True,
    "description": "the login's username",
    "schema": {"type": "string"},
}
SCHEMAS |= {
    "User": {
        "type": "object",
        "required": ["username", "role", "disabled"],
        "properties": {
            "username": {"type": "string"},
            "role": {"type": "string", "enum": ["site", "expert", "coordinator", "admin"]},
            "disabled": {"type": "boolean"},
        },
    },
}
PATHS |= {
    "/users/{username}/disable": {
        "post": {
            "tags": ["registry"],
            "summary": "Disable a login: its sessions and API tokens stop working at once (admin; "
            "not one's own)",
            "parameters": [_USERNAME],
            "responses": {
                "200": _ok("the login", _ref("User")),
                **_errors(401, 403, 404, 409),
            },
        },
    },
    "/users/{username}/enable": {
        "post": {
            "tags": ["registry"],
            "summary": "Let a disabled login in again (admin)",
            "parameters": [_USERNAME],
            "responses": {"200": _ok("the login", _ref("User")), **_errors(401, 403, 404)},
        },
    },
}


def openapi_document() -> JSON:
    """The whole description; built fresh so a caller may change its copy freely."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Garde API",
            "version": "1",
            "summary": "Teleradiology on-call orchestration: sites, experts, rosters, cases.",
            "description": 'Errors are JSON `{"error": ..., "detail": ...}`. Times are UTC '
            "in ISO 8601; inputs must carry an offset.",
        },
        "servers": [{"url": "/api/v1"}],
        "security": [{"bearerAuth": []}],
        "tags": [
            {"name": "registry", "description": "sites and experts"},
            {"name": "rosters", "description": "shifts, on-call lists, calendars"},
            {"name": "cases", "description": "read requests, from intake to report"},
            {"name": "billing", "description": "what each read costs"},
            {"name": "meta", "description": "this description"},
        ],
        "paths": copy.deepcopy(PATHS),
        "components": {
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "a token from `garde token create USERNAME`",
                }
            },
            "schemas": copy.deepcopy(SCHEMAS),
            "responses": copy.deepcopy(RESPONSES),
        },
    }
