"""The evidence signals of survey.core.evidence, each against values worked out by hand."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, time

import pytest

from survey.core import evidence
from survey.core.evidence import (
    is_off_hours,
    is_straightline,
    network_hash,
    network_of,
    parse_service_hours,
    seconds_taken,
)


@pytest.mark.parametrize(
    ("answers", "expected"),
    [
        ({1: 4, 2: 4, 3: 4, 4: 4, 5: 4}, True),  # five answered, all 4
        ({i: 1 for i in range(1, 10)}, True),  # nine, all 1
        ({1: 4, 2: 4, 3: 4, 4: 4}, False),  # only four answered
        ({1: 4, 2: 4, 3: 4, 4: 4, 5: 3}, False),  # one differs
        ({1: 2, 3: 2, 5: 2, 7: 2, 9: 2}, True),  # gaps do not matter, five answered
        ({}, False),
    ],
)
def test_straightline(answers, expected):
    """At least five answered items, every one the same value."""
    assert is_straightline(answers) is expected


def test_seconds_taken():
    """Whole seconds, rounded down, never negative (a server clock a little behind)."""
    assert seconds_taken(100.0, 161.9) == 61
    assert seconds_taken(100.0, 100.0) == 0
    assert seconds_taken(100.0, 99.0) == 0


@pytest.mark.parametrize(
    ("hours", "utc", "expected"),
    [
        # Jakarta is UTC+7: 01:00 UTC is 08:00 local, the opening minute.
        ("08:00-16:00", datetime(2026, 1, 13, 1, 0, tzinfo=UTC), False),
        ("08:00-16:00", datetime(2026, 1, 13, 0, 59, tzinfo=UTC), True),  # 07:59
        ("08:00-16:00", datetime(2026, 1, 13, 8, 59, tzinfo=UTC), False),  # 15:59
        ("08:00-16:00", datetime(2026, 1, 13, 9, 0, tzinfo=UTC), True),  # 16:00, closed
        ("08:00-16:00", datetime(2026, 1, 13, 14, 30, tzinfo=UTC), True),  # 21:30
        # An emergency ward open overnight, 20:00 to 06:00.
        ("20:00-06:00", datetime(2026, 1, 13, 14, 30, tzinfo=UTC), False),  # 21:30
        ("20:00-06:00", datetime(2026, 1, 13, 22, 0, tzinfo=UTC), False),  # 05:00
        ("20:00-06:00", datetime(2026, 1, 13, 3, 0, tzinfo=UTC), True),  # 10:00
        ("00:00-24:00", datetime(2026, 1, 13, 16, 59, tzinfo=UTC), False),  # 23:59
        (None, datetime(2026, 1, 13, 16, 0, tzinfo=UTC), False),  # no hours: no signal
        ("", datetime(2026, 1, 13, 16, 0, tzinfo=UTC), False),
        ("pagi saja", datetime(2026, 1, 13, 16, 0, tzinfo=UTC), False),  # unreadable
    ],
)
def test_off_hours(hours, utc, expected):
    """Local time (Asia/Jakarta) against the OPD's ``HH:MM-HH:MM``; None: never off hours."""
    assert is_off_hours(hours, utc, timezone="Asia/Jakarta") is expected


def test_off_hours_follows_the_time_zone():
    """The same moment is inside the hours in Jakarta (UTC+7) and outside in Jayapura (+9)."""
    moment = datetime(2026, 1, 13, 8, 30, tzinfo=UTC)  # 15:30 WIB, 17:30 WIT
    assert is_off_hours("08:00-16:00", moment, timezone="Asia/Jakarta") is False
    assert is_off_hours("08:00-16:00", moment, timezone="Asia/Jayapura") is True


@pytest.mark.parametrize("text", ["8-16", "08:00", "25:00-26:00", "08:00-24:30", "08.00-16.00"])
def test_service_hours_refused(text):
    """Hours that are not HH:MM-HH:MM are named in the error."""
    with pytest.raises(ValueError, match="not HH:MM-HH:MM"):
        parse_service_hours(text)


def test_service_hours_parsed():
    """Opening and closing times, 24:00 as the end of the day."""
    assert parse_service_hours(" 07:30 - 15:45 ") == (time(7, 30), time(15, 45))
    assert parse_service_hours("00:00-24:00")[1] == time(23, 59, 59, 999999)


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("203.0.113.77", "203.0.113.0/24"),
        ("203.0.113.1", "203.0.113.0/24"),
        ("::ffff:203.0.113.9", "203.0.113.0/24"),  # IPv4 inside IPv6
        ("2001:db8:aa:bb:1:2:3:4", "2001:db8:aa:bb::/64"),
        ("2001:db8:aa:bb:ffff:ffff:ffff:ffff", "2001:db8:aa:bb::/64"),
        ("2001:db8:aa:bc::1", "2001:db8:aa:bc::/64"),
        (None, "unknown"),
        ("", "unknown"),
        ("not-an-address", "unknown"),
    ],
)
def test_network_of(address, expected):
    """IPv4 /24 and IPv6 /64 by default."""
    assert network_of(address, v4_prefix=24, v6_prefix=64) == expected


def test_network_prefixes_are_settings():
    """Other prefixes give other networks."""
    assert network_of("203.0.113.77", v4_prefix=16, v6_prefix=64) == "203.0.0.0/16"
    assert network_of("2001:db8:aa:bb:1::", v4_prefix=24, v6_prefix=48) == "2001:db8:aa::/48"


def test_network_hash():
    """16 hex digits of the HMAC-SHA256 of "network:<prefix>" keyed with the secret."""
    expected = hmac.new(b"k" * 32, b"network:203.0.113.0/24", hashlib.sha256).hexdigest()[:16]
    assert network_hash("203.0.113.0/24", secret="k" * 32) == expected
    assert network_hash("203.0.113.0/24", secret="j" * 32) != expected
    assert len(expected) == evidence.NETWORK_HASH_LENGTH and "203" not in expected
