"""The evidence kept with every answer, and the verdict it leads to: pure functions, no Flask.

Each signal is computed from plain values (the answers, two times, an address, an OPD's service
hours), so each can be checked by hand. The verdict, the one thing that decides whether an
answer is counted, follows a fixed order: signs of a bot (a filled honeypot, a form sent
sooner than a person can answer) before a repeat from the same device, before a burst from one
network. Straight-lining and answers outside service hours are signals only: honest citizens do
both, so they are shown to the evaluator but never flag an answer on their own.
"""

from __future__ import annotations

import hashlib
import hmac
import ipaddress
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import Any
from zoneinfo import ZoneInfo

STRAIGHTLINE_MIN_ANSWERED = 5
NETWORK_HASH_LENGTH = 16
_HOURS_RE = re.compile(r"^\s*([01]\d|2[0-3]):([0-5]\d)\s*-\s*([01]\d|2[0-4]):([0-5]\d)\s*$")


# The evidence of a response in the order the review and the staff exports show it.
EVIDENCE_FIELDS = (
    "channel",
    "device_id",
    "verified",
    "seconds",
    "straightline",
    "repeat_device",
    "burst",
    "off_hours",
    "network",
)


@dataclass(frozen=True)
class Evidence:
    """What is stored with one answer besides the answer itself (signals, not verdicts).

    Made by the survey when an answer arrives, and read back from a stored response
    (:meth:`of`) for the flagged review and the staff exports.
    """

    channel: str = "qr"  # qr, kiosk or import (the stored answer takes it from its submission)
    device_id: int | None = None  # the enrolled kiosk it came from
    verified: bool = False  # a valid visit code came with it
    seconds: int | None = None  # from the form's render to the submission
    straightline: bool = False  # the same answer to every question
    repeat_device: bool = False  # the device had answered for this OPD before
    burst: bool = False  # past the soft rate limit of its network
    off_hours: bool = False  # outside the OPD's service hours
    network: str | None = None  # keyed hash of the sender's network, 16 hex digits

    @classmethod
    def of(cls, row: Any) -> Evidence:
        """Return the evidence of a response (an ORM object or a result row); NULL: default."""
        if hasattr(row, "_mapping"):
            values: Mapping[str, Any] = row._mapping
            found = {name: values.get(name) for name in EVIDENCE_FIELDS}
        else:
            found = {name: getattr(row, name, None) for name in EVIDENCE_FIELDS}
        return cls(
            channel=found["channel"] or "qr",
            device_id=found["device_id"],
            verified=bool(found["verified"]),
            seconds=found["seconds"],
            straightline=bool(found["straightline"]),
            repeat_device=bool(found["repeat_device"]),
            burst=bool(found["burst"]),
            off_hours=bool(found["off_hours"]),
            network=found["network"],
        )

    def values(self) -> tuple[Any, ...]:
        """Return the evidence in ``EVIDENCE_FIELDS`` order."""
        return tuple(getattr(self, name) for name in EVIDENCE_FIELDS)

    def columns(self) -> dict[str, object]:
        """Return the response columns the signals fill (the channel is the submission's)."""
        return {name: getattr(self, name) for name in EVIDENCE_FIELDS if name != "channel"}


@dataclass(frozen=True)
class Verdict:
    """How a submission is stored: counted, or flagged with a reason."""

    status: str = "counted"
    flag_reason: str | None = None

    @property
    def flagged(self) -> bool:
        """Return True if the submission is kept but not counted."""
        return self.status == "flagged"


COUNTED = Verdict()


def assess(
    *,
    honeypot: str | None,
    seconds: float | None,
    min_seconds: float,
    seen_before: bool,
    burst: bool = False,
) -> Verdict:
    """Decide how to store a submission: bot-suspect > duplicate-device > burst > counted.

    ``seconds`` is the time from the form's render to its submission (None: unknown, which no
    browser produces).

    >>> assess(honeypot="", seconds=40, min_seconds=3, seen_before=True, burst=True)
    Verdict(status='flagged', flag_reason='duplicate-device')
    """
    if honeypot and honeypot.strip():
        return Verdict("flagged", "bot-suspect")
    if seconds is None or seconds < min_seconds:
        return Verdict("flagged", "bot-suspect")
    if seen_before:
        return Verdict("flagged", "duplicate-device")
    if burst:
        return Verdict("flagged", "burst")
    return COUNTED


def seconds_taken(rendered_at: float, submitted_at: float) -> int:
    """Return whole seconds from render to submission (never negative).

    >>> seconds_taken(100.0, 161.9)
    61
    """
    return max(0, int(submitted_at - rendered_at))


def is_straightline(
    answers: Mapping[int, int], *, min_answered: int = STRAIGHTLINE_MIN_ANSWERED
) -> bool:
    """Return True when at least ``min_answered`` items are answered, all with the same value.

    >>> is_straightline({1: 4, 2: 4, 3: 4, 4: 4, 5: 4})
    True
    >>> is_straightline({1: 4, 2: 4, 3: 4, 4: 4})
    False
    """
    values = [v for v in answers.values() if v]  # 0, "not applicable", is not a rating
    return len(values) >= min_answered and len(set(values)) == 1


def parse_service_hours(text: str) -> tuple[time, time]:
    """Return (opening, closing) of an ``HH:MM-HH:MM`` text; ValueError names a bad one.

    ``24:00`` closes at midnight; a closing time before the opening one runs past midnight.
    """
    match = _HOURS_RE.match(text)
    if match is None:
        raise ValueError(f"service hours {text!r} are not HH:MM-HH:MM")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h2 == 24 and m2 != 0:
        raise ValueError(f"service hours {text!r} are not HH:MM-HH:MM")
    closing = time(23, 59, 59, 999999) if h2 == 24 else time(h2, m2)
    return time(h1, m1), closing


def is_off_hours(service_hours: str | None, when: datetime, *, timezone: str) -> bool:
    """Return True when ``when`` (aware) falls outside the OPD's service hours, local time.

    No hours set, or hours that cannot be read, mean no signal (False): the signal is only
    worth something where the OPD said when it serves.

    >>> from datetime import UTC
    >>> moment = datetime(2026, 1, 13, 14, 30, tzinfo=UTC)  # 21:30 in Jakarta
    >>> is_off_hours("08:00-16:00", moment, timezone="Asia/Jakarta")
    True
    """
    if not service_hours:
        return False
    try:
        opening, closing = parse_service_hours(service_hours)
    except ValueError:
        return False
    local = when.astimezone(ZoneInfo(timezone)).time()
    if opening <= closing:
        return not opening <= local < closing
    return closing <= local < opening  # open past midnight


def network_of(address: str | None, *, v4_prefix: int, v6_prefix: int) -> str:
    """Return the network an address belongs to, as text (``203.0.113.0/24``).

    An address that cannot be read (None, a Unix socket) is its own network, ``unknown``.
    An IPv4 address inside IPv6 (``::ffff:203.0.113.7``) counts as the IPv4 address.

    >>> network_of("2001:db8:1:2:aaaa::1", v4_prefix=24, v6_prefix=64)
    '2001:db8:1:2::/64'
    """
    try:
        ip = ipaddress.ip_address((address or "").strip())
    except ValueError:
        return "unknown"
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    prefix = v4_prefix if ip.version == 4 else v6_prefix
    return str(ipaddress.ip_network(f"{ip}/{prefix}", strict=False))


def keyed_hash(text: str, *, secret: str) -> str:
    """Return the HMAC-SHA256 of ``text`` keyed with ``secret``, hex (never the text)."""
    return hmac.new(secret.encode("utf-8"), text.encode("utf-8"), hashlib.sha256).hexdigest()


def network_hash(network: str, *, secret: str) -> str:
    """Return the stored form of a network: its keyed hash cut to 16 hex digits.

    Enough to put the answers of one burst together, never enough to read the network back.
    """
    return keyed_hash(f"network:{network}", secret=secret)[:NETWORK_HASH_LENGTH]
