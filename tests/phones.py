"""Expert phones that never collide within a test run.

Every expert's phone is unique in the database, and a run creates thousands of experts
across its xdist workers on one database: seven random digits met a phone already taken
about once a run (the birthday bound), failing a test that had nothing to do with phones.
A counter per worker, with the worker's number in the leading digits, cannot collide; a test
that gives an expert a new phone takes it from here too (a neighbour of a phone made here is
the next one made).
"""

import itertools
import os
import secrets

_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw99").removeprefix("gw") or 99) % 100
_COUNTER = itertools.count(secrets.randbelow(50_000))


def mobile() -> str:
    """A valid French mobile (06 1x; the API refuses 06 0x), unique in this run."""
    return f"+3361{_WORKER:02d}{next(_COUNTER) % 100_000:05d}"
