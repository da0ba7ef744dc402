"""Measures of a page's boxes in the browser, for what a reader trips on: a text cut off by its
box, or two boxes drawn over each other."""

from __future__ import annotations

from playwright.sync_api import Locator

# Boxes are measured in fractions of a pixel; half of one is no visible difference.
SLACK = 0.5


def inside(inner: Locator, outer: Locator) -> bool:
    """`inner` is drawn wholly within `outer`'s box (for a scrolled region: the part in view)."""
    a, b = inner.bounding_box(), outer.bounding_box()
    assert a is not None and b is not None, "a box is not drawn"
    return (
        a["x"] >= b["x"] - SLACK
        and a["y"] >= b["y"] - SLACK
        and a["x"] + a["width"] <= b["x"] + b["width"] + SLACK
        and a["y"] + a["height"] <= b["y"] + b["height"] + SLACK
    )


def lines(inlines: Locator) -> list[tuple[str, int]]:
    """Each inline element's text and how many lines it is broken into. Read in one go: the
    page may swap its <main> meanwhile (live.js), and an element read after it was swapped
    out has no line at all."""
    found = inlines.evaluate_all("els => els.map(e => [e.textContent, e.getClientRects().length])")
    return [(str(text), int(count)) for text, count in found]


def overrun_labels(cards: Locator) -> list[str]:
    """The cells of a table shown as cards whose label (drawn by `td::before`) is taller than
    the cell: it runs over the next one. Their labels, to say which."""
    return list(
        cards.evaluate(
            """t => [...t.querySelectorAll("td[data-label]")].filter(td => {
                 const label = parseFloat(getComputedStyle(td, "::before").height);
                 return label + parseFloat(getComputedStyle(td).paddingTop) > td.clientHeight + 0.5;
               }).map(td => td.dataset.label)"""
        )
    )


def cells_out_of_row(row: Locator) -> list[str]:
    """The cells of a table row not drawn to the row's full height: their borders step out of
    line with the others'. Their labels (or classes), to say which."""
    return list(
        row.evaluate(
            """tr => {
                 const r = tr.getBoundingClientRect();
                 return [...tr.children].filter(td => {
                   const c = td.getBoundingClientRect();
                   return Math.abs(c.top - r.top) > 0.25 || Math.abs(c.bottom - r.bottom) > 0.25;
                 }).map(td => td.dataset.label || td.className || td.tagName);
               }"""
        )
    )
