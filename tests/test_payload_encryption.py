"""Temporal holds no patient text in the clear (issue 8): a case's history read without Garde's
keys shows neither its question nor its report, while Garde's own clients read the case, and
an admin (no one else) reads the history through the codec endpoint the Temporal UI calls."""

from __future__ import annotations

import asyncio
import base64
import secrets

from google.protobuf import json_format
from sqlalchemy import select
from temporalio.api.common.v1 import Payload
from temporalio.client import Client

from garde.models import AuditEvent
from garde.temporal import case_workflow_id
from tests.conftest import UI_ORIGIN, Region
from tests.web.test_pages import Browser


def history_as_stored(region: Region, case_id: int) -> tuple[bytes, list[Payload]]:
    """The case's history as Temporal keeps it, read by a client without Garde's keys: every
    event's bytes, and the arguments of the updates it accepted (an acceptance, a report)."""
    env = region.stack.env

    async def fetch() -> tuple[bytes, list[Payload]]:
        client = await Client.connect(
            env["GARDE_TEMPORAL_ADDRESS"], namespace=env["GARDE_TEMPORAL_NAMESPACE"]
        )
        history = await client.get_workflow_handle(case_workflow_id(case_id)).fetch_history()
        updates = [
            e.workflow_execution_update_accepted_event_attributes.accepted_request.input.args
            for e in history.events
            if e.HasField("workflow_execution_update_accepted_event_attributes")
        ]
        stored = b"".join(e.SerializeToString() for e in history.events)
        return stored, [p for args in updates for p in args.payloads]

    return asyncio.run(fetch())


def test_histories_are_encrypted_and_admins_read_them_through_the_codec(region: Region) -> None:
    stack = region.stack
    probe = secrets.token_hex(6)
    question = f"Probe {probe}: fall on anticoagulants?"
    findings = f"Subdural haematoma {probe}."
    case_id = region.submit(clinical_question=question)["id"]
    alice = stack.api(region.experts["alice"].token)
    assert alice.post(f"/api/v1/cases/{case_id}/accept").status_code == 200
    r = alice.post(
        f"/api/v1/cases/{case_id}/report",
        json={"kind": "final", "findings": findings, "impression": "Bleed."},
    )
    assert r.status_code == 201, r.text
    _, view = stack.agreed(case_id)  # Garde's own client reads the workflow
    assert view.status == "final"

    stored, update_args = history_as_stored(region, case_id)
    assert probe.encode() not in stored
    assert update_args and all(p.metadata["encoding"] == b"binary/encrypted" for p in update_args)
    payloads = {"payloads": [json_format.MessageToDict(p) for p in update_args]}
    headers = {"X-Namespace": stack.env["GARDE_TEMPORAL_NAMESPACE"], "Origin": UI_ORIGIN}

    # Not for a coordinator, nor for anyone unknown.
    r = stack.api(region.coordinator_token).post(
        "/temporal-codec/decode", json=payloads, headers=headers
    )
    assert r.status_code == 403, r.text
    r = stack.api("not-a-token").post("/temporal-codec/decode", json=payloads)
    assert r.status_code == 401, r.text

    # An admin's token (the Temporal CLI's --codec-auth) reads the report back, audited.
    admin = stack.api(region.admin_token)
    r = admin.post("/temporal-codec/decode", json=payloads, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    decoded = [base64.b64decode(p["data"]) for p in r.json()["payloads"]]
    assert any(findings.encode() in d for d in decoded), decoded
    admin_name = "admin-" + region.site.removeprefix("SITE-")
    with stack.sessions() as s:
        audited = s.scalars(
            select(AuditEvent.target).where(
                AuditEvent.actor == admin_name, AuditEvent.action == "temporal.decode"
            )
        ).all()
    assert audited == [f"namespace:{stack.env['GARDE_TEMPORAL_NAMESPACE']}"]

    # The Temporal UI's page: its preflight is answered, and the admin's session counts.
    ui = Browser(stack).login(admin_name)
    preflight = ui.http.options(
        stack.url + "/temporal-codec/decode",
        headers={
            "Origin": UI_ORIGIN,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-namespace",
        },
        timeout=30,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == UI_ORIGIN
    assert preflight.headers["Access-Control-Allow-Credentials"] == "true"
    assert "X-Namespace" in preflight.headers["Access-Control-Allow-Headers"]
    other = ui.http.options(
        stack.url + "/temporal-codec/decode", headers={"Origin": "https://evil.example"}
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    encoded = ui.http.post(
        stack.url + "/temporal-codec/encode",
        json={"payloads": [{"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IngiCg=="}]},
        headers=headers,
        timeout=30,
    )
    assert encoded.status_code == 200, encoded.text
    [sealed] = encoded.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    r = ui.http.post(stack.url + "/temporal-codec/decode", json=encoded.json(), timeout=30)
    assert r.json()["payloads"] == [
        {"metadata": {"encoding": "anNvbi9wbGFpbg=="}, "data": "IngiCg=="}
    ]
    # A form (what another site could post with the cookie) is refused.
    r = ui.http.post(stack.url + "/temporal-codec/decode", data={"payloads": "x"}, timeout=30)
    assert r.status_code == 415, r.text
