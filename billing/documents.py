"""Billing documents (invoices, credit notes, expert statements) as PDF and CSV: a title, the
parties and references, a table of lines and the totals. The PDF is drawn in DejaVu Sans, the
font the reports vendor (reports/fonts), so accented names come back as text through
`pdftotext`; the CSV is the same table, read back by the `csv` module."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from reports.pdf import FONTS, drawable

_FAMILY = "DejaVu"


@dataclass(frozen=True)
class Column:
    title: str
    width: float  # millimetres
    numeric: bool = False


@dataclass(frozen=True)
class Document:
    """What a billing document says, already in the reader's language and formatted."""

    title: str
    language: str
    issued_at: datetime
    heading: Sequence[tuple[str, str]]  # label, value: number, site, month, references
    columns: Sequence[Column]
    rows: Sequence[Sequence[str]]
    totals: Sequence[tuple[str, str]]  # label, value
    notes: Sequence[str] = field(default_factory=tuple)


def document_pdf(doc: Document) -> bytes:
    # The fonts are added to each document: a copy of one FPDF holding them would share its
    # fontTools fonts (fpdf's TTFFont.__deepcopy__), which the first output subsets in place,
    # so that the next document lacks its glyphs.
    pdf = FPDF(format="A4")
    pdf.add_font(_FAMILY, style="", fname=str(FONTS / "DejaVuSans.ttf"))
    pdf.add_font(_FAMILY, style="B", fname=str(FONTS / "DejaVuSans-Bold.ttf"))
    pdf.set_lang(doc.language)
    pdf.set_title(drawable(doc.title))
    pdf.set_creator("Garde")
    pdf.set_creation_date(doc.issued_at)
    pdf.set_auto_page_break(auto=True, margin=15)
    pdf.add_page()
    pdf.set_font(_FAMILY, style="B", size=16)
    pdf.multi_cell(pdf.epw, 9, drawable(doc.title), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(2)
    for label, value in doc.heading:
        pdf.set_font(_FAMILY, style="B", size=10)
        pdf.cell(45, 6, drawable(label))
        pdf.set_font(_FAMILY, size=10)
        pdf.multi_cell(pdf.epw - 45, 6, drawable(value), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    pdf.ln(4)
    scale = pdf.epw / sum(c.width for c in doc.columns)

    def row(cells: Sequence[str], bold: bool = False) -> None:
        pdf.set_font(_FAMILY, style="B" if bold else "", size=8)
        if pdf.will_page_break(6):
            pdf.add_page()
        for column, text in zip(doc.columns, cells, strict=True):
            pdf.cell(
                column.width * scale,
                6,
                drawable(text),
                border="B",
                align="R" if column.numeric else "L",
            )
        pdf.ln(6)

    row([c.title for c in doc.columns], bold=True)
    for cells in doc.rows:
        row(cells)
    pdf.ln(4)
    for label, value in doc.totals:
        pdf.set_font(_FAMILY, style="B", size=10)
        pdf.cell(pdf.epw - 45, 6, drawable(label), align="R")
        pdf.cell(45, 6, drawable(value), align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    if doc.notes:
        pdf.ln(4)
        pdf.set_font(_FAMILY, size=8)
        for note in doc.notes:
            pdf.multi_cell(pdf.epw, 5, drawable(note), new_x=XPos.LMARGIN, new_y=YPos.NEXT)
    return bytes(pdf.output())


def document_csv(doc: Document) -> str:
    """The table alone, a header row then a row per line: what a spreadsheet imports."""
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow([c.title for c in doc.columns])
    writer.writerows(doc.rows)
    return out.getvalue()
