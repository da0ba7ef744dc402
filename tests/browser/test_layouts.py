"""What a reader trips on when a page's boxes do not fit (issue 8), measured in the browser: the
roster grid on a phone (scrolls sideways by keyboard, names stay, bars and the coverage sentence
read whole) and its coverage row, red only for a gap. The journeys measure the rest on the pages
they reach: the admin's login cards, the countdown, the report's formats.

The weeks shown are fixed, far from today, so that what is drawn does not hang on the hour the
test runs at."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Locator, expect

from garde.domain import Role
from tests.browser.layout import cells_out_of_row, inside
from tests.browser.visit import Visit
from tests.conftest import Region, Stack, add_login, make_region

pytestmark = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)

PARIS = ZoneInfo("Europe/Paris")
COVERED = datetime(2027, 9, 6, tzinfo=PARIS)  # a Monday; alice is primary all week
# Only day shifts of 12 hours: Wednesday's on the hour, Thursday's on the half hour.
GAPPED = COVERED + timedelta(days=7)
DANGER = "rgb(180, 35, 24)"


@pytest.fixture(scope="module")
def roster(stack: Stack) -> Iterator[tuple[Region, str]]:
    region = make_region(stack, on_duty=())
    api = stack.api(region.coordinator_token)
    alice, bruno = region.experts["alice"].code, region.experts["bruno"].code
    # A shift lasts at most 48 hours: four of 42 cover the week.
    week = [(COVERED + timedelta(hours=42 * i), alice, "primary") for i in range(4)]
    wednesday = (GAPPED + timedelta(days=2)).replace(hour=8)
    thursday = (GAPPED + timedelta(days=3)).replace(hour=7, minute=30)
    for start, expert, tier, hours in [(s, e, t, 42) for s, e, t in week] + [
        (wednesday, alice, "primary", 12),
        (wednesday, bruno, "backup", 12),
        (thursday, alice, "primary", 12),
        (thursday, bruno, "backup", 12),
    ]:
        r = api.post(
            "/api/v1/shifts",
            json={
                "expert": expert,
                "start": start.isoformat(),
                "end": (start + timedelta(hours=hours)).isoformat(),
                "tier": tier,
            },
        )
        assert r.status_code == 201, r.text
    coordinator = "layout-coord-" + region.site.lower()
    with stack.sessions.begin() as s:
        add_login(s, coordinator, Role.COORDINATOR)
    yield region, coordinator


def open_week(visit: Visit, region: Region, monday: datetime) -> Locator:
    visit.page.goto(f"/coordinator/roster?start={monday.date().isoformat()}&site={region.site}")
    grid = visit.page.get_by_role("region", name=visit._("Roster grid"))
    expect(grid).to_be_visible()
    return grid


def coverage_label(grid: Locator, visit: Visit) -> Locator:
    return grid.locator(".roster-row .who b").filter(has_text=visit._("Coverage"))


def test_the_coverage_row_is_red_only_for_a_gap(visit: Visit, roster: tuple[Region, str]) -> None:
    region, coordinator = roster
    _ = visit._
    visit.login(coordinator)
    grid = open_week(visit, region, COVERED)
    sentence = grid.get_by_text(_("A primary is on duty for every site and modality."))
    expect(sentence).to_be_visible()
    expect(coverage_label(grid, visit)).not_to_have_css("color", DANGER)
    # Wholly readable in the part of the grid in view, beside the names, even on a phone.
    assert inside(sentence, grid), "the coverage sentence runs out of the grid's view"
    visit.shoot("layouts", "covered")

    grid = open_week(visit, region, GAPPED)
    gap_label = grid.locator(".gap-row .who b").filter(has_text=region.site)
    expect(gap_label).to_have_css("color", DANGER)
    expect(grid.locator(".mark.gap-none").first).to_be_attached()
    visit.shoot("layouts", "gaps")


def test_the_roster_grid_reads_on_a_phone(visit: Visit, roster: tuple[Region, str]) -> None:
    if visit.width != "phone":
        pytest.skip("the phone's layout")
    region, coordinator = roster
    page, _ = visit.page, visit._
    visit.login(coordinator)
    grid = open_week(visit, region, GAPPED)
    visit.reads_its_language()
    # Three days or so in view, and a shift's times read whole (they wrap after the dash).
    seen = page.evaluate(
        "g => Math.round(7 * (g.clientWidth - g.querySelector('.who').offsetWidth)"
        " / (g.scrollWidth - g.querySelector('.who').offsetWidth))",
        grid.element_handle(),
    )
    assert seen >= 3, f"only {seen} days of the week in view"
    bars = grid.locator("a.mark.tier-primary, a.mark.tier-backup")
    expect(bars).to_have_count(4)
    for bar in bars.all():
        bar.scroll_into_view_if_needed()
        assert inside(bar.locator(".label"), bar), f"{bar.text_content()!r} is cut"

    # Reached by Tab, it scrolls with the arrow keys; the names stay at its left edge.
    grid.evaluate("g => { g.scrollLeft = 0; }")
    names = grid.locator(".roster-row:not(.roster-axis) .who").first
    left = names.bounding_box()
    expect(grid).to_have_attribute("tabindex", "0")  # in the Tab order
    grid.focus()
    expect(grid).to_be_focused()
    page.keyboard.press("ArrowRight")
    page.wait_for_function("g => g.scrollLeft > 0", arg=grid.element_handle())
    after = names.bounding_box()
    assert left is not None and after is not None and after["x"] == left["x"]
    visit.shoot("layouts", "phone-roster")


def test_the_worklist_s_action_cell_is_as_tall_as_its_row(visit: Visit, region: Region) -> None:
    """On a desktop, the cell of the expert's "Take it" button was a flex box: drawn shorter
    than its row, its border a step above the others'."""
    if visit.width != "desktop":
        pytest.skip("on a phone the worklist's rows are cards")
    case_id = region.submit()["id"]  # offered to alice: open to bruno, the backup
    visit.login(region.experts["bruno"].username)
    # A small laptop's width, where the row's cells wrap: taller than the button.
    visit.page.set_viewport_size({"width": 840, "height": 800})
    visit.page.goto("/expert/")
    row = visit.page.get_by_role("row").filter(
        has=visit.page.get_by_role("link", name=f"#{case_id}", exact=True)
    )
    expect(row.get_by_role("button", name=visit._("Take it"))).to_be_visible()
    assert cells_out_of_row(row) == []
