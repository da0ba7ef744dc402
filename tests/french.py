"""Reasons the domain gives in English, read as a French page shows them (web/reasons.py)."""

from __future__ import annotations

import re

from flask import Flask

from web import i18n
from web.reasons import translated

# English words that must not be left in a translated reason (column names, like `start`, and
# iCalendar's own words may be).
ENGLISH = re.compile(
    r"\b(shift|swap|override|must|only|has|have|is|not|the|of|line|event|file|overlaps|cannot|"
    r"needs|exist|happens|repeats|ends|before)\b"
)


def in_french(reasons: list[str]) -> list[str]:
    """Each reason as `web/reasons.py` gives it to a French reader."""
    app = Flask("web")  # its translations, as the web app reads them
    i18n.init(app)
    with app.test_request_context(headers={"Accept-Language": "fr"}):
        return [translated(reason) for reason in reasons]
