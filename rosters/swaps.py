"""Swap requests: an expert asks another to take one of their shifts, optionally in exchange
for one of the other's.

Pending until the other expert accepts or refuses; when the region asks for it
(`GARDE_SWAP_NEEDS_APPROVAL`), an accepted swap waits for a coordinator to approve it.
Applying a swap stores one override per shift given away (`created_by` "swap:ID") at once:
both or neither, and never a shift that has ended.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Annotated, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.domain import SwapStatus
from garde.errors import Conflict, Forbidden, InvalidInput
from garde.models import Expert, Shift, SwapRequest, User
from garde.validation import Input, between, text, validated
from rosters.overrides import add_override, is_staff, override_problem
from rosters.shifts import known_experts

# A decision is taken on a swap in these states only.
_OPEN = (SwapStatus.PENDING.value, SwapStatus.ACCEPTED.value)
SHIFT_ID = 2**31 - 1


class SwapInput(Input):
    """A swap request: `shift` for `other`, optionally against `other_shift`."""

    shift: Annotated[int, between(1, SHIFT_ID, description="a shift of the requester, not started")]
    other: Annotated[str, text(32, description="the expert asked to take it: their code")]
    other_shift: Annotated[
        int | None,
        between(1, SHIFT_ID, description="a shift of the other given back in exchange"),
    ] = None
    note: Annotated[str | None, text(200)] = None


def request_swap(
    session: Session, data: Mapping[str, Any], actor: User, now: datetime
) -> SwapRequest:
    """`shift` (the requester's) for `other` (an expert's code), optionally against
    `other_shift` (theirs), with a `note`. An expert asks for their own shifts; a
    coordinator on behalf of the shift's expert."""
    given = validated(SwapInput, data)
    other = known_experts(session, other=given.other)["other"]
    problems: dict[str, str] = {}
    shift = _shift(session, problems, "shift", given.shift, now)
    other_shift = None
    if given.other_shift is not None:
        other_shift = _shift(session, problems, "other_shift", given.other_shift, now)
    if shift is not None:
        if not is_staff(actor) and shift.expert_id != actor.expert_id:
            raise Forbidden("an expert offers only their own shifts")
        if other.id == shift.expert_id:
            problems["other"] = "must be another expert than the shift's"
        pending = session.scalar(
            select(SwapRequest.id).where(
                SwapRequest.shift_id == shift.id, SwapRequest.status.in_(_OPEN)
            )
        )
        if pending is not None:
            problems.setdefault("shift", f"already has an open swap request ({pending})")
    if other_shift is not None and other_shift.expert_id != other.id:
        problems.setdefault("other_shift", f"is not a shift of {other.code}")
    if problems:
        raise InvalidInput(problems)
    assert shift is not None
    swap = SwapRequest(
        shift_id=shift.id,
        requester_id=shift.expert_id,
        other_id=other.id,
        other_shift_id=other_shift.id if other_shift else None,
        status=SwapStatus.PENDING.value,
        note=given.note or "",
    )
    session.add(swap)
    session.flush()
    return swap


def accept_swap(
    session: Session, swap: SwapRequest, actor: User, now: datetime, *, needs_approval: bool
) -> SwapRequest:
    """The other expert says yes: applied at once, or waiting for a coordinator's approval."""
    if actor.expert_id != swap.other_id:
        raise Forbidden("only the expert asked accepts a swap")
    _expect(swap, SwapStatus.PENDING)
    if needs_approval:
        _decide(swap, SwapStatus.ACCEPTED, actor, now)
    else:
        _apply(session, swap, actor, now)
    session.flush()
    return swap


def approve_swap(session: Session, swap: SwapRequest, actor: User, now: datetime) -> SwapRequest:
    """A coordinator approves a swap both experts agreed on: applied."""
    if not is_staff(actor):
        raise Forbidden("only a coordinator approves a swap")
    _expect(swap, SwapStatus.ACCEPTED)
    _apply(session, swap, actor, now)
    session.flush()
    return swap


def refuse_swap(session: Session, swap: SwapRequest, actor: User, now: datetime) -> SwapRequest:
    """The other expert says no to a pending swap; a coordinator to any swap not applied."""
    if is_staff(actor):
        _expect(swap, SwapStatus.PENDING, SwapStatus.ACCEPTED)
    elif actor.expert_id == swap.other_id:
        _expect(swap, SwapStatus.PENDING)
    else:
        raise Forbidden("only the expert asked or a coordinator refuses a swap")
    _decide(swap, SwapStatus.REFUSED, actor, now)
    session.flush()
    return swap


def cancel_swap(session: Session, swap: SwapRequest, actor: User, now: datetime) -> SwapRequest:
    """The requester (or a coordinator) withdraws a swap not applied yet."""
    if not is_staff(actor) and actor.expert_id != swap.requester_id:
        raise Forbidden("only the expert who asked or a coordinator cancels a swap")
    _expect(swap, SwapStatus.PENDING, SwapStatus.ACCEPTED)
    _decide(swap, SwapStatus.CANCELLED, actor, now)
    session.flush()
    return swap


def _apply(session: Session, swap: SwapRequest, actor: User, now: datetime) -> None:
    """Both overrides or none: every check is made before anything is written."""
    plans: list[tuple[Expert, Expert, Shift]] = [(swap.other, swap.requester, swap.shift)]
    if swap.other_shift is not None:
        plans.append((swap.requester, swap.other, swap.other_shift))
    for _expert, replaces, shift in plans:
        if shift.end <= now:
            raise Conflict(f"shift {shift.id} is over: the swap cannot be applied")
        problem = override_problem(session, replaces, max(shift.start, now), shift.end)
        if problem:
            raise Conflict(f"the swap cannot be applied: {problem}")
    for expert, replaces, shift in plans:
        add_override(
            session,
            expert,
            replaces,
            max(shift.start, now),
            shift.end,
            created_by=f"swap:{swap.id}",
        )
    _decide(swap, SwapStatus.APPLIED, actor, now)


def _shift(
    session: Session, problems: dict[str, str], name: str, shift_id: int, now: datetime
) -> Shift | None:
    """The shift with this id; a problem under `name` when there is none or it has started."""
    shift = session.get(Shift, shift_id)
    if shift is None:
        problems[name] = f"no shift {shift_id}"
    elif shift.start <= now:
        problems[name] = "has already started"
    return shift


def _expect(swap: SwapRequest, *statuses: SwapStatus) -> None:
    if swap.status not in statuses:
        wanted = " or ".join(s.value for s in statuses)
        raise Conflict(f"swap {swap.id} is {swap.status}, not {wanted}")


def _decide(swap: SwapRequest, status: SwapStatus, actor: User, now: datetime) -> None:
    swap.status = status.value
    swap.decided_at = now
    swap.decided_by = actor.username
