"""A published version's frozen scored wave: read back without ever running foreign code."""

from __future__ import annotations

import dataclasses
import os
import pickle

import pytest

from reports import frozen
from reports.frozen import FrozenDataError
from reports.model import Logo
from reports.sample import sample_ranking
from reports.texts import Texts


def test_a_scored_wave_comes_back_equal() -> None:
    wave = sample_ranking(12, seed=5)
    wave = dataclasses.replace(wave, logo=Logo("image/png", b"\x89PNG..."))
    copy = frozen.loads(frozen.dumps(wave))
    assert copy.fingerprint == wave.fingerprint
    assert copy.data_taken_at == wave.data_taken_at
    assert repr(copy.rows()) == repr(wave.rows())
    assert repr(copy.score) == repr(wave.score)
    assert copy.logo == wave.logo


class _Shell:
    """What a forged backup could hold: unpickling it would run a command."""

    def __reduce__(self):
        return (os.system, ("touch /tmp/ikm-frozen-pwned",))


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (pickle.dumps(_Shell()), "posix.system"),
        (pickle.dumps(print), "builtins.print"),
        # A function of the project's own packages is refused too (only classes are rebuilt).
        (pickle.dumps(sample_ranking), "reports.sample.sample_ranking"),
    ],
)
def test_anything_but_a_scored_wave_is_refused_without_running(payload, named, tmp_path) -> None:
    with pytest.raises(FrozenDataError, match=named.replace(".", r"\.")):
        frozen.loads(payload)
    assert not os.path.exists("/tmp/ikm-frozen-pwned")


def test_other_objects_and_garbage_are_refused() -> None:
    with pytest.raises(FrozenDataError, match="not a stored scored wave: Texts"):
        frozen.loads(pickle.dumps(Texts.__new__(Texts)))
    with pytest.raises(FrozenDataError, match="not a stored scored wave"):
        frozen.loads(b"not a pickle at all")
    with pytest.raises(FrozenDataError, match="not a stored scored wave"):
        frozen.loads(frozen.dumps(sample_ranking(3, seed=1))[:100])
