"""Phone numbers as people type them (04 71 00 00 00, +33 4 71 00 00 00, 0033 4 71 ...),
stored in E.164 (+33471000000), the form Twilio takes and every lookup by phone compares.

A number typed without its country code is read in a country: a case's callback phone in its
site's (found from the site's time zone), an expert's or a coordinator's in the region's.
"""

from __future__ import annotations

import phonenumbers
from babel.core import get_global
from phonenumbers import NumberParseException, PhoneNumberFormat, PhoneNumberType

# The region's country, for the numbers of experts and coordinators typed without a country
# code. A constant, not a setting: the registry that reads these numbers is called from the
# API, the expert's settings page and the demo loader, and none of them hands it the settings.
REGION = "FR"


def region_of_zone(timezone: str) -> str:
    """The country a time zone lies in (Europe/Paris: FR, America/Martinique: MQ); the
    region's for a zone of no country (UTC)."""
    territory: str | None = get_global("zone_territories").get(timezone)
    if territory and territory.isalpha() and territory != "ZZ":
        return territory
    return REGION


def normalise(raw: str, region: str = REGION) -> str:
    """The number in E.164, read in `region` when it has no country code. ValueError with
    the reason, an example in both forms, when it is not a valid number."""
    try:
        number = phonenumbers.parse(raw, region)
    except NumberParseException:
        raise ValueError(reason(region)) from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError(reason(region))
    return phonenumbers.format_number(number, PhoneNumberFormat.E164)


def reason(region: str = REGION) -> str:
    """What a bad number is told: "must be a phone number, e.g. +33 6 12 34 56 78 or
    06 12 34 56 78", with the example of the country it was read in."""
    example = phonenumbers.example_number_for_type(region, PhoneNumberType.MOBILE)
    if example is None:
        return "must be a phone number with its country code, e.g. +33 6 12 34 56 78"
    international = phonenumbers.format_number(example, PhoneNumberFormat.INTERNATIONAL)
    national = phonenumbers.format_number(example, PhoneNumberFormat.NATIONAL)
    return f"must be a phone number, e.g. {international} or {national}"


def readable(stored: str) -> str:
    """A stored number as a person reads it, +33 4 71 00 00 00; as stored if it is no number."""
    try:
        number = phonenumbers.parse(stored, None)
    except NumberParseException:
        return stored
    return phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
