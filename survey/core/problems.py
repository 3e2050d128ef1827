"""Coded problems: what a service refuses, as data, never as a sentence in one language.

A service that refuses a request raises :class:`ProblemError` (or a subclass named after its
concept) carrying :class:`Problem` values: a code, the field it concerns and its parameters.
The web translates each code into the page's language (``survey.web.problems``); the command
line prints :meth:`Problem.english`, one line. Each module declares the English sentence of its
codes with :func:`define`, so a code without a sentence cannot be raised, and a test checks
that every code also has a translation on the web.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

# code -> English sentence with ``str.format`` fields named after the parameters (and
# ``field``); filled by each service module at import.
ENGLISH: dict[str, str] = {}


def define(messages: Mapping[str, str]) -> None:
    """Declare the English sentences of some codes (a code keeps one sentence)."""
    for code, sentence in messages.items():
        known = ENGLISH.setdefault(code, sentence)
        if known != sentence:
            raise ValueError(f"problem code {code!r} is already defined as {known!r}")


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a request: a code, the field it concerns, parameters."""

    code: str
    field: str = ""
    params: tuple[tuple[str, Any], ...] = ()

    @property
    def values(self) -> dict[str, Any]:
        """Return the parameters as a dict (with the field under ``field``)."""
        return {"field": self.field, **dict(self.params)}

    def english(self) -> str:
        """Return the problem as an English sentence (for the command line)."""
        return ENGLISH[self.code].format(**self.values)


def problem(code: str, field_name: str = "", /, **params: Any) -> Problem:
    """Build a ``Problem`` of a defined code (parameters kept as a tuple: hashable)."""
    if code not in ENGLISH:
        raise KeyError(f"undefined problem code {code!r}")
    return Problem(code=code, field=field_name, params=tuple(params.items()))


class ProblemError(ValueError):
    """A refused request; ``problems`` say why, field by field. The message is English."""

    def __init__(self, problems: Iterable[Problem]) -> None:
        """Keep the problems; the message joins their English sentences."""
        self.problems = list(problems)
        super().__init__("; ".join(p.english() for p in self.problems))

    def by_field(self) -> dict[str, Problem]:
        """Return the first problem of each field."""
        found: dict[str, Problem] = {}
        for item in self.problems:
            found.setdefault(item.field, item)
        return found
