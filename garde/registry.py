"""Sites, experts and coordinators: created and changed from validated input (API, pages,
demo). Each input is a model, which openapi.json also describes. The registry's own checks
(a code or a phone already used, a site unknown) read the session from the validation
context, so that every problem of one input is named at once."""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    ValidationInfo,
    field_validator,
)
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, object_session, selectinload

from billing.tariffs import ALWAYS, add_version, local_today
from garde import phones, vocabulary
from garde.domain import Priority, Role
from garde.errors import InvalidInput
from garde.models import Coordinator, Credential, Expert, Site, SiteAeTitle, User, expert_sites
from garde.service_levels import parse_escalation, parse_service_levels
from garde.validation import (
    AE_TITLE,
    CODE,
    CONTROL,
    CONTROL_REASON,
    Input,
    between,
    choice,
    phone,
    text,
    validated,
    words,
    zone,
)

LANGUAGES = ("fr", "en")
# A host name or an IPv4 address (IPv6 goes in brackets).
HOST = re.compile(r"^[A-Za-z0-9][A-Za-z0-9.-]{0,252}$")
DEFAULT_ZONE = "Europe/Paris"
# What a list of experts shows with each: their sites and credentials, in two queries.
WITH_CREDENTIALS = (selectinload(Expert.sites), selectinload(Expert.credentials))
# What a list of sites shows with each: their AE titles and price lists, in two queries.
WITH_TITLES_AND_TARIFFS = (selectinload(Site.ae_title_rows), selectinload(Site.tariffs))


def _session(info: ValidationInfo) -> Session:
    session = (info.context or {}).get("session")
    assert isinstance(session, Session), "the registry validates with a session in its context"
    return session


def _unused(table: type[Site] | type[Expert] | type[Coordinator], what: str) -> AfterValidator:
    def check(code: str, info: ValidationInfo) -> str:
        if _session(info).scalar(select(table.id).where(table.code == code)) is not None:
            raise ValueError(f"is already used by another {what}")
        return code

    return AfterValidator(check)


def _free_phone(value: str, info: ValidationInfo) -> str:
    """An expert's phone is theirs alone: the SMS answers from it name the expert."""
    other = _session(info).scalar(select(Expert.id).where(Expert.phone == value))
    if other is not None and other != (info.context or {}).get("expert_id"):
        raise ValueError("is already the phone of another expert")
    return value


def _language(value: Any) -> Any:
    if isinstance(value, str) and value.strip().lower() not in LANGUAGES:
        raise ValueError("must be fr or en")
    return value.strip().lower() if isinstance(value, str) else value


def _ae_titles(values: list[str]) -> list[str]:
    items = [v.strip() for v in values if v.strip()]
    if any(CONTROL.search(v) for v in values):
        raise ValueError(CONTROL_REASON)
    bad = [v for v in items if not AE_TITLE.match(v)]
    if bad:
        raise ValueError(f"{', '.join(bad)}: must be 1 to 16 printable ASCII characters")
    return list(dict.fromkeys(items))


def _free_ae_titles(values: list[str], info: ValidationInfo) -> list[str]:
    """The gateway knows a site by the AE title it calls from: a title names one site."""
    used = _session(info).execute(
        select(SiteAeTitle.ae_title, Site.code)
        .join(Site)
        .where(SiteAeTitle.ae_title.in_(values), Site.id != (info.context or {}).get("site_id"))
    )
    taken = [f"{title} is already used by site {code}" for title, code in used]
    if taken:
        raise ValueError("; ".join(sorted(taken)))
    return values


def _comma_list(value: Any) -> Any:
    """A form sends a list as "a, b"; JSON sends a list."""
    return value.split(",") if isinstance(value, str) else value


def _prices(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, int) and not isinstance(v, bool) and v >= 0
        for k, v in value.items()
    ):
        raise ValueError("must map modality codes to non-negative prices in cents")
    return {k.upper() if k != "default" else k: v for k, v in value.items()}


def _known_sites(codes: list[str], info: ValidationInfo) -> list[str]:
    found = _site_ids(_session(info), codes)
    unknown = [c for c in codes if c not in found]
    if unknown:
        raise ValueError(f"unknown site {', '.join(unknown)}")
    return codes


def _some(values: list[str]) -> list[str]:
    if not values:
        raise ValueError("must name at least one modality")
    return values


Zone = Annotated[str, zone()]
SitePhone = Annotated[str, phone()]
ExpertPhone = Annotated[str, phone(), AfterValidator(_free_phone)]
Code = Annotated[str, text(32, pattern=CODE, description="never changes: others know it by it")]
Name = Annotated[str, text(200)]
Language = Annotated[
    str, BeforeValidator(_language), Field(json_schema_extra={"enum": list(LANGUAGES)})
]
AeTitles = Annotated[
    list[str],
    BeforeValidator(_comma_list),
    AfterValidator(_ae_titles),
    AfterValidator(_free_ae_titles),
    Field(description="the DICOM AE titles the site sends from, each used by no other site"),
]
Prices = Annotated[
    dict[str, int],
    BeforeValidator(_prices),
    Field(description="price in cents per modality code, and 'default'"),
]


def _title_pairs(value: Any) -> Any:
    if not isinstance(value, Mapping):
        raise ValueError("must pair AE titles with a priority, e.g. CT1=urgent")
    return value


def _endpoints(value: Any) -> dict[str, str]:
    """Each AE title's `host:port` (a name, an IPv4 address or a bracketed IPv6 one)."""
    if not isinstance(value, Mapping):
        raise ValueError("must pair AE titles with host:port, e.g. PACS1=10.0.0.5:104")
    found: dict[str, str] = {}
    for title, address in value.items():
        if not isinstance(title, str) or not isinstance(address, str):
            raise ValueError("must pair AE titles with host:port, e.g. PACS1=10.0.0.5:104")
        host, _, port = address.strip().rpartition(":")
        bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        if not (HOST.match(bare) or _ipv6(bare)):
            raise ValueError(f"{title}: {address[:64]!r} is not host:port")
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise ValueError(f"{title}: the port must be a number from 1 to 65535")
        found[title.strip()] = f"{host}:{int(port)}"
    return found


def _ipv6(text: str) -> bool:
    try:
        return ipaddress.ip_address(text).version == 6
    except ValueError:
        return False


OpensCases = Annotated[
    dict[str, Annotated[Priority, choice()]],
    BeforeValidator(_title_pairs),
    Field(
        description="the site's AE titles whose studies open a case when no request matches "
        "them, each with that case's priority (the site is then reminded to give the clinical "
        "question)",
        examples=[{"CT1": "urgent"}],
    ),
]
MoveDestinations = Annotated[
    dict[str, str],
    BeforeValidator(_endpoints),
    Field(
        description="the site's AE titles a C-MOVE may send its studies to (its PACS "
        "restoring from Garde), each with the host:port it listens on; a C-MOVE to any other "
        "destination fails (0xA801)",
        examples=[{"PACS1": "10.0.0.5:104"}],
    ),
]


def _webhook_url(value: str) -> str:
    """HTTPS, the report's clinical text travels in it; plain HTTP only to this machine (a
    relay beside Garde, or a test)."""
    parsed = urlsplit(value)
    loopback = parsed.hostname in ("localhost", "127.0.0.1", "::1")
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise ValueError("must be an https:// URL")
    if parsed.scheme == "http" and not loopback:
        raise ValueError("must be an https:// URL (http:// only to this machine)")
    if parsed.username or parsed.password:
        raise ValueError("must not carry a user or password: the secret signs the body")
    return value


def _hl7_endpoint(value: str) -> str:
    return _endpoints({"hl7_endpoint": value})["hl7_endpoint"]


def _ack_deadlines(value: Any) -> dict[str, int]:
    if not isinstance(value, Mapping):
        raise ValueError('must give seconds per category, e.g. {"1": 900, "2": 3600}')
    found: dict[str, int] = {}
    for category, seconds in value.items():
        if str(category) not in ("1", "2"):
            raise ValueError(f"{str(category)[:8]!r}: only categories 1 and 2 are acknowledged")
        if isinstance(seconds, bool) or not isinstance(seconds, int | str):
            raise ValueError(f"category {category}: must be a number of seconds")
        if isinstance(seconds, str) and not seconds.strip().isdigit():
            raise ValueError(f"category {category}: must be a number of seconds")
        if not 60 <= int(seconds) <= 7 * 24 * 3600:
            raise ValueError(f"category {category}: must be from 60 seconds to 7 days")
        found[str(category)] = int(seconds)
    return found


ReportWebhookUrl = Annotated[
    str,
    text(500),
    AfterValidator(_webhook_url),
    Field(
        description="where each report version is posted as a FHIR bundle (https://), "
        "signed with report_webhook_secret; empty: not posted",
        examples=["https://ris.example.org/garde/reports"],
    ),
]
ReportWebhookSecret = Annotated[
    str,
    text(200, min_length=16),
    Field(
        description="the key of the X-Garde-Signature header (hex HMAC-SHA256 of the body); "
        "at least 16 characters; never shown again"
    ),
]
Hl7Endpoint = Annotated[
    str,
    text(300),
    AfterValidator(_hl7_endpoint),
    Field(
        description="host:port of the site's MLLP listener, which takes each report version "
        "as an HL7 v2.5 ORU^R01; empty: not sent",
        examples=["10.0.0.7:2575"],
    ),
]


def _hl7_facility(value: str) -> str:
    if "|" in value or "\\" in value:
        raise ValueError("must not contain | or \\ (HL7 separators)")
    return value


def _free_hl7_facility(value: str | None, info: ValidationInfo) -> str | None:
    """The listener knows a site by its messages' MSH-4: a facility names one site."""
    if value is None:
        return None
    other = _session(info).scalar(select(Site.code).where(Site.hl7_facility == value))
    if other is not None and other != (info.context or {}).get("site_code"):
        raise ValueError(f"is already the facility of site {other}")
    return value


Hl7Facility = Annotated[
    str,
    text(180),
    AfterValidator(_hl7_facility),
    AfterValidator(_free_hl7_facility),
    Field(
        description="the sending facility (MSH-4) of the HL7 v2 orders the site's RIS sends; "
        "a facility names one site; empty: the site sends none",
        examples=["CHPUY"],
    ),
]
Regulation = Annotated[
    bool,
    Field(
        description="an expert validates each request's indication with a protocol before "
        "the scan (the case starts as to_validate); the report is then due from the scan"
    ),
]
RerouteAfterScan = Annotated[
    bool,
    Field(
        description="under régulation, the scan sends the case up the ladder again rather "
        "than to the expert who validated it"
    ),
]
CriticalAckWithin = Annotated[
    dict[str, int],
    BeforeValidator(_ack_deadlines),
    Field(
        description="seconds the site has to acknowledge a critical finding, per ACR "
        'category ("1" immediate, "2" urgent); the ones not given: 900 and 3600',
        examples=[{"1": 900, "2": 3600}],
    ),
]
RetentionDays = Annotated[
    int,
    between(
        1,
        36500,
        description="days a study stays retrievable (DICOMweb, C-GET, C-MOVE) after its last "
        "object arrived; then the nightly purge deletes it, unless its case is open or it is "
        "under legal hold",
    ),
]
SharePercent = Annotated[int, between(0, 100)]
QuietSeconds = Annotated[
    int,
    between(
        5,
        3600,
        description="a study received for the site is called stable after this long without "
        "an object (seconds; never proof that it is complete)",
    ),
]
ServiceLevels = Annotated[
    dict[str, dict[str, int]],
    Field(
        description="per priority (stat, urgent, routine), any of offer_timeout_s (how long "
        "each expert has to answer an offer), accept_within_s (from the request to an "
        "expert's acceptance), report_within_s (from the request to the final report; "
        "under régulation, from the scan), validate_within_s (régulation: from the request "
        "to the indication's validation), in seconds; the numbers not given stay as they were",
        examples=[{"stat": {"offer_timeout_s": 180, "accept_within_s": 600}}],
    ),
]
Escalation = Annotated[
    dict[str, list[str]],
    Field(
        description="per priority, the ladder's steps in order: `primary` and `backup` "
        "offer the case to one expert of that tier at a time, best first; `broadcast` to "
        "every eligible expert at once; `coordinator` alerts the coordinators. The ladder "
        "starts again after a pause until the case is taken or cancelled.",
        examples=[{"stat": ["broadcast", "coordinator"]}],
    ),
]
Modalities = Annotated[
    list[str], words(vocabulary.modality, vocabulary.MODALITIES), AfterValidator(_some)
]
Subspecialties = Annotated[list[str], words(vocabulary.subspecialty, vocabulary.SUBSPECIALTIES)]
MaxConcurrent = Annotated[int, between(1, 50, description="cases held at once")]
Sites = Annotated[
    list[Annotated[str, text(32)]],
    BeforeValidator(_comma_list),
    AfterValidator(lambda v: list(dict.fromkeys(s.strip() for s in v if s.strip()))),
    AfterValidator(_known_sites),
    Field(description="codes of the sites the expert is credentialed for (without dates)"),
]


class CredentialInput(Input):
    """The expert may read for the site between two dates of the site's zone, both
    included; null: without limit."""

    site: Annotated[str, text(32, description="the site's code")]
    valid_from: date | None = None
    valid_until: date | None = None

    @field_validator("site")
    @classmethod
    def _known(cls, code: str, info: ValidationInfo) -> str:
        if code not in _site_ids(_session(info), [code]):
            raise ValueError(f"unknown site {code}")
        return code

    @field_validator("valid_until")
    @classmethod
    def _after_from(cls, value: date | None, info: ValidationInfo) -> date | None:
        first = info.data.get("valid_from")
        if value is not None and first is not None and value < first:
            raise ValueError("must be on or after valid_from")
        return value


def _once_each(credentials: list[CredentialInput]) -> list[CredentialInput]:
    codes = [c.site for c in credentials]
    twice = sorted({c for c in codes if codes.count(c) > 1})
    if twice:
        raise ValueError(f"{', '.join(twice)} is given twice")
    return credentials


Credentials = Annotated[
    list[CredentialInput],
    AfterValidator(_once_each),
    Field(description="instead of `sites`: credentials with their dates"),
]


class SiteInput(Input):
    """A new site and its contract."""

    code: Annotated[Code, _unused(Site, "site")]
    name: Name
    timezone: Zone = DEFAULT_ZONE
    ae_titles: AeTitles = []
    opens_cases: OpensCases = {}
    phone: SitePhone = ""
    language: Language = "fr"
    prices: Prices = {}
    expert_share_percent: SharePercent = 70
    study_quiet_s: QuietSeconds = 30
    study_retention_days: RetentionDays = 90
    move_destinations: MoveDestinations = {}
    service_levels: ServiceLevels | None = None
    escalation: Escalation | None = None
    report_webhook_url: ReportWebhookUrl = ""
    report_webhook_secret: ReportWebhookSecret | None = None
    hl7_endpoint: Hl7Endpoint = ""
    critical_ack_within_s: CriticalAckWithin = {}
    hl7_facility: Hl7Facility | None = None
    regulation: Regulation = False
    reroute_after_scan: RerouteAfterScan = False


class SiteChange(Input):
    """Only the fields given change; `code` cannot. Cases already requested keep the promise
    they were made."""

    name: Name | None = None
    timezone: Zone | None = None
    ae_titles: AeTitles | None = None
    opens_cases: OpensCases | None = Field(None, description="empty: none")
    phone: SitePhone | None = Field(None, description="empty: none")
    language: Language | None = None
    prices: Prices | None = None
    expert_share_percent: SharePercent | None = None
    study_quiet_s: QuietSeconds | None = None
    study_retention_days: RetentionDays | None = Field(None, description="empty: 90")
    move_destinations: MoveDestinations | None = Field(None, description="empty: none")
    service_levels: ServiceLevels | None = None
    escalation: Escalation | None = None
    report_webhook_url: ReportWebhookUrl | None = Field(None, description="empty: none")
    report_webhook_secret: ReportWebhookSecret | None = None
    hl7_endpoint: Hl7Endpoint | None = Field(None, description="empty: none")
    critical_ack_within_s: CriticalAckWithin | None = Field(None, description="empty: the defaults")
    hl7_facility: Hl7Facility | None = Field(None, description="empty: none")
    regulation: Regulation | None = None
    reroute_after_scan: RerouteAfterScan | None = None


class CoordinatorInput(Input):
    """A person the ladder alerts."""

    code: Annotated[Code, _unused(Coordinator, "coordinator")]
    name: Name
    phone: SitePhone
    language: Language = "fr"
    username: Annotated[str | None, text(64, description="their login (coordinator, admin)")] = None

    @field_validator("username")
    @classmethod
    def _coordinator_login(cls, username: str | None, info: ValidationInfo) -> str | None:
        if username is None:
            return None
        session = _session(info)
        user = session.scalar(select(User).where(User.username == username))
        if user is None:
            raise ValueError(f"no login is called {username}")
        if user.role not in (Role.COORDINATOR, Role.ADMIN):
            raise ValueError("must be the login of a coordinator or an admin")
        if session.scalar(select(Coordinator.id).where(Coordinator.user_id == user.id)):
            raise ValueError("is already linked to another coordinator")
        return username


class ExpertInput(Input):
    """A new expert; credentials come from `credentials` (with dates) or `sites` (without)."""

    code: Annotated[Code, _unused(Expert, "expert")]
    name: Name
    phone: ExpertPhone
    subspecialties: Subspecialties = []
    modalities: Modalities
    max_concurrent: MaxConcurrent = 2
    language: Language = "fr"
    timezone: Zone = DEFAULT_ZONE
    sites: Sites | None = None
    credentials: Credentials | None = None


class ExpertChange(Input):
    """Only the fields given change; nothing changes when one is wrong. `sites` or
    `credentials` replaces every credential of the expert; a new `phone` clears
    `sms_unreachable_since`."""

    name: Name | None = None
    phone: ExpertPhone | None = None
    subspecialties: Subspecialties | None = None
    modalities: Modalities | None = None
    max_concurrent: MaxConcurrent | None = None
    active: bool | None = None
    language: Language | None = None
    timezone: Zone | None = None
    sms_enabled: bool | None = Field(
        None, description="offers and notices by SMS (true) or on the web only"
    )
    sites: Sites | None = None
    credentials: Credentials | None = None


def create_site(session: Session, data: Any, *, tariff: Mapping[str, Any] | None = None) -> Site:
    """A new site and its tariff's first version, from `prices`; `tariff` adds other fields of
    that version (surcharges, cancellation fee...) for a caller that holds them already
    checked, such as the demo region."""
    given = validated(SiteInput, data, session=session, region=_region(data, DEFAULT_ZONE))
    problems: dict[str, str] = {}
    levels = parse_service_levels(given.service_levels, {}, problems)
    ladder = parse_escalation(given.escalation, {}, problems)
    _check_openers(given.opens_cases, given.ae_titles, problems)
    _check_destinations(given.move_destinations, given.ae_titles, problems)
    if given.report_webhook_url and not given.report_webhook_secret:
        problems["report_webhook_secret"] = "is required with report_webhook_url"
    if problems:
        raise InvalidInput(problems)
    site = Site(
        code=given.code,
        name=given.name,
        timezone=given.timezone,
        ae_titles=given.ae_titles,
        phone=given.phone,
        study_quiet_s=given.study_quiet_s,
        study_retention_days=given.study_retention_days,
        service_levels=levels,
        escalation=ladder,
        language=given.language,
        report_webhook_url=given.report_webhook_url,
        report_webhook_secret=given.report_webhook_secret or "",
        hl7_endpoint=given.hl7_endpoint,
        critical_ack_within_s=given.critical_ack_within_s,
        hl7_facility=given.hl7_facility,
        regulation=given.regulation,
        reroute_after_scan=given.reroute_after_scan,
    )
    site.opens_cases = dict(given.opens_cases)
    site.move_destinations = dict(given.move_destinations)
    session.add(site)
    session.flush()
    add_version(
        session,
        site,
        ALWAYS,
        base_cents=given.prices,
        expert_share_percent=given.expert_share_percent,
        created_by="site creation",
        **(tariff or {}),
    )
    return site


def _check_openers(openers: Mapping[str, str], titles: list[str], problems: dict[str, str]) -> None:
    strangers = [t for t in openers if t not in titles]
    if strangers:
        problems["opens_cases"] = f"{', '.join(strangers)}: not among the site's ae_titles"


def _check_destinations(
    destinations: Mapping[str, str], titles: list[str], problems: dict[str, str]
) -> None:
    """A C-MOVE sends a site's studies to that site's own AE titles only."""
    strangers = [t for t in destinations if t not in titles]
    if strangers:
        problems["move_destinations"] = f"{', '.join(strangers)}: not among the site's ae_titles"


def update_site(site: Site, data: Any) -> None:
    """Change the fields given, and only those; nothing changes when one of them is wrong.
    Cases already requested keep the promise they were made; `prices` and
    `expert_share_percent` add a tariff version from today."""
    problems = {}
    if _has(data, "code"):
        problems["code"] = "cannot change: other systems know the site by it"
    changes = _changes(
        SiteChange,
        data,
        {
            "phone": "",
            "opens_cases": {},
            "move_destinations": {},
            "study_retention_days": 90,
            "report_webhook_url": "",
            "hl7_endpoint": "",
            "critical_ack_within_s": {},
            "hl7_facility": None,
            "regulation": False,
            "reroute_after_scan": False,
        },
        problems,
        session=object_session(site),
        site_id=site.id,
        site_code=site.code,
        region=_region(data, site.timezone),
    )
    if "service_levels" in changes:
        changes["service_levels"] = parse_service_levels(
            changes["service_levels"], site.service_levels, problems
        )
    if "escalation" in changes:
        changes["escalation"] = parse_escalation(changes["escalation"], site.escalation, problems)
    titles = changes.get("ae_titles", site.ae_titles)
    openers = changes.pop("opens_cases", None)
    if openers is not None:
        _check_openers(openers, titles, problems)
    destinations = changes.pop("move_destinations", None)
    if destinations is not None:
        _check_destinations(destinations, titles, problems)
    url = changes.get("report_webhook_url", site.report_webhook_url)
    if url and not changes.get("report_webhook_secret", site.report_webhook_secret):
        problems["report_webhook_secret"] = "is required with report_webhook_url"
    if problems:
        raise InvalidInput(problems)
    # Prices are the tariff's: a change is its new version from today (the site's zone).
    priced = {
        field: changes.pop(name)
        for name, field in (("prices", "base_cents"), ("expert_share_percent",) * 2)
        if name in changes
    }
    if priced:
        session = object_session(site)
        assert session is not None
        today = local_today(changes.get("timezone", site.timezone))  # the zone it will have
        add_version(session, site, today, created_by="site change", **priced)
    for name, value in changes.items():
        setattr(site, name, value)
    if openers is not None:  # once the titles are the new ones
        site.opens_cases = dict(openers)
    if destinations is not None:
        site.move_destinations = dict(destinations)


def create_coordinator(session: Session, data: Any) -> Coordinator:
    """A person alerted by the ladder, linked to their coordinator login when one is named."""
    given = validated(CoordinatorInput, data, session=session, region=phones.REGION)
    user_id = (
        session.scalar(select(User.id).where(User.username == given.username))
        if given.username
        else None
    )
    coordinator = Coordinator(
        code=given.code,
        name=given.name,
        phone=given.phone,
        language=given.language,
        user_id=user_id,
    )
    session.add(coordinator)
    session.flush()
    return coordinator


def create_expert(session: Session, data: Any) -> Expert:
    """A new expert; credentials come from `credentials` (with dates) or `sites` (without)."""
    problems = _one_way_of_credentials(data)
    try:
        given = validated(ExpertInput, data, session=session, region=phones.REGION)
    except InvalidInput as e:
        raise InvalidInput(_bracketed(e.fields) | problems) from None
    if problems:
        raise InvalidInput(problems)
    expert = Expert(
        code=given.code,
        name=given.name,
        phone=given.phone,
        subspecialties=given.subspecialties,
        modalities=given.modalities,
        max_concurrent=given.max_concurrent,
        language=given.language,
        timezone=given.timezone,
    )
    session.add(expert)
    session.flush()
    _write_credentials(session, expert, _credentials(session, given.sites, given.credentials))
    return expert


# The fields whose change may change who is eligible: open cases then look again.
ELIGIBILITY_FIELDS = frozenset(
    {"subspecialties", "modalities", "max_concurrent", "active", "sites", "credentials"}
)
# The others: who the expert is, how Garde reaches them, the zone they read times in.
OWN_FIELDS = frozenset({"code", "name", "phone", "language", "timezone", "sms_enabled"})


def update_expert(session: Session, expert: Expert, data: Any) -> set[str]:
    """Change the fields given, and only those; nothing changes when one of them is wrong.
    The names of the fields given (see ELIGIBILITY_FIELDS)."""
    given = set(data) if isinstance(data, Mapping) else set()
    problems = _one_way_of_credentials(data)
    if "code" in given and data["code"] != expert.code:
        problems["code"] = "cannot change: shifts, offers and logins know the expert by it"
    for name in sorted(given - ELIGIBILITY_FIELDS - OWN_FIELDS):
        problems[name] = "is not a field of an expert"
    empty = {
        "subspecialties": [],
        "active": False,
        "sms_enabled": False,
        "sites": [],
        "credentials": [],
    }
    changes = _changes(
        ExpertChange,
        data,
        empty,
        problems,
        session=session,
        expert_id=expert.id,
        region=phones.REGION,
    )
    if problems:
        raise InvalidInput(problems)
    sites, dated = changes.pop("sites", None), changes.pop("credentials", None)
    credentials = _credentials(session, sites, dated) if given & {"sites", "credentials"} else None
    if changes.get("phone", expert.phone) != expert.phone:
        # What made the old number unreachable (a STOP, a refusal) says nothing of the new one.
        changes |= {"sms_unreachable_since": None, "sms_unreachable_reason": ""}
    for name, value in changes.items():
        setattr(expert, name, value)
    if credentials is not None:
        _write_credentials(session, expert, credentials)
    return given


def _has(data: Any, name: str) -> bool:
    return isinstance(data, Mapping) and name in data


def _region(data: Any, default_zone: str) -> str:
    """The country a site's phone is read in: its time zone's, the one given or its own."""
    given = data.get("timezone") if isinstance(data, Mapping) else None
    return phones.region_of_zone(given.strip() if isinstance(given, str) else default_zone)


def _changes(
    model: type[Input],
    data: Any,
    empty: Mapping[str, Any],
    problems: dict[str, str],
    **context: Any,
) -> dict[str, Any]:
    """The fields of `model` given in `data`, with their new values. A field given empty
    (blank or null) takes its `empty` value, or is required. Every problem is named at once:
    the model's and those already in `problems`, which gets what this finds."""
    try:
        change = validated(model, data, **context)
    except InvalidInput as e:
        raise InvalidInput(_bracketed(e.fields) | problems) from None
    found: dict[str, Any] = {}
    for name in model.model_fields.keys() & set(data):
        value = getattr(change, name)
        if value is None and name in empty:
            value = empty[name]
        elif value is None:
            problems[name] = "is required"
        found[name] = value
    return found


def _bracketed(problems: dict[str, str]) -> dict[str, str]:
    """`credentials.1.site` as people read it: `credentials[1].site`."""
    return {re.sub(r"^credentials\.(\d+)", r"credentials[\1]", k): v for k, v in problems.items()}


def _one_way_of_credentials(data: Any) -> dict[str, str]:
    if _has(data, "sites") and _has(data, "credentials"):
        return {"sites": "give sites (without dates) or credentials, not both"}
    return {}


@dataclass(frozen=True)
class _Credential:
    site_id: int
    valid_from: date | None
    valid_until: date | None


def _credentials(
    session: Session, sites: list[str] | None, credentials: list[CredentialInput] | None
) -> list[_Credential]:
    """The credentials asked for: `credentials` with their dates, or `sites` without."""
    items = (
        [(c.site, c.valid_from, c.valid_until) for c in credentials]
        if credentials is not None
        else [(code, None, None) for code in sites or []]
    )
    ids = _site_ids(session, [code for code, _, _ in items])
    return [_Credential(ids[code], first, last) for code, first, last in items]


def _site_ids(session: Session, codes: list[str]) -> dict[str, int]:
    return dict(session.execute(select(Site.code, Site.id).where(Site.code.in_(codes))).all())


def _write_credentials(session: Session, expert: Expert, credentials: list[_Credential]) -> None:
    """Replace the expert's credentials. `Expert.sites` and `Credential` share one table:
    the rows are written as Credentials and both relationships are read again."""
    for old in list(expert.credentials):
        session.expunge(old)
    session.execute(delete(expert_sites).where(expert_sites.c.expert_id == expert.id))
    session.add_all(
        Credential(
            expert_id=expert.id,
            site_id=c.site_id,
            valid_from=c.valid_from,
            valid_until=c.valid_until,
        )
        for c in credentials
    )
    session.flush()
    session.expire(expert, ["sites", "credentials"])
