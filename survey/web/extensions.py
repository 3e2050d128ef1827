"""The Flask extensions, created once here and initialised in the factory."""

from __future__ import annotations

from flask_wtf import CSRFProtect

csrf = CSRFProtect()
