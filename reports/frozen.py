"""A scored wave as bytes, and back, for a published version's frozen figures.

A publication keeps the wave it was scored as (``data:scored``), so that a report made later
rests on the same figures and names. The bytes sit in the database, and a database can come
from elsewhere (``ikm restore`` of a backup someone sent), so reading them must never run
code: :func:`loads` rebuilds only the classes a scored wave is made of (this package's and
``scoring``'s classes, dates, fractions and NumPy arrays) and refuses anything else with
:class:`FrozenDataError`, as the pickle documentation's "Restricting Globals" recipe does.
"""

from __future__ import annotations

import io

# Only dumps and the restricted unpickler below are used: never a plain pickle.load.
import pickle  # nosec B403
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from reports.model import ScoredWave

# Functions and classes outside this project that a scored wave's pickle names.
_ALLOWED = frozenset(
    {
        ("datetime", "date"),
        ("datetime", "datetime"),
        ("datetime", "timedelta"),
        ("datetime", "timezone"),
        ("fractions", "Fraction"),
        ("numpy", "dtype"),
        ("numpy", "ndarray"),
        ("numpy._core.numeric", "_frombuffer"),
        ("numpy.core.numeric", "_frombuffer"),
        ("numpy._core.multiarray", "_reconstruct"),
        ("numpy.core.multiarray", "_reconstruct"),
        ("numpy._core.multiarray", "scalar"),
        ("numpy.core.multiarray", "scalar"),
    }
)
# Packages whose classes (never their functions) may be rebuilt.
_OWN = ("reports", "scoring")


class FrozenDataError(ValueError):
    """Stored bytes that are not a scored wave this code wrote."""


class _Unpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> object:
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        if module.split(".")[0] in _OWN:
            found = super().find_class(module, name)
            if isinstance(found, type):
                return found
        raise FrozenDataError(f"a stored scored wave may not name {module}.{name}")


def dumps(scored: ScoredWave) -> bytes:
    """The scored wave as bytes for :func:`loads`."""
    return pickle.dumps(scored, protocol=pickle.HIGHEST_PROTOCOL)


def loads(data: bytes) -> ScoredWave:
    """The scored wave :func:`dumps` wrote; :class:`FrozenDataError` for anything else."""
    from reports.model import ScoredWave

    try:
        scored = _Unpickler(io.BytesIO(data)).load()
    except FrozenDataError:
        raise
    except Exception as error:  # a truncated or foreign byte string
        raise FrozenDataError(f"not a stored scored wave: {error}") from error
    if not isinstance(scored, ScoredWave):
        raise FrozenDataError(f"not a stored scored wave: {type(scored).__name__}")
    return scored
