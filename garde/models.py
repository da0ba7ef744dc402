"""The queryable record: SQLAlchemy 2 typed models for everything Garde stores."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


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


expert_sites = Table(
    "expert_sites",
    Base.metadata,
    Column("expert_id", ForeignKey("experts.id", ondelete="CASCADE"), primary_key=True),
    Column("site_id", ForeignKey("sites.id", ondelete="CASCADE"), primary_key=True),
)


class Site(Base):
    """An emergency site asking for reads: its flat price list (cents per modality) and its
    contract per priority (`service_levels`, `escalation`; empty means the defaults)."""

    __tablename__ = "sites"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    timezone: Mapped[str] = mapped_column(String(64), default="Europe/Paris")
    ae_titles: Mapped[list[str]] = mapped_column(default=list)
    phone: Mapped[str] = mapped_column(String(32), default="")
    prices: Mapped[dict[str, Any]] = mapped_column(default=dict)
    expert_share_percent: Mapped[int] = mapped_column(default=70)
    currency: Mapped[str] = mapped_column(String(3), default="EUR")
    service_levels: Mapped[dict[str, Any]] = mapped_column(default=dict)
    escalation: Mapped[dict[str, Any]] = mapped_column(default=dict)
    language: Mapped[str] = mapped_column(String(2), default="fr")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    sites: Mapped[list[Site]] = relationship(secondary=expert_sites, lazy="selectin")


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(256))
    role: Mapped[str] = mapped_column(String(16))
    site_id: Mapped[int | None] = mapped_column(ForeignKey("sites.id"))
    expert_id: Mapped[int | None] = mapped_column(ForeignKey("experts.id"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    site: Mapped[Site | None] = relationship(lazy="joined")
    expert: Mapped[Expert | None] = relationship(lazy="joined")


class ApiToken(Base):
    """Only the SHA-256 of a token is kept: a leaked table grants nothing."""

    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    user: Mapped[User] = relationship(lazy="joined")


class Shift(Base):
    __tablename__ = "shifts"
    __table_args__ = (Index("ix_shifts_window", "start", "end"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id", ondelete="CASCADE"))
    start: Mapped[datetime]
    end: Mapped[datetime]
    tier: Mapped[str] = mapped_column(String(16))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expert: Mapped[Expert] = relationship(lazy="joined")


class Case(Base):
    """One read request. Its workflow id derives from `id` alone: no patient data in it.

    The request's fields are written at intake; from then on the case workflow is the one
    writer of its status, holder, priority and promise, each write carrying the workflow's
    sequence number (`status_seq`) so that an older write never overwrites a newer one.
    """

    __tablename__ = "cases"
    __table_args__ = (UniqueConstraint("site_id", "accession_number"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"))
    accession_number: Mapped[str] = mapped_column(String(64))
    study_instance_uid: Mapped[str | None] = mapped_column(String(64))
    modality: Mapped[str] = mapped_column(String(8))
    body_part: Mapped[str] = mapped_column(String(64))
    study_description: Mapped[str] = mapped_column(String(200))
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
    site: Mapped[Site] = relationship(lazy="joined")
    assigned_expert: Mapped[Expert | None] = relationship(lazy="joined")
    events: Mapped[list[CaseEvent]] = relationship(
        order_by="CaseEvent.id", back_populates="case", lazy="select"
    )
    # Loaded when read: activities load a case many times a night and need neither; lists
    # of cases ask for them at once (web.access.with_timelines).
    reports: Mapped[list[Report]] = relationship(order_by="Report.id", lazy="select")
    offers: Mapped[list[Offer]] = relationship(
        order_by="Offer.sequence", back_populates="case", lazy="select"
    )


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
    __tablename__ = "reports"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id", ondelete="CASCADE"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    request_key: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(16))
    findings: Mapped[str] = mapped_column(Text)
    impression: Mapped[str] = mapped_column(Text)
    critical: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime]
    expert: Mapped[Expert] = relationship(lazy="joined")


class BillingLine(Base):
    """One line per read: the site's price and the expert's share, in cents."""

    __tablename__ = "billing_lines"
    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("cases.id"), unique=True)
    site_id: Mapped[int] = mapped_column(ForeignKey("sites.id"), index=True)
    expert_id: Mapped[int] = mapped_column(ForeignKey("experts.id"))
    modality: Mapped[str] = mapped_column(String(8))
    priority: Mapped[str] = mapped_column(String(16))
    time_band: Mapped[str] = mapped_column(String(16))
    amount_cents: Mapped[int]
    expert_share_cents: Mapped[int]
    currency: Mapped[str] = mapped_column(String(3))
    read_at: Mapped[datetime] = mapped_column(index=True)
    site: Mapped[Site] = relationship(lazy="joined")
    expert: Mapped[Expert] = relationship(lazy="joined")


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
    # When that answer reached the case's workflow; until then the reconciler delivers it.
    signalled_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


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
