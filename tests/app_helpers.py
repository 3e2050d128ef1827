"""What every test's app would otherwise build again: werkzeug's URL builders and Jinja's
compiled templates, made once per worker.

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
from flask import Flask
from jinja2.bccache import Bucket, BytecodeCache
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


class SharedTemplateCode(BytecodeCache):
    """Jinja's compiled templates kept in memory for every app of this worker.

    Each test's app has a Jinja environment of its own, which compiled every template it
    rendered afresh. Jinja's bytecode cache (its documented hook) stores the compiled code by
    template and checks the source's checksum before reuse, so a changed template is compiled
    again; every test app is made by ``create_app`` with the same Jinja settings.
    """

    def __init__(self) -> None:
        """Start empty."""
        self._code: dict[str, bytes] = {}

    def load_bytecode(self, bucket: Bucket) -> None:
        """Fill ``bucket`` with the code stored for its template, if any."""
        code = self._code.get(bucket.key)
        if code is not None:
            bucket.bytecode_from_string(code)

    def dump_bytecode(self, bucket: Bucket) -> None:
        """Keep the code just compiled."""
        self._code[bucket.key] = bucket.bytecode_to_string()


TEMPLATE_CODE = SharedTemplateCode()


def share_template_code(app: Flask) -> None:
    """Let ``app`` reuse the templates the worker's earlier apps compiled."""
    app.jinja_env.bytecode_cache = TEMPLATE_CODE
