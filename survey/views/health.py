"""``/healthz``: whether this app server can reach its database (for load balancers)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("health", __name__)
