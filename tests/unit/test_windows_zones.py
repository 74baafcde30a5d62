"""Outlook display-name TZIDs ("(UTC-05:00) Eastern Time (US & Canada)") as IANA zones."""

from __future__ import annotations

from zoneinfo import ZoneInfo

import pytest
from icalendar.timezone.windows_to_olson import WINDOWS_TO_OLSON

from calsync.core.windows_zones import DISPLAY_NAMES, display_name_zone


@pytest.mark.parametrize(("place", "windows_id"), sorted(DISPLAY_NAMES.items()))
def test_every_display_name_maps_to_a_valid_iana_zone(place, windows_id):
    """Each table entry names a Windows id that icalendar's CLDR table takes to a real IANA zone."""
    zone = display_name_zone(f"(UTC+01:00) {place}")
    assert WINDOWS_TO_OLSON[windows_id] == zone
    assert ZoneInfo(str(zone)).key == zone


@pytest.mark.parametrize(
    ("tzid", "zone"),
    [
        ("(UTC-05:00) Eastern Time (US & Canada)", "America/New_York"),
        ("(UTC+01:00) Amsterdam, Berlin, Bern, Rome, Stockholm, Vienna", "Europe/Berlin"),
        ("(UTC+01:00) Brussels, Copenhagen, Madrid, Paris", "Europe/Paris"),
        ("(UTC+00:00) Dublin, Edinburgh, Lisbon, London", "Europe/London"),
        ("(UTC) Coordinated Universal Time", "Etc/UTC"),
        ("(UTC-11:00) Co-ordinated Universal Time-11", "Etc/GMT+11"),
        ("(GMT-08:00) Pacific Time (US & Canada)", "America/Los_Angeles"),
        ("(GMT) Greenwich Mean Time : Dublin, Edinburgh, Lisbon, London", "Europe/London"),
        ("(UTC+10:00)  Canberra,  Melbourne, Sydney ", "Australia/Sydney"),
        ("(UTC-04:00) Turks and Caicos", "America/Grand_Turk"),
        ("(UTC-05:00) Turks and Caicos", "America/Grand_Turk"),
    ],
)
def test_display_names_are_read_whatever_the_offset_prefix_says(tzid, zone):
    """The place names identify the zone: UTC or GMT prefix, old offsets, en-GB spelling, extra blanks."""
    assert display_name_zone(tzid) == zone


@pytest.mark.parametrize(
    "tzid",
    [
        "Eastern Time (US & Canada)",
        "Eastern Standard Time",
        "(UTC+01:00) Amsterdam, Berlijn, Bern, Rome, Stockholm, Wenen",
        "(UTC+01:00) Atlantis",
        "",
    ],
)
def test_other_tzids_are_not_display_names(tzid):
    """No prefix, a Windows id, a localised name or an unknown place: not this table's to answer."""
    assert display_name_zone(tzid) is None
