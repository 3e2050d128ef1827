"""The shared limits of survey.core.limits: the rule logic, the database store, the Redis store."""

from __future__ import annotations

import uuid

import pytest
import sqlalchemy as sa
from redis_helpers import redis_client_or_skip

from survey.core.evidence import keyed_hash
from survey.core.limits import DatabaseStore, Limits, RedisStore, Rule, hit, survey_rules
from survey.core.models import RateCounter

SMALL = Limits(window=300, bucket=60, soft=2, kiosk_soft=3, hard=4, network_hard=6, flood=10)


class MemoryStore:
    """The store interface over a dict: a plain reference for the rule logic."""

    def __init__(self) -> None:
        """Start empty."""
        self.data: dict[tuple[str, int], int] = {}

    def counts(self, keys, *, first, last):
        """Return each key's count per bucket in first..last."""
        found: dict[str, dict[int, int]] = {}
        for (key, bucket), count in self.data.items():
            if key in keys and first <= bucket <= last:
                found.setdefault(key, {})[bucket] = count
        return found

    def add(self, keys, *, bucket, first, ttl):
        """Count one hit per key; return (this bucket's count, the earlier buckets' sum)."""
        found = {}
        for key in keys:
            self.data[(key, bucket)] = self.data.get((key, bucket), 0) + 1
            earlier = sum(n for (k, b), n in self.data.items() if k == key and first <= b < bucket)
            found[key] = (self.data[(key, bucket)], earlier)
        return found


def test_settings_are_checked():
    """A window that is not whole buckets, a zero limit or an odd prefix is refused by name."""
    with pytest.raises(ValueError, match="whole number of buckets"):
        Limits(window=90, bucket=60)
    with pytest.raises(ValueError, match="soft must be at least 1"):
        Limits(soft=0)
    with pytest.raises(ValueError, match="/33"):
        Limits(v4_prefix=33)
    assert Limits().buckets == 60


def test_defaults_allow_twenty_per_network_per_hour():
    """The defaults of the issue: 20 an hour per network and wave-OPD before answers are
    flagged, and a hard stop well above it."""
    defaults = Limits()
    assert (defaults.window, defaults.soft) == (3600, 20)
    assert defaults.soft < defaults.hard < defaults.network_hard


def test_soft_then_hard():
    """Hits 1..soft are plain, soft+1..hard are bursts, then refused (and still counted)."""
    store = MemoryStore()
    rules = [Rule("k", soft=2, hard=4)]
    outcomes = [hit(store, rules, now=1000.0, limits=SMALL) for _ in range(6)]
    assert [(o.refused, o.burst, o.totals) for o in outcomes] == [
        (False, False, (1,)),
        (False, False, (2,)),
        (False, True, (3,)),
        (False, True, (4,)),
        (True, False, (5,)),
        (True, False, (6,)),
    ]


def test_the_window_slides_by_buckets():
    """Buckets leave the window one by one; Retry-After says when the next hit fits."""
    store = MemoryStore()
    rules = [Rule("k", soft=None, hard=4)]
    # Two hits in bucket 16 (960..1019 s), two in bucket 18 (1080..1139 s).
    for now in (1000.0, 1010.0, 1090.0, 1100.0):
        assert not hit(store, rules, now=now, limits=SMALL).refused
    refused = hit(store, rules, now=1200.0, limits=SMALL)
    # A window of 5 buckets: bucket b counts while floor(t / 60) <= b + 4, so bucket 16 leaves
    # at 21 * 60 = 1260 s; then 2 (bucket 18) + 1 (the refused hit, bucket 20) remain.
    assert refused.refused and refused.retry_after == 60
    allowed = hit(store, rules, now=1260.0, limits=SMALL)
    assert not allowed.refused and allowed.totals == (4,)


def test_a_flood_that_goes_on_stays_refused():
    """Refused hits count: whoever keeps sending past the hard limit is not let back in."""
    store = MemoryStore()
    rules = [Rule("k", soft=None, hard=4)]
    outcomes = [hit(store, rules, now=1000.0 + 30 * i, limits=SMALL) for i in range(30)]
    assert [o.refused for o in outcomes] == [False] * 4 + [True] * 26


@pytest.mark.parametrize(
    ("before", "expected"),
    [
        # 16:2 + 18:1 + this bucket's 2 (one allowed, then the refused one) = 5: dropping
        # bucket 16 leaves 3, room for one: it leaves at (16 + 5) * 60 = 1260 s.
        ({16: 2, 18: 1}, 1260 - 1100),
        # 16:1 + 17:1 + 18:3 = 5: dropping 16 leaves 4, no room; 17 too: at 22 * 60 = 1320 s.
        ({16: 1, 17: 1, 18: 1}, 1320 - 1100),
    ],
)
def test_retry_after_waits_for_enough_buckets(before, expected):
    """When one old bucket is not enough, Retry-After waits for the next one too."""
    store = MemoryStore()
    store.data = {("k", bucket): n for bucket, n in before.items()}
    rules = [Rule("k", soft=None, hard=4)]
    assert not hit(store, rules, now=1100.0, limits=SMALL).refused  # bucket 18
    refused = hit(store, rules, now=1100.0, limits=SMALL)
    assert refused.refused and refused.retry_after == expected


def test_survey_rules_keys():
    """Address and network per wave-OPD with soft limits, the address flood cap without one;
    keys are keyed hashes, never the address; a kiosk counts under its device."""
    rules = survey_rules(
        SMALL, secret="k" * 32, address="203.0.113.7", wave_id=1, opd_id=2, kiosk_device=None
    )
    assert [(r.soft, r.hard) for r in rules] == [(2, 4), (2, 6), (None, 10)]
    assert rules[0].key == keyed_hash("address:1:2:203.0.113.7", secret="k" * 32)
    assert rules[1].key == keyed_hash("network:1:2:203.0.113.0/24", secret="k" * 32)
    assert rules[2].key == keyed_hash("flood:203.0.113.7", secret="k" * 32)
    neighbour = survey_rules(SMALL, secret="k" * 32, address="203.0.113.8", wave_id=1, opd_id=2)
    assert neighbour[1].key == rules[1].key and neighbour[0].key != rules[0].key
    other_opd = survey_rules(SMALL, secret="k" * 32, address="203.0.113.7", wave_id=1, opd_id=3)
    assert other_opd[1].key != rules[1].key and other_opd[2].key == rules[2].key
    kiosk = survey_rules(
        SMALL, secret="k" * 32, address="203.0.113.7", wave_id=1, opd_id=2, kiosk_device=9
    )
    assert [(r.soft, r.hard) for r in kiosk] == [(3, 4), (None, 10)]
    assert kiosk[1].key == rules[2].key


# ---------------------------------------------------------------------------------------------
# The database store (both backends)


def test_database_store_upserts_and_prunes(app, session):
    """One upsert counts several keys; counts read back per bucket; old buckets go."""
    store = DatabaseStore(session)
    assert store.add(["b", "a"], bucket=100, first=96, ttl=360) == {"a": (1, 0), "b": (1, 0)}
    assert store.add(["a"], bucket=100, first=96, ttl=360) == {"a": (2, 0)}
    assert store.add(["a"], bucket=101, first=97, ttl=360) == {"a": (1, 2)}
    assert store.add(["a", "b"], bucket=101, first=101, ttl=360) == {"a": (2, 0), "b": (1, 0)}
    session.commit()
    assert store.counts(["a", "b", "c"], first=96, last=101) == {
        "a": {100: 2, 101: 2},
        "b": {100: 1, 101: 1},
    }
    assert store.counts(["a"], first=101, last=101) == {"a": {101: 2}}
    # A later bucket prunes what has left its window (once per bucket and process).
    store.add(["c"], bucket=200, first=196, ttl=360)
    session.commit()
    left = session.execute(sa.select(RateCounter.key, RateCounter.bucket)).all()
    assert [tuple(row) for row in left] == [("c", 200)]


def test_database_store_through_the_rules(app, session):
    """The rule logic on the real table gives what it gives on the reference store."""
    reference, real = MemoryStore(), DatabaseStore(session)
    rules = [Rule("x", soft=2, hard=4), Rule("y", soft=None, hard=5)]
    for now in (1000.0, 1001.0, 1070.0, 1071.0, 1072.0, 1130.0):
        expected = hit(reference, rules, now=now, limits=SMALL)
        got = hit(real, rules, now=now, limits=SMALL)
        session.commit()
        assert got == expected, now


# ---------------------------------------------------------------------------------------------
# The Redis store


@pytest.fixture
def redis_client():
    """A Redis client on a test database, or a skip saying how to enable these tests."""
    client = redis_client_or_skip()
    yield client
    client.close()


@pytest.fixture
def redis_prefix(redis_client):
    """A key prefix of this test's own, deleted afterwards."""
    prefix = f"ikm-test:{uuid.uuid4().hex}:"
    yield prefix
    for name in redis_client.scan_iter(f"{prefix}*"):
        redis_client.delete(name)


def test_redis_store(redis_client, redis_prefix):
    """INCR per key and bucket, counts read in one MGET, counters expire."""
    store = RedisStore(redis_client, prefix=redis_prefix)
    assert store.add(["b", "a"], bucket=100, first=96, ttl=360) == {"a": (1, 0), "b": (1, 0)}
    assert store.add(["a"], bucket=100, first=96, ttl=360) == {"a": (2, 0)}
    assert store.add(["a"], bucket=101, first=97, ttl=360) == {"a": (1, 2)}
    assert store.add(["a", "b"], bucket=101, first=101, ttl=360) == {"a": (2, 0), "b": (1, 0)}
    assert store.counts(["a", "b", "c"], first=96, last=101) == {
        "a": {100: 2, 101: 2},
        "b": {100: 1, 101: 1},
    }
    ttl = redis_client.ttl(f"{redis_prefix}a:100")
    assert 0 < ttl <= 360


def test_redis_store_through_the_rules(redis_client, redis_prefix):
    """The rule logic on Redis gives what it gives on the reference store."""
    reference, real = MemoryStore(), RedisStore(redis_client, prefix=redis_prefix)
    rules = [Rule("x", soft=2, hard=4), Rule("y", soft=None, hard=5)]
    for now in (1000.0, 1001.0, 1070.0, 1071.0, 1072.0, 1130.0):
        assert hit(real, rules, now=now, limits=SMALL) == hit(
            reference, rules, now=now, limits=SMALL
        )
