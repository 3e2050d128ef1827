"""Submission limits shared by every worker and app server: fixed-bucket counters in a store.

Each survey POST is one hit on a few keys: the exact address and the address's network (IPv4
/24, IPv6 /64 by default), each for the wave and OPD it answers, and the address across every
survey (a flood cap). A key's count is the sum of its buckets (60 s each by default) over the
window (an hour). Past a key's *soft* limit the answer is still stored, flagged ``burst``;
past its *hard* limit the POST is refused (429) and not counted. An enrolled kiosk is one busy
counter, not a network: its answers are counted under the device instead of its address and
network, with a hard limit only.

Keys are keyed hashes (HMAC-SHA256 with the app secret) of what they count, never an address.
The counters live in the database (the ``ratecounter`` table: one upsert per POST for all its
keys, which also returns their counts over the window) or in Redis when ``IKM_REDIS_URL`` is
set (one pipeline). Every POST to a survey is counted, refused ones too, so a flood that goes
on stays refused.
"""

from __future__ import annotations

import functools
import math
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import Session

from survey.core.evidence import keyed_hash, network_of
from survey.core.models import RateCounter

_TABLE = RateCounter.__table__  # type: ignore[attr-defined]  # added by SQLModel at runtime


@dataclass(frozen=True)
class Limits:
    """The limit settings (see ``survey.core.settings``: the ``LIMIT_*`` keys)."""

    window: int = 3600
    bucket: int = 60
    soft: int = 20
    kiosk_soft: int = 60
    hard: int = 120
    network_hard: int = 600
    flood: int = 600
    v4_prefix: int = 24
    v6_prefix: int = 64

    def __post_init__(self) -> None:
        """Refuse settings that cannot work, naming the bad value."""
        if self.bucket < 1 or self.window < self.bucket or self.window % self.bucket:
            raise ValueError(
                f"the limit window ({self.window} s) must be a whole number of buckets "
                f"({self.bucket} s)"
            )
        for name in ("soft", "kiosk_soft", "hard", "network_hard", "flood"):
            if getattr(self, name) < 1:
                raise ValueError(f"limit {name} must be at least 1, not {getattr(self, name)}")
        if not 8 <= self.v4_prefix <= 32 or not 16 <= self.v6_prefix <= 128:
            raise ValueError(
                f"network prefixes /{self.v4_prefix} (IPv4) and /{self.v6_prefix} (IPv6) "
                "are outside 8..32 and 16..128"
            )

    @classmethod
    def from_config(cls, config: Mapping[str, Any]) -> Limits:
        """Return the limits named ``LIMIT_*`` in an app's config."""
        return cls(
            window=int(config["LIMIT_WINDOW"]),
            bucket=int(config["LIMIT_BUCKET"]),
            soft=int(config["LIMIT_SOFT"]),
            kiosk_soft=int(config["LIMIT_KIOSK_SOFT"]),
            hard=int(config["LIMIT_HARD"]),
            network_hard=int(config["LIMIT_NETWORK_HARD"]),
            flood=int(config["LIMIT_FLOOD"]),
            v4_prefix=int(config["LIMIT_V4_PREFIX"]),
            v6_prefix=int(config["LIMIT_V6_PREFIX"]),
        )

    @property
    def buckets(self) -> int:
        """Return the number of buckets in a window."""
        return self.window // self.bucket


@dataclass(frozen=True)
class Rule:
    """One counted key with its limits (None: no such limit)."""

    key: str
    soft: int | None
    hard: int | None


@dataclass(frozen=True)
class Outcome:
    """What a hit found: refused (and for how long), or allowed and perhaps past a soft limit."""

    refused: bool = False
    retry_after: int = 0
    burst: bool = False
    totals: tuple[int, ...] = ()  # per rule, this hit included when it was allowed


def survey_rules(
    limits: Limits,
    *,
    secret: str,
    address: str | None,
    wave_id: int,
    opd_id: int,
    kiosk_device: int | None = None,
) -> list[Rule]:
    """Return the keys one survey POST counts against, with their limits."""
    where = f"{wave_id}:{opd_id}"
    flood = Rule(keyed_hash(f"flood:{address}", secret=secret), None, limits.flood)
    if kiosk_device is not None:
        # The busy counter's answer: its own budget, outside the address's and network's, so
        # that neither the kiosk nor the office's own phones eat into each other; past its soft
        # limit (a citizen a minute) answers are flagged, since the counter's staff could tap.
        device = keyed_hash(f"kiosk:{where}:{kiosk_device}", secret=secret)
        return [Rule(device, limits.kiosk_soft, limits.hard), flood]
    network = network_of(address, v4_prefix=limits.v4_prefix, v6_prefix=limits.v6_prefix)
    return [
        Rule(keyed_hash(f"address:{where}:{address}", secret=secret), limits.soft, limits.hard),
        Rule(
            keyed_hash(f"network:{where}:{network}", secret=secret),
            limits.soft,
            limits.network_hard,
        ),
        flood,
    ]


class Store(Protocol):
    """Where the counters live: the database or Redis."""

    def add(
        self, keys: Sequence[str], *, bucket: int, first: int, ttl: int
    ) -> dict[str, tuple[int, int]]:
        """Count one hit on each key in ``bucket``, in one round trip.

        Return, per key, its count in ``bucket`` (this hit included) and the sum of its
        earlier buckets from ``first`` on. ``ttl`` is how long (seconds) a counter must live;
        buckets before ``first`` are no longer needed.
        """
        ...

    def counts(self, keys: Sequence[str], *, first: int, last: int) -> dict[str, dict[int, int]]:
        """Return each key's count per bucket, buckets ``first``..``last`` (absent: none)."""
        ...


def hit(store: Store, rules: Sequence[Rule], *, now: float, limits: Limits) -> Outcome:
    """Count one hit against ``rules`` and say what they make of it.

    The hit is counted first, in one round trip; a refused hit counts too, so a flood keeps
    being refused for as long as it goes on. Only a refusal reads the buckets again, to say
    when the next hit would fit (Retry-After).
    """
    current = int(now // limits.bucket)
    first = current - limits.buckets + 1
    keys = sorted({rule.key for rule in rules})
    found = store.add(keys, bucket=current, first=first, ttl=limits.window + limits.bucket)
    totals = tuple(sum(found[rule.key]) for rule in rules)
    pairs = list(zip(rules, totals, strict=True))
    if any(rule.hard is not None and total > rule.hard for rule, total in pairs):
        seen = store.counts(keys, first=first, last=current)
        retry = max(
            _retry_after(seen.get(rule.key, {}), hard=rule.hard, now=now, limits=limits)
            for rule, total in pairs
            if rule.hard is not None and total > rule.hard
        )
        return Outcome(refused=True, retry_after=retry, totals=totals)
    burst = any(rule.soft is not None and total > rule.soft for rule, total in pairs)
    return Outcome(burst=burst, totals=totals)


def _retry_after(buckets: Mapping[int, int], *, hard: int, now: float, limits: Limits) -> int:
    """Return whole seconds until enough old buckets leave the window for one more hit."""
    total = sum(buckets.values())
    for bucket in sorted(buckets):
        total -= buckets[bucket]
        if total + 1 <= hard:
            # Bucket b counts while floor(t / bucket) <= b + buckets - 1.
            leaves = (bucket + limits.buckets) * limits.bucket
            return max(1, math.ceil(leaves - now))
    return limits.window  # not reached: an empty key is never past a hard limit >= 1


# ---------------------------------------------------------------------------------------------
# The database store


_PRUNED: dict[str, int] = {}  # database URL -> the bucket this process last pruned in
_PRUNE_LOCK = threading.Lock()


class DatabaseStore:
    """Counters in the ``ratecounter`` table, on the caller's session.

    The survey runs it on a connection in autocommit mode, so each statement stands alone; the
    caller commits otherwise. Each process deletes the buckets that have left the window once
    per bucket length (one indexed DELETE), so the table holds about an hour of keys.
    """

    def __init__(self, session: Session) -> None:
        """Count on ``session``."""
        self.session = session

    def counts(self, keys: Sequence[str], *, first: int, last: int) -> dict[str, dict[int, int]]:
        """Return each key's count per bucket in ``first``..``last``."""
        statement = sa.select(_TABLE.c.key, _TABLE.c.bucket, _TABLE.c.count).where(
            _TABLE.c.key.in_(keys), _TABLE.c.bucket.between(first, last)
        )
        found: dict[str, dict[int, int]] = {}
        for key, bucket, count in self.session.execute(statement):
            found.setdefault(key, {})[int(bucket)] = int(count)
        return found

    def add(
        self, keys: Sequence[str], *, bucket: int, first: int, ttl: int
    ) -> dict[str, tuple[int, int]]:
        """Count one hit per key: one INSERT .. ON CONFLICT DO UPDATE .. RETURNING statement,
        whose RETURNING also sums the key's earlier buckets."""
        self._prune(bucket, first)
        unique = sorted(set(keys))
        params: dict[str, Any] = {f"k{i}": key for i, key in enumerate(unique)}
        params.update(bucket=bucket, first=first)
        rows = self.session.execute(_upsert(len(unique)), params)
        return {key: (int(count), int(earlier)) for key, count, earlier in rows}

    def _prune(self, bucket: int, first: int) -> None:
        """Delete buckets past the window, once per bucket per process and database."""
        url = str(self.session.get_bind().engine.url)
        with _PRUNE_LOCK:
            # Once per bucket: a clock set back (another server's, a test's) prunes again.
            if _PRUNED.get(url) == bucket:
                return
            _PRUNED[url] = bucket
        self.session.execute(_PRUNE, {"first": first})


_PRUNE = sa.text("DELETE FROM ratecounter WHERE bucket < :first")


@functools.cache
def _upsert(size: int) -> sa.TextClause:
    """Return the counting statement for ``size`` keys (the same SQL on SQLite and PostgreSQL).

    Written out once per size: building it per request cost more than running it. Keys come
    in a fixed order, so two racing upserts on PostgreSQL lock their rows in the same order.
    """
    values = ", ".join(f"(:k{i}, :bucket, 1)" for i in range(size))
    return sa.text(
        f"INSERT INTO ratecounter (key, bucket, count) VALUES {values} "  # nosec B608
        "ON CONFLICT (key, bucket) DO UPDATE SET count = ratecounter.count + 1 "
        "RETURNING key, count, (SELECT COALESCE(SUM(earlier.count), 0) FROM ratecounter AS "
        "earlier WHERE earlier.key = ratecounter.key AND earlier.bucket >= :first "
        "AND earlier.bucket < :bucket)"
    )


# ---------------------------------------------------------------------------------------------
# The Redis store


class RedisStore:
    """Counters in Redis: one integer per key and bucket, expiring after the window."""

    def __init__(self, client: Any, prefix: str = "ikm:limit:") -> None:
        """Count in ``client`` (a ``redis.Redis``) under ``prefix``."""
        self.client = client
        self.prefix = prefix

    def _name(self, key: str, bucket: int) -> str:
        """Return the Redis key of one counter."""
        return f"{self.prefix}{key}:{bucket}"

    def counts(self, keys: Sequence[str], *, first: int, last: int) -> dict[str, dict[int, int]]:
        """Return each key's count per bucket in ``first``..``last`` (one MGET)."""
        pairs = [(key, bucket) for key in keys for bucket in range(first, last + 1)]
        values = self.client.mget([self._name(key, bucket) for key, bucket in pairs])
        found: dict[str, dict[int, int]] = {}
        for (key, bucket), value in zip(pairs, values, strict=True):
            if value is not None:
                found.setdefault(key, {})[bucket] = int(value)
        return found

    def add(
        self, keys: Sequence[str], *, bucket: int, first: int, ttl: int
    ) -> dict[str, tuple[int, int]]:
        """Count one hit per key: INCR, EXPIRE and MGET of the earlier buckets, one pipeline."""
        unique = sorted(set(keys))
        earlier = range(first, bucket)
        pipe = self.client.pipeline(transaction=False)
        for key in unique:
            name = self._name(key, bucket)
            pipe.incr(name)
            pipe.expire(name, ttl)
            pipe.mget([self._name(key, b) for b in earlier] or [name])
        results = pipe.execute()
        found = {}
        for i, key in enumerate(unique):
            count, _expire, values = results[3 * i : 3 * i + 3]
            before = sum(int(v) for v in values if v is not None) if earlier else 0
            found[key] = (int(count), before)
        return found
