"""A new version of a site's tariff as a coordinator sends it (PUT /api/v1/sites/CODE/tariff),
checked field by field. A version is whole: a field left out takes its default, not the value
of the version before, so that what was sent is the contract, with nothing carried unseen."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, ConfigDict, Field
from sqlalchemy.orm import Session

from billing.tariffs import add_version, local_today
from billing.terms import Band, Calendar, PricedAt
from garde import vocabulary
from garde.errors import InvalidInput
from garde.models import Site, Tariff
from garde.validation import CODE, Input, between, choice, day, text, validated

CURRENCY = re.compile(r"^[A-Z]{3}$")
HOUR_MINUTE = re.compile(r"^([01][0-9]|2[0-3]):[0-5][0-9]$")
BANDS = tuple(str(b) for b in Band)
MAX_CENTS = 100_000_000  # a million euros: far above any read, far below an integer's limit
MAX_PERCENT = 500


def _whole(value: Any, maximum: int, unit: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= maximum:
        raise ValueError(f"must be a whole number of {unit} from 0 to {maximum}")
    return value


def _amounts(
    key: Callable[[Any], str], maximum: int = MAX_CENTS, unit: str = "cents"
) -> Callable[[Any], dict[str, int]]:
    """A check of a map of names to whole amounts; `key` gives a name's one spelling, or
    raises ValueError saying why it is no name here. Strict: "900" or 9.5 cents is a mistake."""

    def check(value: Any) -> dict[str, int]:
        if not isinstance(value, Mapping):
            raise ValueError(f"must map names to {unit}")
        found: dict[str, int] = {}
        problems = []
        for raw, amount in value.items():
            try:
                name = key(raw)
                found[name] = _whole(amount, maximum, unit)
            except ValueError as e:
                problems.append(f"{raw}: {e}")
        if problems:
            raise ValueError("; ".join(problems))
        return found

    return check


def _modality_or_default(raw: Any) -> str:
    if raw == "default":
        return raw
    try:
        return vocabulary.modality(str(raw))
    except ValueError:
        raise ValueError(
            f"must be 'default' or one of {', '.join(vocabulary.MODALITIES)}"
        ) from None


def _exam_code(raw: Any) -> str:
    if not isinstance(raw, str) or not CODE.match(raw):
        raise ValueError("must be letters, digits, '.', '_' or '-' (at most 32)")
    return raw


def _band(raw: Any) -> str:
    if raw not in BANDS:
        raise ValueError(f"must be one of {', '.join(BANDS)}")
    return str(raw)


def _not_empty(value: dict[str, int]) -> dict[str, int]:
    if not value:
        raise ValueError("must price at least one modality, or 'default'")
    return value


def _currency(value: str) -> str:
    if not CURRENCY.match(value.upper()):
        raise ValueError("must be an ISO 4217 code of 3 letters, e.g. EUR")
    return value.upper()


def _hour_minute(value: str) -> str:
    if not HOUR_MINUTE.match(value):
        raise ValueError("must be a time of day written HH:MM, e.g. 20:00")
    return value


BandCents = Annotated[
    dict[str, int],
    BeforeValidator(_amounts(_band)),
    Field(
        description="an amount in cents added per band: night, sunday, holiday, stat",
        examples=[{"night": 2500, "stat": 1000}],
    ),
]
BandPercent = Annotated[
    dict[str, int],
    BeforeValidator(_amounts(_band, MAX_PERCENT, "percent")),
    Field(
        description="a percentage of the base price added per band (0 to 500), rounded half "
        "up to the cent; with an amount for the same band, both add",
        examples=[{"sunday": 25, "holiday": 25}],
    ),
]
HourMinute = Annotated[str, text(5), AfterValidator(_hour_minute)]


class TariffInput(Input):
    """A new version of a site's tariff, in force from `valid_from` (a date of the site's zone,
    today or later). Every field left out takes its default, whatever the version before
    said. When several of night, Sunday and holiday hold, only the highest surcharge applies
    unless `cumulative`; stat adds in both cases."""

    model_config = ConfigDict(extra="forbid")

    valid_from: Annotated[date, day(description="the first day it prices, in the site's zone")]
    currency: Annotated[str, text(3), AfterValidator(_currency)] = "EUR"
    base_cents: Annotated[
        dict[str, int],
        BeforeValidator(_amounts(_modality_or_default)),
        AfterValidator(_not_empty),
        Field(
            description="base price in cents per modality, and 'default' for the others",
            examples=[{"CT": 9000, "MR": 12000, "default": 6000}],
        ),
    ]
    exam_cents: Annotated[
        dict[str, int],
        BeforeValidator(_amounts(_exam_code)),
        Field(
            description="base price in cents per exam code (the site's RIS procedure code), "
            "over the modality's",
            examples=[{"TDMCRANE": 8500}],
        ),
    ] = {}
    surcharge_cents: BandCents = {}
    surcharge_percent: BandPercent = {}
    cumulative: Annotated[
        bool, Field(description="every band's surcharge adds, not only the highest")
    ] = False
    expert_share_percent: Annotated[
        int, between(0, 100, description="the expert's share of each line, rounded half up")
    ] = 70
    holidays: Annotated[
        Calendar, Field(description="whose public holidays: France's, or with Alsace-Moselle's")
    ] = Calendar.FR
    night_start: Annotated[HourMinute, Field(description="night begins, site's zone")] = "20:00"
    night_end: Annotated[HourMinute, Field(description="night ends, site's zone")] = "08:00"
    priced_at: Annotated[
        PricedAt, choice(description="the instant a read is priced at: its acceptance or its final")
    ] = PricedAt.ACCEPTANCE
    cancellation_cents: Annotated[
        int | None,
        between(
            0,
            MAX_CENTS,
            description="billed for a case cancelled after its acceptance; null: not billed",
        ),
    ] = None


FIELDS = tuple(TariffInput.model_fields)


def create_tariff(session: Session, site: Site, data: Any, by: str) -> Tariff:
    """The site's next tariff version, from `data` (InvalidInput naming each wrong field, and
    nothing is added). From today at the earliest: a read already priced keeps its price."""
    problems: dict[str, str] = {}
    if isinstance(data, Mapping):
        for name in data:
            if name not in FIELDS:
                problems[str(name)] = "is not a field of a tariff"
        data = {k: v for k, v in data.items() if k in FIELDS}
    try:
        given = validated(TariffInput, data)
    except InvalidInput as e:
        raise InvalidInput(problems | e.fields) from None
    today = local_today(site.timezone)
    if given.valid_from < today:
        problems["valid_from"] = (
            f"must be today ({today.isoformat()}, the site's zone) or later: reads already "
            "priced keep their tariff"
        )
    if given.night_start == given.night_end:
        problems["night_end"] = "must differ from night_start"
    if problems:
        raise InvalidInput(problems)
    surcharges = {
        band: {
            "cents": given.surcharge_cents.get(band, 0),
            "percent": given.surcharge_percent.get(band, 0),
        }
        for band in BANDS
        if band in given.surcharge_cents or band in given.surcharge_percent
    }
    return add_version(
        session,
        site,
        given.valid_from,
        currency=given.currency,
        base_cents=given.base_cents,
        exam_cents=given.exam_cents,
        surcharges=surcharges,
        cumulative=given.cumulative,
        expert_share_percent=given.expert_share_percent,
        holidays=str(given.holidays),
        night_start=given.night_start,
        night_end=given.night_end,
        priced_at=str(given.priced_at),
        cancellation_cents=given.cancellation_cents,
        created_by=by,
    )
