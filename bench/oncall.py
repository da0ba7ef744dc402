"""`make bench`: "who is on duty" on a large region, in SQL against a brute-force scan.

    .venv/bin/python -m bench.oncall [--quick] [--queries 10000] [--seed 11] [--keep]

A year of a region (2,000 experts, 200 sites in four zones, several hundred thousand
shifts, dated credentials, leave, overrides with their shifts, held and read cases) is
bulk-loaded into SQLite and into PostgreSQL (a temporary database on 127.0.0.1:5432, skipped
with the reason when it cannot be reached). Random questions (an instant in the year, a
site, a modality, a subspecialty one time in three) are put to
`rosters.eligibility.on_duty_experts` and, in the same run, to a brute-force Python scan of
every loaded row; the answers (who, in which order, at which tier, load, reads this shift
and shift end) must agree on every question: the run exits 1 when one does not. See
bench/README.md for how to read the table.
"""

from __future__ import annotations

import argparse
import random
import secrets
import shutil
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Table, create_engine, insert, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from bench.results import percentile
from bench.stack import say
from garde.db import SessionFactory, make_engine, make_session_factory, upgrade
from garde.domain import HELD_STATUSES, CaseStatus, ShiftSource, Tier
from garde.models import Case, Expert, Override, Shift, Site, Unavailability, expert_sites
from garde.vocabulary import MODALITIES, SUBSPECIALTIES
from rosters.eligibility import on_duty_experts

EXPERTS = 2000
SITES = 200
DAYS = 365
QUERIES = 10_000
# --quick: the same region, a tenth of the size, for a run in seconds.
QUICK = {"experts": 200, "sites": 20, "days": 60, "queries": 1000}
CREDENTIALS_PER_EXPERT = 10
SHIFT_CHANCE = 0.45  # per expert and day: a 12-hour day or night, sometimes 24 hours
CASES = 3000
POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
ZONES = ("Europe/Paris",) * 7 + ("Indian/Reunion", "America/Martinique", "Pacific/Noumea")
YEAR_START = datetime(2026, 1, 1, tzinfo=UTC)
_TIER_RANK = {Tier.PRIMARY.value: 0, Tier.BACKUP.value: 1}


@dataclass(frozen=True)
class Question:
    site_id: int
    modality: str
    at: datetime
    subspecialty: str | None


# One answer: per candidate, in order, (code, tier, load, reads this shift, shift end).
Answer = list[tuple[str, str, int, int, datetime]]


@dataclass
class Region:
    """Every row of the region as loaded, kept for the brute-force scan."""

    sites: list[dict[str, Any]] = field(default_factory=list)
    experts: list[dict[str, Any]] = field(default_factory=list)
    credentials: list[dict[str, Any]] = field(default_factory=list)
    shifts: list[dict[str, Any]] = field(default_factory=list)
    unavailability: list[dict[str, Any]] = field(default_factory=list)
    overrides: list[dict[str, Any]] = field(default_factory=list)
    cases: list[dict[str, Any]] = field(default_factory=list)

    def rows(self) -> list[tuple[Table, list[dict[str, Any]]]]:
        """In the order foreign keys need."""
        return [
            (_table(Site), self.sites),
            (_table(Expert), self.experts),
            (expert_sites, self.credentials),
            (_table(Override), self.overrides),
            (_table(Shift), self.shifts),
            (_table(Unavailability), self.unavailability),
            (_table(Case), self.cases),
        ]


def _table(model: type[Any]) -> Table:
    table: Table = model.__table__
    return table


def build_region(rng: random.Random, experts: int, sites: int, days: int) -> Region:
    region = Region()
    for n in range(1, sites + 1):
        region.sites.append(
            {"id": n, "code": f"SITE-{n:03}", "name": f"CH {n}", "timezone": rng.choice(ZONES)}
        )
    for n in range(1, experts + 1):
        region.experts.append(
            {
                "id": n,
                "code": f"DR-{n:04}",
                "name": f"Dr {n}",
                "phone": f"+3360{n:07}",
                "modalities": sorted(rng.sample(MODALITIES, rng.randint(1, 4))),
                "subspecialties": sorted(rng.sample(SUBSPECIALTIES, rng.randint(1, 3))),
                "max_concurrent": rng.randint(1, 3),
                "active": rng.random() > 0.02,
            }
        )
        for site_id in rng.sample(range(1, sites + 1), min(CREDENTIALS_PER_EXPERT, sites)):
            start = (YEAR_START + timedelta(days=rng.randrange(days))).date()
            dated = rng.random()
            region.credentials.append(
                {
                    "expert_id": n,
                    "site_id": site_id,
                    "valid_from": start if 0.6 < dated < 0.8 else None,
                    "valid_until": start if dated >= 0.8 else None,
                }
            )
    _add_shifts(rng, region, days)
    _add_absences(rng, region, days)
    _add_cases(rng, region, days)
    return region


def _add_shifts(rng: random.Random, region: Region, days: int) -> None:
    paris = ZoneInfo("Europe/Paris")
    for expert in region.experts:
        for day in range(days):
            if rng.random() > SHIFT_CHANCE:
                continue
            local = datetime(2026, 1, 1, tzinfo=paris) + timedelta(days=day)
            hours = 24 if rng.random() < 0.1 else 12
            start_hour = rng.choice((8, 20))
            start = local.replace(hour=start_hour).astimezone(UTC)
            end = (local.replace(hour=start_hour) + timedelta(hours=hours)).astimezone(UTC)
            region.shifts.append(
                {
                    "id": len(region.shifts) + 1,
                    "expert_id": expert["id"],
                    "start": start,
                    "end": end,
                    "tier": Tier.PRIMARY.value if rng.random() < 0.6 else Tier.BACKUP.value,
                    "source": ShiftSource.MANUAL.value,
                    "override_id": None,
                }
            )


def _add_absences(rng: random.Random, region: Region, days: int) -> None:
    experts = len(region.experts)
    for expert in region.experts:
        if rng.random() < 0.5:
            start = YEAR_START + timedelta(hours=rng.randrange(days * 24))
            region.unavailability.append(
                {
                    "id": len(region.unavailability) + 1,
                    "expert_id": expert["id"],
                    "start": start,
                    "end": start + timedelta(days=rng.randint(1, 14)),
                    "reason": "leave",
                }
            )
    for replaced in rng.sample(region.shifts, min(len(region.shifts), experts)):
        stand_in = rng.randrange(1, experts + 1)
        if stand_in == replaced["expert_id"]:
            continue
        override_id = len(region.overrides) + 1
        start = replaced["start"] + timedelta(hours=rng.randint(0, 6))
        end = min(replaced["end"], start + timedelta(hours=rng.randint(2, 12)))
        region.overrides.append(
            {
                "id": override_id,
                "expert_id": stand_in,
                "replaces_id": replaced["expert_id"],
                "start": start,
                "end": end,
            }
        )
        region.shifts.append(
            {
                "id": len(region.shifts) + 1,
                "expert_id": stand_in,
                "start": start,
                "end": end,
                "tier": replaced["tier"],
                "source": ShiftSource.OVERRIDE.value,
                "override_id": override_id,
            }
        )


def _add_cases(rng: random.Random, region: Region, days: int) -> None:
    for n in range(1, CASES + 1):
        roll = rng.random()
        status = CaseStatus.ACCEPTED if roll < 0.1 else CaseStatus.PRELIMINARY
        if roll >= 0.15:
            status = CaseStatus.FINAL
        region.cases.append(
            {
                "id": n,
                "site_id": rng.randrange(1, len(region.sites) + 1),
                "accession_number": f"ACC-{n}",
                "modality": "CT",
                "body_part": "HEAD",
                "study_description": "CT head",
                "priority": "urgent",
                "clinical_question": "-",
                "requesting_physician": "-",
                "callback_phone": "+33471000000",
                "status": status.value,
                "assigned_expert_id": rng.randrange(1, len(region.experts) + 1),
                "offer_timeout_s": 300,
                "accept_within_s": 1200,
                "report_within_s": 3600,
                "accepted_at": YEAR_START + timedelta(minutes=rng.randrange(days * 24 * 60)),
            }
        )


def questions(rng: random.Random, region: Region, count: int, days: int) -> list[Question]:
    modalities = ("CT",) * 4 + ("MR",) * 2 + MODALITIES
    return [
        Question(
            site_id=rng.randrange(1, len(region.sites) + 1),
            modality=rng.choice(modalities),
            at=YEAR_START + timedelta(seconds=rng.randrange(days * 86400)),
            subspecialty=rng.choice(SUBSPECIALTIES) if rng.random() < 1 / 3 else None,
        )
        for _ in range(count)
    ]


class BruteForce:
    """The same rules, checked row by row over everything loaded: every shift is looked at
    for every question."""

    def __init__(self, region: Region) -> None:
        self.zones = {s["id"]: ZoneInfo(s["timezone"]) for s in region.sites}
        self.experts = {e["id"]: e for e in region.experts}
        self.credentials = {(c["expert_id"], c["site_id"]): c for c in region.credentials}
        self.shifts = [
            (s["start"].timestamp(), s["end"].timestamp(), s["expert_id"], s) for s in region.shifts
        ]
        self.unavailable = _intervals(region.unavailability, "expert_id")
        self.replaced = _intervals(region.overrides, "replaces_id")
        self.load: dict[int, int] = defaultdict(int)
        self.accepted: dict[int, list[datetime]] = defaultdict(list)
        for case in region.cases:
            if case["status"] in HELD_STATUSES:
                self.load[case["assigned_expert_id"]] += 1
            self.accepted[case["assigned_expert_id"]].append(case["accepted_at"])

    def answer(self, q: Question) -> Answer:
        t = q.at.timestamp()
        on = q.at.astimezone(self.zones[q.site_id]).date()
        best: dict[int, dict[str, Any]] = {}
        covering = [(e, shift) for start, end, e, shift in self.shifts if start <= t < end]
        for expert_id, shift in covering:
            if not self._eligible(expert_id, q, t, on):
                continue
            current = best.get(expert_id)
            if current is None or _order(shift) < _order(current):
                best[expert_id] = shift
        answer = []
        for expert_id, shift in best.items():
            reads = sum(1 for a in self.accepted[expert_id] if shift["start"] <= a <= q.at)
            answer.append(
                (
                    self.experts[expert_id]["code"],
                    shift["tier"],
                    self.load[expert_id],
                    reads,
                    shift["end"],
                )
            )
        return sorted(answer, key=lambda a: (_TIER_RANK[a[1]], a[2], a[3], a[0]))

    def _eligible(self, expert_id: int, q: Question, t: float, on: date) -> bool:
        expert = self.experts[expert_id]
        credential = self.credentials.get((expert_id, q.site_id))
        return (
            expert["active"]
            and credential is not None
            and (credential["valid_from"] is None or credential["valid_from"] <= on)
            and (credential["valid_until"] is None or on <= credential["valid_until"])
            and q.modality in expert["modalities"]
            and (q.subspecialty is None or q.subspecialty in expert["subspecialties"])
            and not any(s <= t < e for s, e in self.unavailable.get(expert_id, ()))
            and not any(s <= t < e for s, e in self.replaced.get(expert_id, ()))
            and self.load[expert_id] < expert["max_concurrent"]
        )


def _intervals(rows: list[dict[str, Any]], key: str) -> dict[int, list[tuple[float, float]]]:
    found: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for row in rows:
        found[row[key]].append((row["start"].timestamp(), row["end"].timestamp()))
    return found


def _order(shift: dict[str, Any]) -> tuple[int, datetime, int]:
    return (_TIER_RANK[shift["tier"]], shift["start"], shift["id"])


def load(url: str, region: Region) -> float:
    """Migrate, bulk-insert every row, gather the planner's statistics; the seconds taken."""
    began = time.perf_counter()
    upgrade(url)
    engine = make_engine(url)
    with engine.begin() as connection:
        for table, rows in region.rows():
            for chunk in range(0, len(rows), 20_000):
                connection.execute(insert(table), rows[chunk : chunk + 20_000])
    with engine.connect() as connection:
        connection.execute(text("ANALYZE"))
        connection.commit()
    engine.dispose()
    return time.perf_counter() - began


def ask(sessions: SessionFactory, q: Question) -> tuple[Answer, float]:
    """The answer of on_duty_experts, in a session of its own as routing opens one, and the
    milliseconds it took."""
    with sessions() as s:
        began = time.perf_counter()
        ranked = on_duty_experts(
            s, site_id=q.site_id, modality=q.modality, at=q.at, subspecialty=q.subspecialty
        )
        took = (time.perf_counter() - began) * 1000
    return [(c.code, c.tier.value, c.load, c.reads_this_shift, c.shift_end) for c in ranked], took


@dataclass
class Run:
    backend: str
    load_s: float = 0.0
    ms: list[float] = field(default_factory=list)
    disagreements: list[str] = field(default_factory=list)
    skipped: str = ""


def run_backend(
    backend: str,
    url: str,
    region: Region,
    asked: list[Question],
    expected: list[Answer],
) -> Run:
    run = Run(backend, load_s=load(url, region))
    say(f"{backend}: loaded in {run.load_s:.1f} s; asking {len(asked)} questions ...")
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    for q in asked[: min(50, len(asked))]:  # warm the connection pool and statement caches
        ask(sessions, q)
    for q, want in zip(asked, expected, strict=True):
        got, took = ask(sessions, q)
        run.ms.append(took)
        if got != want:
            run.disagreements.append(f"{q}: SQL {got} != brute force {want}")
    engine.dispose()
    return run


@contextmanager
def postgres_database() -> Iterator[str | None]:
    """A temporary database, dropped afterwards; None when PostgreSQL cannot be reached."""
    name = "garde_bench_" + secrets.token_hex(4)
    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as c:
            c.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError as e:
        say(f"PostgreSQL skipped: not reachable at {POSTGRES_URL} ({type(e).__name__})")
        admin.dispose()
        yield None
        return
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def timed(
    function: Callable[[Question], Answer], asked: list[Question]
) -> tuple[list[Answer], list[float]]:
    answers, ms = [], []
    for q in asked:
        began = time.perf_counter()
        answers.append(function(q))
        ms.append((time.perf_counter() - began) * 1000)
    return answers, ms


def table(runs: list[Run], brute_ms: list[float], questions_count: int) -> str:
    brute50, brute99 = percentile(brute_ms, 50), percentile(brute_ms, 99)
    lines = [
        f"{'backend':<12}{'SQL p50':>10}{'SQL p99':>10}{'brute p50':>12}{'brute p99':>12}"
        f"{'brute/SQL p50':>15}{'agree':>14}",
        "-" * 85,
    ]
    for run in runs:
        if run.skipped:
            lines.append(f"{run.backend:<12}skipped: {run.skipped}")
            continue
        p50, p99 = percentile(run.ms, 50), percentile(run.ms, 99)
        agreed = questions_count - len(run.disagreements)
        lines.append(
            f"{run.backend:<12}{p50:>7.2f} ms{p99:>7.2f} ms{brute50:>9.1f} ms{brute99:>9.1f} ms"
            f"{brute50 / p50:>14.1f}x{f'{agreed}/{questions_count}':>14}"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="bench.oncall", description="on-call benchmark")
    parser.add_argument("--quick", action="store_true", help="a tenth of the region")
    parser.add_argument("--queries", type=int, help=f"questions (default {QUERIES})")
    parser.add_argument("--seed", type=int, default=11, help="the region and questions")
    parser.add_argument("--keep", action="store_true", help="keep the SQLite database")
    args = parser.parse_args(argv)
    if args.queries is not None and args.queries < 1:
        parser.error("--queries must be at least 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    size = QUICK if args.quick else {"experts": EXPERTS, "sites": SITES, "days": DAYS}
    count = args.queries or (QUICK["queries"] if args.quick else QUERIES)
    rng = random.Random(args.seed)
    folder = Path(tempfile.mkdtemp(prefix="garde-bench-oncall-"))
    try:
        region = build_region(rng, size["experts"], size["sites"], size["days"])
        asked = questions(rng, region, count, size["days"])
        say(
            f"region: {len(region.experts)} experts, {len(region.sites)} sites, "
            f"{len(region.shifts)} shifts over {size['days']} days, "
            f"{len(region.credentials)} credentials, {len(region.unavailability)} leaves, "
            f"{len(region.overrides)} overrides, {len(region.cases)} cases"
        )
        say(f"brute force: {count} questions ...")
        brute = BruteForce(region)
        expected, brute_ms = timed(brute.answer, asked)
        sqlite = f"sqlite:///{folder / 'oncall.db'}"
        runs = [run_backend("sqlite", sqlite, region, asked, expected)]
        with postgres_database() as url:
            if url is None:
                runs.append(Run("postgresql", skipped=f"not reachable at {POSTGRES_URL}"))
            else:
                runs.append(run_backend("postgresql", url, region, asked, expected))
    except KeyboardInterrupt:
        say("interrupted")
        return 130
    finally:
        if args.keep:
            say(f"kept {folder}")
        else:
            shutil.rmtree(folder, ignore_errors=True)
    found = sum(len(a) for a in expected)
    print(
        f"{count} questions on {len(region.experts)} experts, {len(region.sites)} sites, "
        f"{len(region.shifts)} shifts; {found / count:.1f} eligible on average, "
        f"{sum(1 for a in expected if not a)} questions with nobody"
    )
    print(table(runs, brute_ms, count))
    for run in runs:
        for line in run.disagreements[:10]:
            print(f"{run.backend} disagrees: {line}")
    return 1 if any(run.disagreements for run in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
