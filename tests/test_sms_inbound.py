"""What experts, coordinators and strangers text Garde, through the real webhook and workflow:
every form of the grammar in French and English, replies in the sender's language, and the
safety rules (the right phone, once, strangers throttled, STOP and START)."""

from __future__ import annotations

import html
import secrets
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from garde.domain import AlertKind
from garde.models import Alert, Coordinator, Expert, Offer, SmsMessage
from garde.temporal import wait_for_port
from garde.texts import render
from tests.conftest import Region, Stack, free_port, make_region, on_sqlite_only, wait_for
from tests.phones import mobile
from tests.web.test_pages import coordinator as coordinator_browser


def said(response: requests.Response) -> str | None:
    """The text of Garde's TwiML reply; None when Garde stays silent."""
    assert response.status_code == 200, response.text
    message = ET.fromstring(response.text).find("Message")
    return None if message is None else message.text


def text(region: Region, expert: str, body: str, sid: str | None = None) -> str | None:
    return said(region.stack.sms_reply(region.experts[expert].phone, body, sid=sid))


def speaks(region: Region, expert: str, language: str) -> None:
    r = region.stack.api(region.admin_token).patch(
        f"/api/v1/experts/{region.experts[expert].code}", json={"language": language}
    )
    assert r.status_code == 200, r.text


def open_offer(region: Region, case_id: int, expert: str, timeout: float = 30) -> Offer:
    """The offer of this case open for this expert, once the workflow has made it."""
    expert_id = region.experts[expert].id

    def found() -> Offer | None:
        with region.stack.sessions() as s:
            return s.scalar(
                select(Offer).where(
                    Offer.case_id == case_id, Offer.expert_id == expert_id, Offer.status == "open"
                )
            )

    return wait_for(found, timeout, f"an offer of case {case_id} to {expert}")


def offer_row(region: Region, offer_id: int) -> Offer:
    with region.stack.sessions() as s:
        return s.get_one(Offer, offer_id)


# --- answers with a code ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "body"), [("fr", "oui {code}"), ("fr", "O {code} !"), ("en", "yes {code}."),
                           ("en", "OK  {code}")],
)  # fmt: skip
def test_an_expert_accepts_with_a_code_and_is_answered_in_their_language(
    region: Region, language: str, body: str
) -> None:
    speaks(region, "alice", language)
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    reply = text(region, "alice", body.format(code=offer.code.lower()))
    assert reply == render("reply_accepted", language, case=case["id"])
    accepted = region.wait_status(case["id"], "accepted")
    assert accepted["assigned_expert"] == region.experts["alice"].code


@pytest.mark.parametrize(
    ("language", "body", "reason"),
    [("fr", "NON {code} déjà deux cas en cours.", "déjà deux cas en cours"),
     ("en", "no {code}   stuck in theatre", "stuck in theatre")],
)  # fmt: skip
def test_a_decline_keeps_its_reason_on_the_offer_and_the_timeline(
    region: Region, language: str, body: str, reason: str
) -> None:
    speaks(region, "alice", language)
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    reply = text(region, "alice", body.format(code=offer.code))
    assert reply == render("reply_declined", language, code=offer.code)
    open_offer(region, case["id"], "bruno")  # the ladder moved on
    declined = offer_row(region, offer.id)
    assert (declined.status, declined.channel, declined.decline_reason) == (
        "declined",
        "sms",
        reason,
    )
    shown = region.case(case["id"])
    assert [e["detail"] for e in shown["timeline"] if e["kind"] == "declined"] == [reason]
    assert shown["offers"][0]["decline_reason"] == reason


def test_a_decline_stored_while_temporal_was_away_reaches_the_offer_with_its_reason(
    region: Region,
) -> None:
    """What the webhook keeps when it cannot signal: the worker's reconciler delivers it."""
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    with region.stack.sessions.begin() as s:
        s.add(
            SmsMessage(
                direction="in",
                to_number=region.stack.env["TWILIO_FROM_NUMBER"],
                from_number=region.experts["alice"].phone,
                body=f"NON {offer.code} au bloc",
                provider_sid="SM" + secrets.token_hex(16),
                status="received",
                offer_id=offer.id,
                answer="decline",
                reason="au bloc",
            )
        )
    wait_for(
        lambda: offer_row(region, offer.id).decline_reason == "au bloc", 30, "the reason delivered"
    )
    assert offer_row(region, offer.id).channel == "sms"


# --- bare YES and NO --------------------------------------------------------------------------


@pytest.mark.parametrize(("language", "body"), [("fr", "Oui"), ("en", "YES.")])
def test_a_bare_yes_answers_the_one_open_offer(region: Region, language: str, body: str) -> None:
    speaks(region, "alice", language)
    case = region.submit()
    open_offer(region, case["id"], "alice")
    assert text(region, "alice", body) == render("reply_accepted", language, case=case["id"])
    region.wait_status(case["id"], "accepted")


@pytest.mark.parametrize(("language", "body"), [("fr", "non pas ce soir"), ("en", "No")])
def test_a_bare_no_declines_the_one_open_offer(region: Region, language: str, body: str) -> None:
    speaks(region, "alice", language)
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    assert text(region, "alice", body) == render("reply_declined", language, code=offer.code)
    open_offer(region, case["id"], "bruno")
    assert offer_row(region, offer.id).decline_reason == (
        "pas ce soir" if language == "fr" else None
    )


@pytest.mark.parametrize(("language", "yes", "no"), [("fr", "OUI", "NON"), ("en", "yes", "no")])
def test_a_bare_answer_with_two_offers_open_lists_their_codes_and_changes_nothing(
    region: Region, language: str, yes: str, no: str
) -> None:
    speaks(region, "alice", language)
    first, second = region.submit(), region.submit()
    codes = [open_offer(region, c["id"], "alice").code for c in (first, second)]
    for bare in (yes, no):
        reply = text(region, "alice", bare)
        assert reply is not None
        assert reply == render("reply_several_offers", language, codes=_by_expiry(region, codes))
    time.sleep(1)
    with region.stack.sessions() as s:
        statuses = s.scalars(select(Offer.status).where(Offer.code.in_(codes))).all()
    assert statuses == ["open", "open"]
    # With the code it is answered.
    assert text(region, "alice", f"{yes} {codes[1]}") == render(
        "reply_accepted", language, case=second["id"]
    )
    region.wait_status(second["id"], "accepted")
    assert region.case(first["id"])["status"] == "offered"


def _by_expiry(region: Region, codes: list[str]) -> list[str]:
    with region.stack.sessions() as s:
        return list(
            s.scalars(
                select(Offer.code).where(Offer.code.in_(codes)).order_by(Offer.expires_at, Offer.id)
            )
        )


@pytest.mark.parametrize(("language", "body"), [("fr", "oui"), ("en", "NO")])
def test_a_bare_answer_with_no_offer_open_says_so(region: Region, language: str, body: str) -> None:
    speaks(region, "chloe", language)  # on duty elsewhere: no offer here
    assert text(region, "chloe", body) == render("reply_no_open_offer", language)


# --- STATUS, HELP, anything else --------------------------------------------------------------


@pytest.mark.parametrize(("language", "body"), [("fr", "Etat"), ("fr", "ÉTAT."), ("en", "status")])
def test_status_lists_open_offers_and_held_cases_without_patient_data(
    region: Region, language: str, body: str
) -> None:
    speaks(region, "alice", language)
    held = region.submit(priority="stat", modality="MR")
    text(region, "alice", f"YES {open_offer(region, held['id'], 'alice').code}")
    region.wait_status(held["id"], "accepted")
    waiting = region.submit(accession_number="ACC-SECRET-42", clinical_question="Chute, saignement")
    offer = open_offer(region, waiting["id"], "alice")

    reply = text(region, "alice", body)
    assert reply is not None
    assert reply.startswith("Garde:") and offer.code in reply and region.site in reply
    assert (f"case {held['id']} MR" if language == "en" else f"cas {held['id']} MR") in reply
    assert "URGENT CT" in reply and ("min" in reply)
    for private in ("ACC-SECRET-42", "Chute", "saignement", "Dr Urgences"):
        assert private not in reply
    # Bruno holds nothing and has no offer.
    speaks(region, "bruno", language)
    assert text(region, "bruno", body) == render("reply_status", language, offers=[], cases=[])


@pytest.mark.parametrize(("language", "body"), [("fr", "AIDE"), ("en", "help"), ("en", "Info")])
def test_help_in_the_senders_language(region: Region, language: str, body: str) -> None:
    speaks(region, "alice", language)
    assert text(region, "alice", body) == render("reply_help", language)


@pytest.mark.parametrize(
    ("language", "body"), [("fr", "c'est quoi ?"), ("en", "OK"), ("en", "yes please K7P2Q")]
)
def test_anything_else_gets_a_short_help_in_the_senders_language(
    region: Region, language: str, body: str
) -> None:
    speaks(region, "alice", language)
    assert text(region, "alice", body) == render("reply_not_understood", language)


def test_a_coordinator_is_answered_in_the_coordinators_language(region: Region) -> None:
    phone = _coordinator(region, "en")
    assert said(region.stack.sms_reply(phone, "AIDE")) == render("reply_help", "en")


# --- who may answer, and once -----------------------------------------------------------------


def test_a_code_from_another_phone_is_refused_like_a_code_that_does_not_exist(
    region: Region,
) -> None:
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    wrong = text(region, "bruno", f"OUI {offer.code}")
    assert wrong == render("reply_no_offer", "fr", code=offer.code)
    assert text(region, "bruno", "OUI ZZZZZ") == render("reply_no_offer", "fr", code="ZZZZZ")
    time.sleep(1.5)
    current = region.case(case["id"])
    assert current["status"] == "offered" and current["assigned_expert"] is None
    text(region, "alice", f"OUI {offer.code}")  # the right phone still can
    region.wait_status(case["id"], "accepted")


def test_a_used_code_is_answered_once(region: Region) -> None:
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    assert text(region, "alice", f"N {offer.code}") == render(
        "reply_declined", "fr", code=offer.code
    )
    assert text(region, "alice", f"OUI {offer.code}") == render(
        "reply_already_answered", "fr", code=offer.code
    )
    open_offer(region, case["id"], "bruno")
    assert region.case(case["id"])["assigned_expert"] is None


def _fast_offers(region: Region, seconds: int = 2) -> None:
    r = region.stack.api(region.coordinator_token).patch(
        f"/api/v1/sites/{region.site}",
        json={"service_levels": {"urgent": {"offer_timeout_s": seconds}}},
    )
    assert r.status_code == 200, r.text


def test_a_yes_to_an_expired_offer_gets_the_case_while_it_is_still_free(region: Region) -> None:
    _fast_offers(region)
    speaks(region, "alice", "en")
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    open_offer(region, case["id"], "bruno")  # alice's offer timed out
    assert offer_row(region, offer.id).status == "expired"
    reply = text(region, "alice", f"YES {offer.code}")
    assert reply == render("reply_late", "en", code=offer.code, case=case["id"])
    accepted = region.wait_status(case["id"], "accepted")
    assert accepted["assigned_expert"] == region.experts["alice"].code


def test_a_yes_to_an_expired_offer_after_another_took_the_case_changes_nothing(
    region: Region,
) -> None:
    _fast_offers(region)
    case = region.submit()
    late = open_offer(region, case["id"], "alice")
    bruno = open_offer(region, case["id"], "bruno")
    text(region, "bruno", f"OUI {bruno.code}")
    region.wait_status(case["id"], "accepted")
    reply = text(region, "alice", f"OUI {late.code}")
    assert reply == render("reply_late", "fr", code=late.code, case=case["id"])
    # The workflow tells alice the case was taken; it stays bruno's.
    alice_phone = region.experts["alice"].phone

    def told() -> bool:
        with region.stack.sessions() as s:
            return (
                s.scalar(
                    select(SmsMessage.id).where(
                        SmsMessage.to_number == alice_phone,
                        SmsMessage.kind == "taken",
                        SmsMessage.case_id == case["id"],
                    )
                )
                is not None
            )

    wait_for(told, 30, "alice told the case was taken")
    assert region.case(case["id"])["assigned_expert"] == region.experts["bruno"].code


def test_yes_and_no_to_one_offer_sent_together_have_exactly_one_effect_20_times(
    stack: Stack,
) -> None:
    region = make_region(stack, max_concurrent=25)
    with ThreadPoolExecutor(2) as pool:
        for _ in range(20):
            _yes_and_no_together(region, pool)


def _yes_and_no_together(region: Region, pool: ThreadPoolExecutor) -> None:
    alice = region.experts["alice"]
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    replies = list(
        pool.map(
            lambda body: said(region.stack.sms_reply(alice.phone, body)),
            [f"OUI {offer.code}", f"NON {offer.code}"],
        )
    )
    with region.stack.sessions() as s:
        answers = s.scalars(select(SmsMessage.answer).where(SmsMessage.offer_id == offer.id)).all()
    assert len(answers) == 1  # one of the two answers the offer; both are kept
    expected = "accepted" if answers[0] == "accept" else "declined"
    honoured = (
        render("reply_accepted", "fr", case=case["id"])
        if expected == "accepted"
        else render("reply_declined", "fr", code=offer.code)
    )
    again = render("reply_already_answered", "fr", code=offer.code)
    assert sorted(replies) == sorted([honoured, again]), replies

    def answered() -> bool:
        """The offer closed and the case recorded the answer: two writes of the workflow, in
        transactions of their own, which may commit in either order."""
        if offer_row(region, offer.id).status != expected:
            return False
        shown = region.case(case["id"])
        if expected == "accepted":
            return shown["assigned_expert"] is not None
        return any(e["kind"] == "declined" for e in shown["timeline"])

    wait_for(answered, 30, f"offer {offer.id} {expected} and the case with it")
    shown = region.case(case["id"])
    kinds = [e["kind"] for e in shown["timeline"]]
    if expected == "accepted":
        assert shown["assigned_expert"] == alice.code and "declined" not in kinds
    else:
        assert shown["assigned_expert"] is None and kinds.count("declined") == 1


def test_a_repeated_message_sid_has_no_second_effect(region: Region) -> None:
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    sid = "SM" + secrets.token_hex(16)
    assert text(region, "alice", f"NON {offer.code} occupé", sid=sid) == render(
        "reply_declined", "fr", code=offer.code
    )
    assert text(region, "alice", f"NON {offer.code} occupé", sid=sid) is None
    assert text(region, "alice", "STOP", sid=sid) is None  # whatever the body, the SID was seen
    with region.stack.sessions() as s:
        stored = s.scalar(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.provider_sid == sid)
        )
        assert s.get_one(Expert, region.experts["alice"].id).sms_unreachable_since is None
    assert stored == 1
    open_offer(region, case["id"], "bruno")
    events = [e for e in region.case(case["id"])["timeline"] if e["kind"] == "declined"]
    assert len(events) == 1


# --- strangers --------------------------------------------------------------------------------


def test_a_stranger_learns_nothing_and_is_throttled(region: Region) -> None:
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    stranger = mobile()
    bodies = [f"YES {offer.code}", "YES ZZZZZ", "STATUS", "HELP", f"NO {offer.code}", "hello"]
    replies = [said(region.stack.sms_reply(stranger, body)) for body in bodies]
    # Whether the code exists or not, the same words; after three, silence.
    assert replies[:3] == [render("reply_unknown_number", "fr")] * 3
    assert replies[3:] == [None] * 3
    with region.stack.sessions() as s:
        kept = s.scalar(
            select(func.count()).select_from(SmsMessage).where(SmsMessage.from_number == stranger)
        )
        answered = s.scalar(select(SmsMessage.id).where(SmsMessage.offer_id == offer.id))
    assert kept == len(bodies) and answered is None
    assert offer_row(region, offer.id).status == "open"


# --- STOP and START ---------------------------------------------------------------------------


def _coordinator(region: Region, language: str) -> str:
    phone = "+3362" + "".join(secrets.choice("0123456789") for _ in range(7))
    r = region.stack.api(region.admin_token).post(
        "/api/v1/coordinators",
        json={
            "code": "CO-" + secrets.token_hex(3).upper(),
            "name": "Coordinator " + secrets.token_hex(2),
            "phone": phone,
            "language": language,
        },
    )
    assert r.status_code == 201, r.text
    return phone


def _open_stop_alerts(region: Region, expert_id: int) -> list[Alert]:
    with region.stack.sessions() as s:
        return list(
            s.scalars(
                select(Alert).where(
                    Alert.expert_id == expert_id,
                    Alert.kind == AlertKind.UNREACHABLE,
                    Alert.resolved_at.is_(None),
                )
            )
        )


def test_stop_flags_the_expert_alerts_the_board_and_texts_the_coordinators_then_start_clears(
    region: Region,
) -> None:
    stack = region.stack
    assert stack.twilio is not None
    english, french = _coordinator(region, "en"), _coordinator(region, "fr")
    alice = region.experts["alice"]
    with stack.sessions() as s:
        name = s.get_one(Expert, alice.id).name

    assert text(region, "alice", "Stop") is None  # Twilio confirms a STOP itself
    with stack.sessions() as s:
        flagged = s.get_one(Expert, alice.id)
        assert flagged.sms_unreachable_since is not None
        assert flagged.sms_unreachable_reason == "stop"
    alerts = _open_stop_alerts(region, alice.id)
    assert len(alerts) == 1 and alerts[0].case_id is None and "STOP" in alerts[0].detail
    board = coordinator_browser(stack).get("/coordinator/").text
    assert html.escape(alerts[0].detail) in board and name in board
    for phone, language in ((english, "en"), (french, "fr")):
        told = render("alert_sms_stopped", language, name=name)
        wait_for(lambda p=phone, t=told: t in _texts_to(stack, p), 30, f"{phone} told")  # type: ignore[misc]

    # A second STOP changes nothing and texts nobody again.
    assert text(region, "alice", "STOP") is None
    assert len(_open_stop_alerts(region, alice.id)) == 1

    assert text(region, "alice", "START") is None  # Twilio confirms a START itself
    with stack.sessions() as s:
        restored = s.get_one(Expert, alice.id)
        assert (restored.sms_unreachable_since, restored.sms_unreachable_reason) == (None, "")
    assert _open_stop_alerts(region, alice.id) == []
    time.sleep(1)
    for phone in (english, french):
        assert len([t for t in _texts_to(stack, phone) if "STOP" in t]) == 1


def _texts_to(stack: Stack, phone: str) -> list[str]:
    assert stack.twilio is not None
    return [m.body for m in stack.twilio.to(phone)]


def test_a_coordinators_stop_flags_them_and_tells_the_others(region: Region) -> None:
    stack = region.stack
    stopping, other = _coordinator(region, "fr"), _coordinator(region, "en")
    with stack.sessions() as s:
        name = s.scalars(select(Coordinator.name).where(Coordinator.phone == stopping)).one()
    assert said(stack.sms_reply(stopping, "STOP")) is None

    def alert() -> Alert | None:
        with stack.sessions() as s:
            return s.scalar(
                select(Alert).where(Alert.detail.contains(name), Alert.resolved_at.is_(None))
            )

    raised = wait_for(alert, 10, "the board alert")
    assert raised.kind == AlertKind.UNREACHABLE and raised.expert_id is None
    told = render("alert_sms_stopped", "en", name=name)
    wait_for(lambda: told in _texts_to(stack, other), 30, "the other coordinator told")
    with stack.sessions() as s:
        assert (
            s.scalars(
                select(Coordinator.sms_unreachable_reason).where(Coordinator.phone == stopping)
            ).one()
            == "stop"
        )
    assert not [t for t in _texts_to(stack, stopping) if "STOP" in t]  # not texted after STOP

    assert said(stack.sms_reply(stopping, "start")) is None
    assert alert() is None
    with stack.sessions() as s:
        restored = s.scalars(select(Coordinator).where(Coordinator.phone == stopping)).one()
        assert (restored.sms_unreachable_since, restored.sms_unreachable_reason) == (None, "")


def test_start_does_not_lift_a_number_twilio_refused_for_another_reason(region: Region) -> None:
    alice = region.experts["alice"]
    with region.stack.sessions.begin() as s:
        expert = s.get_one(Expert, alice.id)
        expert.sms_unreachable_since = expert.created_at
        expert.sms_unreachable_reason = "twilio 21211"
    assert text(region, "alice", "START") is None
    with region.stack.sessions() as s:
        assert s.get_one(Expert, alice.id).sms_unreachable_reason == "twilio 21211"


# --- signatures -------------------------------------------------------------------------------


def test_a_forged_signature_gets_403_and_a_log_line_without_the_message(region: Region) -> None:
    case = region.submit()
    offer = open_offer(region, case["id"], "alice")
    marker = "secret-" + secrets.token_hex(6)
    phone = region.experts["alice"].phone
    web_log = region.stack.logs / "web.log"
    before = len(web_log.read_text())
    r = region.stack.sms_reply(phone, f"OUI {offer.code} {marker}", signature="forged=")
    assert r.status_code == 403
    log = wait_for(
        lambda: (t := web_log.read_text()[before:]) and "refused" in t and t,
        10,
        "the refusal logged",
    )
    assert "/sms/inbound" in log and "X-Twilio-Signature" in log
    assert marker not in log and phone not in log and offer.code not in log
    time.sleep(1)
    assert offer_row(region, offer.id).status == "open"


@pytest.fixture(scope="module")
def proxied(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """A second web process of the same system, reached on 127.0.0.1 but known to the world
    (and to Twilio) as https://garde.example.org, as behind a reverse proxy."""
    on_sqlite_only(stack.env["GARDE_DATABASE_URL"], "the signature's URL, before the database")
    port = free_port()
    env = {
        **stack.env,
        "GARDE_WEB_PORT": str(port),
        "GARDE_PUBLIC_URL": "https://garde.example.org",
    }
    web = Stack(f"http://127.0.0.1:{port}", env, stack.sessions, stack.twilio,
                tmp_path_factory.mktemp("proxied"))  # fmt: skip
    web.start("web")
    wait_for_port("127.0.0.1", port, web.processes["web"])
    yield web
    web.stop("web")


@pytest.mark.parametrize("query", ["", "?tenant=auvergne"])
def test_behind_a_reverse_proxy_the_public_url_is_what_is_signed(
    proxied: Stack, query: str
) -> None:
    assert proxied.twilio is not None
    params = {
        "MessageSid": "SM" + secrets.token_hex(16),
        "From": "+3363" + "".join(secrets.choice("0123456789") for _ in range(7)),
        "To": proxied.env["TWILIO_FROM_NUMBER"],
        "Body": "HELP",
    }
    validator = RequestValidator(proxied.twilio.auth_token)

    def post(signed_url: str) -> requests.Response:
        return requests.post(
            proxied.url + "/sms/inbound" + query,
            data=params,
            headers={"X-Twilio-Signature": validator.compute_signature(signed_url, params)},
            timeout=30,
        )

    inside = post(proxied.url + "/sms/inbound" + query)
    assert inside.status_code == 403
    public = post("https://garde.example.org/sms/inbound" + query)
    assert said(public) == render("reply_unknown_number", "fr")
