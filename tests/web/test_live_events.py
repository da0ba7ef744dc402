"""Live pages: `/events` streams a change to the people who may see it, over the real
waitress of `garde web`, with numbers only; the pages load live.js and count down."""

from __future__ import annotations

import time
from collections.abc import Iterator

import requests

from tests.conftest import Region
from tests.web.test_pages import Browser, coordinator


def changes(response: requests.Response) -> Iterator[tuple[str, str]]:
    """The stream's (event, data) pairs as they arrive; everything read lands in `.seen`."""
    buffer = ""
    for chunk in response.iter_content(chunk_size=None, decode_unicode=True):
        buffer += chunk
        response.seen += chunk  # type: ignore[attr-defined]
        while "\n\n" in buffer:
            block, buffer = buffer.split("\n\n", 1)
            fields = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line)
            if "event" in fields:
                yield fields["event"], fields.get("data", "")


def open_stream(browser: Browser) -> tuple[requests.Response, Iterator[tuple[str, str]]]:
    response = browser.http.get(browser.base + "/events", stream=True, timeout=(5, 10))
    assert response.status_code == 200, response.text
    assert response.headers["Content-Type"].startswith("text/event-stream")
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Accel-Buffering"] == "no"
    response.seen = ""  # type: ignore[attr-defined]
    events = changes(response)
    return response, events


def next_change(events: Iterator[tuple[str, str]], after: str, within: float = 8) -> str:
    """The first version other than `after` that the stream sends within `within` seconds."""
    deadline = time.monotonic() + within
    for event, data in events:
        if event == "change" and data != after:
            return data
        assert time.monotonic() < deadline, "no change event in time"
    raise AssertionError("the stream ended")


def test_pages_hear_of_a_new_case_and_of_an_offer_live(region: Region) -> None:
    stack = region.stack
    anonymous = requests.get(stack.url + "/events", allow_redirects=False, timeout=10)
    assert anonymous.status_code in (401, 302)

    coord = coordinator(stack)
    alice = Browser(stack).login(region.experts["alice"].username)
    coord_stream, coord_events = open_stream(coord)
    alice_stream, alice_events = open_stream(alice)
    try:
        # Each stream opens with the version the page starts from.
        coord_first = next_change(coord_events, after="")
        alice_first = next_change(alice_events, after="")
        case = region.submit()
        next_change(coord_events, after=coord_first)
        region.offer_sms("alice")
        next_change(alice_events, after=alice_first)
    finally:
        coord_stream.close()
        alice_stream.close()
    read = coord_stream.seen + alice_stream.seen  # type: ignore[attr-defined]
    assert read.startswith("retry: ")
    assert case["accession_number"] not in read
    assert "anticoagulants" not in read

    site = Browser(stack).login(region.site_username)
    pages = {
        "board": coord.get("/coordinator/").text,
        "coordinator case": coord.get(f"/coordinator/cases/{case['id']}").text,
        "worklist": alice.get("/expert/").text,
        "expert case": alice.get(f"/expert/cases/{case['id']}").text,
        "site case": site.get(f"/site/cases/{case['id']}").text,
    }
    for name, page in pages.items():
        assert "js/live.js" in page, name
        assert "case_live.js" not in page and "auto_refresh.js" not in page, name
        assert "data-countdown" in page, name
    assert 'id="offer-alerts"' in pages["worklist"]
    assert 'data-offer="' in pages["worklist"]
