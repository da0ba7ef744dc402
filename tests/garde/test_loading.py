"""What loading a case or a list of sites asks the database, on both databases: a case's site
comes without what its routing and answers never read, and a list of sites shows each one's
AE titles and prices in the same statements whatever the number of sites."""

from __future__ import annotations

import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.db import SessionFactory
from garde.domain import CaseStatus
from garde.models import Case, Site
from garde.registry import WITH_TITLES_AND_TARIFFS, create_site
from tests.phones import mobile
from tests.rosters.test_eligibility import add_case
from tests.statements import statements


def add_site(s: Session, titles: int) -> Site:
    tag = secrets.token_hex(3).upper()
    return create_site(
        s,
        {
            "code": "CH-" + tag,
            "name": "CH " + tag,
            "timezone": "Europe/Paris",
            "phone": mobile(),
            "ae_titles": [f"CT{tag}{n}" for n in range(titles)],
            "prices": {"CT": 9000},
        },
    )


def test_a_case_loads_its_site_without_the_sites_ae_titles(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        case_id = add_case(s, add_site(s, titles=2), None, CaseStatus.OFFERED, None).id
    with sessions() as s, statements(s.get_bind()) as seen:
        assert s.get_one(Case, case_id).site.name.startswith("CH ")
    assert len(seen) == 1, seen
    assert "site_ae_titles" not in seen[0]


def test_a_list_of_sites_shows_their_titles_and_prices_in_three_statements(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        codes = [add_site(s, titles=3).code for _ in range(4)]

    def shown(count: int) -> int:
        with sessions() as s, statements(s.get_bind()) as seen:
            found = s.scalars(
                select(Site).options(*WITH_TITLES_AND_TARIFFS).where(Site.code.in_(codes[:count]))
            ).all()
            rows = [(site.ae_titles, site.prices) for site in found]
        assert [len(titles) for titles, _ in rows] == [3] * count
        assert all(prices == {"CT": 9000} for _, prices in rows)
        return len(seen)

    assert shown(1) == shown(4) == 3
