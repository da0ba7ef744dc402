"""The interface's language: the user's own setting, else the browser's, else French (the
demo region's); Flask-Babel translates pages with the catalogues in web/translations."""

from __future__ import annotations

from flask import Flask, g, request
from flask_babel import Babel

LANGUAGES = ("fr", "en")
DEFAULT = "fr"


def select_locale() -> str:
    user = g.get("user")
    if user is not None and getattr(user, "language", None) in LANGUAGES:
        return str(user.language)
    return request.accept_languages.best_match(LANGUAGES) or DEFAULT


def init(app: Flask) -> None:
    Babel(app, locale_selector=select_locale, default_translation_directories="translations")
