"""The time-skipping tests run on databases of their own.

The suite's shared stack runs a worker whose reconciler starts any case without a workflow;
on a shared database it would start these tests' cases on the other Temporal server too.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.conftest import postgres_database


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('workflows') / 'garde.db'}"
    else:
        yield from postgres_database()
