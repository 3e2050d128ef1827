"""The kept sufficient statistics (survey.core.tallies) equal a recount after every kind of
change to the responses, on both backends, with concurrent writers too; ``ikm aggregates``
rebuilds and verifies them; the migration's backfill counts existing rows the same way."""

from __future__ import annotations

import importlib.util
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from auth_helpers import PASSWORD
from flask import Flask
from sqlmodel import Session, select
from survey_helpers import add_responses

from survey.core import fieldwork, flags, tallies, waves
from survey.core.models import Opd, Response, Tally, Wave
from survey.core.privacy import strip_metadata
from survey.core.submissions import Submission, insert_responses, store_submission

ROOT = Path(__file__).resolve().parent.parent
NINE = range(1, 10)


def _opd_id(session: Session, slug: str) -> int:
    return int(session.exec(select(Opd.id).where(Opd.slug == slug)).one() or 0)


def _submit(session: Session, wave: Wave, slug: str, sid: str, answers: dict[int, int]) -> int:
    result = store_submission(
        session,
        submission=Submission(
            wave_id=int(wave.id or 0), opd_id=_opd_id(session, slug), submission_id=sid,
            answers=answers,
        ),
    )  # fmt: skip
    return result.response_id


def _agree(session: Session, wave: Wave) -> None:
    """The kept figures of the wave are exactly a recount of its rows."""
    session.expire_all()
    assert tallies.differences(session, wave_id=int(wave.id or 0)) == []


def _kept_rows(session: Session, wave: Wave) -> dict[tuple[str, int, bool], Tally]:
    session.expire_all()
    rows = session.exec(select(Tally, Opd.slug).join(Opd).where(Tally.wave_id == wave.id)).all()
    return {(slug, t.unit_id, t.verified): t for t, slug in rows}


def test_a_submission_is_kept_exactly(session: Session, open_wave: Wave) -> None:
    """Two answers to BPBD, hand-counted: 'not applicable' (0) is no answer but is counted."""
    _submit(session, open_wave, "bpbd", "s1", {1: 4, 2: 3, 3: 0} | {p: 2 for p in range(4, 10)})
    _submit(session, open_wave, "bpbd", "s2", {1: 2})  # answered U1 only
    _submit(session, open_wave, "bpbd", "s3", {})  # no IKM answer: counted, not a respondent
    kept = _kept_rows(session, open_wave)
    assert list(kept) == [("bpbd", 0, False)]
    row = kept["bpbd", 0, False]
    assert (row.responses, row.counted, row.flagged) == (3, 3, {})
    assert row.not_applicable == [0, 0, 1, 0, 0, 0, 0, 0, 0]
    stats = row.stats
    assert stats["n"] == 2
    assert stats["n_answers"] == [2, 1, 0, 1, 1, 1, 1, 1, 1]
    assert stats["sums"] == [6, 3, 0, 2, 2, 2, 2, 2, 2]
    assert stats["products"][0][:3] == [16 + 4, 12, 0]
    assert stats["pair_sums"][0][:3] == [6, 4, 0]  # U1 of those who also answered U2: 4
    assert stats["n_both"][0][:2] == [2, 1]
    assert stats["counts"][0] == [0, 1, 0, 1] and stats["counts"][1] == [0, 0, 1, 0]
    _agree(session, open_wave)


def test_every_kind_of_change_keeps_them_equal_to_a_recount(
    session: Session, open_wave: Wave
) -> None:
    """Submissions (counted and flagged), ORM rows (verified, at a unit), a bulk insert, a
    group flag and restore, one restore, the interview cap's flag, an ORM delete, a rolled
    back write and the stripping of metadata: after each, the kept figures equal a recount."""
    wave_id = int(open_wave.id or 0)
    for i in range(4):
        _submit(session, open_wave, "rsud", f"r{i}", {p: 1 + (i + p) % 4 for p in NINE})
    _agree(session, open_wave)
    store_submission(
        session,
        submission=Submission(
            wave_id=wave_id, opd_id=_opd_id(session, "rsud"), submission_id="bot",
            answers={p: 4 for p in NINE},
        ),
        status="flagged",
        flag_reason="bot-suspect",
    )  # fmt: skip
    _agree(session, open_wave)
    add_responses(session, open_wave, "dishub", [[3] * 9, [None, 0] + [2] * 7], verified=True)
    _agree(session, open_wave)
    assert _kept_rows(session, open_wave)["dishub", 0, True].not_applicable[1] == 1

    hour = datetime(2026, 3, 2, 9, 15, tzinfo=UTC)
    rows: list[dict[str, Any]] = [
        {
            "wave_id": wave_id,
            "opd_id": _opd_id(session, "bpbd"),
            "submission_id": f"b{i}",
            "submitted_at": hour,
            "channel": "import",
            "network": "abc",
            **{f"a{p}": (i + p) % 5 for p in NINE},
        }
        for i in range(7)
    ]
    insert_responses(session, rows=rows, batch_size=3)
    session.commit()
    _agree(session, open_wave)
    before = _kept_rows(session, open_wave)["bpbd", 0, False]
    assert (before.counted, before.stats["n"]) == (7, 7)

    flagged = flags.act_on_group(
        session, wave=open_wave, opd_slug="bpbd", network="abc", hour=hour, action="flag",
        actor=None,
    )  # fmt: skip
    assert flagged.changed == 7
    _agree(session, open_wave)
    after = _kept_rows(session, open_wave)["bpbd", 0, False]
    assert (after.counted, after.flagged, after.stats["n"]) == (0, {"burst": 7}, 0)

    one = session.exec(select(Response).where(Response.submission_id == "b3")).one()
    session.commit()  # its attributes expire: the change must still know what it replaces
    one.status, one.flag_reason = "counted", None  # the flags page's restore, through the ORM
    session.add(one)
    session.commit()
    _agree(session, open_wave)
    flags.act_on_group(
        session, wave=open_wave, opd_slug="bpbd", network="abc", hour=hour, action="restore",
        actor=None,
    )  # fmt: skip
    _agree(session, open_wave)
    assert _kept_rows(session, open_wave)["bpbd", 0, False].counted == 7

    session.delete(session.exec(select(Response).where(Response.submission_id == "r1")).one())
    session.commit()
    _agree(session, open_wave)
    assert _kept_rows(session, open_wave)["rsud", 0, False].counted == 3

    add_responses(session, open_wave, "rsud", [[4] * 9])
    session.add(Response(wave_id=wave_id, opd_id=_opd_id(session, "rsud"), submission_id="x"))
    session.flush()
    session.rollback()
    _agree(session, open_wave)

    waves.change_status(session, wave=open_wave, action="close", actor=None)
    strip_metadata(session, wave=open_wave, actor=None, now=datetime.now(UTC))
    _agree(session, open_wave)


def test_the_interview_cap_flag_is_kept(session: Session, open_wave: Wave) -> None:
    """recheck_cap flags a counted interview past the cap with an UPDATE: the figures move."""
    from survey.core import accounts

    user = accounts.create_user(session, username="pencacah", password=PASSWORD, role="enumerator")
    at = datetime.now(UTC)
    wave_id = int(open_wave.id or 0)
    add_responses(
        session, open_wave, "bpbd", [[3] * 9] * (fieldwork.INTERVIEW_HOUR_CAP + 1),
        channel="interview", enumerator_id=user.id, submitted_at=at,
    )  # fmt: skip
    last = session.exec(select(Response).order_by(sa.desc(Response.id))).first()
    assert last is not None
    assert fieldwork.recheck_cap(
        session, response_id=int(last.id or 0), enumerator_id=int(user.id or 0),
        wave_id=wave_id, at=at,
    )  # fmt: skip
    _agree(session, open_wave)
    row = _kept_rows(session, open_wave)["bpbd", 0, False]
    assert (row.counted, row.flagged) == (fieldwork.INTERVIEW_HOUR_CAP, {"burst": 1})


def test_deleting_a_wave_deletes_its_figures(session: Session, open_wave: Wave) -> None:
    add_responses(session, open_wave, "bpbd", [[2] * 9])
    assert session.exec(select(Tally).where(Tally.wave_id == open_wave.id)).all()
    waves.delete_wave(session, wave=open_wave)
    session.commit()
    assert session.exec(select(Tally)).all() == []


@pytest.mark.parametrize("mode", ["transaction", "autocommit"])
def test_concurrent_writers_lose_nothing(
    app: Flask, session: Session, open_wave: Wave, mode: str
) -> None:
    """Eight threads, each with its own session, store 15 answers each to one OPD at once (on
    PostgreSQL they truly race; SQLite takes them one at a time): all 120 are kept. Also with
    the sessions in autocommit mode, as the survey page reads (where the row and its figures
    were once written by separate statements, and PostgreSQL lost about a tenth of them)."""
    from concurrent.futures import ThreadPoolExecutor

    engine = app.extensions["ikm_engine"]
    wave_id, opd_id = int(open_wave.id or 0), _opd_id(session, "bpbd")

    def write(worker: int) -> None:
        with Session(engine) as own:
            if mode == "autocommit":
                own.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
            for i in range(15):
                store_submission(
                    own,
                    submission=Submission(
                        wave_id=wave_id, opd_id=opd_id, submission_id=f"w{worker}-{i}",
                        answers={p: 1 + (worker + i + p) % 4 for p in NINE},
                    ),
                )  # fmt: skip

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, range(8)))
    _agree(session, open_wave)
    row = _kept_rows(session, open_wave)["bpbd", 0, False]
    assert (row.responses, row.counted, row.stats["n"]) == (120, 120, 120)


def test_a_submission_in_autocommit_mode_writes_its_row_and_figures_together(
    app: Flask, session: Session, open_wave: Wave, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The survey page's session runs in autocommit mode; a submission stored on it still
    writes its row and its kept figures in one transaction: when the figures fail, no row is
    left behind (it was, when each statement committed on its own)."""
    engine = app.extensions["ikm_engine"]
    wave_id, opd_id = int(open_wave.id or 0), _opd_id(session, "bpbd")

    def broken(*_args: Any, **_kwargs: Any) -> None:
        raise RuntimeError("figures failed")

    monkeypatch.setattr(tallies, "apply", broken)
    with Session(engine) as own:
        own.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        submission = Submission(
            wave_id=wave_id, opd_id=opd_id, submission_id="lost", answers={1: 4}
        )
        with pytest.raises(RuntimeError, match="figures failed"):
            store_submission(own, submission=submission)
    monkeypatch.undo()
    session.expire_all()
    assert session.exec(select(Response).where(Response.submission_id == "lost")).all() == []
    _agree(session, open_wave)


def test_the_figures_refuse_a_connection_in_autocommit_mode(app: Flask, open_wave: Wave) -> None:
    """Reading and writing a kept row in two transactions loses concurrent changes: refused."""
    with Session(app.extensions["ikm_engine"]) as own:
        own.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        change = tallies.Figures(9, 4)
        change.responses = 1
        with pytest.raises(RuntimeError, match="autocommit"):
            tallies.apply(own, {(int(open_wave.id or 0), 1, 0, False): change})


def test_cli_verify_names_what_differs_and_rebuild_mends_it(
    runner: Any, session: Session, open_wave: Wave
) -> None:
    add_responses(session, open_wave, "rsud", [[2] * 9, [3] * 9])
    assert runner.invoke(args=["aggregates", "verify"]).exit_code == 0
    session.execute(sa.update(Tally).values(counted=Tally.counted + 1))
    session.commit()
    result = runner.invoke(args=["aggregates", "verify", "--wave", "uji-2026"])
    assert result.exit_code == 1
    assert "wave uji-2026 OPD rsud unit - unverified" in result.output
    rebuilt = runner.invoke(args=["aggregates", "rebuild"])
    assert rebuilt.exit_code == 0 and "1 rows" in rebuilt.output
    assert runner.invoke(args=["aggregates", "verify"]).exit_code == 0
    _agree(session, open_wave)


def test_the_migration_backfill_counts_existing_rows(session: Session, open_wave: Wave) -> None:
    """Revision 0012 fills the table from the rows already there: the same figures."""
    add_responses(session, open_wave, "rsud", [[1, 2, 0] + [4] * 6, [None] * 9, [3] * 9])
    add_responses(session, open_wave, "bpbd", [[2] * 9], verified=True)
    add_responses(session, open_wave, "bpbd", [[4] * 9], status="flagged", reason=None)
    expected = {
        k: f.values() for k, f in tallies.recount(session, wave_id=int(open_wave.id or 0)).items()
    }
    session.execute(sa.delete(Tally))
    path = ROOT / "survey/migrations/versions/0012_tallies.py"
    spec = importlib.util.spec_from_file_location("revision_0012", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    module._backfill(session.connection())
    session.commit()
    kept = tallies.kept(session, wave_id=int(open_wave.id or 0))
    assert {k: f.values() for k, f in kept.items()} == expected
    assert expected[(int(open_wave.id or 0), _opd_id(session, "bpbd"), 0, False)]["flagged"] == {
        "manual": 1
    }
    _agree(session, open_wave)


def test_one_rows_statistics_are_those_of_the_many_rows_path() -> None:
    """The single-answer path gives exactly the statistics of scoring.aggregate for that row,
    over answered, skipped and empty rows and 4- to 7-point scales."""
    import numpy as np

    from scoring import aggregate

    rng = np.random.default_rng(15)
    for trial in range(300):
        m, k = int(rng.integers(4, 8)), int(rng.integers(1, 12))
        row = rng.integers(1, m + 1, size=k).astype(float)
        row[rng.random(k) < (0.3 if trial % 10 else 1.0)] = np.nan  # every tenth row is empty
        fast = tallies._one_row_stats(list(row), m)
        slow = aggregate(row[None, :], scale_points=m)
        for name in tallies.STAT_FIELDS:
            assert np.array_equal(fast[name], getattr(slow, name)), (name, row)


def test_figures_of_tuples_equal_figures_of_the_same_rows():
    """The bulk insert's NumPy figures equal the row-by-row ones: keys, counts, flags by
    reason, "not applicable" choices and every statistic, over two waves' layouts."""
    import random

    layouts = {
        1: tallies.Layout((1, 2, 4), 4),
        2: tallies.Layout((1, 3), 5),
        3: tallies.Layout((), 4),
    }
    rng = random.Random(15)
    columns = ("wave_id", "opd_id", "unit_id", "verified", "status", "flag_reason")
    columns += tuple(f"a{p}" for p in range(1, 5))
    rows = []
    for _ in range(400):
        wave_id = rng.choice((1, 2, 3))
        flagged = rng.random() < 0.2
        rows.append(
            (
                wave_id, rng.choice((7, 8)), rng.choice((None, 0, 3)), rng.random() < 0.3,
                "flagged" if flagged else rng.choice(("counted", None)),
                rng.choice(("burst", None)) if flagged else None,
                *(rng.choice((None, 0, 1, 2, 3, 4)) for _ in range(4)),
            )
        )  # fmt: skip
    expected = tallies.figures_of([dict(zip(columns, row, strict=True)) for row in rows], layouts)
    found = tallies.figures_of_tuples(columns, rows, layouts)
    assert sorted(found) == sorted(expected)
    for key, figures in expected.items():
        assert found[key].values() == figures.values(), key
    # Columns left out take the table's defaults: counted, no unit, not verified.
    short = ("opd_id", "a2", "wave_id")
    plain = [(7, 3, 1), (8, None, 1), (7, 0, 1)]
    assert {k: f.values() for k, f in tallies.figures_of_tuples(short, plain, layouts).items()} == {
        k: f.values()
        for k, f in tallies.figures_of(
            [dict(zip(short, r, strict=True)) for r in plain], layouts
        ).items()
    }
