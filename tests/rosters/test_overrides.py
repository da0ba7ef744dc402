"""Overrides take precedence over the roster, unavailability takes an expert off it, and a
swap between two experts applies as overrides, whole or not at all; all read through
`on_duty_experts`, the answer routing uses."""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from garde.db import SessionFactory
from garde.domain import Role, SwapStatus
from garde.errors import Conflict, Forbidden, GardeError, InvalidInput
from garde.models import Expert, Override, Shift, Site, SwapRequest, User
from rosters.eligibility import on_duty_experts
from rosters.overrides import (
    create_override,
    create_unavailability,
    delete_override,
    uncovered_shifts,
)
from rosters.shifts import create_shift, update_shift
from rosters.swaps import accept_swap, approve_swap, cancel_swap, refuse_swap, request_swap
from tests.conftest import add_login
from tests.french import ENGLISH, in_french
from tests.phones import mobile

NOW = datetime(2027, 6, 1, 12, 0, tzinfo=UTC)
NIGHT = NOW + timedelta(hours=6)  # 18:00 UTC, tonight's shifts start
NEXT_NIGHT = NIGHT + timedelta(days=1)


@dataclass
class Team:
    """A site; alice primary and bruno backup tonight and tomorrow night, chloe free; their
    logins, and a coordinator's."""

    site_id: int
    codes: dict[str, str]
    ids: dict[str, int]
    users: dict[str, int]
    shifts: dict[str, int]

    def actor(self, s: Session, who: str) -> User:
        return s.get_one(User, self.users[who])

    def on_duty(self, s: Session, at: datetime) -> list[tuple[str, str]]:
        names = {v: k for k, v in self.ids.items()}
        return [
            (names[c.expert_id], c.tier)
            for c in on_duty_experts(s, site_id=self.site_id, modality="CT", at=at)
        ]


@pytest.fixture
def team(sessions: SessionFactory) -> Team:
    tag = secrets.token_hex(3).upper()
    with sessions.begin() as s:
        site = Site(code=f"CH-{tag}", name="CH Test", timezone="Europe/Paris")
        s.add(site)
        codes, ids, users, shifts = {}, {}, {}, {}
        for name in ("alice", "bruno", "chloe"):
            phone = mobile()
            expert = Expert(
                code=f"DR-{name.upper()}-{tag}", name=name, phone=phone, modalities=["CT"]
            )
            expert.sites = [site]
            s.add(expert)
            s.flush()
            codes[name], ids[name] = expert.code, expert.id
            users[name] = add_login(s, f"{name}-{tag}", Role.EXPERT, expert_code=expert.code).id
        users["coordinator"] = add_login(s, f"coord-{tag}", Role.COORDINATOR).id
        for name, tier in (("alice", "primary"), ("bruno", "backup")):
            for key, start in ((name, NIGHT), (f"{name}-next", NEXT_NIGHT)):
                shift = create_shift(
                    s,
                    {
                        "expert": codes[name],
                        "start": start.isoformat(),
                        "end": (start + timedelta(hours=12)).isoformat(),
                        "tier": tier,
                    },
                )
                shifts[key] = shift.id
        return Team(site.id, codes, ids, users, shifts)


def override(
    team: Team, expert: str, replaces: str, start: datetime, end: datetime
) -> dict[str, str]:
    return {
        "expert": team.codes[expert],
        "replaces": team.codes[replaces],
        "start": start.isoformat(),
        "end": end.isoformat(),
    }


def test_the_replacing_expert_holds_the_tier_during_the_override_only(
    sessions: SessionFactory, team: Team
) -> None:
    start, end = NIGHT + timedelta(hours=2), NIGHT + timedelta(hours=6)
    with sessions.begin() as s:
        made = create_override(
            s, override(team, "chloe", "alice", start, end), team.actor(s, "coordinator")
        )
        override_id = made.id
    with sessions() as s:
        (piece,) = s.scalars(select(Shift).where(Shift.override_id == override_id)).all()
        assert (piece.expert_id, piece.start, piece.end, piece.tier, piece.source) == (
            team.ids["chloe"],
            start,
            end,
            "primary",
            "override",
        )
        assert team.on_duty(s, NIGHT + timedelta(hours=1)) == [
            ("alice", "primary"),
            ("bruno", "backup"),
        ]
        assert team.on_duty(s, start) == [("chloe", "primary"), ("bruno", "backup")]
        assert team.on_duty(s, end - timedelta(seconds=1)) == [
            ("chloe", "primary"),
            ("bruno", "backup"),
        ]
        assert team.on_duty(s, end) == [("alice", "primary"), ("bruno", "backup")]
    # Deleting the override gives the roster back as it was.
    with sessions.begin() as s:
        delete_override(s, s.get_one(Override, override_id), team.actor(s, "coordinator"))
    with sessions() as s:
        assert team.on_duty(s, start) == [("alice", "primary"), ("bruno", "backup")]
        assert s.scalar(select(func.count()).where(Shift.override_id == override_id)) == 0


def test_an_override_across_two_shifts_holds_both_pieces(
    sessions: SessionFactory, team: Team
) -> None:
    start, end = NIGHT + timedelta(hours=10), NEXT_NIGHT + timedelta(hours=3)
    with sessions.begin() as s:
        made = create_override(
            s, override(team, "chloe", "bruno", start, end), team.actor(s, "chloe")
        )
        pieces = sorted(
            (x.start, x.end, x.tier)
            for x in s.scalars(select(Shift).where(Shift.override_id == made.id))
        )
    assert pieces == [
        (start, NIGHT + timedelta(hours=12), "backup"),
        (NEXT_NIGHT, end, "backup"),
    ]


@pytest.mark.parametrize(
    ("expert", "replaces", "start_h", "end_h", "field", "reason"),
    [
        ("chloe", "alice", 20, 22, "replaces", "has no shift between"),
        ("alice", "alice", 1, 2, "replaces", "another expert"),
        ("chloe", "alice", 3, 2, "end", "after start"),
    ],
)
def test_bad_override_is_refused_naming_the_field(
    sessions: SessionFactory,
    team: Team,
    expert: str,
    replaces: str,
    start_h: int,
    end_h: int,
    field: str,
    reason: str,
) -> None:
    data = override(
        team, expert, replaces, NIGHT + timedelta(hours=start_h), NIGHT + timedelta(hours=end_h)
    )
    with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
        create_override(s, data, team.actor(s, "coordinator"))
    assert reason in refused.value.fields[field], refused.value.fields
    with sessions() as s:
        assert (
            s.scalar(select(func.count()).where(Override.replaces_id.in_(team.ids.values()))) == 0
        )


def test_an_expert_already_replaced_is_not_replaced_twice(
    sessions: SessionFactory, team: Team
) -> None:
    with sessions.begin() as s:
        coordinator = team.actor(s, "coordinator")
        create_override(
            s, override(team, "chloe", "alice", NIGHT, NIGHT + timedelta(hours=4)), coordinator
        )
    with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
        create_override(
            s,
            override(
                team, "bruno", "alice", NIGHT + timedelta(hours=3), NIGHT + timedelta(hours=5)
            ),
            team.actor(s, "coordinator"),
        )
    assert "already replaced by " + team.codes["chloe"] in refused.value.fields["replaces"]


def test_an_expert_sets_only_overrides_they_take_part_in(
    sessions: SessionFactory, team: Team
) -> None:
    with pytest.raises(Forbidden), sessions.begin() as s:
        create_override(
            s,
            override(team, "chloe", "alice", NIGHT, NIGHT + timedelta(hours=1)),
            team.actor(s, "bruno"),
        )


def test_unavailability_takes_the_expert_off_duty_and_shows_what_it_uncovers(
    sessions: SessionFactory, team: Team
) -> None:
    start, end = NIGHT + timedelta(hours=4), NEXT_NIGHT + timedelta(hours=1)
    data = {"expert": team.codes["alice"], "start": start.isoformat(), "end": end.isoformat()}
    with pytest.raises(Forbidden), sessions.begin() as s:
        create_unavailability(s, data, team.actor(s, "bruno"))
    with sessions.begin() as s:
        leave = create_unavailability(s, {**data, "reason": "sick"}, team.actor(s, "alice"))
        uncovered = [x.id for x in uncovered_shifts(s, leave)]
    assert uncovered == [team.shifts["alice"], team.shifts["alice-next"]]
    with sessions() as s:
        assert team.on_duty(s, start - timedelta(seconds=1))[0] == ("alice", "primary")
        assert team.on_duty(s, start) == [("bruno", "backup")]
        assert team.on_duty(s, end)[0] == ("alice", "primary")
    with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
        create_unavailability(s, {**data, "end": data["start"]}, team.actor(s, "alice"))
    assert "after start" in refused.value.fields["end"]


def ask(sessions: SessionFactory, team: Team, **extra: object) -> int:
    with sessions.begin() as s:
        swap = request_swap(
            s,
            {"shift": team.shifts["alice"], "other": team.codes["chloe"], **extra},
            team.actor(s, "alice"),
            NOW,
        )
        return swap.id


def test_a_swap_accepted_applies_at_once_without_approval(
    sessions: SessionFactory, team: Team
) -> None:
    swap_id = ask(sessions, team, note="wedding")
    with pytest.raises(Forbidden), sessions.begin() as s:
        accept_swap(
            s, s.get_one(SwapRequest, swap_id), team.actor(s, "alice"), NOW, needs_approval=False
        )
    with sessions.begin() as s:
        swap = accept_swap(
            s, s.get_one(SwapRequest, swap_id), team.actor(s, "chloe"), NOW, needs_approval=False
        )
        assert swap.status == SwapStatus.APPLIED
    with sessions() as s:
        (made,) = s.scalars(select(Override).where(Override.created_by == f"swap:{swap_id}"))
        assert (made.expert_id, made.replaces_id) == (team.ids["chloe"], team.ids["alice"])
        assert (made.start, made.end) == (NIGHT, NIGHT + timedelta(hours=12))
        assert team.on_duty(s, NIGHT + timedelta(hours=1)) == [
            ("chloe", "primary"),
            ("bruno", "backup"),
        ]
        assert team.on_duty(s, NEXT_NIGHT)[0] == ("alice", "primary")
    with pytest.raises(Conflict), sessions.begin() as s:
        cancel_swap(s, s.get_one(SwapRequest, swap_id), team.actor(s, "alice"), NOW)


def test_a_swap_waits_for_a_coordinator_when_approval_is_needed(
    sessions: SessionFactory, team: Team
) -> None:
    # An exchange asked by a coordinator for alice: bruno takes her night, she his next one.
    with sessions.begin() as s:
        swap_id = request_swap(
            s,
            {
                "shift": team.shifts["alice"],
                "other": team.codes["bruno"],
                "other_shift": team.shifts["bruno-next"],
            },
            team.actor(s, "coordinator"),
            NOW,
        ).id
    with sessions.begin() as s:
        swap = accept_swap(
            s, s.get_one(SwapRequest, swap_id), team.actor(s, "bruno"), NOW, needs_approval=True
        )
        assert swap.status == SwapStatus.ACCEPTED
    with sessions() as s:
        assert s.scalar(select(func.count()).where(Override.created_by == f"swap:{swap_id}")) == 0
        assert team.on_duty(s, NIGHT)[0] == ("alice", "primary")
    with pytest.raises(Forbidden), sessions.begin() as s:
        approve_swap(s, s.get_one(SwapRequest, swap_id), team.actor(s, "bruno"), NOW)
    with sessions.begin() as s:
        swap = approve_swap(s, s.get_one(SwapRequest, swap_id), team.actor(s, "coordinator"), NOW)
        assert swap.status == SwapStatus.APPLIED and (swap.decided_by or "").startswith("coord-")
    with sessions() as s:
        assert s.scalar(select(func.count()).where(Override.created_by == f"swap:{swap_id}")) == 2
        # Tonight bruno holds alice's primary; tomorrow night alice holds bruno's backup.
        assert team.on_duty(s, NIGHT) == [("bruno", "primary")]
        assert team.on_duty(s, NEXT_NIGHT) == [("alice", "primary")]


def test_a_swap_that_cannot_apply_whole_applies_not_at_all(
    sessions: SessionFactory, team: Team
) -> None:
    with sessions.begin() as s:
        swap_id = request_swap(
            s,
            {
                "shift": team.shifts["alice"],
                "other": team.codes["bruno"],
                "other_shift": team.shifts["bruno-next"],
            },
            team.actor(s, "alice"),
            NOW,
        ).id
        # Before bruno answers, the coordinator gives his next night to chloe.
        update_shift(
            s, s.get_one(Shift, team.shifts["bruno-next"]), {"expert": team.codes["chloe"]}
        )
    with pytest.raises(Conflict) as refused, sessions.begin() as s:
        accept_swap(
            s, s.get_one(SwapRequest, swap_id), team.actor(s, "bruno"), NOW, needs_approval=False
        )
    assert "has no shift between" in refused.value.message
    with sessions() as s:
        assert s.get_one(SwapRequest, swap_id).status == SwapStatus.PENDING
        assert s.scalar(select(func.count()).where(Override.created_by == f"swap:{swap_id}")) == 0
        assert team.on_duty(s, NIGHT)[0] == ("alice", "primary")


def test_a_swap_is_refused_or_cancelled_by_the_right_people(
    sessions: SessionFactory, team: Team
) -> None:
    swap_id = ask(sessions, team)
    with pytest.raises(InvalidInput) as twice, sessions.begin() as s:
        request_swap(
            s,
            {"shift": team.shifts["alice"], "other": team.codes["bruno"]},
            team.actor(s, "alice"),
            NOW,
        )
    assert "already has an open swap request" in twice.value.fields["shift"]
    with pytest.raises(Forbidden), sessions.begin() as s:
        refuse_swap(s, s.get_one(SwapRequest, swap_id), team.actor(s, "bruno"), NOW)
    with sessions.begin() as s:
        assert (
            refuse_swap(s, s.get_one(SwapRequest, swap_id), team.actor(s, "chloe"), NOW).status
            == "refused"
        )
    with pytest.raises(Conflict), sessions.begin() as s:
        accept_swap(
            s, s.get_one(SwapRequest, swap_id), team.actor(s, "chloe"), NOW, needs_approval=False
        )
    second = ask(sessions, team)
    with pytest.raises(Forbidden), sessions.begin() as s:
        cancel_swap(s, s.get_one(SwapRequest, second), team.actor(s, "chloe"), NOW)
    with sessions.begin() as s:
        assert (
            cancel_swap(s, s.get_one(SwapRequest, second), team.actor(s, "alice"), NOW).status
            == "cancelled"
        )


@pytest.mark.parametrize(
    ("data", "field", "reason"),
    [
        ({"other": "DR-NOBODY"}, "other", "no expert has the code"),
        ({"shift": 0}, "shift", "between 1"),
        ({"shift": None}, "shift", "is required"),
        ({"other_shift": "bruno"}, "other_shift", "is not a shift of"),
    ],
)
def test_bad_swap_request_is_refused_naming_the_field(
    sessions: SessionFactory, team: Team, data: dict[str, object], field: str, reason: str
) -> None:
    given = {"shift": team.shifts["alice"], "other": team.codes["chloe"], **data}
    if given.get("other_shift") == "bruno":
        given["other_shift"] = team.shifts["bruno-next"]
    with pytest.raises(InvalidInput) as refused, sessions.begin() as s:
        request_swap(s, given, team.actor(s, "alice"), NOW)
    assert reason in refused.value.fields[field], refused.value.fields


def test_a_started_shift_or_someone_elses_is_not_offered(
    sessions: SessionFactory, team: Team
) -> None:
    with pytest.raises(InvalidInput) as started, sessions.begin() as s:
        request_swap(
            s,
            {"shift": team.shifts["alice"], "other": team.codes["chloe"]},
            team.actor(s, "alice"),
            NIGHT + timedelta(minutes=1),
        )
    assert started.value.fields["shift"] == "has already started"
    with pytest.raises(Forbidden), sessions.begin() as s:
        request_swap(
            s,
            {"shift": team.shifts["bruno"], "other": team.codes["chloe"]},
            team.actor(s, "alice"),
            NOW,
        )


def _reasons(sessions: SessionFactory, do: Callable[[Session], object]) -> list[str]:
    """The reasons `do` was refused with: each field's, or the message when it names none."""
    with pytest.raises(GardeError) as refused, sessions.begin() as s:
        do(s)
    e = refused.value
    return list(e.fields.values()) if isinstance(e, InvalidInput) else [e.message]


# An instant as the rosters write it in a reason: its day of the month, its time, its offset.
INSTANT = re.compile(r"\d{4}-\d{2}-(\d{2})T(\d{2}:\d{2})(?::\d{2})?([+-]\d{2}:\d{2}|Z)")


def test_every_refusal_of_the_rosters_reads_in_french(sessions: SessionFactory, team: Team) -> None:
    """The rosters refuse in English; a French coordinator or expert reads each reason in
    French on the page (web/reasons.py), its codes, numbers and times kept, the times as
    pages write them."""
    alice, chloe = team.codes["alice"], team.codes["chloe"]
    pending = ask(sessions, team)
    with sessions.begin() as s:  # bruno's next night goes to chloe: this swap cannot apply
        broken = request_swap(
            s,
            {
                "shift": team.shifts["alice-next"],
                "other": team.codes["bruno"],
                "other_shift": team.shifts["bruno-next"],
            },
            team.actor(s, "alice"),
            NOW,
        ).id
        update_shift(s, s.get_one(Shift, team.shifts["bruno-next"]), {"expert": chloe})

    def shift(hours: int) -> Callable[[Session], object]:
        start = NIGHT + timedelta(hours=1)
        given = {"expert": alice, "tier": "primary", "start": start.isoformat()}
        given["end"] = (start + timedelta(hours=hours)).isoformat()
        return lambda s: create_shift(s, given)

    def replace(expert: str, replaces: str, start: datetime, by: str = "coordinator") -> Any:
        given = override(team, "chloe", replaces, start, start + timedelta(hours=1))
        given["expert"] = team.codes.get(expert, expert)  # or a code no expert has
        return lambda s: create_override(s, given, team.actor(s, by))

    def decide(swap: int, how: Callable[..., object], who: str, **extra: bool) -> Any:
        return lambda s: how(s, s.get_one(SwapRequest, swap), team.actor(s, who), NOW, **extra)

    english = [
        reason
        for refusal in (
            shift(hours=2),
            shift(hours=49),
            replace("alice", "alice", NIGHT),
            replace("chloe", "alice", NOW),
            replace("chloe", "alice", NIGHT, by="bruno"),
            replace("DR-NOBODY", "alice", NIGHT),
            decide(pending, approve_swap, "bruno"),
            decide(pending, approve_swap, "coordinator"),
            decide(pending, cancel_swap, "bruno"),
            decide(broken, accept_swap, "bruno", needs_approval=False),
        )
        for reason in _reasons(sessions, refusal)
    ]
    french = in_french(english)

    assert len(french) == 10, english
    assert french[0].startswith(f"{alice} a déjà un créneau du "), french
    assert "un créneau dure au plus 48 heures" in french
    assert "seul un coordinateur approuve un échange" in french
    assert f"l'échange {pending} est en attente d'une réponse, et non accepté" in french
    assert (
        f"l'échange ne peut pas être appliqué\u00a0: {team.codes['bruno']} n'a aucun créneau"
        in french[-1]
    )
    for said, read in zip(english, french, strict=True):
        # An instant reads as pages write times, at the offset it was given in: its day, its
        # wall-clock time and its offset kept.
        for day, time, offset in INSTANT.findall(said):
            zone = "UTC" if offset in ("Z", "+00:00") else f"UTC{offset}"
            assert re.search(rf"\b{day} \w+\.? {time} {re.escape(zone)}\b", read), (said, read)
        assert not INSTANT.search(read), read
        kept = re.compile(r"DR-[\w-]+|\d+")
        assert set(kept.findall(INSTANT.sub("", said))) <= set(kept.findall(read)), (said, read)
    left_in_english = [f for f in french if ENGLISH.search(f)]
    assert not left_in_english, "\n".join(left_in_english)
