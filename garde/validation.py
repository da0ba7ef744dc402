"""Checks for everything that comes from outside: each input is a pydantic model (`Input`)
whose fields use the rules below, so one definition validates a body or a form and describes
it in openapi.json; `validated` names every offending field with its reason."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import date, datetime
from typing import Any, TypeVar
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from annotated_types import GroupedMetadata
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_core import PydanticCustomError

from garde import phones

CODE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,31}$")
AE_TITLE = re.compile(r"^[ -~]{1,16}$")
DICOM_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")
# C0 and C1 controls but tab, CR and LF: PostgreSQL refuses NUL in text, and 0x0B and 0x1C
# frame HL7 messages over MLLP; no person means to type any of them.
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
CONTROL_REASON = "must not contain control characters (only tabs and line breaks)"

M = TypeVar("M", bound="BaseModel")


def _pattern_reason(pattern: re.Pattern[str]) -> str:
    return {
        CODE.pattern: "must be letters, digits, '.', '_' or '-' (at most 32)",
        AE_TITLE.pattern: "must be 1 to 16 printable ASCII characters",
        DICOM_UID.pattern: "must be a DICOM UID (digits and dots)",
    }.get(pattern.pattern, "has an invalid format")


class Input(BaseModel):
    """What someone sends. Text arrives stripped, and a blank value counts as absent, so a
    required field left empty in a form reads "is required"; unknown fields are ignored (a
    page's form carries its CSRF token)."""

    model_config = ConfigDict(extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _blank_is_absent(cls, data: Any) -> Any:
        """A blank value is absent; so is a null for a required field ("is required")."""
        if not isinstance(data, Mapping):
            return data
        required = {f.alias or n for n, f in cls.model_fields.items() if f.is_required()}
        return {k: v for k, v in data.items() if not (_blank(v) or (v is None and k in required))}


def _blank(value: Any) -> bool:
    """Spaces only; not control characters, which strip() also takes for spaces."""
    return isinstance(value, str) and not value.strip() and not CONTROL.search(value)


def _clean_text(value: Any) -> Any:
    if isinstance(value, str):
        if CONTROL.search(value):  # before strip() drops some
            raise PydanticCustomError("control_characters", CONTROL_REASON)
        return value.strip()
    return value


def _comma_list(value: Any) -> Any:
    """A form sends a list as "a, b"; JSON sends a list."""
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    return value


def _strict_text(value: Any) -> Any:
    if value is not None and not isinstance(value, str):
        raise PydanticCustomError("string_type", "must be a string")
    return _clean_text(value)


class _Rules(GroupedMetadata):
    """Several of pydantic's rules under one name: `Annotated[str, text(64)]`. The field's
    constraints come first: pydantic then sets them on the string itself, where after a
    validator they would apply to all of `str | None` and fail on its null (a 500)."""

    def __init__(self, *rules: Any) -> None:
        self.rules = rules

    def __iter__(self) -> Iterator[Any]:
        return iter(sorted(self.rules, key=lambda rule: not isinstance(rule, FieldInfo)))


def text(max_len: int = 200, *, pattern: re.Pattern[str] | None = None, **schema: Any) -> Any:
    """A string: no control characters, stripped, at most `max_len` characters."""
    return _Rules(
        BeforeValidator(_strict_text),
        Field(max_length=max_len, pattern=pattern.pattern if pattern else None, **schema),
    )


def choice(**schema: Any) -> Any:
    """One of an enumeration's values, in any case ("STAT" is stat)."""
    return _Rules(
        BeforeValidator(lambda v: _strict_text(v).lower() if isinstance(v, str) else v),
        Field(**schema),
    )


def word(normalise: Callable[[str], str], known: Sequence[str], **schema: Any) -> Any:
    """A word of a vocabulary (garde.vocabulary), answered in its one spelling; `normalise`
    raises ValueError naming the known words. An optional word's null stays null: pydantic
    runs the rules of `str | None` on None too."""
    return _Rules(
        BeforeValidator(_strict_text),
        AfterValidator(lambda value: None if value is None else normalise(value)),
        Field(max_length=64, examples=list(known)[:3], **schema),
    )


def words(normalise: Callable[[str], str], known: Sequence[str], **schema: Any) -> Any:
    """A list of words of a vocabulary, each in its one spelling, without repeats; a form
    may send them as "a, b"."""

    def each(values: list[str]) -> list[str]:
        found: list[str] = []
        problems: list[str] = []
        for raw in values:
            try:
                one = normalise(_strict_text(raw))
            except ValueError as e:
                problems.append(str(e))
                continue
            if one not in found:
                found.append(one)
        if problems:
            raise ValueError("; ".join(problems))
        return found

    return _Rules(
        BeforeValidator(_comma_list),
        AfterValidator(each),
        Field(examples=[list(known)[:2]], **schema),
    )


def phone(**schema: Any) -> Any:
    """A phone number as people type it, read in the validation context's `region` (a
    country, default France) when it has no country code; answered in E.164."""

    def normalise(value: str | None, info: ValidationInfo) -> str | None:
        if value is None:  # an optional phone left out (`str | None`)
            return None
        region = (info.context or {}).get("region", phones.REGION)
        return phones.normalise(value, region)

    return _Rules(
        BeforeValidator(_strict_text),
        AfterValidator(normalise),
        Field(
            max_length=32,
            description="as people type it; without its country code it is read in the "
            "site's country (a site's or a case's phone) or the region's (France)",
            examples=["04 71 00 00 00", "+33 4 71 00 00 00"],
            **schema,
        ),
    )


def zone(**schema: Any) -> Any:
    """An IANA time zone (Europe/Paris)."""

    def known(value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # "Europe" is a folder
            raise ValueError("is not a known IANA time zone") from None
        return value

    return _Rules(
        BeforeValidator(_strict_text),
        AfterValidator(known),
        Field(max_length=64, description="IANA time zone", examples=["Europe/Paris"], **schema),
    )


def between(minimum: int, maximum: int, **schema: Any) -> Any:
    """A whole number from `minimum` to `maximum`, both included; a form sends it as text."""

    def inside(value: int | None) -> int | None:
        if value is not None and not minimum <= value <= maximum:
            raise ValueError(f"must be between {minimum} and {maximum}")
        return value

    return _Rules(
        AfterValidator(inside),
        Field(json_schema_extra={"minimum": minimum, "maximum": maximum}, **schema),
    )


def instant(**schema: Any) -> Any:
    """A date and time in ISO 8601 with its UTC offset (2026-11-28T20:00:00+01:00, or Z), of
    a year between 1970 and 2200."""

    def parse(value: Any) -> Any:
        value = _strict_text(value)
        if not isinstance(value, str):
            return value
        try:
            found = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            found = None
        # From 1970: before, zones kept offsets in seconds (Paris +00:09:21 until 1911) that
        # an answer in ISO 8601 cannot carry.
        if found is None or not 1970 <= found.year <= 2200:
            raise PydanticCustomError("datetime_parsing", "must be an ISO 8601 date and time")
        if found.tzinfo is None:
            raise PydanticCustomError(
                "timezone_aware", "must carry a UTC offset (e.g. 2026-11-28T20:00:00+01:00)"
            )
        return found

    return _Rules(BeforeValidator(parse), Field(**schema))


def day(**schema: Any) -> Any:
    """A calendar date, ISO 8601 (2026-03-31), of a year between 1900 and 2200."""

    def parse(value: Any) -> Any:
        value = _strict_text(value)
        if not isinstance(value, str):
            return value
        try:
            found = date.fromisoformat(value)
        except ValueError:
            raise PydanticCustomError("date_parsing", "must be a date written YYYY-MM-DD") from None
        if not 1900 <= found.year <= 2200:
            raise PydanticCustomError("date_range", "must be a year between 1900 and 2200")
        return found

    return _Rules(BeforeValidator(parse), Field(**schema))


def validated(model: type[M], data: Any, **context: Any) -> M:
    """`data` as `model`, or InvalidInput naming every offending field with its reason."""
    from garde.errors import InvalidInput

    if not isinstance(data, Mapping):
        raise InvalidInput({"body": "expected a JSON object"})
    try:
        return model.model_validate(data, context=context)
    except ValidationError as e:
        raise InvalidInput(reasons(e)) from None


def reasons(error: ValidationError) -> dict[str, str]:
    """Each field (dotted path) with the first reason found, in the API's words."""
    found: dict[str, str] = {}
    for item in error.errors(include_url=False):
        loc = [str(part) for part in item["loc"] if not str(part).startswith("function-")]
        name = ".".join(loc) or "body"
        found.setdefault(name, _reason(item))
    return found


def _reason(item: Any) -> str:
    kind, ctx = item["type"], item.get("ctx") or {}
    if kind == "missing":
        return "is required"
    if kind in ("string_type", "string_sub_type"):
        return "must be a string"
    if kind == "string_too_long" or (kind == "too_long" and isinstance(item["input"], str)):
        return f"must be at most {ctx['max_length']} characters"
    if kind == "too_long":
        return f"must have at most {ctx['max_length']} items"
    if kind == "string_too_short":
        return "is required" if ctx.get("min_length") == 1 else item["msg"]
    if kind == "string_pattern_mismatch":
        return _pattern_reason(re.compile(ctx["pattern"]))
    if kind in ("enum", "literal_error"):
        return "must be one of " + ", ".join(re.findall(r"'([^']*)'", ctx.get("expected", "")))
    if kind in ("int_type", "int_parsing", "int_from_float"):
        return "must be an integer"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}"
    if kind in ("bool_type", "bool_parsing"):
        return "must be true or false"
    if kind in ("list_type",):
        return "must be a list"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return "must be an object"
    if kind in (
        "date_type",
        "date_parsing",
        "date_from_datetime_parsing",
        "date_from_datetime_inexact",
    ):
        return "must be a date written YYYY-MM-DD"
    if kind in ("datetime_type", "datetime_parsing", "datetime_from_date_parsing"):
        return "must be an ISO 8601 date and time"
    if kind == "timezone_aware":
        return "must carry a UTC offset (e.g. 2026-11-28T20:00:00+01:00)"
    if kind == "value_error":
        return str(ctx.get("error") or item["msg"])
    return str(item["msg"])
