"""A multi-OPD sitting: one citizen rating several OPDs of a wave from its one link.

Each OPD's answers are stored as a response of their own (scores treat them as separate
respondents of separate OPDs, as before); they share the respondent profile, copied onto each
row, and a random ``sitting`` id that tells the evaluator which answers one person gave and is
never published. The ids are derived from the form's render token, so that a double tap or a
replayed POST finds the rows the first one stored instead of storing them again.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

MAX_OPDS = 5  # OPDs one sitting may rate: a longer form is a survey nobody finishes

# What became of one OPD's answers in a sitting.
STORED = "stored"
LIMITED = "limited"  # its hard rate limit refused the POST
NOT_OPEN = "not-open"  # the wave closed, left its period or dropped the OPD meanwhile
OUTCOMES = (STORED, LIMITED, NOT_OPEN)


def _digest(*parts: str) -> str:
    """Return 32 hex digits of the SHA-256 of the parts (joined by colons)."""
    return hashlib.sha256(":".join(parts).encode("utf-8")).hexdigest()[:32]


def submission_id(base: str, opd_id: int) -> str:
    """Return the submission id of one OPD's answers in the sitting whose token carries ``base``.

    The same token and OPD always give the same id, so the unique (wave, submission id) key
    stores each OPD's answers once; a different OPD or token gives another id.
    """
    return _digest("opd", base, str(opd_id))


def sitting_id(base: str) -> str:
    """Return the sitting id shared by the responses of the sitting whose token carries ``base``.

    Random (it comes from the token's random submission id) and stable across a replayed
    POST, so an OPD stored on a second try still joins its sitting.
    """
    return _digest("sitting", base)


@dataclass(frozen=True)
class SittingOutcome:
    """What became of one OPD's answers: its slug and one of :data:`OUTCOMES`."""

    opd_slug: str
    outcome: str

    def __post_init__(self) -> None:
        """Refuse an unknown outcome."""
        if self.outcome not in OUTCOMES:
            raise ValueError(f"unknown sitting outcome {self.outcome!r}")
