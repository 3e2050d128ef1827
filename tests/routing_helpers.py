"""Werkzeug's URL builders made once per worker, not once per test's app.

Every test builds its own app, and with it some 70 URL rules; werkzeug compiles two Python
functions for each rule as it binds it (``Rule._compile_builder``: an AST, ``compile``,
``exec``), which was most of the time ``create_app`` takes. The function it makes depends only
on the rule's text, its parsed parts (``_trace``), its defaults and whether unknown arguments
are appended; it reads the converters from the rule it is bound to when it runs. So the same
inputs give the same code, and it is made once and bound to each new rule, as werkzeug binds
it. Rules whose defaults fill one of their own variables (werkzeug converts those defaults
ahead of time) are compiled as usual.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from werkzeug.routing import rules

_ORIGINAL = rules.Rule._compile_builder
_BUILDERS: dict[tuple, Callable[..., tuple[str, str]]] = {}


def _remembered_builder(self: rules.Rule, append_unknown: bool = True) -> Any:
    """``Rule._compile_builder`` through a cache keyed on everything the code depends on."""
    defaults = self.defaults or {}
    trace = tuple(self._trace)
    if any(is_dynamic and data in defaults for is_dynamic, data in trace):
        return _ORIGINAL(self, append_unknown)
    key = (self.rule, trace, tuple(defaults), append_unknown)
    builder = _BUILDERS.get(key)
    if builder is None:
        builder = _BUILDERS[key] = _ORIGINAL(self, append_unknown)
    return builder


def remember_url_builders(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make werkzeug reuse the URL builders it has compiled before (see the module's text)."""
    monkeypatch.setattr(rules.Rule, "_compile_builder", _remembered_builder)
