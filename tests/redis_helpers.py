"""Reaching the test Redis: the client, or a skip (a failure in CI) saying how to enable it."""

from __future__ import annotations

import os
from typing import Any

import pytest
from flask import Flask

REDIS_URL = os.environ.get("IKM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def redis_client_or_skip() -> Any:
    """Return a client of the test Redis that answered a PING; skip (fail in CI) otherwise."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1.0)
    try:
        client.ping()
    except redis.RedisError as exc:
        client.close()
        message = (
            f"Redis is not reachable at {REDIS_URL} ({type(exc).__name__}); start one "
            "(redis-server) or set IKM_TEST_REDIS_URL to run the Redis limit tests"
        )
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(message)
        pytest.skip(message)
    return client


def use_redis(*apps: Flask, prefix: str) -> None:
    """Point the apps' limits at Redis, or skip saying how to enable these tests."""
    redis_client_or_skip().close()
    for each in apps:
        each.config.update(REDIS_URL=REDIS_URL, REDIS_PREFIX=prefix)
