"""The words of every SMS and voice prompt, one Jinja2 template per kind and language.

Callers name a kind and give its parameters; `render` picks the recipient's language
(`fr` or `en`, French when unknown) and returns one line of text. Templates live beside this
module as `<language>/<kind>.txt`; line breaks and runs of spaces in a template are folded
into single spaces, so a template can be written across lines.

Never pass patient identity, clinical text or an accession number: a case is named by its
number, its site, modality and priority.

`segments` counts what Twilio will bill: GSM-7 (160 septets, 153 per part when split, the
extension characters such as `€` counting twice) unless one character forces UCS-2 (70
characters, 67 per part). French accents outside GSM-7 (ê, ô, â, î, ç) force UCS-2; the
French templates avoid them where a word allows.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import gsm0338  # noqa: F401 - registers the "gsm03.38" codec
from jinja2 import Environment, FileSystemLoader, StrictUndefined

LANGUAGES = ("fr", "en")
DEFAULT_LANGUAGE = "fr"
HERE = Path(__file__).parent

_env = Environment(
    loader=FileSystemLoader(str(HERE)),
    undefined=StrictUndefined,
    autoescape=False,
    keep_trailing_newline=False,
)


def language_of(language: str | None) -> str:
    return language if language in LANGUAGES else DEFAULT_LANGUAGE


def kinds() -> list[str]:
    """Every kind there is a template for (in every language: a test checks both)."""
    return sorted({p.stem for lang in LANGUAGES for p in (HERE / lang).glob("*.txt")})


def render(kind: str, language: str | None, **params: Any) -> str:
    template = _env.get_template(f"{language_of(language)}/{kind}.txt")
    return re.sub(r"\s+", " ", template.render(**params)).strip()


def local_time(at: datetime, zone: str, day_of: datetime | None = None) -> str:
    """`at` as a clock reads in `zone`: "14:30" on the day of `day_of`, "30/11 14:30" on
    another day (or without `day_of`). Short, and the same in every language."""
    tz = ZoneInfo(zone)
    local = at.astimezone(tz)
    if day_of is not None and local.date() == day_of.astimezone(tz).date():
        return f"{local:%H:%M}"
    return f"{local:%d/%m %H:%M}"


@dataclass(frozen=True)
class Segments:
    encoding: str  # "GSM-7" or "UCS-2"
    units: int  # septets, or UTF-16 code units
    count: int  # SMS parts Twilio sends and bills


def segments(text: str) -> Segments:
    try:
        septets = len(text.encode("gsm03.38"))  # an extension character encodes as two
    except UnicodeEncodeError:
        units = len(text.encode("utf-16-le")) // 2
        return Segments("UCS-2", units, 1 if units <= 70 else math.ceil(units / 67))
    return Segments("GSM-7", septets, 1 if septets <= 160 else math.ceil(septets / 153))
