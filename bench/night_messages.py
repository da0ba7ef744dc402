"""What the night simulator's workflows and activities pass each other."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class Admission:
    """A study arriving now: what the site sends."""

    accession: str
    site: str
    priority: str
    modality: str
    at: datetime


@dataclass(frozen=True)
class NightPlan:
    start: datetime
    arrivals: list[Admission]  # `at` is each arrival's instant
    give_up_at: datetime


@dataclass(frozen=True)
class NightEnd:
    admitted: int
    still_open: int
    ended_at: datetime


@dataclass(frozen=True)
class PlannedAnswer:
    case_id: int
    offer_id: int
    expert_id: int
    delay_s: float
    accept: bool


@dataclass(frozen=True)
class Reading:
    case_id: int
    due: datetime  # the case's report deadline
    read_s: float


@dataclass(frozen=True)
class FinalReport:
    case_id: int
    expert_id: int
