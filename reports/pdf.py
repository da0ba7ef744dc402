"""A report sheet as PDF (fpdf2), drawn in DejaVu Sans, vendored in reports/fonts with its
licence: Latin (œ, é, ß), Greek, Cyrillic, Hebrew and Arabic letters are drawn and come back
as text (`pdftotext`). A character the font lacks (CJK ideographs) is drawn as U+FFFD, the
replacement character, rather than silently left out: a reader sees that something is
missing, and asks for the HTML or the FHIR text, which keep it.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from fontTools.ttLib import TTFont
from fpdf import FPDF
from fpdf.enums import XPos, YPos

from garde.validation import CONTROL
from reports.sheet import ReportSheet

FONTS = Path(__file__).parent / "fonts"
_FAMILY = "DejaVu"
_FILES = {"": FONTS / "DejaVuSans.ttf", "B": FONTS / "DejaVuSans-Bold.ttf"}
REPLACEMENT = "\ufffd"


def sheet_pdf(sheet: ReportSheet) -> bytes:
    """The PDF of a prepared sheet: the site's, or a share link's (web/share_pages.py), which
    may leave out what ties the report to the patient's record."""
    pdf = FPDF(format="A4")
    for style, path in _FILES.items():
        pdf.add_font(_FAMILY, style=style, fname=str(path))
    pdf.set_lang(sheet.language)
    pdf.set_title(f"{sheet.title} - {sheet.case_line().rstrip('.')}")
    pdf.set_author(drawable(sheet.expert_name))
    pdf.set_creator("Garde")
    pdf.set_creation_date(sheet.signed_at)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    width = pdf.epw

    def line(text: str, *, size: float = 10, style: str = "", height: float = 5) -> None:
        pdf.set_font(_FAMILY, style=style, size=size)
        pdf.multi_cell(width, height, drawable(text), new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    line(sheet.site_name, size=11, style="B")
    line(sheet.title, size=16, style="B", height=9)
    pdf.ln(2)
    if sheet.banner is not None:
        urgent = sheet.banner.urgent
        pdf.set_fill_color(*((180, 35, 24) if urgent else (181, 71, 8)))
        pdf.set_text_color(255, 255, 255)
        pdf.set_font(_FAMILY, style="B", size=11)
        words = [w for w in (sheet.banner.category, sheet.banner.note) if w]
        pdf.multi_cell(
            width,
            7,
            drawable("\n".join(words)),
            fill=True,
            align="C",
            new_x=XPos.LMARGIN,
            new_y=YPos.NEXT,
        )
        pdf.set_text_color(0, 0, 0)
        pdf.ln(2)
    for label, value in sheet.study_rows():
        pdf.set_font(_FAMILY, style="B", size=10)
        pdf.cell(45, 6, drawable(label))
        pdf.set_font(_FAMILY, size=10)
        pdf.multi_cell(width - 45, 6, drawable(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    for section in sheet.sections:
        pdf.ln(3)
        # A heading never ends a page alone: it starts the next one with its text.
        if pdf.will_page_break(7 + 10):
            pdf.add_page()
        line(section.title, size=12, style="B", height=7)
        line(section.text, style="B" if section.emphasis else "")
    if sheet.discrepancy:
        pdf.ln(3)
        line(sheet.discrepancy, style="B")
    pdf.ln(6)
    if pdf.will_page_break(30):
        pdf.add_page()
    line(sheet.signature(), size=9)
    line(sheet.version_line(), size=8)
    line(sheet.check(), size=8, style="" if sheet.verified else "B")
    if sheet.acknowledgement:
        line(sheet.acknowledgement, size=9)
    line(sheet.case_line(), size=8)
    return bytes(pdf.output())


def drawable(text: str) -> str:
    """`text` as the font can draw it: every line break a LF, a character the font lacks
    U+FFFD, control characters (but tab) gone."""
    known = _glyphs()
    lines = "\n".join(text.splitlines())
    return "".join(
        c if ord(c) in known or c in "\n\t" else REPLACEMENT for c in CONTROL.sub("", lines)
    )


@cache
def _glyphs() -> frozenset[int]:
    """The characters both the regular and the bold font draw."""
    maps = [set(TTFont(path).getBestCmap()) for path in _FILES.values()]
    return frozenset(set.intersection(*maps))
