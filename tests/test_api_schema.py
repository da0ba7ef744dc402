"""Issue 8: schemathesis runs every operation of the description the app serves, as every role,
with a bounded, reproducible set of generated requests: no answer is a 5xx, and every answer is
one the description documents (status code, content type, body schema).

Requests are generated valid and invalid against the description, and also aimed at things
that exist (a case, a site, an expert, a shift, a rotation, an absence, a login), where random
ids would only ever meet a 404. The operations are run one by one from the test, not by
`schema.parametrize()`: its lazy form, the only one for a schema served by a fixture, does not
run under pytest 9."""

from __future__ import annotations

import contextlib
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import hypothesis
import pytest
import requests
import schemathesis
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Err
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from garde.domain import Role
from tests.conftest import Region, Stack, add_login, make_region, on_sqlite_only
from tests.phones import mobile

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
ROLES = ("site", "expert", "coordinator", "admin")
# A role refused this many times from the first request on may not use the operation.
REFUSALS = 3
SETTINGS = hypothesis.settings(
    max_examples=10,
    deadline=None,
    derandomize=True,
    database=None,
    # A failing example is reported as found: shrinking it would cost many more requests.
    phases=[hypothesis.Phase.explicit, hypothesis.Phase.generate],
    suppress_health_check=list(hypothesis.HealthCheck),
)


@pytest.fixture(scope="module")
def own_region(stack: Stack) -> Iterator[Region]:
    """A region of its own: the generated requests create cases and rows in it, and change
    or delete what they find there."""
    on_sqlite_only(
        stack.env["GARDE_DATABASE_URL"],
        "the description is one; every answer of the other tests is checked against it on "
        "both databases, and what PostgreSQL refuses that SQLite takes (NUL, huge ids) is "
        "sent to every route on both by test_control_characters and test_bad_ids_and_bodies",
    )
    made = make_region(stack)
    yield made
    made.cancel_open_cases()


@pytest.fixture
def known(own_region: Region) -> dict[str, Any]:
    """A value that exists for each path parameter, made for each role's run, which may take,
    change or delete it: a case of the region's site (offered to alice), and a site and an
    expert of their own, with a shift, a rotation and an absence, and a spare login. The
    region's site and experts stay as made, so the next role's run finds them so too."""
    admin = own_region.stack.api(own_region.admin_token)
    tag = secrets.token_hex(3).upper()
    site, expert = f"FUZZ-{tag}", f"DR-FUZZ-{tag}"
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    later = tomorrow + timedelta(weeks=4)
    made = {}
    for path, body in (
        ("/sites", {"code": site, "name": f"CH {site}"}),
        (
            "/experts",
            {
                "code": expert,
                "name": "Dr Fuzz",
                "phone": mobile(),
                "modalities": ["CT"],
                "sites": [site],
            },
        ),
        (
            "/shifts",
            {
                "expert": expert,
                "start": tomorrow.isoformat(),
                "end": (tomorrow + timedelta(hours=8)).isoformat(),
            },
        ),
        (
            "/rotations",
            {
                "name": f"rotation-{tag}",
                "experts": [expert],
                "timezone": "Europe/Paris",
                "days": ["MO"],
                "start_time": "08:00",
                "end_time": "18:00",
                "from": later.date().isoformat(),
                "until": (later + timedelta(days=13)).date().isoformat(),
            },
        ),
        (
            "/unavailability",
            {
                "expert": expert,
                "start": later.isoformat(),
                "end": (later + timedelta(days=1)).isoformat(),
            },
        ),
    ):
        r = admin.post("/api/v1" + path, json=body)
        assert r.status_code == 201, r.text
        made[path] = r.json()
    with own_region.stack.sessions.begin() as s:
        spare = add_login(s, f"spare-{tag}", Role.EXPERT).username
    return {
        "case_id": own_region.submit()["id"],
        "site_code": site,
        "expert_code": expert,
        "shift_id": made["/shifts"]["id"],
        "rotation_id": made["/rotations"]["id"],
        "unavailability_id": made["/unavailability"]["id"],
        "username": spare,
    }


def _token(region: Region, role: str) -> str:
    return {
        "site": region.site_token,
        "expert": region.experts["alice"].token,
        "coordinator": region.coordinator_token,
        "admin": region.admin_token,
    }[role]


def _known_path(path: str, known: dict[str, Any]) -> dict[str, Any] | None:
    """The operation's path parameters set to things that exist; None when one has none."""
    values = {}
    for name in re.findall(r"{(\w+)}", path):
        if name == "code":
            name_known = "expert_code" if path.startswith("/experts") else "site_code"
        else:
            name_known = name
        if name_known not in known:
            return None
        values[name] = known[name_known]
    return values or None


class _Refused(Exception):
    """The role may not use the operation: it answers 403 whatever the request."""


def _fuzz(cases: st.SearchStrategy[schemathesis.Case], session: requests.Session, url: str) -> None:
    """Sends the generated requests; raises FailureGroup at the first answer that fails."""
    statuses: list[int] = []

    @SETTINGS
    @hypothesis.given(case=cases)
    def run(case: schemathesis.Case) -> None:
        response = case.call_and_validate(base_url=url, session=session, checks=CHECKS, timeout=30)
        statuses.append(response.status_code)
        # Refused from the first request on (a 401 is a token the generator spoiled): the
        # examples left would be refused too.
        if statuses.count(403) >= REFUSALS and set(statuses) <= {401, 403}:
            raise _Refused

    with contextlib.suppress(_Refused):
        run()


@pytest.mark.parametrize("role", ROLES)
def test_every_answer_is_documented(own_region: Region, known: dict[str, Any], role: str) -> None:
    stack = own_region.stack
    schema = schemathesis.openapi.from_url(stack.url + "/api/v1/openapi.json")
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {_token(own_region, role)}"
    failures: list[str] = []
    for result in schema.get_all_operations():
        if isinstance(result, Err):
            failures.append(f"the description: {result.err()}")
            continue
        operation = result.ok()
        strategies = [
            operation.as_strategy(GenerationMode.POSITIVE),
            operation.as_strategy(GenerationMode.NEGATIVE),
        ]
        existing = _known_path(operation.path, known)
        if existing:
            strategies.append(operation.as_strategy(path_parameters=existing))
        try:
            _fuzz(st.one_of(strategies), session, stack.url + "/api/v1")
        except FailureGroup as e:
            failures.append(f"{operation.label}: {e}")
    assert not failures, "\n\n".join(failures)
