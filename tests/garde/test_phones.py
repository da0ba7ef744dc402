"""Phone numbers typed as people write them are stored in E.164; a number without its country
code is read in the country it belongs to; a wrong one is named with an example."""

from __future__ import annotations

from typing import Annotated

import pytest
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from garde.errors import InvalidInput
from garde.intake import CaseRequest
from garde.models import Base, Site
from garde.phones import normalise, readable, reason, region_of_zone
from garde.registry import (
    create_coordinator,
    create_expert,
    create_site,
    update_expert,
    update_site,
)
from garde.validation import Input, phone, validated
from tests.conftest import case_request


def test_a_number_is_read_in_every_usual_form_and_country() -> None:
    for typed, region, stored in [
        ("04 71 00 00 00", "FR", "+33471000000"),
        ("04.71.00.00.00", "FR", "+33471000000"),
        ("0471000000", "FR", "+33471000000"),
        ("+33 4 71 00 00 00", "FR", "+33471000000"),
        ("+33 (0)4 71 00 00 00", "FR", "+33471000000"),
        ("0033 4 71 00 00 00", "FR", "+33471000000"),
        ("+33471000000", "US", "+33471000000"),  # a country code wins over the region
        ("0596 30 12 34", "MQ", "+596596301234"),
        ("(212) 555-0100", "US", "+12125550100"),
    ]:
        assert normalise(typed, region) == stored, (typed, region)


def test_a_number_that_is_none_is_refused_with_an_example_of_its_country() -> None:
    for typed, region in [
        ("04 71 00 00", "FR"),  # too short
        ("04 71 00 00 00 00", "FR"),  # too long
        ("06 12 34 56 78", "MQ"),  # a French mobile without +33 is no Martinique number
        ("call me", "FR"),
        ("+", "FR"),
    ]:
        with pytest.raises(ValueError, match="must be a phone number"):
            normalise(typed, region)
    assert reason("FR") == "must be a phone number, e.g. +33 6 12 34 56 78 or 06 12 34 56 78"
    assert "+596 " in reason("MQ")


def test_a_site_s_country_comes_from_its_time_zone_and_the_region_s_otherwise() -> None:
    assert region_of_zone("Europe/Paris") == "FR"
    assert region_of_zone("America/Martinique") == "MQ"
    assert region_of_zone("Indian/Reunion") == "RE"
    assert region_of_zone("UTC") == "FR"
    assert region_of_zone("Etc/UTC") == "FR"


def test_pages_show_a_stored_number_readably() -> None:
    assert readable("+33471000000") == "+33 4 71 00 00 00"
    assert readable("") == ""


class _Contact(Input):
    phone: Annotated[str, phone()]
    other: Annotated[str | None, phone()] = None


def test_a_field_names_the_phone_and_an_optional_one_may_be_absent() -> None:
    with pytest.raises(InvalidInput) as refused:
        validated(_Contact, {"phone": "06 12 34 56", "other": "  "}, region="FR")
    assert refused.value.fields == {"phone": reason("FR")}
    with pytest.raises(InvalidInput) as refused:
        validated(_Contact, {"phone": "x" * 40})
    assert refused.value.fields == {"phone": "must be at most 32 characters"}
    assert validated(_Contact, {"phone": "06 12 34 56 78"}).phone == "+33612345678"


def test_a_callback_phone_is_read_in_the_site_s_country() -> None:
    paris = Site(code="P", name="P", timezone="Europe/Paris")
    martinique = Site(code="M", name="M", timezone="America/Martinique")
    parsed = CaseRequest.parse(case_request(callback_phone="04 71 00 00 00"), paris)
    assert parsed.callback_phone == "+33471000000"
    parsed = CaseRequest.parse(case_request(callback_phone="0596 30 12 34"), martinique)
    assert parsed.callback_phone == "+596596301234"
    with pytest.raises(InvalidInput) as refused:
        CaseRequest.parse(case_request(callback_phone="04 71 00 00 00"), martinique)
    assert refused.value.fields == {"callback_phone": reason("MQ")}


def test_the_registry_stores_national_numbers_in_e164() -> None:
    engine = create_engine("sqlite://")
    Base.metadata.create_all(engine)
    with Session(engine) as s:
        site = create_site(
            s,
            {
                "code": "FDF",
                "name": "CHU",
                "timezone": "America/Martinique",
                "phone": "0596 30 12 34",
            },
        )
        assert site.phone == "+596596301234"
        update_site(site, {"timezone": "Europe/Paris", "phone": "04 71 00 00 00"})
        assert site.phone == "+33471000000"
        expert = create_expert(
            s, {"code": "DR", "name": "Dr", "phone": "06 12 34 56 78", "modalities": ["CT"]}
        )
        assert expert.phone == "+33612345678"
        update_expert(s, expert, {"phone": "0033 6 12 34 56 79"})
        assert expert.phone == "+33612345679"
        with pytest.raises(InvalidInput) as refused:
            create_expert(
                s, {"code": "DR2", "name": "Dr", "phone": "+33 6 12 34 56 79", "modalities": ["CT"]}
            )
        assert refused.value.fields == {"phone": "is already the phone of another expert"}
        coordinator = create_coordinator(s, {"code": "C", "name": "C", "phone": "04 65 71 99 98"})
        assert coordinator.phone == "+33465719998"
