"""The interface in French or English: the user's language, else the browser's, else English;
the header's switch; and a French catalogue complete, with its placeholders, compiled as
committed."""

from __future__ import annotations

import html
import io
import re
import secrets
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from sqlalchemy import select

from garde.domain import Role
from garde.models import User
from tests.conftest import Region, add_login
from tests.web.test_pages import Browser, csrf_token
from tests.web.test_roster_pages import upload

TRANSLATIONS = Path(__file__).parents[2] / "web" / "translations"
PLACEHOLDER = re.compile(r"%\((\w+)\)[sd]")
# A time as each language writes it on a page: `08 nov. 23:34`, `08 Nov 23:34`.
FRENCH_TIME = re.compile(
    r"\d\d (janv\.|févr\.|mars|avr\.|mai|juin|juil\.|août|sept\.|oct\.|nov\.|déc\.) \d\d:\d\d"
)
ENGLISH_TIME = re.compile(r"\d\d (Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d\d:\d\d")


def _login(region: Region, role: Role, language: str | None, **codes: str) -> Browser:
    return Browser(region.stack).login(_user(region, role, language, **codes))


def _user(region: Region, role: Role, language: str | None, **codes: str) -> str:
    username = f"{role.value}-{language or 'none'}-{secrets.token_hex(3)}"
    with region.stack.sessions.begin() as s:
        add_login(s, username, role, **codes).language = language
    return username


def _language_of(region: Region, username: str) -> str | None:
    with region.stack.sessions() as s:
        return s.scalar(select(User.language).where(User.username == username))


def test_pages_follow_the_users_language_else_the_browsers_else_english(
    shared_region: Region,
) -> None:
    alice = {"expert_code": shared_region.experts["alice"].code}
    french = _login(shared_region, Role.EXPERT, "fr", **alice)
    worklist = french.get("/expert/").text
    assert "Liste de travail" in worklist and "Propositions en attente" in worklist
    assert '<html lang="fr">' in worklist and "Worklist" not in worklist
    shifts = french.get("/expert/roster").text
    assert "Mes gardes" in shifts and FRENCH_TIME.search(shifts), shifts
    site = _login(shared_region, Role.SITE, "fr", site_code=shared_region.site).get("/site/cases")
    assert "Nouvelle demande de lecture" in site.text and "Dossiers" in site.text
    board = _login(shared_region, Role.COORDINATOR, "fr").get("/coordinator/").text
    assert "Tableau de bord" in board and "Facturation : totaux, graphiques" in board
    # The admin's list of logins names each role in words, not the stored value.
    logins = _login(shared_region, Role.ADMIN, "fr").get("/admin/users").text
    assert ">radiologue</td>" in logins and ">coordinateur</td>" in logins

    english = _login(shared_region, Role.EXPERT, "en", **alice)
    shifts = english.get("/expert/roster", headers={"Accept-Language": "fr-FR,fr;q=0.9"}).text
    assert "My shifts" in shifts and ENGLISH_TIME.search(shifts) and "Mes gardes" not in shifts

    undecided = _login(shared_region, Role.EXPERT, None, **alice)
    browser_french = undecided.get("/expert/", headers={"Accept-Language": "fr-FR,fr;q=0.9"})
    assert "Liste de travail" in browser_french.text
    said_nothing = undecided.get("/expert/").text
    assert "Worklist" in said_nothing and '<html lang="en">' in said_nothing


def test_the_header_switch_keeps_the_choice_on_the_user_and_before_login(
    shared_region: Region,
) -> None:
    username = _user(
        shared_region, Role.EXPERT, None, expert_code=shared_region.experts["bruno"].code
    )
    browser = Browser(shared_region.stack).login(username)
    switched = browser.submit(
        "/expert/roster", "/language", {"language": "fr", "next": "/expert/roster?x=1"}
    )
    assert switched.status_code == 302 and switched.headers["Location"] == "/expert/roster?x=1"
    assert "Mes gardes" in browser.get("/expert/roster").text
    assert _language_of(shared_region, username) == "fr"
    # Elsewhere than this site: home instead.
    back = browser.submit("/expert/", "/language", {"language": "en", "next": "//evil.example"})
    assert back.status_code == 302 and back.headers["Location"] == "/"
    assert (
        "Worklist" in browser.get("/expert/").text and _language_of(shared_region, username) == "en"
    )
    refused = browser.submit("/expert/", "/language", {"language": "de", "next": "/"})
    assert refused.status_code == 400 and "language" in refused.text

    # Before logging in, the choice stays with the browser, through the login.
    anonymous = Browser(shared_region.stack)
    anonymous.submit("/login", "/language", {"language": "fr", "next": "/login"})
    assert "Se connecter" in anonymous.get("/login").text
    token = csrf_token(anonymous.get("/login").text)
    anonymous.http.post(
        anonymous.base + "/login",
        data={
            "csrf_token": token,
            "username": shared_region.experts["chloe"].username,
            "password": shared_region.password,
        },
        timeout=60,
    )
    assert "Liste de travail" in anonymous.get("/expert/").text


def test_a_refused_action_says_why_in_the_users_language(shared_region: Region) -> None:
    """The case workflow refuses in English; a French radiologist reads why in French, and
    the report they typed stays on the page."""
    alice = shared_region.experts["alice"]
    case_id = shared_region.submit()["id"]
    api = shared_region.stack.api(alice.token)
    assert api.post(f"/api/v1/cases/{case_id}/accept").status_code == 200
    final = {"kind": "final", "findings": "No bleed.", "impression": "Normal."}
    assert api.post(f"/api/v1/cases/{case_id}/report", json=final).status_code == 201

    french = _login(shared_region, Role.EXPERT, "fr", expert_code=alice.code)
    page = f"/expert/cases/{case_id}"
    again = {"kind": "final", "findings": "Encore une fois.", "impression": "Normal."}
    r = french.submit(page, page + "/report", again)
    assert r.status_code == 409
    shown = html.unescape(r.text)
    assert (
        "Le compte rendu n'a pas été enregistré\u00a0: le compte rendu définitif est déjà "
        "enregistré." in shown
    ), shown
    assert "Encore une fois." in shown


def test_a_missing_roster_entry_is_named_in_the_users_language(shared_region: Region) -> None:
    """The rosters' own messages reach the error page too: a French coordinator following a
    link to a deleted shift reads which one in French."""
    french = _login(shared_region, Role.COORDINATOR, "fr")
    r = french.get("/coordinator/shifts/999999")
    assert r.status_code == 404
    assert "aucun créneau 999999" in html.unescape(r.text), r.text


def test_an_imports_refusals_are_read_in_the_users_language(shared_region: Region) -> None:
    """A French coordinator previewing a spreadsheet reads why a line, or the whole file, is
    refused in French, beside the column it is about."""
    french = _login(shared_region, Role.COORDINATOR, "fr")
    alice = shared_region.experts["alice"].code
    lines = b"start,end,timezone\n2027-07-03 20:00,2027-07-03 08:00,Europe/Paris\n"
    r = upload(french, lines, "alice.csv", expert=alice, tier="")
    assert r.status_code == 200, r.text
    assert "end\u00a0: doit être après le début" in html.unescape(r.text), r.text
    r = upload(french, b"start,end\n", "alice.csv", expert=alice, tier="")
    assert r.status_code == 400
    assert "Fichier le CSV n'a aucun créneau sous sa ligne d'en-tête" in html.unescape(r.text)


def test_the_french_catalogue_is_complete_and_compiled_as_committed() -> None:
    """Every message of the template has a French text, not fuzzy, with the same
    placeholders; the committed .mo is what the .po compiles to."""
    with (TRANSLATIONS / "messages.pot").open("rb") as f:
        template = read_po(f)
    po = TRANSLATIONS / "fr" / "LC_MESSAGES" / "messages.po"
    with po.open("rb") as f:
        french = read_po(f, locale="fr")
    problems = []
    for message in template:
        if not message.id:
            continue
        found = french.get(message.id, message.context)
        if found is None or not found.string or found.fuzzy:
            problems.append(f"{message.id!r}: no French")
            continue
        ids = message.id if isinstance(message.id, tuple) else (message.id,)
        texts = found.string if isinstance(found.string, tuple) else (found.string,)
        wanted = {p for i in ids for p in PLACEHOLDER.findall(i)}
        for text in texts:
            if not text:
                problems.append(f"{message.id!r}: an empty plural form")
            # A singular may leave the count out ("tous les jours"); nothing else may differ.
            shown = set(PLACEHOLDER.findall(text))
            if not shown <= wanted or wanted - shown - {"num"}:
                problems.append(f"{message.id!r}: placeholders {shown} for {wanted}")
    assert not problems, "\n".join(problems)
    compiled = io.BytesIO()
    write_mo(compiled, french)
    committed = (po.with_suffix(".mo")).read_bytes()
    assert compiled.getvalue() == committed, "run pybabel compile -d web/translations"
