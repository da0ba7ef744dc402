"""The interface's language: the user's own choice, else the one made before logging in (kept
in the session), else the browser's, else English (what a script or a test that says nothing
gets); the header's switch records a choice. Flask-Babel translates pages with the catalogues
in web/translations; the JSON API stays English, it is read by machines.

After changing a text, refresh the catalogue, translate what is new, and compile (the .mo is
committed, a test checks it matches the .po):

    pybabel extract -F babel.cfg -k lazy_gettext -k lazy_pgettext:1c,2 --no-location \
        --sort-output --omit-header -w 100 -o web/translations/messages.pot .
    pybabel update -w 100 --no-fuzzy-matching -i web/translations/messages.pot -d web/translations
    pybabel compile -d web/translations
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Flask, g, redirect, request, session, url_for
from flask_babel import Babel, get_locale
from werkzeug.wrappers.response import Response

from garde.errors import InvalidInput
from web.reasons import translated
from web.safe_redirect import local_path

LANGUAGES = ("fr", "en")
DEFAULT = "en"
# The language chosen on a page before logging in; login and logout keep it.
SESSION_KEY = "language"
# What the switch shows for each language, in that language.
NAMES = {"fr": "Français", "en": "English"}

bp = Blueprint("language", __name__)


def select_locale() -> str:
    user = g.get("user")
    for chosen in (getattr(user, "language", None), session.get(SESSION_KEY)):
        if chosen in LANGUAGES:
            return str(chosen)
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def clear_session() -> None:
    """Forget who is logged in, not the language chosen on this browser."""
    chosen = session.get(SESSION_KEY)
    session.clear()
    if chosen in LANGUAGES:
        session[SESSION_KEY] = chosen


@bp.post("/language")
def switch() -> Response:
    """The header's switch: the choice is the user's from now on (and this browser's), and
    the page they were on comes back in it."""
    chosen = request.form.get("language", "")
    if chosen not in LANGUAGES:
        raise InvalidInput({"language": "must be fr or en"})
    session[SESSION_KEY] = chosen
    user = g.get("user")
    if user is not None:
        user.language = chosen
        g.db.commit()
    return redirect(local_path(request.form.get("next", "")) or url_for("auth.home"))


def _layout_globals() -> dict[str, Any]:
    """The page's language for `<html lang>`, and the other one the switch offers."""
    current = str(get_locale() or DEFAULT)
    others = [(code, NAMES[code]) for code in LANGUAGES if code != current]
    return {"page_language": current, "other_languages": others}


def init(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
    app.register_blueprint(bp)
    app.context_processor(_layout_globals)
    app.add_template_filter(translated, "reason")
