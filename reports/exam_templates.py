"""The exam templates a report starts from: per exam, in French and English, the four sections
(technique, findings, impression, recommendations) prefilled with the usual wording of a
normal study, which the radiologist then edits.

Each template is one Jinja2 file per language, `exam_templates/<name>.<language>.j2`, with
one block per section; a block may use the case (`case.study_description`, `case.body_part`).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jinja2 import Environment, FileSystemLoader, StrictUndefined

SECTIONS = ("technique", "findings", "impression", "recommendations")
LANGUAGES = ("fr", "en")


@dataclass(frozen=True)
class ExamTemplate:
    """An exam's template and what makes it fit a case: its modalities, the regions its body
    part or study description names, and the words (in the description or the clinical
    question) that single it out among the templates of one region."""

    name: str
    titles: dict[str, str]
    modalities: tuple[str, ...]
    regions: tuple[str, ...] = ()
    words: tuple[str, ...] = ()

    def title(self, language: str) -> str:
        return self.titles.get(language, self.titles["en"])


HEAD = ("head", "brain", "skull", "crane", "cerebral", "cerveau", "encephal", "tete", "cranio")
STROKE = ("stroke", "avc", "deficit", "hemipleg", "aphasi", "thromboly", "thrombectom", "ischem")
CATALOGUE = (
    ExamTemplate(
        "ct_head_trauma",
        {"fr": "TDM cérébrale — traumatisme", "en": "CT head — trauma"},
        ("CT",),
        HEAD,
        ("trauma", "chute", "fall", "tc", "tcc", "choc", "injur", "agress", "avp"),
    ),
    ExamTemplate(
        "ct_head_stroke",
        {"fr": "TDM cérébrale — AVC", "en": "CT head — stroke"},
        ("CT",),
        HEAD,
        STROKE,
    ),
    ExamTemplate(
        "ct_angio_pe",
        {"fr": "Angioscanner thoracique — embolie pulmonaire", "en": "CT pulmonary angiography"},
        ("CT",),
        ("chest", "thora", "pulmon", "poumon", "lung"),
        ("embol", "ep", "pe", "ctpa"),
    ),
    ExamTemplate(
        "ct_angio_aorta",
        {"fr": "Angioscanner de l'aorte", "en": "CT angiography — aorta"},
        ("CT",),
        ("aort",),
        ("dissect", "anevrism", "aneurysm", "aort"),
    ),
    ExamTemplate(
        "ct_abdomen_pelvis",
        {"fr": "TDM abdomino-pelvienne", "en": "CT abdomen and pelvis"},
        ("CT",),
        ("abdo", "pelv", "abdomen"),
    ),
    ExamTemplate(
        "ct_spine",
        {"fr": "TDM du rachis", "en": "CT spine"},
        ("CT",),
        ("spine", "rachi", "cervical", "lomba", "lumbar", "dorsal", "vertebr", "spinal"),
    ),
    ExamTemplate(
        "mr_brain_stroke",
        {"fr": "IRM cérébrale — AVC", "en": "MR brain — stroke"},
        ("MR",),
        HEAD,
        STROKE,
    ),
    ExamTemplate(
        "radiograph",
        {"fr": "Radiographie", "en": "Radiograph"},
        ("CR", "DX"),
    ),
)
BY_NAME = {t.name: t for t in CATALOGUE}
NAMES = tuple(BY_NAME)

_env = Environment(
    loader=FileSystemLoader(Path(__file__).with_name("exam_templates")),
    undefined=StrictUndefined,
    autoescape=False,  # plain text for a textarea; the page escapes it where it shows it
    keep_trailing_newline=False,
)


def render(name: str, language: str, case: Any) -> dict[str, str]:
    """The four sections of template `name` in `language` ("fr" or "en"), for `case`."""
    template = _env.get_template(f"{name}.{language}.j2")
    context = template.new_context({"case": case})
    return {section: "".join(template.blocks[section](context)).strip() for section in SECTIONS}


def suggest(modality: str, *texts: str) -> ExamTemplate | None:
    """The template that fits a case best: its modality, a region its texts name (body part,
    study description, clinical question), and the words that single an exam out; None when
    no template is for this modality and region."""
    words = _words(" ".join(texts))
    best: tuple[int, ExamTemplate] | None = None
    for template in CATALOGUE:
        if modality.upper() not in template.modalities:
            continue
        region = not template.regions or _names(words, template.regions)
        if not region:
            continue
        score = 1 + 2 * _names(words, template.words)
        if best is None or score > best[0]:
            best = (score, template)
    return best[1] if best else None


def _words(text: str) -> list[str]:
    plain = unicodedata.normalize("NFKD", text.lower()).encode("ascii", "ignore").decode()
    return re.findall(r"[a-z0-9]+", plain)


def _names(words: list[str], stems: tuple[str, ...]) -> bool:
    """A short stem (an abbreviation: EP, TC) names a word only whole; a longer one, its start."""
    return any(w == s or (len(s) > 3 and w.startswith(s)) for w in words for s in stems)
