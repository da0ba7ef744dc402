"""Swap requests between two experts: ask, accept or refuse, approve when the region asks
for it (GARDE_SWAP_NEEDS_APPROVAL), cancel."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial
from typing import Annotated, Any

from flask import Response, g, jsonify, request
from pydantic import Field, RootModel
from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from garde.domain import STAFF, Role, SwapStatus
from garde.errors import NotFound
from garde.models import SwapRequest, User, utcnow
from garde.validation import Input, choice, validated
from rosters.overrides import is_staff
from rosters.swaps import SwapInput, approve_swap, cancel_swap, refuse_swap, request_swap
from rosters.swaps import accept_swap as accept
from web import services
from web.access import current_user, roles
from web.api import body, bp
from web.api.describe import Answer, operation
from web.api.roster_models import Shift
from web.api.rosters import shift_json
from web.audit import audit
from web.case_views import iso
from web.roster_changes import roster_changed


class SwapQuery(Input):
    status: Annotated[SwapStatus | None, choice(description="only those in this status")] = None


class Swap(Answer):
    id: int
    status: SwapStatus
    requester: str = Field(description="the expert who asked: their code")
    other: str = Field(description="the expert asked to take the shift")
    shift: Shift
    other_shift: Shift | None = Field(description="the other's shift given back in exchange")
    note: str
    created_at: datetime
    decided_at: datetime | None
    decided_by: str | None = Field(description="the username who decided last")


class Swaps(RootModel[list[Swap]]):
    """Swap requests, newest first."""


@bp.post("/swaps")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "Ask another expert to take a shift (the expert, a coordinator for them)",
    {201: ("the swap request", Swap)},
    body=SwapInput,
)
def add_swap() -> tuple[Response, int]:
    swap = request_swap(g.db, body(), current_user(), utcnow())
    audit("swap.request", f"swap:{swap.id}")
    g.db.commit()
    return jsonify(swap_json(swap)), 201


@bp.get("/swaps")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "Swap requests, newest first (coordinator: all; an expert: theirs); at most 1000",
    {200: ("the swap requests", Swaps)},
    query=SwapQuery,
)
def list_swaps() -> Response:
    status = validated(SwapQuery, request.args).status
    query = select(SwapRequest).order_by(SwapRequest.id.desc())
    if status is not None:
        query = query.where(SwapRequest.status == status.value)
    user = current_user()
    if not is_staff(user):
        query = query.where(
            or_(SwapRequest.requester_id == user.expert_id, SwapRequest.other_id == user.expert_id)
        )
    return jsonify([swap_json(s) for s in g.db.scalars(query.limit(1000))])


@bp.post("/swaps/<int:swap_id>/accept")
@roles(Role.EXPERT)
@operation(
    "rosters",
    "The expert asked accepts: applied at once, or waiting for a coordinator when "
    "GARDE_SWAP_NEEDS_APPROVAL is set",
    {200: ("the swap request", Swap)},
    errors=(404, 409),
)
def swap_accept(swap_id: int) -> Response:
    needs_approval = services().settings.swap_needs_approval
    return _decide(swap_id, "accept", partial(accept, needs_approval=needs_approval))


@bp.post("/swaps/<int:swap_id>/refuse")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "The expert asked (pending) or a coordinator (not applied) refuses",
    {200: ("the swap request", Swap)},
    errors=(404, 409),
)
def swap_refuse(swap_id: int) -> Response:
    return _decide(swap_id, "refuse", refuse_swap)


@bp.post("/swaps/<int:swap_id>/approve")
@roles(*STAFF)
@operation(
    "rosters",
    "A coordinator approves an accepted swap: applied as overrides, both or none",
    {200: ("the swap request", Swap)},
    errors=(404, 409),
)
def swap_approve(swap_id: int) -> Response:
    return _decide(swap_id, "approve", approve_swap)


@bp.post("/swaps/<int:swap_id>/cancel")
@roles(Role.EXPERT, *STAFF)
@operation(
    "rosters",
    "The requester or a coordinator withdraws a swap not applied",
    {200: ("the swap request", Swap)},
    errors=(404, 409),
)
def swap_cancel(swap_id: int) -> Response:
    return _decide(swap_id, "cancel", cancel_swap)


def _decide(
    swap_id: int, decision: str, act: Callable[[Session, SwapRequest, User, datetime], object]
) -> Response:
    user = current_user()
    swap = g.db.get(SwapRequest, swap_id)
    if swap is None or not (is_staff(user) or user.expert_id in (swap.requester_id, swap.other_id)):
        raise NotFound(f"no swap request {swap_id}")
    act(g.db, swap, user, utcnow())
    audit(f"swap.{decision}", f"swap:{swap.id}", swap.status)
    g.db.commit()
    if swap.status == SwapStatus.APPLIED:
        roster_changed("swap applied")
    return jsonify(swap_json(swap))


def swap_json(swap: SwapRequest) -> dict[str, Any]:
    return {
        "id": swap.id,
        "status": swap.status,
        "requester": swap.requester.code,
        "other": swap.other.code,
        "shift": shift_json(swap.shift),
        "other_shift": shift_json(swap.other_shift) if swap.other_shift else None,
        "note": swap.note,
        "created_at": iso(swap.created_at),
        "decided_at": iso(swap.decided_at),
        "decided_by": swap.decided_by,
    }
