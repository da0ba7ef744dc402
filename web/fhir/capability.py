"""The CapabilityStatement at /fhir/metadata: what a RIS may ask of Garde's FHIR server."""

from __future__ import annotations

from typing import Any

from web.fhir import MEDIA_TYPE

# The date this statement last changed: a client may cache what it read.
CHANGED = "2026-11-30"


def capability_statement(base: str) -> dict[str, Any]:
    return {
        "resourceType": "CapabilityStatement",
        "status": "active",
        "date": CHANGED,
        "publisher": "Garde",
        "kind": "instance",
        "software": {"name": "Garde"},
        "implementation": {"description": "Garde teleradiology on-call", "url": base},
        "fhirVersion": "4.0.1",
        "format": [MEDIA_TYPE, "json"],
        "rest": [
            {
                "mode": "server",
                "documentation": (
                    "Every resource of one case shares the case's id. Access: a site its own "
                    "cases, coordinators and admins all, an expert the cases they hold or held."
                ),
                "security": {
                    "description": "Authorization: Bearer TOKEN, the token of a Garde login "
                    "(a site's to order); /metadata needs none."
                },
                "resource": [
                    {
                        "type": "ServiceRequest",
                        "interaction": [{"code": "create"}, {"code": "read"}],
                        "conditionalCreate": True,
                        "documentation": (
                            "A site's order: an identifier of type PLAC (the placer order "
                            "number) is required, and the same one again answers 200 with the "
                            "ServiceRequest made the first time; ACSN the accession number; a "
                            "DCM coding in code or category the modality; priority stat, asap, "
                            "urgent or routine; reasonCode and note the clinical question; the "
                            "requester's contained Practitioner its phone; subject a contained "
                            "Patient."
                        ),
                    },
                    {
                        "type": "Task",
                        "interaction": [{"code": "read"}, {"code": "search-type"}],
                        "searchParam": [
                            {
                                "name": "focus",
                                "type": "reference",
                                "documentation": "ServiceRequest/ID: the Task of that order",
                            }
                        ],
                        "documentation": (
                            "Garde's work on the order: status requested, accepted, "
                            "in-progress, completed, rejected (statusReason) or cancelled; "
                            "businessStatus Garde's own status; output the protocol and the "
                            "DiagnosticReport."
                        ),
                    },
                    {"type": "DiagnosticReport", "interaction": [{"code": "read"}]},
                ],
            }
        ],
    }
