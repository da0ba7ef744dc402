"""The roster pages, driven like a browser against the real web server: the grid in the
region's zone across daylight-saving changes, gaps, the shift form, the import preview, an
expert's calendar link."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

import requests
from sqlalchemy import select

from garde.models import AuditEvent
from rosters.rotations import DAYS
from tests.conftest import Region, make_region, wait_for
from tests.phones import mobile
from tests.web.test_pages import Browser, coordinator, csrf_token

PARIS = ZoneInfo("Europe/Paris")


def add_shift(region: Region, expert: str, start: datetime, end: datetime, tier: str) -> int:
    r = region.stack.api(region.coordinator_token).post(
        "/api/v1/shifts",
        json={
            "expert": region.experts[expert].code,
            "start": start.isoformat(),
            "end": end.isoformat(),
            "tier": tier,
        },
    )
    assert r.status_code == 201, r.text
    shift_id: int = r.json()["id"]
    return shift_id


def shifts_of(region: Region, expert: str, start: datetime, end: datetime) -> list[dict[str, str]]:
    r = region.stack.api(region.coordinator_token).get(
        "/api/v1/shifts",
        params={
            "expert": region.experts[expert].code,
            "from": start.isoformat(),
            "to": end.isoformat(),
        },
    )
    assert r.status_code == 200, r.text
    found: list[dict[str, str]] = r.json()
    return found


def instant(iso: str) -> datetime:
    return datetime.fromisoformat(iso.replace("Z", "+00:00"))


def words(page: str) -> str:
    """The page's text as a person reads it: no tags, entities decoded, spaces collapsed."""
    return re.sub(r"\s+", " ", html.unescape(re.sub(r"<[^>]+>", " ", page)))


def bar(page: str, shift_id: int) -> dict[str, str]:
    """The grid's bar of a shift: its attributes and its text."""
    found = re.search(
        rf'<a class="mark ([^"]*)" style="([^"]*)" title="([^"]*)" '
        rf'href="/coordinator/shifts/{shift_id}"\s+data-start="([^"]*)" data-end="([^"]*)">(.*?)<span class="sr-only">',
        page,
        re.S,
    )
    assert found, f"no bar for shift {shift_id} on the grid"
    css, style, title, start, end, text = found.groups()
    label = html.unescape(re.sub(r"<[^>]+>", "", text)).strip()
    return {
        "css": css,
        "style": style,
        "title": html.unescape(title),
        "start": start,
        "end": end,
        "label": label,
    }


def test_grid_places_a_night_at_its_local_hours_across_both_dst_changes(region: Region) -> None:
    browser = coordinator(region.stack)
    nights = [
        # The Saturday night the clocks go forward: 11 hours, in a week of 167.
        ("2027-03-22", datetime(2027, 3, 27, 20, tzinfo=PARIS), 11, 167, "CET", "CEST"),
        # The Saturday night the clocks go back: 13 hours, in a week of 169.
        ("2026-10-19", datetime(2026, 10, 24, 20, tzinfo=PARIS), 13, 169, "CEST", "CET"),
    ]
    added = []
    for monday, start, hours, week_hours, before, after in nights:
        end = datetime(start.year, start.month, start.day + 1, 8, tzinfo=PARIS)
        shift_id = add_shift(region, "alice", start, end, "primary")
        added.append(shift_id)
        page = browser.get(f"/coordinator/roster?view=week&start={monday}").text
        found = bar(page, shift_id)
        assert found["label"].endswith("20–08")
        assert f"20:00 {before}" in found["title"] and f"08:00 {after}" in found["title"]
        assert f"({hours} h)" in found["title"]
        assert "tier-primary" in found["css"] and "source-manual" in found["css"]
        assert datetime.fromisoformat(found["start"]) == start
        # Placed by elapsed time: Saturday 20:00 is 140 hours into the week, not 140 of 168.
        left, width = (round(140 / week_hours * 100, 3), round(hours / week_hours * 100, 3))
        assert f"left:{left}%;width:{width}%" in found["style"]
    month = browser.get("/coordinator/roster?view=month&start=2027-03-10").text
    assert "March 2027" in month and f"/coordinator/shifts/{added[0]}" in month


def test_grid_and_coverage_page_highlight_a_gap(region: Region) -> None:
    browser = coordinator(region.stack)
    day = datetime(2027, 6, 8, tzinfo=PARIS)  # a Tuesday
    add_shift(region, "alice", day.replace(hour=8), day.replace(hour=20), "primary")
    add_shift(region, "bruno", day.replace(hour=20), day.replace(day=9, hour=8), "backup")
    page = browser.get(f"/coordinator/roster?start=2027-06-07&site={region.site}").text
    # Only the site's experts and coverage: chloe reads elsewhere.
    assert region.experts["alice"].code in page and region.experts["chloe"].code not in page
    row = page.split(f"<b>{region.site}</b>")[1].split('class="roster-row')[0]
    backup_only = re.findall(
        r'class="mark gap-backup"[^>]*data-start="([^"]+)" data-end="([^"]+)"', row
    )
    assert backup_only == [
        (
            day.replace(hour=20).astimezone(UTC).isoformat(),
            day.replace(day=9, hour=8).astimezone(UTC).isoformat(),
        )
    ]
    # A gap opens the new-shift form for its interval, in local time.
    assert "/coordinator/shifts/new?start=2027-06-08T20:00&amp;end=2027-06-09T08:00" in row
    nobody = re.findall(r'class="mark gap-none"[^>]*data-start="([^"]+)" data-end="([^"]+)"', row)
    assert (
        day.replace(day=9, hour=8).astimezone(UTC).isoformat(),
        datetime(2027, 6, 14, tzinfo=PARIS).astimezone(UTC).isoformat(),
    ) in nobody
    coverage = browser.get(
        f"/coordinator/coverage?from=2027-06-08&to=2027-06-08&site={region.site}"
    ).text
    assert "backup only 08 Jun 20:00 CEST – 09 Jun 00:00 CEST" in words(coverage)
    assert "nobody 08 Jun 00:00 CEST – 08 Jun 08:00 CEST" in words(coverage)


def test_shift_form_names_the_bad_field_keeps_the_input_and_stores_nothing(
    region: Region,
) -> None:
    browser = coordinator(region.stack)
    alice = region.experts["alice"].code
    entered = {
        "expert": alice,
        "tier": "backup",
        "start": "2027-03-28T02:30",
        "end": "2027-03-28T08:00",
    }
    r = browser.submit("/coordinator/shifts/new", "/coordinator/shifts/new", entered)
    assert r.status_code == 400
    assert "Start does not exist in Europe/Paris: the clocks go forward at that hour" in r.text
    assert 'value="2027-03-28T02:30"' in r.text and 'value="2027-03-28T08:00"' in r.text
    assert f'<option value="{alice}" selected>' in r.text
    r = browser.submit(
        "/coordinator/shifts/new",
        "/coordinator/shifts/new",
        {**entered, "start": "2027-03-28T09:00"},
    )
    assert r.status_code == 400
    assert "End must be after start" in r.text and 'value="2027-03-28T09:00"' in r.text
    march = (datetime(2027, 3, 27, tzinfo=UTC), datetime(2027, 3, 29, tzinfo=UTC))
    assert shifts_of(region, "alice", *march) == []


def test_a_shift_made_in_the_form_is_stored_and_a_waiting_case_gets_its_offer(
    region: Region,
) -> None:
    lonely = make_region(region.stack, on_duty=())
    case = lonely.submit()
    wait_for(
        lambda: any(
            e["kind"] == "coordinators_alerted" for e in lonely.case(case["id"])["timeline"]
        ),
        what="the coordinators alerted that nobody may read the case",
    )
    browser = coordinator(region.stack)
    now = datetime.now(PARIS).replace(second=0, microsecond=0)
    start, end = now - timedelta(minutes=5), now + timedelta(hours=8)
    r = browser.submit(
        "/coordinator/shifts/new",
        "/coordinator/shifts/new",
        {
            "expert": lonely.experts["alice"].code,
            "tier": "primary",
            "start": start.strftime("%Y-%m-%dT%H:%M"),
            "end": end.strftime("%Y-%m-%dT%H:%M"),
        },
    )
    assert r.status_code == 302, r.text
    assert r.headers["Location"].endswith(f"/coordinator/roster?start={start.date().isoformat()}")
    stored = shifts_of(lonely, "alice", start, end)
    assert [(instant(s["start"]), instant(s["end"])) for s in stored] == [(start, end)]
    # The page told routing at once: the waiting case is offered to the new expert.
    lonely.offer_sms("alice", timeout=20)
    assert lonely.case(case["id"])["status"] == "offered"


def upload(browser: Browser, content: bytes, filename: str, **fields: str) -> requests.Response:
    token = csrf_token(browser.get("/coordinator/import").text)
    return browser.http.post(
        browser.base + "/coordinator/import",
        data={"csrf_token": token, **fields},
        files={"file": (filename, content, "application/octet-stream")},
        allow_redirects=False,
        timeout=60,
    )


def test_import_previews_refusals_and_writes_nothing_until_confirmed(region: Region) -> None:
    browser = coordinator(region.stack)
    alice = region.experts["alice"].code
    july = (datetime(2027, 7, 1, tzinfo=UTC), datetime(2027, 7, 10, tzinfo=UTC))
    good = "2027-07-01 20:00,2027-07-02 08:00,Europe/Paris\n"
    broken = (
        b"start,end,timezone\n"
        + good.encode()
        + b"2027-07-03 20:00,2027-07-03 08:00,Europe/Paris\n"
    )
    r = upload(browser, broken, "alice.csv", expert=alice, tier="")
    assert r.status_code == 200, r.text
    page = words(r.text)
    assert "1 entry is refused" in page and "line 3" in page and "end: must be after start" in page
    assert 'name="confirm"' not in page
    assert shifts_of(region, "alice", *july) == []

    r = upload(
        browser, b"start,end,timezone\n" + good.encode(), "alice.csv", expert=alice, tier="backup"
    )
    assert r.status_code == 200, r.text
    assert "To create" in r.text and "Import 1 shift</button>" in r.text
    assert "01 Jul 20:00 CEST" in words(r.text)
    assert shifts_of(region, "alice", *july) == []

    hidden = dict(re.findall(r'<input type="hidden" name="([a-z_]+)" value="([^"]*)">', r.text))
    r = browser.http.post(
        browser.base + "/coordinator/import", data=hidden, allow_redirects=False, timeout=60
    )
    assert r.status_code == 302, r.text
    stored = shifts_of(region, "alice", *july)
    night = (datetime(2027, 7, 1, 20, tzinfo=PARIS), datetime(2027, 7, 2, 8, tzinfo=PARIS))
    assert [(instant(s["start"]), instant(s["end"]), s["tier"]) for s in stored] == [
        (*night, "backup")
    ]


def test_an_expert_sees_their_feed_url_which_works_without_a_login(region: Region) -> None:
    alice = Browser(region.stack).login(region.experts["alice"].username)
    assert "You have no calendar link" in alice.get("/expert/roster").text
    r = alice.submit("/expert/roster", "/expert/feed", {})
    assert r.status_code == 302
    page = alice.get("/expert/roster").text
    url = html.unescape(re.search(r'id="feed-url" value="([^"]+)"', page).group(1))  # type: ignore[union-attr]
    assert url.startswith(region.stack.url + "/feeds/")
    feed = requests.get(url, timeout=30)
    assert feed.status_code == 200 and feed.headers["Content-Type"].startswith("text/calendar")
    assert "BEGIN:VEVENT" in feed.text and "TZID=Europe/Paris" in feed.text
    r = alice.submit("/expert/roster", "/expert/feed/revoke", {})
    assert r.status_code == 302
    assert requests.get(url, timeout=30).status_code == 404
    assert "You have no calendar link" in alice.get("/expert/roster").text


def row_of(page: str, code: str) -> str:
    """The grid row of an expert (or a site), from its label to the next row."""
    return page.split(f'<small class="muted">{code}</small>')[1].split('class="roster-row')[0]


def test_coordinator_edits_then_deletes_a_shift_in_local_time(region: Region) -> None:
    browser = coordinator(region.stack)
    day = datetime(2027, 2, 1, tzinfo=PARIS)
    shift_id = add_shift(region, "alice", day.replace(hour=8), day.replace(hour=20), "primary")
    page = f"/coordinator/shifts/{shift_id}"
    form = browser.get(page).text
    assert 'value="2027-02-01T08:00"' in form and 'value="2027-02-01T20:00"' in form
    edited = {"expert": region.experts["alice"].code, "tier": "backup", "start": "2027-02-01T08:00"}
    r = browser.submit(page, page, {**edited, "end": "2027-02-01T18:00"})
    assert r.status_code == 302, r.text
    february = (day, day + timedelta(days=1))
    [stored] = shifts_of(region, "alice", *february)
    assert instant(stored["end"]) == day.replace(hour=18) and stored["tier"] == "backup"
    r = browser.submit(page, f"{page}/delete", {})
    assert r.status_code == 302
    assert shifts_of(region, "alice", *february) == []


def test_rotation_form_generates_its_nights_and_an_edit_regenerates_them(region: Region) -> None:
    browser = coordinator(region.stack)
    alice, bruno = region.experts["alice"].code, region.experts["bruno"].code
    fields = {
        "name": f"Weeknights {region.site}",
        "experts": f"{alice}, {bruno}",
        "tier": "primary",
        "timezone": "Europe/Paris",
        "start_time": "20:00",
        "end_time": "08:00",
        "handoff_every_days": "7",
        "from": "2027-03-22",
        "until": "2027-04-04",
    }
    weekdays = [("days", d) for d in ("MO", "TU", "WE", "TH", "FR")]

    def post(action: str, data: list[tuple[str, str]]) -> requests.Response:
        token = csrf_token(browser.get("/coordinator/rotations/new").text)
        return browser.http.post(
            browser.base + action,
            data=[("csrf_token", token), *data],
            allow_redirects=False,
            timeout=60,
        )

    r = post("/coordinator/rotations/new", [*{**fields, "end_time": "8h"}.items()])
    assert r.status_code == 400
    assert "Days is required" in words(r.text) and "Ends at must be a local time" in words(r.text)
    assert f'value="{fields["name"]}"' in r.text

    r = post("/coordinator/rotations/new", [*fields.items(), *weekdays])
    assert r.status_code == 302, r.text
    week1 = (datetime(2027, 3, 22, tzinfo=PARIS), datetime(2027, 3, 29, tzinfo=PARIS))
    week2 = (week1[1], datetime(2027, 4, 5, tzinfo=PARIS))
    nights = shifts_of(region, "alice", *week1)
    assert len(nights) == 5 and shifts_of(region, "bruno", *week2) != []
    assert instant(nights[0]["start"]) == datetime(2027, 3, 22, 20, tzinfo=PARIS)
    assert "10 shifts created" in words(browser.get("/coordinator/rotations").text)

    listing = browser.get("/coordinator/rotations").text
    edit = re.search(
        r'href="(/coordinator/rotations/\d+)"><b>' + re.escape(fields["name"]), listing
    )
    assert edit, listing
    swapped = {**fields, "experts": f"{bruno}, {alice}"}
    r = post(edit.group(1), [*swapped.items(), *weekdays])
    assert r.status_code == 302, r.text
    assert shifts_of(region, "alice", *week1) == []
    assert len(shifts_of(region, "bruno", *week1)) == 5


def test_override_and_time_off_forms_show_on_the_grid(region: Region) -> None:
    browser = coordinator(region.stack)
    alice, bruno, chloe = (region.experts[n].code for n in ("alice", "bruno", "chloe"))
    night = datetime(2027, 5, 4, 20, tzinfo=PARIS)
    add_shift(region, "alice", night, night + timedelta(hours=12), "primary")
    r = browser.submit(
        "/coordinator/overrides",
        "/coordinator/overrides",
        {
            "expert": bruno,
            "replaces": chloe,
            "start": "2027-05-04T20:00",
            "end": "2027-05-05T08:00",
        },
    )
    assert r.status_code == 400 and "has no shift" in words(r.text)
    assert f'<option value="{chloe}" selected>' in r.text
    r = browser.submit(
        "/coordinator/overrides",
        "/coordinator/overrides",
        {
            "expert": bruno,
            "replaces": alice,
            "start": "2027-05-04T22:00",
            "end": "2027-05-05T08:00",
        },
    )
    assert r.status_code == 302, r.text
    r = browser.submit(
        "/coordinator/unavailability",
        "/coordinator/unavailability",
        {
            "expert": chloe,
            "reason": "leave",
            "start": "2027-05-06T00:00",
            "end": "2027-05-08T00:00",
        },
    )
    assert r.status_code == 302, r.text
    page = browser.get("/coordinator/roster?start=2027-05-03").text
    assert "replaced by Dr Bruno" in row_of(page, alice)
    assert "source-override" in row_of(page, bruno) and "22–08" in words(row_of(page, bruno))
    assert "off: leave" in row_of(page, chloe)


def test_a_swap_asked_and_accepted_on_the_expert_pages_is_applied(region: Region) -> None:
    # Within the weeks "My shifts" lists.
    night = datetime.combine(datetime.now(PARIS).date() + timedelta(days=10), time(20), PARIS)
    shift_id = add_shift(region, "alice", night, night + timedelta(hours=12), "primary")
    alice = Browser(region.stack).login(region.experts["alice"].username)
    assert f'name="shift" value="{shift_id}"' in alice.get("/expert/roster").text
    r = alice.submit(
        "/expert/roster",
        "/expert/swaps",
        {"shift": str(shift_id), "other": region.experts["bruno"].code, "note": "family"},
    )
    assert r.status_code == 302, r.text
    bruno = Browser(region.stack).login(region.experts["bruno"].username)
    page = bruno.get("/expert/roster").text
    assert "Dr Alice asks you to take" in words(page) and "family" in page
    accept = re.search(r'action="(/expert/swaps/\d+/accept)"', page)
    assert accept
    r = bruno.submit("/expert/roster", accept.group(1), {})
    assert r.status_code == 302
    assert "applied" in " ".join(words(bruno.get("/expert/roster").text).split())
    taken = shifts_of(region, "bruno", night, night + timedelta(hours=12))
    assert [(instant(s["start"]), instant(s["end"])) for s in taken] == [
        (night, night + timedelta(hours=12))
    ]


GAP = re.compile(
    r'<a class="mark (gap-[a-z]+)" style="[^"]*" title="[^"]*"\s+href="([^"]*)"\s+'
    r'data-start="([^"]+)" data-end="([^"]+)"><span class="label">([^<]*)</span>'
)


def gap_bars(page: str) -> list[tuple[str, str, datetime, datetime, str]]:
    """The gap bars of a page: kind, add-a-shift link, start, end, label."""
    return [
        (css, html.unescape(link), instant(start), instant(end), html.unescape(label))
        for css, link, start, end, label in GAP.findall(page)
    ]


def gap_row_labels(page: str) -> list[str]:
    return re.findall(r'<div class="roster-row gap-row">\s*<div class="who"><b>([^<]+)</b>', page)


def test_grid_gaps_are_one_row_per_site_naming_their_modalities(region: Region) -> None:
    browser = coordinator(region.stack)
    # dora reads CT only: while she is on duty, only MR is without anybody.
    dora = f"DR-DORA-{region.site}"
    r = region.stack.api(region.admin_token).post(
        "/api/v1/experts",
        json={
            "code": dora,
            "name": "Dr Dora",
            "phone": mobile(),
            "modalities": ["CT"],
            "sites": [region.site],
        },
    )
    assert r.status_code == 201, r.text
    tuesday = datetime(2027, 9, 7, tzinfo=PARIS)
    api = region.stack.api(region.coordinator_token)
    r = api.post(
        "/api/v1/shifts",
        json={
            "expert": dora,
            "start": tuesday.replace(hour=8).isoformat(),
            "end": tuesday.replace(hour=20).isoformat(),
            "tier": "primary",
        },
    )
    assert r.status_code == 201, r.text
    page = browser.get(f"/coordinator/roster?start=2027-09-06&site={region.site}").text
    assert gap_row_labels(page) == [region.site]
    monday, next_monday = datetime(2027, 9, 6, tzinfo=PARIS), datetime(2027, 9, 13, tzinfo=PARIS)
    new_shift = "/coordinator/shifts/new?start={}&end={}"
    assert gap_bars(page) == [
        (
            "gap-none",
            new_shift.format("2027-09-06T00:00", "2027-09-07T08:00"),
            monday,
            tuesday.replace(hour=8),
            "nobody: CT, MR",
        ),
        (
            "gap-none",
            new_shift.format("2027-09-07T08:00", "2027-09-07T20:00"),
            tuesday.replace(hour=8),
            tuesday.replace(hour=20),
            "nobody: MR",
        ),
        (
            "gap-none",
            new_shift.format("2027-09-07T20:00", "2027-09-13T00:00"),
            tuesday.replace(hour=20),
            next_monday,
            "nobody: CT, MR",
        ),
    ]
    # The Coverage page stays per site and modality.
    coverage = browser.get(
        f"/coordinator/coverage?from=2027-09-07&to=2027-09-07&site={region.site}"
    ).text
    assert [label for *_, label in gap_bars(coverage)] == ["nobody", "nobody", "nobody"]


def test_gaps_already_over_are_not_drawn_and_the_past_is_shaded(region: Region) -> None:
    browser = coordinator(region.stack)
    # alice's shift of the region covers from an hour ago: before it, the site had nobody.
    before = datetime.now(UTC)
    for path in (
        f"/coordinator/roster?site={region.site}",
        f"/coordinator/roster?view=month&site={region.site}",
        f"/coordinator/coverage?site={region.site}",
    ):
        page = browser.get(path).text
        assert 'class="past" style="left:0;width:' in page, path
        assert all(start >= before for _, _, start, _, _ in gap_bars(page)), path
    month = browser.get("/coordinator/roster?view=month").text
    # Today is marked, and the page runs the script that scrolls it into view.
    assert re.search(r'class="day-label [^"]*today"', month) and "js/roster_today.js" in month
    # A period wholly past still lists its gaps.
    past = browser.get(f"/coordinator/coverage?from=2025-01-06&to=2025-01-06&site={region.site}")
    assert "nobody 06 Jan 00:00 CET – 07 Jan 00:00 CET" in words(past.text)


def test_every_rotation_is_extended_at_once_and_codes_are_read_in_any_case(
    region: Region,
) -> None:
    browser = coordinator(region.stack)
    alice, bruno = region.experts["alice"].code, region.experts["bruno"].code
    form = browser.get("/coordinator/rotations/new").text
    assert f'<b class="mono">{alice}</b> Dr Alice' in form
    fields = {
        "name": f"Summer nights {region.site}",
        "experts": f"{alice.lower()}, {bruno.lower()}",
        "tier": "primary",
        "timezone": "Europe/Paris",
        "start_time": "20:00",
        "end_time": "08:00",
        "handoff_every_days": "7",
        "from": "2027-08-02",
        "until": "2027-08-08",
    }
    token = csrf_token(form)
    r = browser.http.post(
        browser.base + "/coordinator/rotations/new",
        data=[("csrf_token", token), *fields.items(), *[("days", d) for d in DAYS[:5]]],
        allow_redirects=False,
        timeout=60,
    )
    assert r.status_code == 302, r.text
    week = [datetime(2027, 8, 2 + 7 * n, tzinfo=PARIS) for n in range(4)]
    assert len(shifts_of(region, "alice", week[0], week[1])) == 5
    assert shifts_of(region, "bruno", week[1], week[3]) == []

    rotations = "/coordinator/rotations"
    yesterday = (datetime.now(PARIS) - timedelta(days=1)).date().isoformat()
    r = browser.submit(rotations, f"{rotations}/extend", {"until": yesterday})
    assert r.status_code == 400
    assert "Until must be today or later" in words(r.text)
    r = browser.submit(rotations, f"{rotations}/extend", {"until": "2028-09-30"})
    assert r.status_code == 400
    assert re.search(r"Until for rotation .*: a rotation covers at most 400 days", words(r.text))
    assert shifts_of(region, "bruno", week[1], week[3]) == []

    r = browser.submit(rotations, f"{rotations}/extend", {"until": "2027-08-22"})
    assert r.status_code == 302, r.text
    assert len(shifts_of(region, "bruno", week[1], week[2])) == 5
    assert len(shifts_of(region, "alice", week[2], week[3])) == 5
    summary = re.search(
        r"(\d+) rotations? extended until 2027-08-22: (\d+) shifts created",
        words(browser.get(rotations).text),
    )
    assert summary and int(summary.group(1)) >= 1 and int(summary.group(2)) >= 10
    with region.stack.sessions() as s:
        assert s.scalar(select(AuditEvent.id).where(AuditEvent.action == "rotation.extend"))
    # Rotations already running that long stay as they are.
    r = browser.submit(rotations, f"{rotations}/extend", {"until": "2027-08-15"})
    assert r.status_code == 302
    assert "0 rotations extended" in words(browser.get(rotations).text)
