"""The workflow is the one writer of a case: racing actions over HTTP leave the record and
the workflow in agreement every time, and a read is billed once."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from sqlalchemy import select

from garde.models import BillingLine
from tests.conftest import Region, Stack, make_region, wait_for

ROUNDS = 20


@pytest.fixture
def busy_region(stack: Stack) -> Region:
    """Experts who may hold many cases at once: the rounds run side by side."""
    return make_region(stack, max_concurrent=50)


def _post(region: Region, token: str, path: str, json: dict[str, Any] | None = None) -> int:
    return int(region.stack.api(token).post(path, json=json or {}).status_code)


def _billing_lines(stack: Stack, case_id: int) -> list[BillingLine]:
    with stack.sessions() as s:
        return list(s.scalars(select(BillingLine).where(BillingLine.case_id == case_id)))


def test_release_racing_an_accept_leaves_record_and_workflow_agreeing(
    busy_region: Region,
) -> None:
    region, stack = busy_region, busy_region.stack
    alice, bruno = region.experts["alice"], region.experts["bruno"]

    def one_round(_: int) -> None:
        case_id = region.submit()["id"]
        assert _post(region, alice.token, f"/api/v1/cases/{case_id}/accept") == 200
        with ThreadPoolExecutor(2) as pool:
            released = pool.submit(_post, region, alice.token, f"/api/v1/cases/{case_id}/release")
            taken = pool.submit(_post, region, bruno.token, f"/api/v1/cases/{case_id}/accept")
            assert released.result() == 200
            assert taken.result() in (200, 409)
        case, view = stack.agreed(case_id)
        assert (case.status, case.assigned_expert_id) == (view.status, view.holder)
        assert view.holder in (None, bruno.id)
        if view.holder is None:  # bruno was too early: he takes it now, from the worklist
            assert _post(region, bruno.token, f"/api/v1/cases/{case_id}/accept") == 200
        report = {"kind": "final", "findings": "No bleed.", "impression": "Normal."}
        assert _post(region, bruno.token, f"/api/v1/cases/{case_id}/report", report) == 201
        lines = wait_for(lambda: _billing_lines(stack, case_id), what="the billing line")
        assert [line.expert_id for line in lines] == [bruno.id]
        case, view = stack.agreed(case_id)
        assert (case.status, view.status) == ("final", "final")

    with ThreadPoolExecutor(5) as pool:
        list(pool.map(one_round, range(ROUNDS)))


def test_accept_racing_a_cancel_leaves_record_and_workflow_agreeing(busy_region: Region) -> None:
    region, stack = busy_region, busy_region.stack
    alice = region.experts["alice"]

    def one_round(_: int) -> None:
        case_id = region.submit()["id"]
        with ThreadPoolExecutor(2) as pool:
            accepted = pool.submit(_post, region, alice.token, f"/api/v1/cases/{case_id}/accept")
            cancelled = pool.submit(
                _post, region, region.site_token, f"/api/v1/cases/{case_id}/cancel"
            )
            assert accepted.result() in (200, 409)
            assert cancelled.result() == 200
        case, view = stack.agreed(case_id)
        assert (case.status, case.assigned_expert_id) == (view.status, view.holder)
        assert view.status == "cancelled"
        assert _billing_lines(stack, case_id) == []

    with ThreadPoolExecutor(5) as pool:
        list(pool.map(one_round, range(ROUNDS)))
