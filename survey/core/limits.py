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
keys) or in Redis when ``IKM_REDIS_URL`` is set. The check reads first and writes only when
the POST is allowed, so a refused flood costs one read; two requests racing past the hard
limit at the same instant may both get through, which a limit meant to cap a flood tolerates.
"""

from __future__ import annotations

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
        for name in ("soft", "hard", "network_hard", "flood"):
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
        # that neither the kiosk nor the office's own phones eat into each other.
        device = keyed_hash(f"kiosk:{where}:{kiosk_device}", secret=secret)
        return [Rule(device, None, limits.hard), flood]
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

    def counts(self, keys: Sequence[str], *, first: int, last: int) -> dict[str, dict[int, int]]:
        """Return each key's count per bucket, buckets ``first``..``last`` (absent: none)."""
        ...

    def add(self, keys: Sequence[str], *, bucket: int, oldest: int, ttl: int) -> dict[str, int]:
        """Count one hit on each key in ``bucket``; return each key's count in that bucket.

        Buckets before ``oldest`` are no longer needed; ``ttl`` is how long (seconds) a new
        counter must live.
        """
        ...


def hit(store: Store, rules: Sequence[Rule], *, now: float, limits: Limits) -> Outcome:
    """Count one hit against ``rules`` unless one is past its hard limit; say what was found."""
    current = int(now // limits.bucket)
    first = current - limits.buckets + 1
    keys = sorted({rule.key for rule in rules})
    seen = store.counts(keys, first=first, last=current)
    retry = 0
    for rule in rules:
        buckets = seen.get(rule.key, {})
        if rule.hard is not None and sum(buckets.values()) + 1 > rule.hard:
            retry = max(retry, _retry_after(buckets, hard=rule.hard, now=now, limits=limits))
    if retry:
        totals = tuple(sum(seen.get(rule.key, {}).values()) for rule in rules)
        return Outcome(refused=True, retry_after=retry, totals=totals)
    now_counts = store.add(keys, bucket=current, oldest=first, ttl=limits.window + limits.bucket)
    totals = tuple(
        sum(n for b, n in seen.get(rule.key, {}).items() if b != current) + now_counts[rule.key]
        for rule in rules
    )
    burst = any(
        rule.soft is not None and total > rule.soft
        for rule, total in zip(rules, totals, strict=True)
    )
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


_PRUNED: dict[str, int] = {}  # database URL -> the last bucket this process pruned up to
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

    def add(self, keys: Sequence[str], *, bucket: int, oldest: int, ttl: int) -> dict[str, int]:
        """Count one hit per key in ``bucket``: one INSERT .. ON CONFLICT DO UPDATE .. RETURNING."""
        self._prune(bucket, oldest)
        insert = _dialect_insert(self.session)(_TABLE).values(
            [{"key": key, "bucket": bucket, "count": 1} for key in sorted(set(keys))]
        )
        # Keys in a fixed order: two racing upserts on PostgreSQL lock rows in the same order.
        statement = insert.on_conflict_do_update(
            index_elements=[_TABLE.c.key, _TABLE.c.bucket],
            set_={"count": _TABLE.c.count + 1},
        ).returning(_TABLE.c.key, _TABLE.c.count)
        return {key: int(count) for key, count in self.session.execute(statement)}

    def _prune(self, bucket: int, oldest: int) -> None:
        """Delete buckets past the window, once per bucket per process and database."""
        url = str(self.session.get_bind().engine.url)
        with _PRUNE_LOCK:
            if _PRUNED.get(url, -1) >= bucket:
                return
            _PRUNED[url] = bucket
        self.session.execute(sa.delete(_TABLE).where(_TABLE.c.bucket < oldest))


def _dialect_insert(session: Session) -> Any:
    """Return the INSERT construct of the session's database (both have ON CONFLICT)."""
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        return pg_insert
    from sqlalchemy.dialects.sqlite import insert as sqlite_insert

    return sqlite_insert


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

    def add(self, keys: Sequence[str], *, bucket: int, oldest: int, ttl: int) -> dict[str, int]:
        """Count one hit per key in ``bucket`` (INCR and EXPIRE in one pipeline)."""
        unique = sorted(set(keys))
        pipe = self.client.pipeline(transaction=False)
        for key in unique:
            name = self._name(key, bucket)
            pipe.incr(name)
            pipe.expire(name, ttl)
        results = pipe.execute()
        return {key: int(results[2 * i]) for i, key in enumerate(unique)}
