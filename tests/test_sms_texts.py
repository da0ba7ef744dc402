"""Every text Garde sends, rendered in French and in English with the longest names of the
demo region and the longest plausible values: both languages exist, nothing is left
unresolved, no patient field slips in, and what an expert or a site reads fits one SMS
segment (a coordinator's alert, two). `pytest -s` prints the table of kinds, languages,
encodings and segments; the test report carries it as the property `sms_segments`.

A new kind needs a sample in SAMPLES (the test names the kind that has none).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from activities.coverage import GAPS_PER_SMS, Gap
from activities.links import Links
from activities.notifications import case_params, report_due
from activities.offers import CODE_ALPHABET, CODE_LENGTH
from garde import demo
from garde.domain import Priority, Role
from garde.models import Case, Site
from garde.texts import HERE, LANGUAGES, kinds, local_time, render, segments
from garde.vocabulary import MODALITIES, SUBSPECIALTIES

SITE_CODE = max((s.code for s in demo.SITES), key=len)
EXPERT = max(demo.EXPERTS, key=lambda e: len(e.name))
EXPERT_CODE = max((e.code for e in demo.EXPERTS), key=len)
MODALITY = max(MODALITIES, key=len)
SUBSPECIALTY = max([*SUBSPECIALTIES, *(s for e in demo.EXPERTS for s in e.subspecialties)], key=len)
NUMBER = 999_999  # six digits
CODE = CODE_ALPHABET[-1] * CODE_LENGTH
MINUTES = 120
# The longest name of the protocols the library is seeded with (migration 0013).
LONGEST_PROTOCOL = "CT angiography of the circle of Willis"
# A deployment's public address, as long as a regional one plausibly is.
LINKS = Links("https://garde.permanence-auvergne.fr")
# Requested late in the evening, due after midnight: the due time carries its day.
REQUESTED = datetime(2026, 11, 30, 22, 50, tzinfo=UTC)

# What a case holds that no text may carry (patient identity, clinical text, accession).
PATIENT_FIELDS = {
    "accession_number": "ACC-20261130-004217",
    "study_instance_uid": "1.2.826.0.1.3680043.8.498.10927384",
    "body_part": "ABDOMEN PELVIS",
    "study_description": "CT head without contrast",
    "clinical_question": "Fall on anticoagulants, rule out intracranial bleed",
    "requesting_physician": "Dr Urgentiste Lemaire",
    "patient_id": "IPP-000123987",
    "patient_name": "DUPONT^Jean-Baptiste",
    "placer_order_number": "ORD-2026-00042",
}


def a_case(priority: Priority = Priority.STAT, subspecialty: str = SUBSPECIALTY) -> Case:
    """A case of the longest site, with its patient fields filled: what the activities see."""
    site = Site(code=SITE_CODE, name=demo.SITES[0].name, timezone="Europe/Paris")
    return Case(
        id=NUMBER,
        site=site,
        modality=MODALITY,
        priority=priority,
        subspecialty=subspecialty,
        callback_phone="+33465710001",
        requested_at=REQUESTED,
        accept_within_s=600,
        report_within_s=3600,
        **PATIENT_FIELDS,
    )


CASE = a_case()
FOR_EXPERT = {**case_params(CASE, LINKS.case(Role.EXPERT, NUMBER)), "due": report_due(CASE)}
FOR_COORDINATOR = {
    **case_params(CASE, LINKS.case(Role.COORDINATOR, NUMBER)),
    "expert": EXPERT.name,
    "expert_code": EXPERT_CODE,
}
FOR_SITE = {
    **case_params(CASE, LINKS.case(Role.SITE, NUMBER)),
    "expert": EXPERT.name,
    "due": report_due(CASE),
}
GAP = Gap(
    site_id=1,
    site_code=SITE_CODE,
    timezone="Europe/Paris",
    modality=MODALITY,
    start=REQUESTED,
    end=REQUESTED + timedelta(hours=33, minutes=30),
    backup_hours=12.5,
)
OFFER = {
    "code": CODE,
    "priority": "stat",
    "modality": MODALITY,
    "site": SITE_CODE,
    "minutes": MINUTES,
}

# One sample of parameters per kind; a kind's templates may use any of them.
SAMPLES: dict[str, dict[str, Any]] = {
    # to an expert
    "offer": {**FOR_EXPERT, "code": CODE, "minutes": MINUTES},
    "yours": FOR_EXPERT,
    "taken": FOR_EXPERT,
    "not_eligible": FOR_EXPERT,
    "withdrawn": FOR_EXPERT,
    "cancelled": FOR_EXPERT,
    "reassigned": FOR_EXPERT,
    "reminder": FOR_EXPERT,
    "new_images": FOR_EXPERT,
    "scanned": FOR_EXPERT,
    "validate_reminder": FOR_EXPERT,
    "test_message": {},
    # answers to an expert's SMS
    "reply_accepted": {"case": NUMBER},
    "reply_already_answered": {"code": CODE},
    "reply_case_closed": {"case": NUMBER},
    "reply_declined": {"code": CODE},
    "reply_help": {},
    "reply_no_offer": {"code": CODE},
    "reply_no_open_offer": {},
    "reply_not_understood": {},
    "reply_received": {},
    "reply_several_offers": {"codes": [CODE] * 3},
    "reply_status": {
        "offers": [OFFER] * 4,
        "cases": [{"number": NUMBER, "modality": MODALITY, "site": SITE_CODE}] * 4,
    },
    "reply_unknown_number": {},
    "reply_late": {"code": CODE, "case": NUMBER},
    # answers to the site's callback phone acknowledging
    "reply_acknowledged": {"case": NUMBER},
    "reply_nothing_to_acknowledge": {"case": NUMBER},
    "reply_which_case": {"cases": [NUMBER] * 5},
    "reply_ack_not_recorded": {},
    # spoken on a call
    "voice_offer": FOR_EXPERT,
    "voice_coordinator": FOR_COORDINATOR,
    "voice_answered": {"coordinator": False, "digits": "1"},
    "voice_already_answered": {},
    "voice_goodbye": {},
    "voice_press_1_or_2": {},
    "voice_site_ack": {**FOR_SITE, "category": 2, "reason": "critical"},
    "voice_press_1": {},
    "voice_acknowledged": {},
    # to a coordinator
    "alert_unassigned": FOR_COORDINATOR,
    "alert_nobody_eligible": FOR_COORDINATOR,
    "alert_accept_breach": FOR_COORDINATOR,
    "alert_report_breach": FOR_COORDINATOR,
    "alert_validate_breach": FOR_COORDINATOR,
    "alert_unreachable": FOR_COORDINATOR,
    "alert_stuck": FOR_COORDINATOR,
    "alert_ack_overdue": FOR_COORDINATOR,
    "alert_webhook_failing": FOR_COORDINATOR,
    "alert_hl7_failing": FOR_COORDINATOR,
    "alert_coverage_gap": {
        "gaps": [GAP.words()] * GAPS_PER_SMS,
        "more": 12,
        "still_open": 150,
        "link": LINKS.coverage(),
    },
    "alert_sms_stopped": {"name": EXPERT.name},
    # to the site's callback phone
    "site_accepted": FOR_SITE,
    "site_report_ready": FOR_SITE,
    "site_validated": {**FOR_SITE, "protocol": LONGEST_PROTOCOL},
    "site_refused": FOR_SITE,
    "site_critical": FOR_SITE,
    "site_ack_request": {**FOR_SITE, "category": 2, "reason": "critical"},
    "site_ack_reminder": {**FOR_SITE, "category": 2, "reason": "critical"},
}


def segment_limit(kind: str) -> int | None:
    """An expert or a site reads one segment; a coordinator's alert may take two, and so may
    the answer to STATUS (a list of offers and cases); a voice prompt is spoken, not texted."""
    if kind.startswith("voice_"):
        return None
    return 2 if kind.startswith("alert_") or kind == "reply_status" else 1


def sample(kind: str) -> dict[str, Any]:
    if kind not in SAMPLES:
        pytest.fail(
            f"the text kind {kind!r} has no sample: add one to SAMPLES in {__name__} "
            "(the longest plausible value of each parameter its templates use)"
        )
    return SAMPLES[kind]


def test_every_kind_has_a_template_in_each_language_and_a_sample() -> None:
    missing = [
        f"{language}/{kind}.txt"
        for kind in kinds()
        for language in LANGUAGES
        if not (HERE / language / f"{kind}.txt").is_file()
    ]
    assert not missing, f"templates missing: {', '.join(missing)}"
    without = [kind for kind in kinds() if kind not in SAMPLES]
    assert not without, f"kinds without a sample in SAMPLES: {', '.join(without)}"
    stale = sorted(set(SAMPLES) - set(kinds()))
    assert not stale, f"samples of kinds that have no template: {', '.join(stale)}"


@pytest.mark.parametrize("language", LANGUAGES)
@pytest.mark.parametrize("kind", kinds())
def test_text_is_complete_without_patient_data_and_fits(kind: str, language: str) -> None:
    text = render(kind, language, **sample(kind))
    assert text, f"{language}/{kind} renders empty"
    for leftover in ("{{", "}}", "{%", "%}", "{#", "None", "  "):
        assert leftover not in text, f"{language}/{kind}: {leftover!r} in {text!r}"
    for field, value in PATIENT_FIELDS.items():
        assert value.lower() not in text.lower(), f"{language}/{kind} carries {field}"
    limit = segment_limit(kind)
    counted = segments(text)
    assert limit is None or counted.count <= limit, (
        f"{language}/{kind}: {counted.count} segments ({counted.encoding}, {counted.units}), "
        f"at most {limit}: {text!r}"
    )


def test_texts_about_a_case_name_it_and_link_to_its_page() -> None:
    for kind in (
        "yours",
        "reminder",
        "site_accepted",
        "site_report_ready",
        "site_critical",
        "site_ack_request",
        "site_ack_reminder",
    ):
        for language in LANGUAGES:
            text = render(kind, language, **SAMPLES[kind])
            assert str(NUMBER) in text and SAMPLES[kind]["link"] in text, (kind, language)
    assert FOR_SITE["link"] == f"{LINKS.public_url}/site/cases/{NUMBER}"
    assert EXPERT.name in render("site_accepted", "fr", **FOR_SITE)


def test_offer_fits_one_segment_for_every_priority_and_subspecialty() -> None:
    for priority in Priority:
        for subspecialty in [*SUBSPECIALTIES, ""]:
            params = case_params(a_case(priority, subspecialty), "")
            for language in LANGUAGES:
                text = render("offer", language, code=CODE, minutes=MINUTES, **params)
                assert segments(text).count == 1, text


def test_priority_is_said_in_the_recipients_language() -> None:
    words = {
        (p, language): render("offer", language, **{**SAMPLES["offer"], "priority": p})
        for p in Priority
        for language in LANGUAGES
    }
    assert "URGENCE VITALE" in words[(Priority.STAT, "fr")]
    assert "PROGRAMMÉ" in words[(Priority.ROUTINE, "fr")]
    assert "STAT" in words[(Priority.STAT, "en")]
    assert "ROUTINE" in words[(Priority.ROUTINE, "en")]
    assert f"OUI {CODE}" in words[(Priority.URGENT, "fr")]
    assert f"YES {CODE}" in words[(Priority.URGENT, "en")]


def test_due_times_read_on_the_sites_clock_with_the_day_when_another() -> None:
    # 22:50 UTC is 23:50 in Paris; an hour on is past midnight there.
    assert local_time(REQUESTED, "Europe/Paris", REQUESTED) == "23:50"
    assert local_time(REQUESTED + timedelta(hours=1), "Europe/Paris", REQUESTED) == "01/12 00:50"
    assert report_due(CASE) == "01/12 00:50"


def test_segments_count_gsm7_septets_and_ucs2_units() -> None:
    assert segments("é" * 160) == segments("a" * 160)  # é is in the GSM-7 alphabet
    assert (segments("a" * 160).encoding, segments("a" * 160).count) == ("GSM-7", 1)
    assert segments("a" * 161).count == 2
    assert segments("a" * 306).count == 2 and segments("a" * 307).count == 3
    assert segments("€" * 80).units == 160 and segments("€" * 80).count == 1  # two septets
    assert segments("€" * 81).count == 2
    ucs2 = segments("ê" + "a" * 69)  # one ê: the whole message in UCS-2
    assert (ucs2.encoding, ucs2.units, ucs2.count) == ("UCS-2", 70, 1)
    assert segments("ê" + "a" * 70).count == 2
    assert segments("ç" * 134).count == 2 and segments("ç" * 135).count == 3


def test_segment_table(record_property: Any) -> None:
    """The table of every kind in each language: encoding, units and segments."""
    rows = [("kind", "lang", "encoding", "units", "segments", "limit")]
    for kind in [k for k in kinds() if k in SAMPLES]:  # the others fail above
        for language in LANGUAGES:
            counted = segments(render(kind, language, **SAMPLES[kind]))
            limit = segment_limit(kind)
            rows.append(
                (
                    kind,
                    language,
                    counted.encoding,
                    str(counted.units),
                    str(counted.count),
                    "-" if limit is None else str(limit),
                )
            )
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    table = "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    )
    print("\n" + table)
    record_property("sms_segments", table)
