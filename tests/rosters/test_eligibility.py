"""Who is on duty: shifts, dated credentials, leave, overrides, limits and vocabularies,
exact at the edges of every interval and across daylight-saving changes, on both databases."""

from __future__ import annotations

import secrets
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy.orm import Session

from garde import vocabulary
from garde.db import SessionFactory
from garde.domain import CaseStatus, OfferStatus, ShiftSource, Tier
from garde.models import (
    Case,
    Credential,
    Expert,
    Offer,
    Override,
    Shift,
    Site,
    Unavailability,
)
from rosters.eligibility import Candidate, is_eligible, on_duty_experts
from tests.phones import mobile
from tests.statements import statements

PARIS = ZoneInfo("Europe/Paris")
REUNION = ZoneInfo("Indian/Reunion")
MARTINIQUE = ZoneInfo("America/Martinique")
NOON = datetime(2026, 5, 12, 10, 0, tzinfo=UTC)  # noon in Paris


def utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def local(
    zone: ZoneInfo, year: int, month: int, day: int, hour: int, minute: int = 0, fold: int = 0
) -> datetime:
    """A wall-clock time of a zone, as the UTC instant it names (`fold` 1: the second of a
    repeated hour)."""
    return datetime(year, month, day, hour, minute, tzinfo=zone, fold=fold).astimezone(UTC)


def add_site(s: Session, zone: ZoneInfo = PARIS) -> Site:
    site = Site(code="CH-" + secrets.token_hex(4), name="CH", timezone=zone.key)
    s.add(site)
    s.flush()
    return site


def add_expert(
    s: Session,
    site: Site | None,
    *,
    modalities: tuple[str, ...] = ("CT",),
    subspecialties: tuple[str, ...] = (),
    max_concurrent: int = 2,
    active: bool = True,
    valid_from: date | None = None,
    valid_until: date | None = None,
) -> Expert:
    tag = secrets.token_hex(4)
    expert = Expert(
        code="DR-" + tag,
        name="Dr " + tag,
        phone=mobile(),
        modalities=list(modalities),
        subspecialties=list(subspecialties),
        max_concurrent=max_concurrent,
        active=active,
    )
    s.add(expert)
    s.flush()
    if site is not None:
        s.add(
            Credential(
                expert_id=expert.id,
                site_id=site.id,
                valid_from=valid_from,
                valid_until=valid_until,
            )
        )
        s.flush()
    return expert


def add_shift(
    s: Session,
    expert: Expert,
    start: datetime,
    end: datetime,
    tier: Tier = Tier.PRIMARY,
    source: ShiftSource = ShiftSource.MANUAL,
) -> Shift:
    shift = Shift(expert_id=expert.id, start=start, end=end, tier=tier, source=source)
    s.add(shift)
    s.flush()
    return shift


def add_case(
    s: Session,
    site: Site,
    expert: Expert | None,
    status: CaseStatus,
    accepted_at: datetime | None,
) -> Case:
    case = Case(
        site_id=site.id,
        accession_number="ACC-" + secrets.token_hex(4),
        modality="CT",
        body_part="HEAD",
        study_description="CT head",
        priority="urgent",
        clinical_question="q",
        requesting_physician="Dr U",
        callback_phone="+33471000000",
        status=status,
        assigned_expert_id=expert.id if expert else None,
        offer_timeout_s=300,
        accept_within_s=1200,
        report_within_s=3600,
        accepted_at=accepted_at,
    )
    s.add(case)
    s.flush()
    return case


def on_duty(
    sessions: SessionFactory,
    site: Site,
    at: datetime,
    modality: str = "CT",
    subspecialty: str | None = None,
) -> list[Candidate]:
    with sessions() as s:
        return on_duty_experts(
            s, site_id=site.id, modality=modality, at=at, subspecialty=subspecialty
        )


def codes(candidates: list[Candidate]) -> list[str]:
    return [c.code for c in candidates]


def test_overlapping_shifts_count_once_at_the_better_tier(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        expert = add_expert(s, site)
        add_shift(s, expert, utc(2026, 5, 11, 18), utc(2026, 5, 12, 18), Tier.BACKUP)
        add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 12), Tier.PRIMARY)
    at_both = on_duty(sessions, site, NOON)
    assert [(c.code, c.tier) for c in at_both] == [(expert.code, Tier.PRIMARY)]
    assert at_both[0].shift_end == utc(2026, 5, 12, 12)
    later = on_duty(sessions, site, utc(2026, 5, 12, 12))
    assert [(c.code, c.tier) for c in later] == [(expert.code, Tier.BACKUP)]


def test_a_shift_covers_its_start_but_not_its_end(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        expert = add_expert(s, site)
        add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
    assert codes(on_duty(sessions, site, utc(2026, 5, 12, 7, 59))) == []
    assert codes(on_duty(sessions, site, utc(2026, 5, 12, 8))) == [expert.code]
    assert codes(on_duty(sessions, site, utc(2026, 5, 12, 19, 59))) == [expert.code]
    assert codes(on_duty(sessions, site, utc(2026, 5, 12, 20))) == []


def test_a_shift_of_47_hours_is_found_to_its_end(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        expert = add_expert(s, site)
        add_shift(s, expert, NOON - timedelta(hours=47), NOON + timedelta(minutes=1))
    assert codes(on_duty(sessions, site, NOON)) == [expert.code]


def test_primary_before_backup_then_by_code(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        backup = add_expert(s, site)
        primaries = sorted([add_expert(s, site), add_expert(s, site)], key=lambda e: e.code)
        add_shift(s, backup, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20), Tier.BACKUP)
        for expert in primaries:
            add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
    assert codes(on_duty(sessions, site, NOON)) == [e.code for e in primaries] + [backup.code]


def test_credential_counts_on_the_dates_of_the_site_zone(sessions: SessionFactory) -> None:
    """Valid until 31 March in Paris: 23:30 Paris time (21:30 UTC) is the 31st, 00:30 on
    1 April (22:30 UTC) is not; valid from 1 April is the mirror image."""
    with sessions.begin() as s:
        site = add_site(s, PARIS)
        until = add_expert(s, site, valid_until=date(2026, 3, 31))
        since = add_expert(s, site, valid_from=date(2026, 4, 1))
        open_ended = add_expert(s, site)
        for expert in (until, since, open_ended):
            add_shift(s, expert, utc(2026, 3, 31, 18), utc(2026, 4, 1, 6))
    last_evening = on_duty(sessions, site, utc(2026, 3, 31, 21, 30))
    first_night = on_duty(sessions, site, utc(2026, 3, 31, 22, 30))
    assert set(codes(last_evening)) == {until.code, open_ended.code}
    assert set(codes(first_night)) == {since.code, open_ended.code}


def test_credential_dates_in_reunion_and_martinique(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        reunion = add_site(s, REUNION)  # UTC+4 all year
        martinique = add_site(s, MARTINIQUE)  # UTC-4 all year
        in_reunion = add_expert(s, reunion, valid_until=date(2026, 6, 30))
        in_martinique = add_expert(s, martinique, valid_until=date(2026, 6, 30))
        add_shift(s, in_reunion, utc(2026, 6, 30, 12), utc(2026, 7, 1, 12))
        add_shift(s, in_martinique, utc(2026, 6, 30, 12), utc(2026, 7, 1, 12))
    # 23:30 and 00:30 local time, either side of midnight in each zone.
    assert codes(on_duty(sessions, reunion, utc(2026, 6, 30, 19, 30))) == [in_reunion.code]
    assert codes(on_duty(sessions, reunion, utc(2026, 6, 30, 20, 30))) == []
    assert codes(on_duty(sessions, martinique, utc(2026, 7, 1, 3, 30))) == [in_martinique.code]
    assert codes(on_duty(sessions, martinique, utc(2026, 7, 1, 4, 30))) == []


def test_credential_for_another_site_does_not_count(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site, other = add_site(s), add_site(s)
        elsewhere = add_expert(s, other)
        add_shift(s, elsewhere, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
    assert on_duty(sessions, site, NOON) == []
    assert codes(on_duty(sessions, other, NOON)) == [elsewhere.code]


def test_unavailability_removes_the_expert_for_its_interval_only(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        expert = add_expert(s, site)
        add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
        s.add(Unavailability(expert_id=expert.id, start=NOON, end=NOON + timedelta(hours=2)))
    assert codes(on_duty(sessions, site, NOON - timedelta(seconds=1))) == [expert.code]
    assert on_duty(sessions, site, NOON) == []
    assert on_duty(sessions, site, NOON + timedelta(hours=2, seconds=-1)) == []
    assert codes(on_duty(sessions, site, NOON + timedelta(hours=2))) == [expert.code]


def test_override_replaces_the_expert_for_its_interval(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        replaced = add_expert(s, site)
        stand_in = add_expert(s, site)
        add_shift(s, replaced, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
        start, end = NOON, NOON + timedelta(hours=2)
        override = Override(expert_id=stand_in.id, replaces_id=replaced.id, start=start, end=end)
        s.add(override)
        s.flush()
        shift = add_shift(s, stand_in, start, end, source=ShiftSource.OVERRIDE)
        shift.override_id = override.id
    assert codes(on_duty(sessions, site, NOON - timedelta(seconds=1))) == [replaced.code]
    assert codes(on_duty(sessions, site, NOON)) == [stand_in.code]
    assert codes(on_duty(sessions, site, NOON + timedelta(hours=2, seconds=-1))) == [stand_in.code]
    assert codes(on_duty(sessions, site, NOON + timedelta(hours=2))) == [replaced.code]


def test_concurrent_limit_counts_the_cases_held(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        busy = add_expert(s, site, max_concurrent=1)
        free = add_expert(s, site, max_concurrent=2)
        for expert in (busy, free):
            add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
        add_case(s, site, busy, CaseStatus.ACCEPTED, utc(2026, 5, 12, 9))
        add_case(s, site, free, CaseStatus.PRELIMINARY, utc(2026, 5, 12, 9))
        add_case(s, site, free, CaseStatus.FINAL, utc(2026, 5, 12, 7))  # before the shift
        add_case(s, site, free, CaseStatus.FINAL, utc(2026, 5, 12, 9, 30))
        add_case(s, site, free, CaseStatus.FINAL, utc(2026, 5, 12, 11))  # after the instant
        waiting = add_case(s, site, None, CaseStatus.REQUESTED, None)
    [candidate] = on_duty(sessions, site, NOON)
    assert candidate.code == free.code
    assert (candidate.load, candidate.max_concurrent, candidate.reads_this_shift) == (1, 2, 2)
    with sessions() as s:
        assert is_eligible(s, s.get_one(Case, waiting.id), free.id, NOON)
        assert not is_eligible(s, s.get_one(Case, waiting.id), busy.id, NOON)


def test_offers_open_elsewhere_and_an_unreachable_phone_rank_later(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        idle, asked, unreachable, long_ago = (add_expert(s, site) for _ in range(4))
        for expert in (idle, asked, unreachable, long_ago):
            add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
        other = add_case(s, site, None, CaseStatus.OFFERED, None)
        for n, (expert, status, sent) in enumerate(
            [
                (asked, OfferStatus.OPEN, NOON - timedelta(minutes=3)),
                (unreachable, OfferStatus.DECLINED, NOON - timedelta(hours=3)),
                (unreachable, OfferStatus.UNDELIVERABLE, NOON - timedelta(hours=2)),
                (long_ago, OfferStatus.UNDELIVERABLE, NOON - timedelta(hours=13)),
                (idle, OfferStatus.UNDELIVERABLE, NOON + timedelta(minutes=5)),  # after `at`
            ],
            start=1,
        ):
            s.add(
                Offer(
                    case_id=other.id,
                    expert_id=expert.id,
                    sequence=n,
                    code=secrets.token_hex(4).upper(),
                    phone=expert.phone,
                    status=status,
                    sent_at=sent,
                    expires_at=sent + timedelta(minutes=5),
                )
            )
    ranked = on_duty(sessions, site, NOON)
    by_code = {c.code: c for c in ranked}
    assert not by_code[unreachable.code].reachable
    assert by_code[long_ago.code].reachable and by_code[idle.code].reachable
    assert by_code[asked.code].open_offers == 1
    assert by_code[asked.code].ranking(2, NOON, None).minutes_since_last_offer == 3
    assert by_code[long_ago.code].last_offer_at == NOON - timedelta(hours=13)
    # Never offered before `at` first, then the one who waited longest, then the busy one;
    # the unreachable phone last.
    assert codes(ranked)[-2:] == [asked.code, unreachable.code]
    assert set(codes(ranked)[:2]) == {idle.code, long_ago.code}


def test_an_expert_sms_cannot_reach_is_eligible_but_ranks_as_unreachable(
    sessions: SessionFactory,
) -> None:
    """SMS turned off, or a phone refused or stopped: still on duty (asked on the web, in the
    broadcast), after the others of the tier."""
    with sessions.begin() as s:
        site = add_site(s)
        texted, sms_off, flagged = (add_expert(s, site) for _ in range(3))
        for expert in (texted, sms_off, flagged):
            add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
        sms_off.sms_enabled = False
        flagged.sms_unreachable_since = NOON - timedelta(days=3)
        flagged.sms_unreachable_reason = "twilio 21610"
    ranked = on_duty(sessions, site, NOON)
    by_code = {c.code: c for c in ranked}
    assert by_code[texted.code].reachable
    assert not by_code[sms_off.code].reachable and not by_code[flagged.code].reachable
    assert codes(ranked)[0] == texted.code
    assert by_code[flagged.code].ranking(3, NOON, None).reachable is False


def test_inactive_expert_is_never_on_duty(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        expert = add_expert(s, site, active=False)
        add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
    assert on_duty(sessions, site, NOON) == []


def test_modality_and_subspecialty_filter_with_normalised_words(
    sessions: SessionFactory,
) -> None:
    pediatric = vocabulary.subspecialty("Pédiatrie")
    with sessions.begin() as s:
        site = add_site(s)
        child = add_expert(s, site, modalities=("CT", "MR"), subspecialties=(pediatric,))
        neuro = add_expert(s, site, modalities=("CT",), subspecialties=("neuro",))
        for expert in (child, neuro):
            add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
    assert pediatric == "pediatric"
    assert set(codes(on_duty(sessions, site, NOON, "CT"))) == {child.code, neuro.code}
    assert codes(on_duty(sessions, site, NOON, vocabulary.modality("irm"))) == [child.code]
    assert codes(on_duty(sessions, site, NOON, "CT", pediatric)) == [child.code]
    assert codes(on_duty(sessions, site, NOON, "CT", "neuro")) == [neuro.code]
    assert on_duty(sessions, site, NOON, "US") == []
    assert on_duty(sessions, site, NOON, "MR", "neuro") == []


def test_subspecialty_match_is_a_reason_of_the_ranking(sessions: SessionFactory) -> None:
    with sessions.begin() as s:
        site = add_site(s)
        expert = add_expert(s, site, subspecialties=("chest", "pediatric"))
        add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
    [asked] = on_duty(sessions, site, NOON, "CT", "pediatric")
    assert asked.ranking(1, NOON, "pediatric").subspecialty_match is True
    [plain] = on_duty(sessions, site, NOON, "CT")
    assert plain.ranking(1, NOON, None).subspecialty_match is None
    assert plain.ranking(1, NOON, "neuro").subspecialty_match is False


def test_the_number_of_queries_does_not_grow_with_the_candidates(
    sessions: SessionFactory,
) -> None:
    with sessions.begin() as s:
        small, large = add_site(s), add_site(s)
        add_shift(s, add_expert(s, small), utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
        for _ in range(12):
            expert = add_expert(s, large)
            add_shift(s, expert, utc(2026, 5, 12, 8), utc(2026, 5, 12, 20))
            add_case(s, large, expert, CaseStatus.FINAL, utc(2026, 5, 12, 9))

    def counted(site: Site) -> tuple[int, int]:
        with sessions() as s:
            s.get(Site, site.id)  # the site's zone, read once per session
            with statements(s.get_bind()) as seen:
                found = on_duty_experts(s, site_id=site.id, modality="CT", at=NOON)
        return len(found), len(seen)

    one, few_queries = counted(small)
    twelve, same_queries = counted(large)
    assert (one, twelve) == (1, 12)
    assert few_queries == same_queries


def night(zone: ZoneInfo, day: date) -> tuple[datetime, datetime]:
    """A 20:00-08:00 night of the zone, starting on `day`, as UTC instants."""
    nxt = day + timedelta(days=1)
    return (
        local(zone, day.year, day.month, day.day, 20),
        local(zone, nxt.year, nxt.month, nxt.day, 8),
    )


def test_spring_forward_night_lasts_eleven_hours_in_paris(sessions: SessionFactory) -> None:
    """Clocks go from 02:00 to 03:00 (CET to CEST) at 01:00 UTC on 29 March 2026."""
    start, end = night(PARIS, date(2026, 3, 28))
    assert (start, end) == (utc(2026, 3, 28, 19), utc(2026, 3, 29, 6))
    assert end - start == timedelta(hours=11)
    with sessions.begin() as s:
        site = add_site(s, PARIS)
        expert = add_expert(s, site, valid_until=date(2026, 3, 29))
        add_shift(s, expert, start, end)
    on = [
        utc(2026, 3, 28, 19),
        utc(2026, 3, 29, 0, 59),
        utc(2026, 3, 29, 1),
        utc(2026, 3, 29, 5, 59),
    ]
    for at in on:
        assert codes(on_duty(sessions, site, at)) == [expert.code], at
    for at in (utc(2026, 3, 28, 18, 59), utc(2026, 3, 29, 6)):
        assert on_duty(sessions, site, at) == [], at


def test_fall_back_night_lasts_thirteen_hours_in_paris(sessions: SessionFactory) -> None:
    """Clocks go back from 03:00 to 02:00 (CEST to CET) at 01:00 UTC on 25 October 2026: the
    hour 02:00-03:00 happens twice, and both happen within the night."""
    start, end = night(PARIS, date(2026, 10, 24))
    assert (start, end) == (utc(2026, 10, 24, 18), utc(2026, 10, 25, 7))
    assert end - start == timedelta(hours=13)
    first_0230 = local(PARIS, 2026, 10, 25, 2, 30, fold=0)
    second_0230 = local(PARIS, 2026, 10, 25, 2, 30, fold=1)
    assert (first_0230, second_0230) == (utc(2026, 10, 25, 0, 30), utc(2026, 10, 25, 1, 30))
    with sessions.begin() as s:
        site = add_site(s, PARIS)
        expert = add_expert(s, site)
        ends_that_day = add_expert(s, site, valid_until=date(2026, 10, 24))
        add_shift(s, expert, start, end)
        add_shift(s, ends_that_day, start, end)
    assert set(codes(on_duty(sessions, site, utc(2026, 10, 24, 21, 59)))) == {
        expert.code,
        ends_that_day.code,
    }
    for at in (first_0230, second_0230, utc(2026, 10, 25, 6, 59)):
        assert codes(on_duty(sessions, site, at)) == [expert.code], at
    assert on_duty(sessions, site, utc(2026, 10, 25, 7)) == []


def test_zones_without_those_changes_work_alongside(sessions: SessionFactory) -> None:
    """The same weekend, a night in Reunion (UTC+4) and in Martinique (UTC-4) lasts 12 hours
    while Paris's lasts 11; each site sees only its own expert."""
    with sessions.begin() as s:
        sites = {zone.key: add_site(s, zone) for zone in (PARIS, REUNION, MARTINIQUE)}
        experts = {}
        for zone in (PARIS, REUNION, MARTINIQUE):
            start, end = night(zone, date(2026, 3, 28))
            assert end - start == timedelta(hours=11 if zone is PARIS else 12)
            experts[zone.key] = add_expert(s, sites[zone.key])
            add_shift(s, experts[zone.key], start, end)
    expected = {
        # instant: who is on duty in Paris, Reunion, Martinique
        utc(2026, 3, 28, 16): (False, True, False),  # 17:00 CET, 20:00 RET, 12:00 AST
        utc(2026, 3, 29, 0): (True, True, True),  # 01:00 CET, 04:00 RET, 20:00 AST
        utc(2026, 3, 29, 1, 30): (True, True, True),  # 03:30 CEST, 05:30 RET, 21:30 AST
        utc(2026, 3, 29, 4): (True, False, True),  # 06:00 CEST, 08:00 RET, 00:00 AST
        utc(2026, 3, 29, 6): (False, False, True),  # 08:00 CEST, 10:00 RET, 02:00 AST
        utc(2026, 3, 29, 12): (False, False, False),  # 08:00 AST
    }
    for at, (paris, reunion, martinique) in expected.items():
        for zone, on in ((PARIS, paris), (REUNION, reunion), (MARTINIQUE, martinique)):
            found = codes(on_duty(sessions, sites[zone.key], at))
            assert found == ([experts[zone.key].code] if on else []), (at, zone.key)
