"""The queryable record: SQLAlchemy 2 typed models for everything Garde stores."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import TYPE_CHECKING, Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    ColumnElement,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
    and_,
    false,
)
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

if TYPE_CHECKING:
    from billing.terms import Terms


class UTCDateTime(TypeDecorator[datetime]):
    """Stores UTC and always hands back an aware datetime, on SQLite as on PostgreSQL."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map = {datetime: UTCDateTime, dict[str, Any]: JSON, list[str]: JSON}


# An expert's credential at a site, valid between two dates of the site's zone (inclusive;
# none: without limit). `Expert.sites` writes rows without dates; `Credential` reads and
# writes the dates.
expert_sites = Table(
    "expert_sites",
    Base.metadata,
    Column("expert_id", ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
    Column("valid_from", Date, nullable=True),
    Column("valid_until", Date, nullable=True),
    # "Who may read for this site": routing and coverage start from the site.
    Index("ix_expert_sites_site", "site_id", "expert_id"),
)


class Site(Base):
    """An emergency site asking for reads: its contract per priority (`service_levels`,
    `escalation`; empty means the defaults) and its tariff's versions (`Tariff`)."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    phone: Mapped[str] = mapped_column(String(32), default="")
    service_levels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    escalation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    # A study received for the site is called stable after this long without an object
    # (never proof that it is complete: a later object reopens it).
    study_quiet_s: Mapped[int] = mapped_column(default=30, server_default="30")
    # How long the site's studies stay retrievable (DICOMweb, C-GET/C-MOVE) after their last
    # object arrived; the purge keeps a study of an open case or under legal hold whatever it says.
    study_retention_days: Mapped[int] = mapped_column(default=90, server_default="90")
    # Where each report version is pushed (reports/delivery): an HTTPS webhook taking the FHIR
    # bundle, signed with the secret (HMAC-SHA256, `X-Garde-Signature`), and an MLLP listener
    # (`host:port`) taking the ORU^R01. Empty: not pushed that way.
    report_webhook_url: Mapped[str] = mapped_column(String(500), default="", server_default="")
    report_webhook_secret: Mapped[str] = mapped_column(String(200), default="", server_default="")
    hl7_endpoint: Mapped[str] = mapped_column(String(300), default="", server_default="")
    # Seconds the site has to acknowledge a critical finding, per ACR category ("1", "2");
    # a category missing: the default (garde.critical.ACK_WITHIN).
    critical_ack_within_s: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # Orders from the site's RIS: HL7 v2 messages whose MSH-4 (sending facility) is this
    # are the site's (None: it sends none).
    hl7_facility: Mapped[str | None] = mapped_column(String(180), unique=True)
    # Régulation: an expert validates each request's indication and protocol before the scan;
    # then the validating expert reads it, unless `reroute_after_scan` sends it up the ladder.
    regulation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reroute_after_scan: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Loaded when read (lists of sites ask for them, garde.registry.WITH_TITLES_AND_TARIFFS):
    # a site is loaded with every case, whose routing and answers never read them.
    ae_title_rows: Mapped[list[SiteAeTitle]] = relationship(
        order_by="SiteAeTitle.id", cascade="all, delete-orphan", back_populates="site"
    )
    # Every version of the site's price list, oldest first (billing.tariffs reads the one in
    # force at an instant). Loaded when read: a case's site is loaded on every request.
    tariffs: Mapped[list[Tariff]] = relationship(order_by="Tariff.version", back_populates="site")

    @property
    def tariff(self) -> Tariff | None:
        """The version in force today in the site's zone (pages and the site's JSON)."""
        from billing.tariffs import in_force_on, local_today

        return in_force_on(self.tariffs, local_today(self.timezone))

    @property
    def prices(self) -> dict[str, int]:
        """Today's base prices per modality, in cents."""
        return dict(self.tariff.base_cents) if self.tariff else {}

    @property
    def expert_share_percent(self) -> int:
        return self.tariff.expert_share_percent if self.tariff else 0

    @property
    def currency(self) -> str:
        return self.tariff.currency if self.tariff else "EUR"

    @property
    def ae_titles(self) -> list[str]:
        """The AE titles the site sends DICOM from, as the API and the pages show them."""
        return [row.ae_title for row in self.ae_title_rows]

    @ae_titles.setter
    def ae_titles(self, titles: list[str]) -> None:
        """The site sends from these titles now; a title it kept keeps its settings."""
        kept = {row.ae_title: row for row in self.ae_title_rows}
        self.ae_title_rows = [kept.get(t) or SiteAeTitle(ae_title=t) for t in titles]

    @property
    def opens_cases(self) -> dict[str, str]:
        """The AE titles whose studies open a case when no request matches, with the
        priority of that case."""
        return {row.ae_title: row.priority for row in self.ae_title_rows if row.open_cases}

    @opens_cases.setter
    def opens_cases(self, priorities: dict[str, str]) -> None:
        """Exactly these of the site's titles open cases now, at these priorities."""
        for row in self.ae_title_rows:
            row.open_cases = row.ae_title in priorities
            row.priority = priorities.get(row.ae_title, row.priority)

    @property
    def move_destinations(self) -> dict[str, str]:
        """The AE titles a C-MOVE may send the site's studies to, with their `host:port`."""
        return {
            row.ae_title: f"[{row.host}]:{row.port}"
            if ":" in row.host
            else f"{row.host}:{row.port}"
            for row in self.ae_title_rows
            if row.host is not None and row.port is not None
        }

    @move_destinations.setter
    def move_destinations(self, addresses: dict[str, str]) -> None:
        """Exactly these of the site's titles are C-MOVE destinations now, at these
        `host:port` (checked by the registry)."""
        for row in self.ae_title_rows:
            host, _, port = addresses.get(row.ae_title, "").rpartition(":")
            row.host, row.port = (host.strip("[]"), int(port)) if host else (None, None)


class SiteAeTitle(Base):
    """An AE title a site's PACS or modality calls the gateway from: it names the site, so
    it belongs to one site only. `open_cases`: a study arriving from it with no request opens
    a case of `priority` (the site is reminded to give the clinical question)."""

    __tablename__ = "site_ae_titles"
    id: Mapped[int] = mapped_column(primary_key=True)
    ae_title: Mapped[str] = mapped_column(String(16), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    open_cases: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[str] = mapped_column(String(16), default="urgent")
    # Where the title listens when a C-MOVE names it as destination; None: it is none.
    host: Mapped[str | None] = mapped_column(String(255))
    port: Mapped[int | None]
    site: Mapped[Site] = relationship(back_populates="ae_title_rows")


class Expert(Base):
    """A radiologist who takes calls: what they read and where they are credentialed."""

    __tablename__ = "experts"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20), unique=True)
    subspecialties: Mapped[list[str]] = mapped_column(default=list)
    modalities: Mapped[list[str]] = mapped_column(default=list)
    max_concurrent: Mapped[int] = mapped_column(default=2)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    # The zone the expert lives in: their shifts and calendar feed are shown in it.
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    # The expert's choice: offers and notices by SMS, or on the web only.
    sms_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # Set when SMS cannot reach the phone (a STOP, or Twilio refusing the number for good);
    # cleared by START, a new phone number or a test message that goes through.
    sms_unreachable_since: Mapped[datetime | None]
    sms_unreachable_reason: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Loaded when read (the registry's lists ask for them with the experts): an expert is
    # loaded with every offer, event and report of a case, which never read them.
    sites: Mapped[list[Site]] = relationship(secondary=expert_sites)
    credentials: Mapped[list[Credential]] = relationship(
        viewonly=True, order_by="Credential.site_id"
    )

    @hybrid_property
    def textable(self) -> bool:
        """Garde may text this expert: SMS is on, and neither a STOP nor a refusal since.
        (Routing asks the others on the web only: in the broadcast, without an SMS.)"""
        return self.sms_enabled and self.sms_unreachable_since is None

    @textable.inplace.expression
    @classmethod
    def _textable_expression(cls) -> ColumnElement[bool]:
        return and_(cls.sms_enabled.is_(True), cls.sms_unreachable_since.is_(None))


class Credential(Base):
    """An expert may read for a site between `valid_from` and `valid_until` (site dates)."""

    __table__ = expert_sites
    expert_id: Mapped[int]
    site_id: Mapped[int]
    valid_from: Mapped[date | None]
    valid_until: Mapped[date | None]
    site: Mapped[Site] = relationship(lazy="joined", viewonly=True)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Copied into the session cookie at login; bumped on logout, password change and disable,
    # so every cookie handed out before no longer logs anyone in.
    session_epoch: Mapped[int] = mapped_column(default=0)
    disabled_at: Mapped[datetime | None]
    # Made by the demo region with a published password: every page says so while one exists.
    demo: Mapped[bool] = mapped_column(Boolean, default=False)
    # The interface's language ("fr" or "en"); none: the browser's.
    language: Mapped[str | None] = mapped_column(String(2))
    site: Mapped[Site | None] = relationship(lazy="joined")
    expert: Mapped[Expert | None] = relationship(lazy="joined")


class ApiToken(Base):
    """Only the SHA-256 of a token is kept: a leaked table grants nothing."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    user: Mapped[User] = relationship(lazy="joined")


class Shift(Base):
    """An expert on call at a tier between two instants (a shift lasts at most 48 hours,
    so that "who is on duty at t" reads only shifts starting in the 48 hours before t).

    `source` says where it came from (ShiftSource). A rotation's shift keeps its rotation
    and its `slot` (the local date it starts on): generating again finds it instead of
    adding a copy, and leaves it alone once `edited` by hand. An imported one keeps the
    event it came from (`import_uid`); an override's, its override.
    """

    __tablename__ = "shifts"
    __table_args__ = (
        Index("ix_shifts_window", "start", "end"),
        Index("ix_shifts_expert_start", "expert_id", "start"),
        UniqueConstraint("rotation_id", "slot", name="uq_shifts_rotation_slot"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    tier: Mapped[str] = mapped_column(String(16))
    source: Mapped[str] = mapped_column(String(16), default="manual")
    rotation_id: Mapped[int | None] = mapped_column(ForeignKey("rotations.id", ondelete="SET NULL"))
    slot: Mapped[date | None]
    edited: Mapped[bool] = mapped_column(Boolean, default=False)
    override_id: Mapped[int | None] = mapped_column(
        ForeignKey("overrides.id", ondelete="CASCADE"), index=True
    )
    import_uid: Mapped[str | None] = mapped_column(String(255), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expert: Mapped[Expert] = relationship(lazy="joined")


class Rotation(Base):
    """A recurring pattern that generates shifts: on `days` (MO…SU) from `start_time` to
    `end_time` local to `timezone` (an end before the start ends the next day), handed to
    the next of `expert_ids` every `handoff_every_days` days counted from `valid_from`.

    `skipped` lists the slots (ISO dates) whose shift a coordinator deleted: generating
    again does not bring them back.
    """

    __tablename__ = "rotations"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    tier: Mapped[str] = mapped_column(String(16))
    timezone: Mapped[str] = mapped_column(String(64))
    days: Mapped[list[str]] = mapped_column(default=list)
    start_time: Mapped[str] = mapped_column(String(5))
    end_time: Mapped[str] = mapped_column(String(5))
    handoff_every_days: Mapped[int] = mapped_column(default=7)
    expert_ids: Mapped[list[int]] = mapped_column(JSON, default=list)
    valid_from: Mapped[date]
    valid_until: Mapped[date]
    skipped: Mapped[list[str]] = mapped_column(default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Override(Base):
    """`expert_id` takes over from `replaces_id` between two instants: the replaced expert is
    off duty then, whatever their shifts, and the replacing one holds their tier (as shifts
    of source "override"). A swap between two experts is applied as overrides
    (`created_by` "swap:ID")."""

    __tablename__ = "overrides"
    __table_args__ = (Index("ix_overrides_replaces_window", "replaces_id", "start", "end"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    replaces_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expert: Mapped[Expert] = relationship(foreign_keys=[expert_id], lazy="joined")
    replaces: Mapped[Expert] = relationship(foreign_keys=[replaces_id], lazy="joined")


class Unavailability(Base):
    """Leave, sickness, a conference: the expert is off duty in the interval, whatever their
    shifts; a shift it uncovers shows as a gap."""

    __tablename__ = "unavailability"
    __table_args__ = (Index("ix_unavailability_expert_window", "expert_id", "start", "end"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    reason: Mapped[str] = mapped_column(String(200), default="")
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expert: Mapped[Expert] = relationship(lazy="joined")


class SwapRequest(Base):
    """One expert asks another to take a shift of theirs (and, for a swap, to give one back).
    Pending until the other accepts; then, when the region asks for it, until a coordinator
    approves; applied as overrides, all at once."""

    __tablename__ = "swap_requests"
    id: Mapped[int] = mapped_column(primary_key=True)
    shift_id: Mapped[int] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    requester_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    other_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    other_shift_id: Mapped[int | None] = mapped_column(ForeignKey("shifts.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    decided_at: Mapped[datetime | None]
    decided_by: Mapped[str | None] = mapped_column(String(64))
    shift: Mapped[Shift] = relationship(foreign_keys=[shift_id], lazy="joined")
    other_shift: Mapped[Shift | None] = relationship(foreign_keys=[other_shift_id], lazy="joined")
    requester: Mapped[Expert] = relationship(foreign_keys=[requester_id], lazy="joined")
    other: Mapped[Expert] = relationship(foreign_keys=[other_id], lazy="joined")


class CalendarFeed(Base):
    """A secret URL a phone calendar subscribes to without a login: one expert's shifts, or
    the whole region's (`expert_id` none). Revoked feeds answer 404."""

    __tablename__ = "calendar_feeds"
    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    expert_id: Mapped[int | None] = mapped_column(
        ForeignKey("experts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None]
    expert: Mapped[Expert | None] = relationship(lazy="joined")


class Case(Base):
    """One read request. Its workflow id derives from `id` alone: no patient data in it.

    The request's fields are written at intake; from then on the case workflow is the one
    writer of its status, holder, priority and promise, each write carrying the workflow's
    sequence number (`status_seq`) so that an older write never overwrites a newer one.
    """

    __tablename__ = "cases"
    __table_args__ = (
        UniqueConstraint("site_id", "accession_number"),
        UniqueConstraint("site_id", "placer_order_number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    accession_number: Mapped[str] = mapped_column(String(64))
    # How it was asked for (garde.domain.OrderSource), and the RIS's own number for the
    # order (HL7 ORC-2, a FHIR identifier of type PLAC): an order sent again finds its case.
    ordered_via: Mapped[str] = mapped_column(String(8), default="web", server_default="web")
    placer_order_number: Mapped[str | None] = mapped_column(String(64))
    # The patient as the order names them (HL7 PID, FHIR Patient): shown to the site and the
    # case's experts, never put in an SMS, a log line or a URL.
    patient_id: Mapped[str | None] = mapped_column(String(64))
    patient_name: Mapped[str | None] = mapped_column(String(200))
    patient_birth_date: Mapped[date | None]
    patient_sex: Mapped[str | None] = mapped_column(String(1))
    study_instance_uid: Mapped[str | None] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(8))
    body_part: Mapped[str] = mapped_column(String(64))
    study_description: Mapped[str] = mapped_column(String(200))
    # The site's code for the exam (a RIS procedure code): a tariff may price it on its own.
    exam_code: Mapped[str | None] = mapped_column(String(32))
    priority: Mapped[str] = mapped_column(String(16))
    clinical_question: Mapped[str] = mapped_column(Text)
    requesting_physician: Mapped[str] = mapped_column(String(200))
    callback_phone: Mapped[str] = mapped_column(String(32))
    subspecialty: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(16), index=True)
    status_seq: Mapped[int] = mapped_column(default=0)
    assigned_expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"), index=True)
    # The promise, copied from the site's contract at intake and on a priority change.
    offer_timeout_s: Mapped[int]
    accept_within_s: Mapped[int]
    report_within_s: Mapped[int]
    escalation: Mapped[list[str]] = mapped_column(default=list)
    requested_at: Mapped[datetime] = mapped_column(default=utcnow)
    # Set once Temporal has the case's workflow; until then the reconciler starts it.
    workflow_started_at: Mapped[datetime | None]
    accepted_at: Mapped[datetime | None]
    reported_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    # Régulation, copied from the site at intake: the case is validated before its scan,
    # within `validate_within_s` of the request. The holder's decision (a protocol, or a
    # refusal's reason) and the scan are the workflow's to write, with the status.
    regulation: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    reroute_after_scan: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    validate_within_s: Mapped[int | None]
    protocol_id: Mapped[int | None] = mapped_column(ForeignKey("protocols.id"))
    validation_note: Mapped[str] = mapped_column(Text, default="", server_default="")
    validated_at: Mapped[datetime | None]
    validated_by_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    refusal_reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    scanned_at: Mapped[datetime | None]
    site: Mapped[Site] = relationship(lazy="joined")
    assigned_expert: Mapped[Expert | None] = relationship(
        lazy="joined", foreign_keys=[assigned_expert_id]
    )
    protocol: Mapped[Protocol | None] = relationship(lazy="joined")
    # Read when shown: most often the holder, already loaded (no query then).
    validated_by: Mapped[Expert | None] = relationship(foreign_keys=[validated_by_id])
    events: Mapped[list[CaseEvent]] = relationship(
        order_by="CaseEvent.id", back_populates="case", lazy="select"
    )
    # Loaded when read: activities load a case many times a night and need neither; lists
    # of cases ask for them at once (web.access.with_timelines).
    reports: Mapped[list[Report]] = relationship(order_by="Report.id", lazy="select")
    offers: Mapped[list[Offer]] = relationship(
        order_by="Offer.sequence", back_populates="case", lazy="select"
    )
    # The images received for it (dicom/arrivals.py links them), oldest first.
    studies: Mapped[list[Study]] = relationship(order_by="Study.id", lazy="select", viewonly=True)
    # Every attempt to push its report versions to the site's endpoints, oldest first.
    deliveries: Mapped[list[ReportDelivery]] = relationship(
        order_by="(ReportDelivery.at, ReportDelivery.id)", lazy="select", viewonly=True
    )


class Protocol(Base):
    """An acquisition protocol of the library the validating expert picks from (per exam
    type: a modality and a body part); coordinators keep it. A case keeps the one picked."""

    __tablename__ = "protocols"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    modality: Mapped[str] = mapped_column(String(8))
    body_part: Mapped[str] = mapped_column(String(64), default="")
    text: Mapped[str] = mapped_column(Text, default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class CaseEvent(Base):
    """The timeline. `key` makes each write idempotent: a retried activity adds nothing.

    `seq` is the workflow's sequence number of the write that recorded it: events of the
    same instant are shown in the order the workflow decided them.
    """

    __tablename__ = "case_events"
    __table_args__ = (UniqueConstraint("case_id", "key"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    key: Mapped[str] = mapped_column(String(64))
    seq: Mapped[int | None]
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str | None] = mapped_column(String(16))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    detail: Mapped[str] = mapped_column(String(200), default="")
    case: Mapped[Case] = relationship(back_populates="events")
    expert: Mapped[Expert | None] = relationship(lazy="joined")


class CaseUpdate(Base):
    """An action on a case sent to its workflow (an update), decided once: applied or not.

    The web waits a bounded time for a worker to take an update, and the first to write this
    row decides its fate: the worker admitting it in its first transaction, or the web
    giving up on it (garde/admission.py). So an action the web said failed never happens,
    and a worker taking over from one that died after admitting an update goes on with it.
    """

    __tablename__ = "case_updates"
    # Temporal's update id, chosen by the web.
    update_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    admitted: Mapped[bool]
    decided_at: Mapped[datetime]


class Offer(Base):
    """One expert asked to take one case, answerable once with its short code.

    `step` and `round` place it on the escalation ladder; `why` keeps the ranking's reasons
    for choosing this expert; `channel` says how it was answered (sms, web).
    """

    __tablename__ = "offers"
    __table_args__ = (UniqueConstraint("case_id", "sequence"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"), index=True)
    sequence: Mapped[int]
    code: Mapped[str] = mapped_column(String(8), unique=True)
    phone: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(16), index=True)
    step: Mapped[str] = mapped_column(String(16), default="primary")
    round: Mapped[int] = mapped_column(default=1)
    why: Mapped[dict[str, Any]] = mapped_column(default=dict)
    sent_at: Mapped[datetime]
    expires_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    channel: Mapped[str | None] = mapped_column(String(8))
    decline_reason: Mapped[str | None] = mapped_column(String(200))
    case: Mapped[Case] = relationship(lazy="joined", back_populates="offers")
    expert: Mapped[Expert] = relationship(lazy="joined")


class Report(Base):
    """One version of a case's report: preliminary, final or addendum, never overwritten.

    Each version is signed when stored: `sha256` is the digest of its canonical content
    (reports/signing.py), which includes the previous version's digest, so the versions form
    a chain a changed byte breaks. The database refuses any UPDATE or DELETE of a row
    (migration 0011's triggers): a correction is an addendum.
    """

    __tablename__ = "reports"
    __table_args__ = (UniqueConstraint("case_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    request_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    # The exam template the expert started from (reports/exam_templates), if any.
    template: Mapped[str | None] = mapped_column(String(64))
    technique: Mapped[str] = mapped_column(Text, default="", server_default="")
    findings: Mapped[str] = mapped_column(Text)
    impression: Mapped[str] = mapped_column(Text)
    recommendations: Mapped[str] = mapped_column(Text, default="", server_default="")
    # ACR critical result category: 1 immediate, 2 urgent, 3 significant; None: none.
    # `critical` is "category 1 or 2": the site must acknowledge.
    critical_category: Mapped[int | None]
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    # On a final after a preliminary: none, minor or major (major: the site acknowledges).
    discrepancy: Mapped[str | None] = mapped_column(String(8))
    # The signature: when and by whom (created_at, expert), and the digests of the chain.
    created_at: Mapped[datetime]
    previous_sha256: Mapped[str | None] = mapped_column(String(64))
    sha256: Mapped[str] = mapped_column(String(64))
    expert: Mapped[Expert] = relationship(lazy="joined")


class ReportAcknowledgement(Base):
    """A report version the site must acknowledge (a category 1 or 2 finding, or a major
    discrepancy), due by `due_at`; who acknowledged, when and how (web, api, sms, voice).
    Written by the version's acknowledgement workflow (workflows/acknowledgement.py)."""

    __tablename__ = "report_acknowledgements"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), unique=True)
    reason: Mapped[str] = mapped_column(String(16))  # "critical" or "discrepancy"
    category: Mapped[int]
    requested_at: Mapped[datetime]
    due_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[str | None] = mapped_column(String(200))
    acknowledged_via: Mapped[str | None] = mapped_column(String(8))
    report: Mapped[Report] = relationship(lazy="joined")


class ReportDelivery(Base):
    """One attempt to push a report version to a site's endpoint (webhook or hl7), kept so
    that every attempt shows on the case."""

    __tablename__ = "report_deliveries"
    __table_args__ = (UniqueConstraint("report_id", "channel", "attempt"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    report_id: Mapped[int] = mapped_column(ForeignKey("reports.id"), index=True)
    channel: Mapped[str] = mapped_column(String(8))  # "webhook" or "hl7"
    attempt: Mapped[int]
    at: Mapped[datetime]
    outcome: Mapped[str] = mapped_column(String(16))  # "delivered" or "failed"
    detail: Mapped[str] = mapped_column(String(300), default="")


class ExpertMacro(Base):
    """A piece of text an expert inserts in their reports, by a short name of their own."""

    __tablename__ = "expert_macros"
    __table_args__ = (UniqueConstraint("expert_id", "name"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Tariff(Base):
    """One version of a site's price list, in force from `valid_from` (a date in the site's
    zone) until a version with a later date. A read is priced by the version in force at its
    priced instant; a version is never changed: a new one is added (billing.terms.Terms is
    the pure form the pricing reads)."""

    __tablename__ = "tariffs"
    __table_args__ = (UniqueConstraint("site_id", "version"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"), index=True)
    version: Mapped[int]
    valid_from: Mapped[date] = mapped_column(Date)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    base_cents: Mapped[dict[str, Any]] = mapped_column(default=dict)
    exam_cents: Mapped[dict[str, Any]] = mapped_column(default=dict)
    # {"night": {"cents": 2500, "percent": 0}, "sunday": ..., "holiday": ..., "stat": ...}
    surcharges: Mapped[dict[str, Any]] = mapped_column(default=dict)
    cumulative: Mapped[bool] = mapped_column(Boolean, default=False)
    expert_share_percent: Mapped[int] = mapped_column(default=70)
    holidays: Mapped[str] = mapped_column(String(32), default="FR")
    night_start: Mapped[str] = mapped_column(String(5), default="20:00")
    night_end: Mapped[str] = mapped_column(String(5), default="08:00")
    priced_at: Mapped[str] = mapped_column(String(16), default="acceptance")
    cancellation_cents: Mapped[int | None]
    created_by: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    site: Mapped[Site] = relationship(back_populates="tariffs")

    def terms(self) -> Terms:
        from billing.terms import Calendar, PricedAt, Terms

        return Terms(
            version=self.version,
            valid_from=self.valid_from,
            currency=self.currency,
            base_cents={k: int(v) for k, v in self.base_cents.items()},
            exam_cents={k: int(v) for k, v in self.exam_cents.items()},
            surcharges=Terms.surcharges_from_json(self.surcharges),
            cumulative=self.cumulative,
            expert_share_percent=self.expert_share_percent,
            holidays=Calendar(self.holidays),
            night_start=time.fromisoformat(self.night_start),
            night_end=time.fromisoformat(self.night_end),
            priced_at=PricedAt(self.priced_at),
            cancellation_cents=self.cancellation_cents,
        )


class BillingLine(Base):
    """One line per read (or per case cancelled after acceptance, when the contract bills
    it): the price at the priced instant, by the tariff version then in force, with its
    breakdown. Never changed nor deleted (migration 0012's triggers): a credit note corrects
    it."""

    __tablename__ = "billing_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    kind: Mapped[str] = mapped_column(String(16), default="read", server_default="read")
    modality: Mapped[str] = mapped_column(String(8))
    priority: Mapped[str] = mapped_column(String(16))
    # The band the read is counted in (day, night, sunday, holiday), every band that held
    # (stat included), and the sum: [{"what": "base"|band, "cents": n}, ...].
    time_band: Mapped[str] = mapped_column(String(16))
    bands: Mapped[list[str]] = mapped_column(default=list)
    parts: Mapped[list[Any]] = mapped_column(JSON, default=list)
    amount_cents: Mapped[int]
    expert_share_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    tariff_id: Mapped[int | None] = mapped_column(ForeignKey("tariffs.id"))
    tariff_version: Mapped[int | None]
    # The instant priced (the acceptance or the final report, per contract), and the final
    # report's (or the cancellation's).
    priced_at: Mapped[datetime] = mapped_column(index=True)
    read_at: Mapped[datetime] = mapped_column(index=True)
    site: Mapped[Site] = relationship(lazy="joined")
    expert: Mapped[Expert] = relationship(lazy="joined")


class Invoice(Base):
    """An invoice of a site's month, or a credit note correcting one. Numbered `YYYY-NNNNNN`
    in one sequence per year of issue with no gap (InvoiceCounter); never changed nor deleted
    once issued (migration 0012's triggers)."""

    __tablename__ = "invoices"
    __table_args__ = (UniqueConstraint("year", "sequence"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(16), unique=True)
    year: Mapped[int]
    sequence: Mapped[int]
    kind: Mapped[str] = mapped_column(String(16))  # "invoice" or "credit_note"
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM, the site's zone
    # "SITE_ID/YYYY-MM" on an invoice: one per site and month; None on a credit note.
    period_key: Mapped[str | None] = mapped_column(String(48), unique=True)
    currency: Mapped[str] = mapped_column(String(3))
    total_cents: Mapped[int]
    expert_share_cents: Mapped[int]
    corrects_id: Mapped[int | None] = mapped_column(ForeignKey("invoices.id"))
    reason: Mapped[str] = mapped_column(Text, default="", server_default="")
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    issued_by: Mapped[str] = mapped_column(String(64), default="")
    site: Mapped[Site] = relationship(lazy="joined")
    lines: Mapped[list[InvoiceLine]] = relationship(
        order_by="InvoiceLine.id", back_populates="invoice", lazy="selectin"
    )


class InvoiceLine(Base):
    """A billing line on an invoice (its amount), or credited by a credit note (negative).
    `invoiced_line_id` is the billing line on an invoice and None on a credit note: a line is
    invoiced once."""

    __tablename__ = "invoice_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    invoice_id: Mapped[int] = mapped_column(ForeignKey("invoices.id"), index=True)
    billing_line_id: Mapped[int] = mapped_column(ForeignKey("billing_lines.id"), index=True)
    invoiced_line_id: Mapped[int | None] = mapped_column(unique=True)
    amount_cents: Mapped[int]
    expert_share_cents: Mapped[int]
    invoice: Mapped[Invoice] = relationship(back_populates="lines")
    billing_line: Mapped[BillingLine] = relationship(lazy="joined")


class InvoiceCounter(Base):
    """The last number issued in a year: taken and raised in the issuing transaction, so a
    failed issue gives its number back and two issues never take the same one."""

    __tablename__ = "invoice_counters"
    year: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    last: Mapped[int] = mapped_column(default=0)


class SmsMessage(Base):
    """Every SMS in and out. `provider_sid` unique: Twilio's retries are seen once."""

    __tablename__ = "sms_messages"
    __table_args__ = (UniqueConstraint("offer_id", name="uq_sms_messages_offer_id"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    direction: Mapped[str] = mapped_column(String(8))
    to_number: Mapped[str] = mapped_column(String(20))
    from_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(String(1600))
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    status: Mapped[str] = mapped_column(String(16))
    # An inbound reply that answered an offer: each offer is answered once (unique).
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("offers.id"))
    answer: Mapped[str | None] = mapped_column(String(8))  # "accept" or "decline"
    reason: Mapped[str | None] = mapped_column(String(200))  # said after NO CODE
    # What an outbound message is (offer, yours, alert_unassigned, site_accepted, ...), the
    # case it is about (the coordinator's message log), and Twilio's error code if refused.
    kind: Mapped[str | None] = mapped_column(String(32))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    language: Mapped[str | None] = mapped_column(String(2))
    segments: Mapped[int | None]
    error_code: Mapped[str | None] = mapped_column(String(16))
    # When that answer reached the case's workflow; until then the reconciler delivers it.
    signalled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class VoiceCall(Base):
    """A phone call placed for a stat case nobody took: an expert or a coordinator is asked
    to press 1 (accept, or "I am on it") or 2 (decline); or to a site's phone about a finding
    it has not acknowledged (`site_id`), asked to press 1 to acknowledge. Bound to its case and callee, and
    answered once: `digits` is written once, by the first gather that reaches Garde."""

    __tablename__ = "voice_calls"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    idempotency_key: Mapped[str] = mapped_column(String(64), unique=True)
    to_number: Mapped[str] = mapped_column(String(20))
    from_number: Mapped[str] = mapped_column(String(20))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    coordinator_id: Mapped[int | None] = mapped_column(ForeignKey("coordinators.id"))
    # A call to the site's phone about a finding it has not acknowledged (1: acknowledge).
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    # placing (before Twilio answered), then Twilio's: queued, ringing, in-progress,
    # completed, busy, no-answer, failed, canceled; "outbox" in the dev outbox.
    status: Mapped[str] = mapped_column(String(16))
    digits: Mapped[str | None] = mapped_column(String(8))
    answered_at: Mapped[datetime | None]
    signalled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expert: Mapped[Expert | None] = relationship(lazy="joined")
    coordinator: Mapped[Coordinator | None] = relationship(lazy="joined")


class Coordinator(Base):
    """A person who watches the region: alerted by the escalation ladder and coverage checks."""

    __tablename__ = "coordinators"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    language: Mapped[str] = mapped_column(String(2), default="fr")
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), unique=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    sms_unreachable_since: Mapped[datetime | None]
    sms_unreachable_reason: Mapped[str] = mapped_column(String(64), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User | None] = relationship(lazy="joined")


class Alert(Base):
    """Something a coordinator must see: shown on the board until resolved or dismissed."""

    __tablename__ = "alerts"
    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[str] = mapped_column(String(24))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    raised_at: Mapped[datetime]
    resolved_at: Mapped[datetime | None] = mapped_column(index=True)
    resolved_by: Mapped[str | None] = mapped_column(String(64))
    # What the banner says when the alert is about no case (a coverage gap).
    detail: Mapped[str] = mapped_column(String(500), default="")
    case: Mapped[Case | None] = relationship(lazy="joined")
    expert: Mapped[Expert | None] = relationship(lazy="joined")


class AuditEvent(Base):
    """Who did what through the web or the API; details never carry patient data."""

    __tablename__ = "audit_events"
    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[str] = mapped_column(String(500), default="")
    # The client's address as the web app saw it (behind a proxy, the forwarded one).
    address: Mapped[str | None] = mapped_column(String(64))


class Study(Base):
    """A study received for a site, linked to its case once matched (`case_id`). The counts,
    size and arrival times are the index's sums over its series and instances; `stable_at`
    is set when no object arrived for the site's quiet period, cleared by a later arrival.
    Patient ID and name are kept here only: never in a log line or a URL."""

    __tablename__ = "studies"
    __table_args__ = (
        UniqueConstraint("site_id", "study_instance_uid", name="uq_studies_site_uid"),
        Index("ix_studies_site_accession", "site_id", "accession_number"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id", ondelete="CASCADE"))
    case_id: Mapped[int | None] = mapped_column(
        ForeignKey("cases.id", ondelete="SET NULL"), index=True
    )
    study_instance_uid: Mapped[str] = mapped_column(String(64))
    patient_id: Mapped[str] = mapped_column(String(64), default="")
    patient_name: Mapped[str] = mapped_column(String(324), default="")
    accession_number: Mapped[str] = mapped_column(String(64), default="")
    study_date: Mapped[date | None]
    study_description: Mapped[str] = mapped_column(String(200), default="")
    modalities: Mapped[list[str]] = mapped_column(default=list)
    body_part: Mapped[str] = mapped_column(String(64), default="")
    # (0008,0005) as received, values joined by backslashes; empty: none (Latin-1 read).
    character_set: Mapped[str] = mapped_column(String(200), default="")
    calling_ae: Mapped[str] = mapped_column(String(16), default="")
    first_arrival_at: Mapped[datetime]
    last_arrival_at: Mapped[datetime]
    series_count: Mapped[int] = mapped_column(default=0)
    instance_count: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    stable_at: Mapped[datetime | None]
    # Kept whatever the site's retention says, until lifted (a dispute, a court's request).
    legal_hold: Mapped[bool] = mapped_column(Boolean, default=False, server_default=false())
    legal_hold_reason: Mapped[str] = mapped_column(String(200), default="", server_default="")
    site: Mapped[Site] = relationship(lazy="joined", viewonly=True)
    series: Mapped[list[Series]] = relationship(
        order_by="Series.id", back_populates="study", lazy="select"
    )


class Series(Base):
    __tablename__ = "series"
    __table_args__ = (
        UniqueConstraint("study_id", "series_instance_uid", name="uq_series_study_uid"),
    )
    id: Mapped[int] = mapped_column(primary_key=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    series_instance_uid: Mapped[str] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(16), default="")
    body_part: Mapped[str] = mapped_column(String(64), default="")
    series_description: Mapped[str] = mapped_column(String(200), default="")
    series_number: Mapped[int | None]
    instance_count: Mapped[int] = mapped_column(default=0)
    size_bytes: Mapped[int] = mapped_column(BigInteger, default=0)
    study: Mapped[Study] = relationship(back_populates="series")


class Instance(Base):
    """One stored object; `path` is relative to the data folder (dicom/storage.py)."""

    __tablename__ = "instances"
    id: Mapped[int] = mapped_column(primary_key=True)
    sop_instance_uid: Mapped[str] = mapped_column(String(64), unique=True)
    series_id: Mapped[int] = mapped_column(ForeignKey("series.id", ondelete="CASCADE"), index=True)
    sop_class_uid: Mapped[str] = mapped_column(String(64))
    transfer_syntax_uid: Mapped[str] = mapped_column(String(64))
    size_bytes: Mapped[int] = mapped_column(BigInteger)
    path: Mapped[str] = mapped_column(String(200))
    received_at: Mapped[datetime]


class ShareLink(Base):
    """A doctor in town's read-only access to one study of a case and its final report: the
    token (in the link's URL, a capability) is kept as its SHA-256 only. Expiry and revocation
    hold at once; `deidentify` serves the study under the DICOM basic confidentiality profile."""

    __tablename__ = "share_links"
    id: Mapped[int] = mapped_column(primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    study_id: Mapped[int] = mapped_column(ForeignKey("studies.id", ondelete="CASCADE"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    revoked_at: Mapped[datetime | None]
    deidentify: Mapped[bool] = mapped_column(Boolean, default=False)


class ShareAccess(Base):
    """Each use of a share link: when, from where, what was read and how it was answered."""

    __tablename__ = "share_accesses"
    id: Mapped[int] = mapped_column(primary_key=True)
    share_id: Mapped[int] = mapped_column(
        ForeignKey("share_links.id", ondelete="CASCADE"), index=True
    )
    at: Mapped[datetime] = mapped_column(default=utcnow)
    address: Mapped[str | None] = mapped_column(String(64))
    # What was read: "page", "report", "qido", "wado", "metadata", "frames", "rendered", ...
    what: Mapped[str] = mapped_column(String(32))
    status: Mapped[int]


class ProcessHeartbeat(Base):
    """A running web, worker or gateway process, on any machine, so that `garde status` sees
    them all: written at start, refreshed every few seconds, removed on a clean stop (a row
    left behind tells of a process that died). A worker also tells its reconciler's last pass."""

    __tablename__ = "process_heartbeats"
    __table_args__ = (UniqueConstraint("role", "host", "pid", name="uq_process_heartbeats"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    role: Mapped[str] = mapped_column(String(16))
    host: Mapped[str] = mapped_column(String(255))
    pid: Mapped[int]
    started_at: Mapped[datetime]
    seen_at: Mapped[datetime]
    reconciled_at: Mapped[datetime | None]
    # What the last pass did ("2 started, 1 delivered") or why it failed; no patient data.
    reconciled: Mapped[str] = mapped_column(String(200), default="")
