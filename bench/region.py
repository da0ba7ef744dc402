"""The benchmark's region: one site and many experts on duty now, seeded through the HTTP API."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from bench.api import Api
from bench.stack import GardeStack
from garde.accounts import add_user, create_token
from garde.domain import Role

PASSWORD = "bench password"


@dataclass(frozen=True)
class SimulatedExpert:
    expert_id: int
    code: str
    token: str


@dataclass(frozen=True)
class Region:
    site: str
    site_token: str
    experts: dict[int, SimulatedExpert]  # by expert id, as offers name them


def seed_region(stack: GardeStack, api: Api, experts: int, max_concurrent: int) -> Region:
    """A site, `experts` primary experts credentialed for it on a shift covering now, logins."""
    tag = secrets.token_hex(3).upper()
    with stack.sessions.begin() as s:
        admin_token = create_token(s, add_user(s, f"admin-{tag}", PASSWORD, Role.ADMIN))
    site = f"BENCH-{tag}"
    api.call(
        "POST",
        "/api/v1/sites",
        admin_token,
        {
            "code": site,
            "name": f"CH {site}",
            "timezone": "Europe/Paris",
            "ae_titles": [site[:16]],
            "prices": {"CT": 9000},
        },
        expect=201,
    )
    now = datetime.now(UTC)
    codes = [f"DR-{i:03d}-{tag}" for i in range(experts)]
    for i, code in enumerate(codes):
        api.call(
            "POST",
            "/api/v1/experts",
            admin_token,
            {
                "code": code,
                "name": f"Dr Bench {i}",
                "phone": f"+3361{i:07d}",
                "modalities": ["CT"],
                "subspecialties": ["neuro"],
                "sites": [site],
                "max_concurrent": max_concurrent,
            },
            expect=201,
        )
        api.call(
            "POST",
            "/api/v1/shifts",
            admin_token,
            {
                "expert": code,
                "start": (now - timedelta(hours=1)).isoformat(),
                "end": (now + timedelta(hours=12)).isoformat(),
                "tier": "primary",
            },
            expect=201,
        )
    simulated: dict[int, SimulatedExpert] = {}
    with stack.sessions.begin() as s:
        site_token = create_token(
            s, add_user(s, f"site-{tag}", PASSWORD, Role.SITE, site_code=site)
        )
        for code in codes:
            user = add_user(s, code.lower(), PASSWORD, Role.EXPERT, expert_code=code)
            assert user.expert_id is not None
            simulated[user.expert_id] = SimulatedExpert(user.expert_id, code, create_token(s, user))
    return Region(site, site_token, simulated)
