"""An AE title names one site: the gateway knows the site by it. Unique across sites, refused
by the registry with the field named, and moved from the old list by migration 0007."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import select, text

from garde.db import MIGRATIONS, SessionFactory, make_engine
from garde.errors import InvalidInput
from garde.models import Site, SiteAeTitle
from garde.registry import create_site, update_site
from tests.conftest import postgres_database
from tests.dicom.conftest import ae_title, new_site


def test_an_ae_title_of_one_site_is_refused_to_another(sessions: SessionFactory) -> None:
    taken, free = ae_title(), ae_title()
    with sessions.begin() as s:
        first = s.get_one(Site, new_site(s, taken))
        code = "dcm-" + secrets.token_hex(4)
        with pytest.raises(InvalidInput) as refused:
            create_site(s, {"code": code, "name": code, "ae_titles": [free, taken]})
        assert refused.value.fields == {
            "ae_titles": f"{taken} is already used by site {first.code}"
        }
        other = create_site(s, {"code": code, "name": code, "ae_titles": [free]})
        with pytest.raises(InvalidInput) as refused:
            update_site(other, {"ae_titles": [taken]})
        assert list(refused.value.fields) == ["ae_titles"]
        # A site keeps its own titles when it changes them, with their settings.
        s.scalars(select(SiteAeTitle).where(SiteAeTitle.ae_title == taken)).one().open_cases = True
        update_site(first, {"ae_titles": f"{taken}, {taken}X"})
        s.flush()
        assert first.ae_titles == [taken, f"{taken}X"]
        assert [(r.ae_title, r.open_cases, r.priority) for r in first.ae_title_rows] == [
            (taken, True, "urgent"),
            (f"{taken}X", False, "urgent"),
        ]
        assert other.ae_titles == [free]


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/old.db"
    else:
        yield from postgres_database()


def test_migration_0007_moves_each_listed_title_to_its_site(empty_database: str) -> None:
    """A title two sites listed stays with the first site made (it could not tell them
    apart); credentials and cases of the sites are untouched."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", empty_database.replace("%", "%%"))
    command.upgrade(config, "0006")
    engine = make_engine(empty_database)
    insert = text(
        "INSERT INTO sites (code, name, timezone, ae_titles, phone, prices, "
        "expert_share_percent, currency, service_levels, escalation, language, created_at) "
        "VALUES (:code, :code, 'Europe/Paris', :titles, '', '{}', 70, 'EUR', '{}', '{}', 'fr', "
        "'2026-01-01 00:00:00')"
    )
    with engine.begin() as c:
        for code, titles in [("A", ["CT1", "MR1"]), ("B", ["MR1", "US1"]), ("C", [])]:
            c.execute(insert, {"code": code, "titles": json.dumps(titles)})
        c.execute(
            text(
                "INSERT INTO experts (code, name, phone, subspecialties, modalities, "
                "max_concurrent, active, language, timezone, sms_enabled, "
                "sms_unreachable_reason, created_at) VALUES ('E', 'E', '+33600000000', '[]', "
                "'[]', 2, true, 'fr', 'Europe/Paris', true, '', '2026-01-01 00:00:00')"
            )
        )
        c.execute(
            text(
                "INSERT INTO expert_sites (expert_id, site_id) SELECT e.id, s.id "
                "FROM experts e, sites s"
            )
        )
    command.upgrade(config, "head")
    with engine.connect() as c:
        rows = c.execute(
            text(
                "SELECT s.code, t.ae_title, t.open_cases, t.priority FROM site_ae_titles t "
                "JOIN sites s ON s.id = t.site_id ORDER BY t.id"
            )
        ).all()
        credentials = c.scalar(text("SELECT count(*) FROM expert_sites"))
    engine.dispose()
    assert [tuple(r) for r in rows] == [
        ("A", "CT1", False, "urgent"),
        ("A", "MR1", False, "urgent"),
        ("B", "US1", False, "urgent"),
    ]
    assert credentials == 3
