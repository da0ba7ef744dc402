"""The password policy, checked wherever a password is set: long enough, not a common
password, not the username.

The common passwords are the 20,000 of Royce Williams' list
(https://gist.github.com/roycewilliams/226886fd01572964e1431ac8afc999ce), lowercased, as
Django 5.2.8 ships it (django/contrib/auth/common-passwords.txt.gz, BSD licence), unchanged.
"""

from __future__ import annotations

import functools
import gzip
from importlib.resources import files

MIN_LENGTH = 12


def password_problem(password: str, username: str) -> str | None:
    """Why this password may not be set for this user, or None if it may."""
    if len(password) < MIN_LENGTH:
        return f"must be at least {MIN_LENGTH} characters"
    if password.strip().lower() in _common_passwords():
        return "is one of the most common passwords; choose another"
    if password.strip().lower() == username.strip().lower():
        return "must not be the username"
    return None


@functools.cache
def _common_passwords() -> frozenset[str]:
    data = files("garde").joinpath("data/common-passwords.txt.gz").read_bytes()
    return frozenset(gzip.decompress(data).decode().split("\n")) - {""}
