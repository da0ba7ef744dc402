"""Every route of the app, asked by every role over real HTTP: who may, who is refused and how.

The routes come from the app's URL map, so a route added without a row in ROUTES fails the
test by name. Each role asks with the ids of real rows of a shared region; a write its role may
make is not sent (it would act on the region), the others are sent without a body, and the
access decision must come before anything else (the pages' forms carry their CSRF token, so
that it is the role, not the token, that refuses them).
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta

import pytest
import requests
from flask import Flask
from sqlalchemy import select
from werkzeug.routing import Rule

from garde.domain import AlertKind
from garde.models import (
    Alert,
    ApiToken,
    Expert,
    ExpertMacro,
    Override,
    Rotation,
    Shift,
    SwapRequest,
    Unavailability,
    User,
    VoiceCall,
)
from garde.settings import Settings
from rosters.ical import new_feed
from tests.conftest import PASSWORD, Region, Stack, on_sqlite_only
from tests.web.test_pages import csrf_token

# Asked with each role's bearer token; the other paths with its browser.
TOKEN_PATHS = ("/api/", "/dicomweb/", "/fhir/")
ROLES = ("anonymous", "site", "expert", "coordinator", "admin", "stranger")

OK = "ok"  # 200
LOGIN = "login"  # a page: 302 to the login page; the API: 401
NO = "403"  # refused: another role's
NF = "404"  # not theirs, so not there
ACTS = "acts"  # a write the role may make: not sent, it would act on the region

SITE, EXPERT, COORDINATOR, ADMIN = "site", "expert", "coordinator", "admin"
STAFF = (COORDINATOR, ADMIN)
ANYONE = (SITE, EXPERT, *STAFF)


def reads(*who: str, stranger: str | None = None) -> tuple[str, ...]:
    """A GET: 200 for these roles (an expert's for the stranger too, unless said), 403 for
    the other roles; the anonymous are sent to log in."""
    return _row(OK, who, stranger)


def writes(*who: str, stranger: str | None = None) -> tuple[str, ...]:
    """A write these roles may make (not sent), 403 for the other roles; the anonymous are
    sent to log in."""
    return _row(ACTS, who, stranger)


def _row(allowed: str, who: tuple[str, ...], stranger: str | None) -> tuple[str, ...]:
    cells = {role: allowed if role in who else NO for role in ROLES[1:-1]}
    return (LOGIN, *cells.values(), stranger or cells[EXPERT])


def everyone(outcome: str) -> tuple[str, ...]:
    """The same answer whoever asks, logged in or not."""
    return (outcome,) * len(ROLES)


# DICOMweb reads (web/dicomweb_read.py), at /dicomweb and under a viewer or share link's token.
DICOMWEB_SEARCHES = ("qido_studies", "qido_all_series", "qido_all_instances")
DICOMWEB_BY_UID = (
    "qido_series", "qido_study_instances", "qido_instances", "wado_study", "wado_series",
    "wado_instance", "metadata_study", "metadata_series", "metadata_instance", "frames",
    "bulkdata", "rendered_instance", "rendered_frame", "rendered_series", "rendered_study",
    "thumbnail_instance", "thumbnail_frame", "thumbnail_series", "thumbnail_study",
)  # fmt: skip

# Each route: the outcome for anonymous, site, expert, coordinator, admin, and a stranger (an
# expert the ids are nothing to: another site's, who was never offered the case).
ROUTES: dict[str, tuple[str, ...]] = {
    # Logging in and out, one's password; what anybody may fetch.
    "auth.home": (LOGIN, "302", "302", "302", "302", "302"),
    "auth.login": everyone(OK),
    "auth.logout": everyone(ACTS),  # it would end the session the other routes are asked in
    "language.switch": everyone("400"),  # anyone may; without a language, refused by its field
    "account.password_page": reads(*ANYONE),
    "account.change": writes(*ANYONE),
    "live_events.events": reads(*ANYONE),  # what changed on the cases each may see
    "favicon": everyone(OK),
    "static": everyone(OK),
    "health.healthz": everyone(OK),
    "feeds.feed": everyone(OK),  # the secret URL is the key
    "metrics.metrics": everyone("401"),  # GARDE_METRICS_TOKEN's bearer only
    "api.openapi": everyone(OK),
    # Machines: Twilio's signature, the dev outbox only where Twilio is unset.
    "sms.inbound": everyone(NO),
    "sms.status": everyone(NO),
    "voice.call": everyone(NO),
    "voice.gather": everyone(NO),
    "voice.status": everyone(NO),
    "dev.outbox": everyone(NF),
    "dev.press_key": everyone(NF),
    "dev.reply": everyone(NF),
    # A site's pages.
    "site.cases": reads(SITE),
    "site.new_case": reads(SITE),
    "site.case": reads(SITE),
    "site.acknowledge": writes(SITE),
    "site.cancel": writes(SITE),
    "site.scanned": writes(SITE),
    "site.change_priority": writes(SITE),
    "site.upload_images": writes(SITE),
    # A share link's page: public, its token is the key (here no link's). The share form of
    # the site's and the holding expert's case page; revoking a link (here no link's id).
    "shares.page": everyone(NF),
    "shares.report_pdf": everyone(NF),
    "shares.create": (LOGIN, ACTS, NO, NO, NO, NF),
    "shares.revoke_link": (LOGIN, NF, NF, NF, NF, NF),
    # An expert's pages: the case is offered to the expert, nothing to the stranger.
    "expert.worklist": reads(EXPERT),
    "expert.case": reads(EXPERT, stranger=NF),
    "expert.accept": writes(EXPERT),
    "expert.decline": writes(EXPERT),
    "expert.release": writes(EXPERT),
    "expert.validate": writes(EXPERT),
    "expert.refuse": writes(EXPERT),
    "expert.report": writes(EXPERT),
    "my_roster.roster": reads(EXPERT),
    "my_roster.make_feed": writes(EXPERT),
    "my_roster.revoke": writes(EXPERT),
    "my_roster.ask_swap": writes(EXPERT),
    "my_roster.decide_swap": writes(EXPERT),
    "expert_settings.page": reads(EXPERT),
    "expert_settings.save": writes(EXPERT),
    "expert_settings.test_message": writes(EXPERT),
    "expert_macros.page": reads(EXPERT),
    "expert_macros.add": writes(EXPERT),
    "expert_macros.edit": writes(EXPERT, stranger=NF),  # another expert's macro is not there
    "expert_macros.delete": writes(EXPERT, stranger=NF),
    "expert_statements.page": reads(EXPERT),
    # The coordinators' pages, admins' too.
    "coordinator.board": reads(*STAFF),
    "coordinator.protocol_library": reads(*STAFF),
    "coordinator.add_protocol": writes(*STAFF),
    "coordinator.protocol": reads(*STAFF),
    "coordinator.protocol_active": writes(*STAFF),
    "analytics.page": reads(*STAFF),
    "analytics.data": reads(*STAFF),
    "billing_pages.billing": reads(*STAFF),
    "billing_pages.issue": writes(ADMIN),
    "billing_pages.tariff": reads(*STAFF),
    "billing_pages.add_tariff": writes(*STAFF),
    "coordinator.case": reads(*STAFF),
    "coordinator.dismiss": writes(*STAFF),
    "coordinator.cancel": writes(*STAFF),
    "coordinator.change_priority": writes(*STAFF),
    "coordinator.reassign": writes(*STAFF),
    "roster_reports.coverage_page": reads(*STAFF),
    "roster_reports.fairness_page": reads(*STAFF),
    "roster_import.import_file": reads(*STAFF),
    "roster.grid": reads(*STAFF),
    "roster.feeds": reads(*STAFF),
    "roster.change_feed": writes(*STAFF),
    "roster.overrides": reads(*STAFF),
    "roster.remove_override": writes(*STAFF),
    "roster.rotations": reads(*STAFF),
    "roster.new_rotation": reads(*STAFF),
    "roster.edit_rotation": reads(*STAFF),
    "roster.remove_rotation": writes(*STAFF),
    "roster.generate_rotation": writes(*STAFF),
    "roster.extend_rotations": writes(*STAFF),
    "roster.new_shift": reads(*STAFF),
    "roster.edit_shift": reads(*STAFF),
    "roster.remove_shift": writes(*STAFF),
    "roster.swaps": reads(*STAFF),
    "roster.decide_swap": writes(*STAFF),
    "roster.unavailability": reads(*STAFF),
    "roster.remove_unavailability": writes(*STAFF),
    # The API: cases.
    "api.list_cases": reads(*ANYONE),
    "api.get_case": reads(*ANYONE, stranger=NF),
    # No report yet (404); the expert only offered the case reads no report (403).
    "api.get_report": (LOGIN, NF, NO, NF, NF, NF),
    # The studies linked to the case: its record's readers, not an expert only offered it.
    "api.case_study": (LOGIN, OK, NO, OK, OK, NF),
    # Share links: the case's site or the expert holding it makes one (the expert here is only
    # offered the case); its creator, the site or a coordinator revokes one (this token is no
    # link's, so none is found).
    "api.share": (LOGIN, ACTS, NO, NO, NO, NF),
    "api.revoke": (LOGIN, NF, NF, NF, NF, NF),
    "api.worklist": reads(EXPERT),
    "api.submit": writes(SITE),
    "api.acknowledge": writes(SITE),
    "api.cancel": writes(SITE, *STAFF),
    "api.validate": writes(EXPERT),
    "api.refuse": writes(EXPERT),
    "api.scanned": writes(SITE),
    "api.list_protocols": reads(SITE, EXPERT, *STAFF),
    "api.get_protocol": reads(SITE, EXPERT, *STAFF),
    "api.add_protocol": writes(*STAFF),
    "api.patch_protocol": writes(*STAFF),
    # FHIR: a bearer token only; the matrix's case has no report yet.
    "fhir.metadata": everyone(OK),
    "fhir.create_service_request": writes(SITE),
    "fhir.read_service_request": (LOGIN, OK, NO, OK, OK, NF),
    "fhir.read_task": (LOGIN, OK, NO, OK, OK, NF),
    "fhir.search_tasks": (LOGIN, "400", "400", "400", "400", "400"),  # focus is required
    "fhir.read_diagnostic_report": (LOGIN, NF, NO, NF, NF, NF),
    "api.change_priority": writes(SITE, *STAFF),
    "api.accept": writes(EXPERT),
    "api.decline": writes(EXPERT),
    "api.release": writes(EXPERT),
    "api.report": writes(EXPERT),
    "api.reassign": writes(*STAFF),
    # The API: the registry.
    "api.list_sites": reads(*STAFF),
    "api.get_site": reads(*STAFF),
    "api.add_site": writes(*STAFF),
    "api.patch_site": writes(*STAFF),
    "api.list_experts": reads(*STAFF),
    "api.get_expert": reads(*STAFF),
    "api.add_expert": writes(*STAFF),
    "api.patch_expert": writes(*STAFF),
    "api.list_coordinators": reads(ADMIN),
    "api.add_coordinator": writes(ADMIN),
    "api.disable_user": writes(ADMIN),
    "api.enable_user": writes(ADMIN),
    "api.billing_lines": reads(*STAFF),
    # A site's tariff: staff's; a quote needs its instant (a site's own, staff's any site's).
    "api.put_tariff": writes(*STAFF),
    "api.get_tariff": reads(*STAFF),
    "api.billing_quote": (LOGIN, "400", NO, "400", "400", NO),
    # Invoices: issued and corrected by an admin, read by staff and the site (its own).
    "api.issue": writes(ADMIN),
    "api.credit": writes(ADMIN),
    "api.list_invoices": reads(SITE, *STAFF),
    "api.get_invoice": (LOGIN, NF, NO, NF, NF, NO),  # a number nobody holds
    # An expert's statement: their own; another's is not there for them.
    "api.get_statement": reads(EXPERT, *STAFF, stranger=NF),
    # A legal hold on a study: the retention purge keeps it.
    "api.hold_study": writes(*STAFF),
    "api.release_study": writes(*STAFF),
    # The API: rosters. An expert's own calendar and feed, not another's.
    "api.roster_ics": reads(EXPERT, *STAFF, stranger=NO),
    "api.new_expert_feed": writes(EXPERT, *STAFF, stranger=NO),
    "api.revoke_expert_feed": writes(EXPERT, *STAFF, stranger=NO),
    "api.new_region_feed": writes(*STAFF),
    "api.revoke_region_feed": writes(*STAFF),
    "api.oncall": (LOGIN, "400", NO, "400", "400", NO),  # which modality is asked
    "api.coverage_gaps": (LOGIN, NO, NO, "400", "400", NO),  # which window is asked
    "api.fairness_table": (LOGIN, NO, NO, "400", "400", NO),
    "api.list_shifts": reads(*STAFF),
    "api.add_shift": writes(*STAFF),
    "api.patch_shift": writes(*STAFF),
    "api.remove_shift": writes(*STAFF),
    "api.import_shift_file": writes(*STAFF),
    "api.list_rotations": reads(*STAFF),
    "api.get_rotation": reads(*STAFF),
    "api.add_rotation": writes(*STAFF),
    "api.patch_rotation": writes(*STAFF),
    "api.remove_rotation": writes(*STAFF),
    "api.list_overrides": reads(EXPERT, *STAFF),
    "api.add_override": writes(EXPERT, *STAFF),
    "api.remove_override": writes(EXPERT, *STAFF),
    "api.list_unavailability": reads(EXPERT, *STAFF),
    "api.add_unavailability": writes(EXPERT, *STAFF),
    "api.remove_unavailability": writes(EXPERT, *STAFF),
    "api.list_swaps": reads(EXPERT, *STAFF),
    "api.add_swap": writes(EXPERT, *STAFF),
    "api.swap_accept": writes(EXPERT),
    "api.swap_approve": writes(*STAFF),
    "api.swap_cancel": writes(EXPERT, *STAFF),
    "api.swap_refuse": writes(EXPERT, *STAFF),
    # The admin's pages, and reading Temporal's histories.
    "admin.index": (LOGIN, NO, NO, NO, "302", NO),  # on to the logins
    "admin.audit": reads(ADMIN),
    "admin.users": reads(ADMIN),
    "admin.new_user": reads(ADMIN),
    "admin.user": reads(ADMIN),
    "admin.disable": writes(ADMIN),
    "admin.enable": writes(ADMIN),
    "admin.reset_password": writes(ADMIN),
    "admin.change_role": writes(ADMIN),
    "admin.create_token": writes(ADMIN),
    "admin.revoke_token": writes(ADMIN),
    "admin.revoke_tokens": writes(ADMIN),
    "admin.sites": reads(ADMIN),
    "admin.new_site": reads(ADMIN),
    "admin.site": reads(ADMIN),
    "admin.experts": reads(ADMIN),
    "admin.new_expert": reads(ADMIN),
    "admin.expert": reads(ADMIN),
    # DICOMweb: a site's bearer token stores its images (STOW-RS).
    "dicomweb.store": writes(SITE),
    "dicomweb.store_study": writes(SITE),
    # DICOMweb reads: a search answers every role (each sees its own studies); a study no one
    # here may read is a 404, as one that is not there; a link's root opens by its token
    # alone (here no link's).
    **{f"dicomweb_read.{e}": reads(*ANYONE) for e in DICOMWEB_SEARCHES},
    **{f"dicomweb_read.{e}": (LOGIN, NF, NF, NF, NF, NF) for e in DICOMWEB_BY_UID},
    **{
        f"{root}.{e}": everyone(NF)
        for root in ("viewer_dicomweb", "share_dicomweb")
        for e in (*DICOMWEB_SEARCHES, *DICOMWEB_BY_UID)
    },
    # OHIF's viewer: public files, not found where `make ohif` did not unpack it (here).
    "ohif.app_config": everyone(NF),
    "ohif.datasource": everyone(NF),
    "ohif.files": everyone(NF),
    "temporal_codec.decode": ("401", NO, NO, NO, "415", NO),  # JSON only
    "temporal_codec.encode": ("401", NO, NO, NO, "415", NO),
}


@pytest.fixture(scope="module")
def app(stack: Stack) -> Flask:
    """The stack's app, built in process only to read its URL map."""
    from web import create_app

    return create_app(Settings.from_env(stack.env))


def test_every_route_answers_each_role_as_its_row_says(app: Flask, shared_region: Region) -> None:
    region = shared_region
    on_sqlite_only(region.stack.env["GARDE_DATABASE_URL"], "who may is decided before the database")
    case = region.submit()
    ids = _real_rows(region, case["id"])
    browsers, apis = _sessions(region)
    alice = region.experts["alice"]
    codes = {"experts": alice.code, "sites": region.site, "protocols": "CT-HEAD-NC"}
    adapter = app.url_map.bind("localhost")
    rules = sorted(app.url_map.iter_rules(), key=lambda r: r.rule)
    endpoints = {rule.endpoint for rule in rules}
    wrong = [f"new route without an access rule: {e}" for e in sorted(endpoints - set(ROUTES))]
    wrong += [f"a row for no route: {e}" for e in sorted(set(ROUTES) - endpoints)]
    asked = []
    for rule in (r for r in rules if r.endpoint in ROUTES):  # unknown: a write might act
        method = "GET" if "GET" in (rule.methods or ()) else _write_method(rule)
        path = adapter.build(rule.endpoint, _values(rule, ids, codes), method=method)
        asked.append((method, path, ROUTES[rule.endpoint]))

    def as_role(index: int, role: str) -> list[str]:
        """One role's questions, in order, on its own sessions (the roles ask side by side)."""
        refused = []
        for method, path, row in asked:
            if row[index] == ACTS:
                continue
            http = apis[role] if path.startswith(TOKEN_PATHS) else browsers[role]
            got = _outcome(http.ask(method, path), path)
            if got != row[index]:
                refused.append(f"{method} {path} as {role}: {got}, not {row[index]}")
        return refused

    try:
        with ThreadPoolExecutor(len(ROLES)) as pool:
            for answers in pool.map(as_role, range(len(ROLES)), ROLES):
                wrong += answers
    finally:
        region.cancel_open_cases()
    assert not wrong, "\n".join(wrong)


@dataclass
class _Session:
    base: str
    http: requests.Session
    csrf: str

    def ask(self, method: str, path: str) -> requests.Response:
        data = {"csrf_token": self.csrf} if method != "GET" and self.csrf else None
        r = self.http.request(
            method, self.base + path, data=data, allow_redirects=False, timeout=30, stream=True
        )
        if r.headers.get("Content-Type", "").startswith("text/event-stream"):
            r.close()  # a live page's stream would last minutes: its answer is enough
        else:
            _ = r.content  # read, so that the connection serves the next request
        return r


def _anonymous(base: str) -> _Session:
    http = requests.Session()
    return _Session(base, http, csrf_token(http.get(base + "/login", timeout=30).text))


def _logged_in(base: str, username: str) -> _Session:
    http = requests.Session()
    token = csrf_token(http.get(base + "/login", timeout=30).text)
    r = http.post(
        base + "/login",
        data={"csrf_token": token, "username": username, "password": PASSWORD},
        allow_redirects=False,
        timeout=30,
    )
    assert r.status_code == 302, r.text
    return _Session(base, http, csrf_token(http.get(base + "/account/password", timeout=30).text))


def _write_method(rule: Rule) -> str:
    for method in ("POST", "PATCH", "DELETE", "PUT"):
        if method in (rule.methods or ()):
            return method
    raise AssertionError(f"{rule.endpoint}: no method to ask")


ANY = re.compile(r"<any\(([^)]*)\):(\w+)>")


def _values(rule: Rule, ids: dict[str, object], codes: dict[str, str]) -> dict[str, object]:
    values: dict[str, object] = {}
    for name in rule.arguments:
        if name == "code":
            values[name] = next(v for k, v in codes.items() if f"/{k}/" in rule.rule)
        elif (choice := ANY.search(rule.rule)) and choice.group(2) == name:
            values[name] = choice.group(1).split(",")[0].strip()
        elif name == "path":  # a file or page under a folder (web/ohif.py)
            values[name] = "viewer"
        elif name in ("study", "series", "instance"):  # DICOMweb: a UID nobody holds
            values[name] = "1.2.3"
        elif name in ("frames", "tags"):
            values[name] = "1" if name == "frames" else "7FE00010"
        else:
            values[name] = ids[name]
    return values


def _outcome(r: requests.Response, path: str) -> str:
    location = r.headers.get("Location", "")
    if r.status_code == 302 and "/login" in location:
        return LOGIN
    if r.status_code == 401 and path.startswith(TOKEN_PATHS):
        return LOGIN
    return {200: OK, 403: NO, 404: NF}.get(r.status_code, str(r.status_code))


def _real_rows(region: Region, case_id: int) -> dict[str, object]:
    """A row of each kind a route names by id, the region's, none of them in anyone's way (a
    rotation years ahead, an alert resolved, a swap refused)."""
    tag = region.site.removeprefix("SITE-")
    alice, bruno = region.experts["alice"], region.experts["bruno"]
    now = datetime.now(UTC)
    later = now + timedelta(days=3000)
    with region.stack.sessions.begin() as s:
        shift_id = s.scalar(select(Shift.id).where(Shift.expert_id == alice.id).limit(1))
        rows = [
            Rotation(
                name=f"matrix {tag}",
                tier="primary",
                timezone="Europe/Paris",
                days=["MO"],
                start_time="20:00",
                end_time="08:00",
                expert_ids=[alice.id],
                valid_from=date(2034, 1, 2),
                valid_until=date(2034, 1, 9),
            ),
            Override(expert_id=bruno.id, replaces_id=alice.id, start=later, end=later),
            Unavailability(expert_id=alice.id, start=later, end=later),
            SwapRequest(
                shift_id=shift_id, requester_id=alice.id, other_id=bruno.id, status="refused"
            ),
            Alert(
                key=f"matrix-{tag}",
                case_id=case_id,
                kind=AlertKind.UNASSIGNED.value,
                raised_at=now,
                resolved_at=now,
                resolved_by="matrix",
            ),
            VoiceCall(
                case_id=case_id,
                idempotency_key=f"matrix-{tag}",
                to_number=alice.phone,
                from_number="+33465710001",
                expert_id=alice.id,
                status="completed",
            ),
            ExpertMacro(expert_id=alice.id, name=f"matrix {tag}", body="No acute finding."),
        ]
        s.add_all(rows)
        s.flush()
        feed = new_feed(s, s.get(Expert, alice.id)).token
        token_id = s.scalar(
            select(ApiToken.id).join(User).where(User.username == bruno.username).limit(1)
        )
        return {
            "case_id": case_id,
            "shift_id": shift_id,
            "rotation_id": rows[0].id,
            "override_id": rows[1].id,
            "unavailability_id": rows[2].id,
            "swap_id": rows[3].id,
            "alert_id": rows[4].id,
            "call_id": rows[5].id,
            "macro_id": rows[6].id,
            "token": feed,
            "username": bruno.username,
            "token_id": token_id,
            "filename": "style.css",
            "study": "1.2.826.0.1",
            "share_id": 2**31 - 1,  # no link's
            "month": "2026-01",
            "number": "1999-999999",
        }


def _sessions(region: Region) -> tuple[dict[str, _Session], dict[str, _Session]]:
    """Each role's browser (pages, with its CSRF token) and API client (bearer token)."""
    stack = region.stack
    tag = region.site.removeprefix("SITE-")
    alice, chloe = region.experts["alice"], region.experts["chloe"]
    browsers = {
        "anonymous": _anonymous(stack.url),
        "site": _logged_in(stack.url, region.site_username),
        "expert": _logged_in(stack.url, alice.username),
        "coordinator": _logged_in(stack.url, f"coord-{tag}"),
        "admin": _logged_in(stack.url, f"admin-{tag}"),
        "stranger": _logged_in(stack.url, chloe.username),
    }
    apis = {
        "anonymous": _Session(stack.url, requests.Session(), ""),
        "site": _Session("", stack.api(region.site_token), ""),
        "expert": _Session("", stack.api(alice.token), ""),
        "coordinator": _Session("", stack.api(region.coordinator_token), ""),
        "admin": _Session("", stack.api(region.admin_token), ""),
        "stranger": _Session("", stack.api(chloe.token), ""),
    }
    return browsers, apis
