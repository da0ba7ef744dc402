"""The worklist's question, which open cases may this expert take now, answered with routing's
conditions and without a query per case (issue 8, defect 11), on both databases."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from datetime import date, datetime, timedelta

import pytest
from sqlalchemy import select

from garde import vocabulary
from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.domain import CaseStatus
from garde.models import Case, Credential, Expert, Site, Unavailability
from rosters.eligibility import on_duty_experts, takeable_cases
from tests.conftest import postgres_database
from tests.rosters.test_eligibility import (
    MARTINIQUE,
    NOON,
    PARIS,
    REUNION,
    add_case,
    add_expert,
    add_shift,
    add_site,
    utc,
)
from tests.statements import statements


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def sessions(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SessionFactory]:
    """A database of this module's own: on the suite's shared one, the running stack's worker
    starts a workflow for any open case it finds without one, and these cases are rows for
    the query alone (a workflow's writes would change the answers under the test)."""
    if request.param == "sqlite":
        urls: Iterator[str] = iter(
            [f"sqlite:///{tmp_path_factory.mktemp('takeable') / 'garde.db'}"]
        )
    else:
        urls = postgres_database()
    for url in urls:
        upgrade(url)
        engine = make_engine(url)
        yield make_session_factory(engine)
        engine.dispose()


def kind(case: Case, modality: str, subspecialty: str | None) -> Case:
    case.modality, case.subspecialty = modality, subspecialty
    return case


def routing_says(
    sessions: SessionFactory, expert: Expert, sites: list[Site], at: datetime
) -> list[int]:
    """The open unassigned cases of these sites whose routing would rank this expert."""
    with sessions() as s:
        cases = s.scalars(
            select(Case).where(
                Case.assigned_expert_id.is_(None), Case.site_id.in_([x.id for x in sites])
            )
        ).all()
        return sorted(
            c.id
            for c in cases
            if CaseStatus(c.status) in (CaseStatus.REQUESTED, CaseStatus.OFFERED)
            and any(
                candidate.expert_id == expert.id
                for candidate in on_duty_experts(
                    s, site_id=c.site_id, modality=c.modality, at=at, subspecialty=c.subspecialty
                )
            )
        )


def takeable(sessions: SessionFactory, expert: Expert, at: datetime) -> list[int]:
    with sessions() as s:
        return takeable_cases(s, expert.id, at)


def test_the_cases_an_expert_may_take_are_those_routing_would_offer_them(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        here, elsewhere = add_site(s), add_site(s)
        expert = add_expert(s, here, modalities=("CT", "MR"), subspecialties=("neuro",))
        add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
        yes = [
            kind(add_case(s, here, None, CaseStatus.REQUESTED, None), "CT", None),
            kind(add_case(s, here, None, CaseStatus.OFFERED, None), "MR", "neuro"),
        ]
        for status, modality, subspecialty in (
            (CaseStatus.REQUESTED, "US", None),  # a modality they do not read
            (CaseStatus.REQUESTED, "CT", "chest"),  # a subspecialty they do not read
            (CaseStatus.FINAL, "CT", None),  # closed
            (CaseStatus.CANCELLED, "CT", None),
        ):
            kind(add_case(s, here, None, status, None), modality, subspecialty)
        kind(add_case(s, elsewhere, None, CaseStatus.REQUESTED, None), "CT", None)
        other = add_expert(s, here)
        add_case(s, here, other, CaseStatus.ACCEPTED, NOON)  # held by someone
        case_ids = [c.id for c in yes]
    assert takeable(sessions, expert, NOON) == case_ids
    assert routing_says(sessions, expert, [here, elsewhere], NOON) == case_ids
    # Off shift, on leave, or at the concurrent-case limit: nothing to take.
    assert takeable(sessions, expert, utc(2026, 5, 12, 20)) == []
    with sessions.begin() as s:
        s.add(Unavailability(expert_id=expert.id, start=NOON, end=NOON + timedelta(hours=1)))
    assert takeable(sessions, expert, NOON) == []
    assert takeable(sessions, expert, NOON + timedelta(hours=1)) == case_ids
    with sessions.begin() as s:
        for _ in range(2):
            add_case(s, here, s.get_one(Expert, expert.id), CaseStatus.ACCEPTED, NOON)
    assert takeable(sessions, expert, NOON + timedelta(hours=1)) == []


def test_credentials_count_on_each_site_local_date(sessions: SessionFactory) -> None:
    """One statement for sites in three zones, each credential read on its own site's date."""
    with sessions.begin() as s:
        sites = {zone: add_site(s, zone) for zone in (PARIS, REUNION, MARTINIQUE)}
        expert = add_expert(s, None)
        for site in sites.values():
            s.add(Credential(expert_id=expert.id, site_id=site.id, valid_until=date(2026, 6, 30)))
        add_shift(s, expert, utc(2026, 6, 30, 12), utc(2026, 7, 1, 12))
        cases = {
            z: add_case(s, site, None, CaseStatus.REQUESTED, None).id for z, site in sites.items()
        }
    for at in (
        utc(2026, 6, 30, 19, 30),
        utc(2026, 6, 30, 20, 30),
        utc(2026, 6, 30, 22, 30),
        utc(2026, 7, 1, 3, 30),
        utc(2026, 7, 1, 4, 30),
    ):
        reference = routing_says(sessions, expert, list(sites.values()), at)
        assert takeable(sessions, expert, at) == reference, at
    # 23:30 in Réunion is 30 June there; 00:30 is 1 July: past the credential.
    assert cases[REUNION] in takeable(sessions, expert, utc(2026, 6, 30, 19, 30))
    assert cases[REUNION] not in takeable(sessions, expert, utc(2026, 6, 30, 20, 30))
    assert cases[MARTINIQUE] in takeable(sessions, expert, utc(2026, 7, 1, 3, 30))
    assert cases[MARTINIQUE] not in takeable(sessions, expert, utc(2026, 7, 1, 4, 30))


def test_the_number_of_statements_does_not_grow_with_the_cases(
    sessions: SessionFactory,
) -> None:
    """5 cases of one kind, then 200 of every kind on several sites: the same statements."""
    kinds = list(itertools.product(vocabulary.MODALITIES, (None, *vocabulary.SUBSPECIALTIES)))
    with sessions.begin() as s:
        sites = [add_site(s, zone) for zone in (PARIS, PARIS, REUNION, MARTINIQUE)]
        expert = add_expert(
            s, None, modalities=vocabulary.MODALITIES, subspecialties=vocabulary.SUBSPECIALTIES
        )
        for site in sites:
            s.add(Credential(expert_id=expert.id, site_id=site.id))
        add_shift(s, expert, utc(2027, 5, 12, 8), utc(2027, 5, 12, 20))
        for _ in range(5):
            add_case(s, sites[0], None, CaseStatus.REQUESTED, None)
    at = utc(2027, 5, 12, 10)

    def counted() -> tuple[int, int]:
        with sessions() as s, statements(s.get_bind()) as seen:
            found = takeable_cases(s, expert.id, at)
        return len(found), len(seen)

    few, few_statements = counted()
    with sessions.begin() as s:
        for n in range(195):
            site: Site = sites[n % len(sites)]
            modality, subspecialty = kinds[n % len(kinds)]
            kind(add_case(s, site, None, CaseStatus.OFFERED, None), modality, subspecialty)
    many, many_statements = counted()
    assert (few, many) == (5, 200)
    assert few_statements == many_statements == 2
