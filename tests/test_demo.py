"""The demo: KNPI Kota Serang's 20 OPDs with simulated responses near the published scores."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import numpy as np
import pytest
from sqlmodel import Session, select

from survey.core import accounts, enumerators, queries
from survey.core.demo import (
    DEMO_OPDS,
    DEMO_SEED,
    DEMO_WAVE_SLUG,
    calibrate,
    demo_data,
    demo_period,
    expected_mean,
    sample_ikm,
)
from survey.core.models import Opd, Response, Wave

PUBLISHED_TOP = {"bpbd": 3.07, "dispusip": 3.03, "bapenda": 3.01, "diskoumperindag": 2.98,
                 "disparpora": 2.93}  # fmt: skip
PUBLISHED_BOTTOM = {"rsud": 2.50, "satpol-pp": 2.50, "dishub": 2.78, "dputr": 2.81,
                    "disnakertrans": 2.81}  # fmt: skip


@pytest.fixture(scope="module")
def data():
    """The demo data of the default seed (built once: it is pure)."""
    return demo_data()


def answers_by_opd(rows) -> dict[str, np.ndarray]:
    """Return each OPD's counted answers as a respondents x elements array (NaN = skipped)."""
    grouped: dict[str, list] = {}
    for row in rows:
        if row["status"] == "counted":
            answers = [np.nan if a is None else a for a in row["answers"]]
            grouped.setdefault(row["opd"], []).append(answers)
    return {slug: np.array(values, dtype=float) for slug, values in grouped.items()}


def test_twenty_opds_with_the_published_scores():
    """Ten OPDs carry KNPI's published scores; the other ten lie strictly inside the gap."""
    assert len(DEMO_OPDS) == 20
    assert len({o.slug for o in DEMO_OPDS}) == len({o.name for o in DEMO_OPDS}) == 20
    published = {o.slug: o.score for o in DEMO_OPDS if o.published}
    assert published == PUBLISHED_TOP | PUBLISHED_BOTTOM
    assert all(2.81 < o.score < 2.93 for o in DEMO_OPDS if not o.published)
    assert all(o.short_name for o in DEMO_OPDS)


def test_calibration_hits_the_expected_mean():
    """The location found through the normal CDF gives the target as the expected answer."""
    offsets = np.array([0.3, -0.2, 0.0])
    for target in (1.5, 2.5, 3.07, 3.9):
        assert expected_mean(calibrate(target, offsets, 0.65), offsets, 0.65) == pytest.approx(
            target, abs=1e-9
        )
    # A brute-force check of the formula itself.
    rng = np.random.default_rng(1)
    latent = 2.8 + offsets + rng.normal(0, 0.65, (200_000, 3))
    simulated = np.clip(np.rint(latent), 1, 4).mean()
    assert simulated == pytest.approx(expected_mean(2.8, offsets, 0.65), abs=0.005)


def test_sample_sizes_and_scores(data):
    """20 to 80 counted per OPD; each IKM rounds to its score; mean answers within 0.15."""
    by_opd = answers_by_opd(data.responses)
    assert set(by_opd) == {o.slug for o in DEMO_OPDS}
    sizes = {slug: len(a) for slug, a in by_opd.items()}
    assert all(20 <= n <= 80 for n in sizes.values())
    assert len(set(sizes.values())) > 10  # unequal, as real samples are
    for opd in DEMO_OPDS:
        answers = by_opd[opd.slug]
        assert round(sample_ikm(answers), 2) == pytest.approx(opd.score), opd.slug
        assert abs(np.nanmean(answers) - opd.score) < 0.15, opd.slug
    ikm = {slug: sample_ikm(a) for slug, a in by_opd.items()}
    assert min(ikm[s] for s in PUBLISHED_TOP) > max(ikm[s] for s in PUBLISHED_BOTTOM)
    others = [ikm[o.slug] for o in DEMO_OPDS if not o.published]
    assert min(ikm[s] for s in PUBLISHED_TOP) > max(others)
    assert max(ikm[s] for s in PUBLISHED_BOTTOM) < min(others)


def test_responses_look_real(data):
    """Skips (more on the fee), respondent fields, comments, office hours, flags, channels."""
    rows = data.responses
    counted = [r for r in rows if r["status"] == "counted"]
    skipped = Counter(i for r in counted for i, a in enumerate(r["answers"]) if a is None)
    assert sum(skipped.values()) > 0
    assert skipped[3] == max(skipped.values())  # U4, the fee, is skipped most
    assert all(any(a is not None for a in r["answers"]) for r in rows)
    assert all(a is None or 1 <= a <= 4 for r in rows for a in r["answers"])
    reasons = Counter(r["flag_reason"] for r in rows if r["status"] == "flagged")
    assert reasons["duplicate-device"] >= 1 and reasons["bot-suspect"] >= 1
    assert 0.02 < sum(reasons.values()) / len(rows) < 0.07
    assert {r["channel"] for r in rows} == {"qr", "kiosk"}
    assert Counter(r["channel"] for r in rows)["qr"] > len(rows) / 2
    assert {r["sex"] for r in counted} == {"L", "P", None}
    assert any(r["age"] is None for r in counted) and any(r["age"] for r in counted)
    comments = [r["comment"] for r in counted if r["comment"]]
    assert 0 < len(comments) < len(counted) / 3
    assert len({r["submission_id"] for r in rows}) == len(rows)
    for row in rows:
        local = row["submitted_at"].astimezone(ZoneInfo("Asia/Jakarta"))
        assert "2025-06-12" <= local.date().isoformat() <= "2025-06-16"
        assert 8 <= local.hour < 17  # office hours (a repeat may come a few minutes later)


def test_same_seed_same_data_other_seed_other_data(data):
    """The simulation is reproducible from its seed."""
    assert demo_data(DEMO_SEED) == data
    assert demo_data(DEMO_SEED + 1).responses != data.responses


def stored(session: Session) -> list[tuple]:
    """Return the demo wave's responses as comparable tuples (ids left out)."""
    session.expire_all()
    wave = queries.get_wave(session, slug=DEMO_WAVE_SLUG)
    slugs = {o.id: o.slug for o in queries.list_opds(session)}
    rows = session.exec(select(Response).where(Response.wave_id == wave.id)).all()
    return sorted(
        (
            (
                slugs[r.opd_id],
                r.submission_id,
                r.submitted_at,
                r.channel,
                r.status,
                r.flag_reason,
                *r.answers().values(),
                r.sex,
                r.age,
                r.education,
                r.occupation,
                r.service,
                r.comment,
            )
            for r in rows
        ),
        key=repr,
    )


def test_demo_command_builds_the_database(app, runner, session, data, tmp_path: Path):
    """`ikm demo` writes 20 OPDs and one open simulated wave, prints the URLs, and repeats."""
    result = runner.invoke(args=["demo", "--no-reports"])
    assert result.exit_code == 0, result.output
    assert len(session.exec(select(Opd)).all()) == 20
    waves = session.exec(select(Wave)).all()
    assert [(w.slug, w.status, w.simulated, w.title) for w in waves] == [
        (DEMO_WAVE_SLUG, "open", True, "Evaluasi 100 Hari Kerja")
    ]
    wave = waves[0]
    # The period runs around the day of the build, so the demo survey takes answers now.
    today = datetime.now(ZoneInfo("Asia/Jakarta")).date()
    start, end, shift = demo_period(today)
    assert (wave.period_start, wave.period_end) == (start, end)
    assert today - timedelta(days=11) <= start <= today - timedelta(days=5)
    assert end == today + timedelta(days=30)
    assert shift.days % 7 == 0
    assert {link.target_n for _, link in queries.wave_opds(session, wave=wave)} == {50}
    first = stored(session)
    assert len(first) == len(data.responses)
    # Every simulated answer lies in the period, before the build, on the weekday simulated.
    moments = sorted(row[2].replace(tzinfo=row[2].tzinfo or UTC) for row in first)
    days = {m.astimezone(ZoneInfo("Asia/Jakarta")).date() for m in moments}
    assert start <= min(days) and max(days) < today
    simulated = sorted(r["submitted_at"] for r in data.responses)
    assert moments == [m + shift for m in simulated]
    counts = Counter(row[4] for row in first)
    assert counts["counted"] == sum(r["status"] == "counted" for r in data.responses)
    assert {row[5] for row in first} == {None, "duplicate-device", "bot-suspect"}
    assert any(None in row[6:15] for row in first)

    # Per-OPD counted means in the database, straight from the stored rows.
    per_opd: dict[str, list] = {}
    for row in first:
        if row[4] == "counted":
            per_opd.setdefault(row[0], []).append([np.nan if a is None else a for a in row[6:15]])
    for slug, score in (PUBLISHED_TOP | PUBLISHED_BOTTOM).items():
        answers = np.array(per_opd[slug], dtype=float)
        assert 20 <= len(answers) <= 80
        assert abs(np.nanmean(answers) - score) < 0.15, slug

    base = "https://skm.example.go.id"
    assert f"bpbd\t{base}/s/{DEMO_WAVE_SLUG}/bpbd\t{base}/qr/{DEMO_WAVE_SLUG}/bpbd.svg" in (
        result.output.splitlines()
    )
    assert result.output.count(f"{base}/s/{DEMO_WAVE_SLUG}/") == 20
    if app.config["DATABASE_URL"].startswith("sqlite"):
        assert (Path(app.instance_path) / "secret_key").is_file()

    # Demo accounts, each with a password printed once; signing in with it works.
    printed = [line.split("\t") for line in result.output.splitlines() if line.startswith("demo-")]
    assert [(name, role) for name, role, _ in printed] == [
        ("demo-admin", "admin"),
        ("demo-evaluator", "evaluator"),
        ("demo-kepala-bpbd", "opd-head"),
        ("demo-pencacah", "enumerator"),
    ]
    head = accounts.get_user(session, username="demo-kepala-bpbd")
    assert head is not None and accounts.check_password(head.password_hash, printed[2][2])
    assert session.get(Opd, head.opd_id).slug == "bpbd"
    # The demo enumerator may interview for every OPD of the demo wave (granted once).
    wave = queries.get_wave(session, slug=DEMO_WAVE_SLUG)
    scopes = [(s.username, s.opd_slug) for s in enumerators.list_scopes(session, wave=wave)]
    assert scopes == [("demo-pencacah", None)]

    again = runner.invoke(args=["demo", "--no-reports"])
    assert again.exit_code == 0, again.output
    session.expire_all()
    renewed = [line.split("\t") for line in again.output.splitlines() if line.startswith("demo-")]
    assert renewed[0][2] != printed[0][2]  # a fresh password at every build
    admin = accounts.get_user(session, username="demo-admin")
    assert accounts.check_password(admin.password_hash, renewed[0][2])
    assert not accounts.check_password(admin.password_hash, printed[0][2])
    assert stored(session) == first
    assert len(session.exec(select(Opd)).all()) == 20
    assert len(session.exec(select(Wave)).all()) == 1
    rebuilt = queries.get_wave(session, slug=DEMO_WAVE_SLUG)
    assert [s.username for s in enumerators.list_scopes(session, wave=rebuilt)] == ["demo-pencacah"]


def test_demo_keeps_other_data_and_refuses_a_real_wave(runner, session, open_wave):
    """Existing OPDs and waves survive; a real wave with the demo's slug is never replaced."""
    result = runner.invoke(args=["demo", "--no-reports"])
    assert result.exit_code == 0, result.output
    # The fixture's bpbd, rsud and dishub are reused, not duplicated.
    assert len(session.exec(select(Opd)).all()) == 20
    assert queries.get_wave(session, slug="uji-2026") is not None
    wave = queries.get_wave(session, slug=DEMO_WAVE_SLUG)
    wave.simulated = False
    session.add(wave)
    session.commit()
    result = runner.invoke(args=["demo", "--no-reports"])
    assert result.exit_code == 1
    assert "holds real data" in result.output
    assert queries.response_counts(session, wave=wave)["counted"] > 0


def test_demo_refuses_production(app, runner):
    """Simulated data never goes into a production database by accident."""
    app.config["ENV"] = "production"
    result = runner.invoke(args=["demo", "--no-reports"])
    assert result.exit_code == 1
    assert "IKM_ENV=production" in result.output
