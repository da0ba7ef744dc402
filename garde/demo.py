"""A fictional demo region (Auvergne) with sites, experts, logins and a four-week roster
built from rotations, as a coordinator would build it."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from garde.accounts import add_user
from garde.demo_history import add_history, previous_month
from garde.domain import Role, Tier
from garde.models import Coordinator, Expert, Rotation, Site, User
from garde.registry import create_coordinator, create_expert, create_site
from rosters.rotations import DAYS, create_rotation, generate, slots, update_rotation

PARIS = ZoneInfo("Europe/Paris")
DAY_START = time(8, 0)
NIGHT_START = time(20, 0)
ROSTER_DAYS = 28
# The teams' turns are counted from a fixed date, not from "today": a later run asks the
# rotations for the same assignment on the days it shares with an earlier run, so it only
# adds the new days.
ROTATION_ANCHOR = date(2024, 1, 1)
# Each team in turn takes the day shift as primary, then the next night as primary, then a
# day and a night as backup (on call from home): on day n the team in a role is
# TEAMS[(n - offset) % 3]. One rotation per role and seat of the team (four seats).
ROLES: tuple[tuple[str, time, time, Tier, int], ...] = (
    ("days primary", DAY_START, NIGHT_START, Tier.PRIMARY, 0),
    ("nights primary", NIGHT_START, DAY_START, Tier.PRIMARY, 1),
    ("days backup", DAY_START, NIGHT_START, Tier.BACKUP, 2),
    ("nights backup", NIGHT_START, DAY_START, Tier.BACKUP, 2),
)

COORDINATOR_PASSWORD = "garde-coord"
ADMIN_PASSWORD = "garde-admin"
SITE_PASSWORD = "garde-site"
EXPERT_PASSWORD = "garde-expert"

PRICES = {"CT": 9000, "MR": 12000, "CR": 3000, "DX": 3000, "US": 5000, "default": 6000}
# The rest of each demo site's first tariff version, as a French contract has it: the
# emergency modifiers as amounts, night (U) or Sunday and holiday (F), the highest of them,
# stat on top; priced at acceptance; a cancellation after acceptance billed a flat fee.
TARIFF: dict[str, Any] = {
    "surcharges": {
        "night": {"cents": 4000, "percent": 0},
        "sunday": {"cents": 2500, "percent": 0},
        "holiday": {"cents": 2500, "percent": 0},
        "stat": {"cents": 1500, "percent": 0},
    },
    "cumulative": False,
    "holidays": "FR",
    "priced_at": "acceptance",
    "cancellation_cents": 2000,
}


@dataclass(frozen=True)
class DemoSite:
    code: str
    name: str
    ae_titles: tuple[str, ...]
    phone: str
    # Its RIS sends HL7 orders from this facility (MSH-4); under régulation, an expert
    # validates each indication with a protocol before the scan.
    hl7_facility: str | None = None
    regulation: bool = False


@dataclass(frozen=True)
class DemoExpert:
    code: str
    name: str
    phone: str
    subspecialties: tuple[str, ...]
    modalities: tuple[str, ...]
    sites: tuple[str, ...]
    max_concurrent: int = 2
    language: str = "fr"  # of their SMS; one expert per team reads English


# Hospital names are invented; site phones are in ARCEP's range kept for fiction (04 65 71).
SITES = (
    DemoSite(
        "CH-AURILLAC",
        "Centre hospitalier du Puy Mary (Aurillac, demo)",
        ("AURILLAC_CT", "AURILLAC_MR"),
        "+33465710001",
        hl7_facility="CHAURILLAC",
    ),
    DemoSite(
        "CH-MOULINS",
        "Hôpital des Bords d'Allier (Moulins, demo)",
        ("MOULINS_CT", "MOULINS_MR"),
        "+33465710002",
    ),
    DemoSite(
        "CH-LE-PUY",
        "Centre hospitalier des Sucs (Le Puy-en-Velay, demo)",
        ("LEPUY_CT",),
        "+33465710003",
        hl7_facility="CHLEPUY",
        regulation=True,
    ),
    DemoSite(
        "CH-VICHY",
        "Hôpital des Sources (Vichy, demo)",
        ("VICHY_CT", "VICHY_MR"),
        "+33465710004",
    ),
    DemoSite(
        "CH-ISSOIRE",
        "Centre hospitalier du Lembron (Issoire, demo)",
        ("ISSOIRE_CT",),
        "+33465710005",
    ),
    DemoSite(
        "CH-THIERS",
        "Hôpital de la Durolle (Thiers, demo)",
        ("THIERS_CT",),
        "+33465710006",
    ),
)

_AUR, _MOU, _PUY, _VIC, _ISS, _THI = (s.code for s in SITES)

# Three teams of four. Within each team every site is credentialed to at least two experts,
# so the primary team plus the backup team on duty give every site at least four CT readers.
TEAMS: tuple[tuple[DemoExpert, ...], ...] = (
    (
        DemoExpert(
            "DR-MARTIN",
            "Dr Claire Martin",
            "+33600000001",
            ("neuro",),
            ("CT", "MR"),
            (_AUR, _MOU, _PUY, _VIC),
        ),
        DemoExpert(
            "DR-BERNARD",
            "Dr Hugo Bernard",
            "+33600000002",
            ("body", "vascular"),
            ("CT", "US"),
            (_PUY, _VIC, _ISS, _THI),
            3,
        ),
        DemoExpert(
            "DR-DUBOIS",
            "Dr Inès Dubois",
            "+33600000003",
            ("msk",),
            ("CT", "MR", "CR", "DX"),
            (_AUR, _MOU, _ISS, _THI),
        ),
        DemoExpert(
            "DR-THOMAS",
            "Dr Louis Thomas",
            "+33600000004",
            ("chest",),
            ("CT", "CR", "DX"),
            (_AUR, _MOU, _VIC, _THI),
            language="en",
        ),
    ),
    (
        DemoExpert(
            "DR-ROBERT",
            "Dr Camille Robert",
            "+33600000005",
            ("paediatric", "msk"),
            ("CT", "MR", "CR", "DX", "US"),
            (_PUY, _VIC, _ISS, _THI),
        ),
        DemoExpert(
            "DR-RICHARD",
            "Dr Antoine Richard",
            "+33600000006",
            ("neuro", "vascular"),
            ("CT", "MR"),
            (_ISS, _THI, _AUR, _MOU),
        ),
        DemoExpert(
            "DR-PETIT",
            "Dr Sarah Petit",
            "+33600000007",
            ("body",),
            ("CT", "MR", "US"),
            (_PUY, _VIC, _AUR, _MOU),
            3,
            language="en",
        ),
        DemoExpert(
            "DR-DURAND",
            "Dr Julien Durand",
            "+33600000008",
            ("chest", "vascular"),
            ("CT", "CR", "DX"),
            (_PUY, _VIC, _THI, _MOU),
        ),
    ),
    (
        DemoExpert(
            "DR-LEROY",
            "Dr Emma Leroy",
            "+33600000009",
            ("neuro", "paediatric"),
            ("CT", "MR"),
            (_ISS, _THI, _AUR, _MOU),
        ),
        DemoExpert(
            "DR-MOREAU",
            "Dr Nicolas Moreau",
            "+33600000010",
            ("msk", "body"),
            ("CT", "MR", "CR", "DX"),
            (_AUR, _MOU, _PUY, _VIC),
        ),
        DemoExpert(
            "DR-SIMON",
            "Dr Léa Simon",
            "+33600000011",
            ("vascular",),
            ("CT", "MR", "XA"),
            (_ISS, _THI, _PUY, _VIC),
            language="en",
        ),
        DemoExpert(
            "DR-LAURENT",
            "Dr Paul Laurent",
            "+33600000012",
            ("chest", "body"),
            ("CT", "CR", "DX", "US"),
            (_ISS, _THI, _MOU, _VIC),
            3,
        ),
    ),
)

EXPERTS = tuple(expert for team in TEAMS for expert in team)

# The person behind the `coordinator` login, texted by the escalation ladder.
COORDINATOR = {
    "code": "COORD-AUVERGNE",
    "name": "Régulation Auvergne (demo)",
    "phone": "+33465710099",
    "language": "fr",
    "username": "coordinator",
}


def _facility(code: str) -> str | None:
    return next(s.hl7_facility for s in SITES if s.code == code)


def _site_login(code: str) -> str:
    return code.lower()


def _expert_login(code: str) -> str:
    return code.lower()


DEMO_LOGINS: list[tuple[str, str, str]] = [
    ("coordinator", COORDINATOR_PASSWORD, "coordinator"),
    ("admin", ADMIN_PASSWORD, "admin"),
    *((_site_login(s.code), SITE_PASSWORD, f"site {s.code}") for s in SITES),
    *(
        (_expert_login(e.code), EXPERT_PASSWORD, f"expert {e.code} ({', '.join(e.subspecialties)})")
        for e in EXPERTS
    ),
]


def demo_logins_exist(session: Session) -> bool:
    """Whether a login made by the demo region is still there (its password is published)."""
    return session.scalar(select(User.id).where(User.demo.is_(True)).limit(1)) is not None


def demo_logins_table() -> str:
    """The demo logins as `garde up` prints them: who, login and password in columns."""
    rows = [(what, login, password) for login, password, what in DEMO_LOGINS]
    widths = [max(len(row[i]) for row in rows) for i in range(2)]
    return "\n".join(
        f"  {what:<{widths[0]}}  {login:<{widths[1]}}  {password}" for what, login, password in rows
    )


def load_demo_data(session: Session, *, today: date | None = None) -> str:
    """Add whatever of the demo region is missing; return a one-paragraph summary.

    Sites, experts and logins are matched by code and username, rotations by name, and
    generating a rotation again adds only its missing shifts, so a second run adds nothing,
    and a run on a later day adds only the new days. Last month's reads are added once
    (garde/demo_history.py).
    """
    today = today or datetime.now(PARIS).date()
    sites_added = sum(_ensure_site(session, site) for site in SITES)
    experts_added = sum(_ensure_expert(session, expert) for expert in EXPERTS)
    logins_added = _ensure_logins(session)
    _ensure_coordinator(session)
    rotations_added, shifts_added, first, last = _ensure_rotations(session, today)
    session.flush()
    reads_added = add_history(session, today, (s.code for s in SITES), (e.code for e in EXPERTS))
    return (
        f"Demo region Auvergne (fictional): {len(SITES)} sites, {len(EXPERTS)} experts in three "
        f"teams, day (08:00-20:00) and night (20:00-08:00) shifts at primary and backup tiers "
        f"generated by {len(ROLES) * len(TEAMS[0])} rotations ({rotations_added} new) "
        f"from {first:%Y-%m-%d %H:%M} to {last:%Y-%m-%d %H:%M} Europe/Paris time. "
        f"Last month ({previous_month(today)}) has fictional reads with their signed reports "
        f"and billing lines, to invoice. This run added {sites_added} sites, {experts_added} "
        f"experts, {shifts_added} shifts, {logins_added} logins and {reads_added} past reads. "
        f"{_PUY} works under régulation (an expert validates each request with a protocol "
        f"before the scan); {_PUY} and {_AUR} take HL7 orders from their RIS (MSH-4 "
        f"{_facility(_PUY)}, {_facility(_AUR)}). "
        f"Demo logins: coordinator / {COORDINATOR_PASSWORD}, "
        f"admin / {ADMIN_PASSWORD}, each site by its code in lower case (e.g. "
        f"{_site_login(SITES[0].code)}) / {SITE_PASSWORD}, each expert by their code in lower "
        f"case (e.g. {_expert_login(EXPERTS[0].code)}) / {EXPERT_PASSWORD}."
    )


def rotations(today: date) -> Iterator[dict[str, Any]]:
    """The demo rotations as `POST /api/v1/rotations` takes them, from the night before
    `today` (it covers today's first hours) for ROSTER_DAYS days."""
    first = today - timedelta(days=1)
    until = today + timedelta(days=ROSTER_DAYS - 1)
    n = (first - ROTATION_ANCHOR).days
    for role, start, end, tier, offset in ROLES:
        for seat in range(len(TEAMS[0])):
            yield {
                "name": f"Auvergne {role} {seat + 1}",
                "experts": [TEAMS[(n + turn - offset) % 3][seat].code for turn in range(3)],
                "tier": tier.value,
                "timezone": "Europe/Paris",
                "days": list(DAYS),
                "start_time": f"{start:%H:%M}",
                "end_time": f"{end:%H:%M}",
                "handoff_every_days": 1,
                "from": first.isoformat(),
                "until": until.isoformat(),
            }


def _ensure_rotations(session: Session, today: date) -> tuple[int, int, datetime, datetime]:
    """Create or move the demo rotations and generate them; answers the rotations and shifts
    added and the roster's first start and last end (Paris time)."""
    # Generated as of the start of last night, not of this minute: cases sent at any hour of
    # today find someone on duty, whatever the hour the demo is loaded.
    since = datetime.combine(today - timedelta(days=1), NIGHT_START, tzinfo=PARIS)
    rotations_added = shifts_added = 0
    planned = []
    for data in rotations(today):
        rotation = session.scalar(select(Rotation).where(Rotation.name == data["name"]))
        if rotation is None:
            rotation = create_rotation(session, data)
            result = generate(session, rotation, since)
            rotations_added += 1
        else:
            result = update_rotation(session, rotation, data, since)
        shifts_added += result.created
        planned += [s for s in slots(rotation) if s.start >= since]
    first = min(s.start for s in planned).astimezone(PARIS)
    last = max(s.end for s in planned).astimezone(PARIS)
    return rotations_added, shifts_added, first, last


def _ensure_site(session: Session, site: DemoSite) -> bool:
    if session.scalar(select(Site.id).where(Site.code == site.code)) is not None:
        return False
    create_site(
        session,
        {
            "code": site.code,
            "name": site.name,
            "timezone": "Europe/Paris",
            "ae_titles": list(site.ae_titles),
            "phone": site.phone,
            "prices": dict(PRICES),
            "expert_share_percent": 70,
            "hl7_facility": site.hl7_facility,
            "regulation": site.regulation,
        },
        tariff=TARIFF,
    )
    return True


def _ensure_expert(session: Session, expert: DemoExpert) -> bool:
    if session.scalar(select(Expert.id).where(Expert.code == expert.code)) is not None:
        return False
    create_expert(
        session,
        {
            "code": expert.code,
            "name": expert.name,
            "phone": expert.phone,
            "subspecialties": list(expert.subspecialties),
            "modalities": list(expert.modalities),
            "sites": list(expert.sites),
            "max_concurrent": expert.max_concurrent,
            "language": expert.language,
        },
    )
    return True


# Each demo expert's language, which their login's pages use too.
EXPERT_LANGUAGES = {e.code: e.language for e in EXPERTS}


def _ensure_logins(session: Session) -> int:
    wanted: list[tuple[str, str, Role, str | None, str | None]] = [
        ("coordinator", COORDINATOR_PASSWORD, Role.COORDINATOR, None, None),
        ("admin", ADMIN_PASSWORD, Role.ADMIN, None, None),
        *((_site_login(s.code), SITE_PASSWORD, Role.SITE, s.code, None) for s in SITES),
        *((_expert_login(e.code), EXPERT_PASSWORD, Role.EXPERT, None, e.code) for e in EXPERTS),
    ]
    existing = set(session.scalars(select(User.username)))
    added = 0
    for username, password, role, site_code, expert_code in wanted:
        if username in existing:
            continue
        user = add_user(session, username, password, role, site_code, expert_code, demo=True)
        # The demo region is French; an expert who reads SMS in English reads pages in it too.
        user.language = EXPERT_LANGUAGES.get(expert_code or "", "fr")
        added += 1
    return added


def _ensure_coordinator(session: Session) -> None:
    if session.scalar(select(Coordinator.id).where(Coordinator.code == COORDINATOR["code"])):
        return
    create_coordinator(session, dict(COORDINATOR))
