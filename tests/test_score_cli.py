"""``ikm score``: the wave's counted responses, read from the database, scored exactly."""

from __future__ import annotations

import csv
import io
import json
from fractions import Fraction

import numpy as np
import pytest
from sqlmodel import select
from survey_helpers import add_responses

from scoring import aggregate, ikm
from survey.core import queries
from survey.core.answers import read_wave_answers
from survey.core.models import Opd, Response
from survey.web.database import get_engine


def score_json(runner, *extra):
    """Run ``ikm score --format json`` and return the parsed objects by OPD slug."""
    result = runner.invoke(args=["score", "--wave", "uji-2026", "--format", "json", *extra])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    return {row["opd"]: row for row in data}, result


def test_exact_ikm_and_fields(session, open_wave, runner):
    """Hand-computed IKMs, NRRs, categories and the product.md JSON fields."""
    # bpbd: every answer 4 -> IKM 4, converted 100, A.
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 20)
    # rsud: U1 answered 1,2 (NRR 1.5); the other eight elements always 2; one skip of U1.
    add_responses(session, open_wave, "rsud", [[1] + [2] * 8, [2] + [2] * 8, [None] + [2] * 8] * 10)
    # one flagged response for rsud, excluded from the score but counted as flagged.
    add_responses(session, open_wave, "rsud", [[4] * 9], status="flagged", reason="bot-suspect")
    rows, result = score_json(runner)
    bpbd, rsud, dishub = rows["bpbd"], rows["rsud"], rows["dishub"]
    assert bpbd["ikm"] == 4.0 and bpbd["ikm_converted"] == 100.0 and bpbd["category"] == "A"
    assert bpbd["category_label"] == "Sangat baik" and bpbd["name"].startswith("Badan")
    assert bpbd["n"] == 20 and bpbd["flagged"] == 0 and bpbd["rank"] == 1
    # rsud: NRR(U1) = (10*1 + 10*2) / 20 = 1.5; IKM = (1.5 + 8*2) / 9 = 17.5/9.
    assert rsud["elements"]["U1"] == {**rsud["elements"]["U1"], "nrr": 1.5, "n": 20}
    assert rsud["elements"]["U2"]["nrr"] == 2.0 and rsud["elements"]["U2"]["n"] == 30
    assert rsud["ikm"] == pytest.approx(float(Fraction(35, 18)), abs=1e-12)
    assert rsud["ikm_converted"] == pytest.approx(float(Fraction(35, 18) * 25), abs=1e-10)
    assert rsud["category"] == "D" and rsud["n"] == 30 and rsud["flagged"] == 1
    assert rsud["ci_low"] < rsud["ikm_converted"] < rsud["ci_high"]
    assert rsud["ci_method"] == "analytic-logit"
    # dishub has no responses: listed, unscored.
    assert dishub["n"] == 0 and dishub["ikm"] is None and dishub["rank"] is None
    required = {
        "opd name n ikm ikm_converted ci_low ci_high ci_method category category_label rank "
        "rank_ci_low rank_ci_high in_top_set in_bottom_set elements"
    }
    assert set(required.pop().split()) <= set(bpbd)
    # Two units far apart: ranks are certain.
    assert (bpbd["rank_ci_low"], bpbd["rank_ci_high"]) == (1, 1)
    assert (rsud["rank_ci_low"], rsud["rank_ci_high"]) == (2, 2)
    assert "1 flagged excluded" in result.stderr


def test_database_path_equals_scoring_rows(session, open_wave, runner):
    """The IKM and interval from the database equal those computed from the raw rows."""
    rng = np.random.default_rng(7)
    answers = rng.integers(1, 5, size=(37, 9)).astype(float)
    answers[rng.random(answers.shape) < 0.1] = np.nan
    stored = [[None if np.isnan(v) else int(v) for v in row] for row in answers]
    add_responses(session, open_wave, "dishub", stored)
    rows, _ = score_json(runner)
    direct = ikm(answers)
    assert rows["dishub"]["ikm"] == pytest.approx(direct.ikm, abs=1e-12)
    low, high = direct.confidence_interval(0.95).converted()
    assert rows["dishub"]["ci_low"] == pytest.approx(low, abs=1e-9)
    assert rows["dishub"]["ci_high"] == pytest.approx(high, abs=1e-9)
    for j in range(9):
        assert rows["dishub"]["elements"][f"U{j + 1}"]["nrr"] == pytest.approx(direct.nrr[j])


def test_reader_unpacks_every_position(session, open_wave, app):
    """The packed read returns the stored answers, NaN for none, even past 18 positions."""
    opd = session.exec(select(Opd).where(Opd.slug == "bpbd")).one()
    values = {f"a{p}": (p % 5) or None for p in range(1, 25)}
    session.add(Response(wave_id=open_wave.id, opd_id=opd.id, submission_id="x" * 32, **values))
    session.commit()
    data = read_wave_answers(get_engine(app), wave_id=open_wave.id, positions=range(1, 25))
    expected = [np.nan if v is None else v for v in values.values()]
    np.testing.assert_array_equal(data.answers[0], expected)
    assert data.opd_ids.tolist() == [opd.id] and len(data) == 1
    with pytest.raises(ValueError, match="positions"):
        read_wave_answers(get_engine(app), wave_id=open_wave.id, positions=[0])


def test_same_seed_same_output_and_bootstrap(session, open_wave, runner):
    """Output is reproducible for a seed; --bootstrap switches to BCa intervals."""
    rng = np.random.default_rng(3)
    for slug in ("bpbd", "rsud", "dishub"):
        add_responses(session, open_wave, slug, rng.integers(2, 5, size=(25, 9)).tolist())
    first, _ = score_json(runner, "--seed", "11", "--bootstrap", "499")
    again, _ = score_json(runner, "--seed", "11", "--bootstrap", "499")
    assert first == again
    assert {row["ci_method"] for row in first.values()} == {"bootstrap-bca"}
    analytic, _ = score_json(runner, "--seed", "11")
    assert analytic["bpbd"]["ikm"] == first["bpbd"]["ikm"]
    assert analytic["bpbd"]["ci_low"] != first["bpbd"]["ci_low"]


def test_no_rank_sets_keeps_every_score_and_claims_no_rank_certainty(session, open_wave, runner):
    """--no-rank-sets: the same scores, intervals and point ranks; every rank set 1..p."""
    add_responses(session, open_wave, "bpbd", [[4] * 9] * 20)
    add_responses(session, open_wave, "rsud", [[2] * 9] * 20)
    add_responses(session, open_wave, "dishub", [[3] * 9] * 20)
    full, _ = score_json(runner)
    quick, result = score_json(runner, "--no-rank-sets")
    # Far apart, the published sets are certain: ranks 1, 3, 2 each on its own.
    assert [
        (full[s]["rank_ci_low"], full[s]["rank_ci_high"]) for s in ("bpbd", "rsud", "dishub")
    ] == [
        (1, 1),
        (3, 3),
        (2, 2),
    ]
    assert [(quick[s]["rank_ci_low"], quick[s]["rank_ci_high"]) for s in quick] == [(1, 3)] * 3
    assert [quick[s]["rank"] for s in ("bpbd", "rsud", "dishub")] == [1, 3, 2]
    sets = {"rank_ci_low", "rank_ci_high", "rank_marginal_low", "rank_marginal_high"}
    sets |= {"in_top_set", "in_bottom_set"}
    for slug, row in full.items():
        assert {k: v for k, v in row.items() if k not in sets} == {
            k: v for k, v in quick[slug].items() if k not in sets
        }
    assert "rank sets not computed (--no-rank-sets)" in result.stderr


def test_table_and_csv_formats(session, open_wave, runner):
    """The table names the wave and the sets; the CSV has one row per OPD with elements."""
    add_responses(session, open_wave, "bpbd", [[3] * 9, [4] * 9] * 10)
    table = runner.invoke(args=["score", "--wave", "uji-2026", "--top", "1"])
    assert table.exit_code == 0, table.output
    assert "Uji Coba 2026" in table.stdout and "bpbd" in table.stdout
    assert "The true top 1 are" in table.stdout
    out = runner.invoke(args=["score", "--wave", "uji-2026", "--format", "csv"])
    parsed = list(csv.DictReader(io.StringIO(out.stdout)))
    assert [r["opd"] for r in parsed] == ["bpbd", "dishub", "rsud"]
    first = parsed[0]
    assert (first["ikm"], first["U1_nrr"], first["U9_n"]) == ("3.5", "3.5", "20")


def test_scheme_option_and_errors(session, open_wave, runner):
    """--scheme recategorises; unknown schemes and waves are clear errors."""
    add_responses(session, open_wave, "bpbd", [[3] * 9, [4] * 8 + [3]] * 10)  # IKM 3.2778
    rows, _ = score_json(runner)
    assert rows["bpbd"]["category"] == "B"
    legacy, _ = score_json(runner, "--scheme", "kepmenpan-25-2004")
    assert legacy["bpbd"]["category"] == "A"  # >= 3.26 under KepmenPAN 25/2004
    bad = runner.invoke(args=["score", "--wave", "uji-2026", "--scheme", "knpi"])
    assert bad.exit_code != 0 and "unknown category scheme 'knpi'" in bad.output
    missing = runner.invoke(args=["score", "--wave", "nope"])
    assert missing.exit_code != 0 and "nope" in missing.output


def test_aggregates_from_database_match_rows(session, open_wave, app):
    """The sufficient statistics built from the database read equal those of the rows."""
    from scoring import aggregate_units

    rows = [[1, 2, None, 4, 3, 3, 2, 1, 4], [4, 4, 4, 4, 4, 4, 4, 4, None]]
    add_responses(session, open_wave, "rsud", rows)
    data = read_wave_answers(get_engine(app), wave_id=open_wave.id, positions=range(1, 10))
    (agg,) = aggregate_units(np.zeros(len(data), np.int64), data.answers, 1)
    expected = aggregate(np.array([[np.nan if v is None else v for v in r] for r in rows]))
    assert agg == expected
    assert queries.get_wave(session, slug="uji-2026").id == open_wave.id


def test_the_scoring_service_speaks_in_no_command_line_flags(session, open_wave, app):
    """score_wave's refusals name what is wrong, not an option of ``ikm score``."""
    from survey.core.scores import ScoreError, score_wave

    for options, code, message in (
        (
            {"bootstrap": -1},
            "score-bootstrap",
            "the number of bootstrap resamples must be 0 or more, not -1",
        ),
        ({"top_k": 0}, "score-top-k", "K of the best and lowest K must be at least 1, not 0"),
        ({"scheme_slug": "nope"}, "score-scheme-unknown", "unknown category scheme 'nope'"),
    ):
        with pytest.raises(ScoreError) as refused:
            score_wave(session, wave=open_wave, **options)
        assert [p.code for p in refused.value.problems] == [code]
        assert str(refused.value) == message


def test_reports_build_no_command_lines():
    """No string the reports print (docstrings aside) holds an ``ikm`` command or an option."""
    import ast
    import re
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    found = []
    for path in sorted((root / "reports").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        docstrings = {
            id(node.body[0].value)
            for node in ast.walk(tree)
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef)
            and node.body
            and isinstance(node.body[0], ast.Expr)
            and isinstance(node.body[0].value, ast.Constant)
        }
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Constant)
                and isinstance(node.value, str)
                and id(node) not in docstrings
                and re.search(r"\bikm [a-z]|(?<![\w-])--[a-z]", node.value)
            ):
                found.append(f"{path.name}:{node.lineno}: {node.value[:60]!r}")
    templates = sorted((root / "templates" / "reports").glob("*.html"))
    found += [p.name for p in templates if re.search(r"\bikm score\b", p.read_text("utf-8"))]
    assert found == []


def test_the_fingerprint_hashes_the_same_text_as_before():
    """The fingerprint's text of each OPD's figures, now written by orjson, is byte for byte
    json.dumps(as_dict(), sort_keys=True), for C-ordered, stacked-view and Fortran-ordered
    arrays (the last through the json fallback), so no published fingerprint changes."""
    import json

    import numpy as np

    from scoring import Aggregates, aggregate, stacked_aggregates
    from survey.core.scores import _figures_text, _fingerprint

    rng = np.random.default_rng(15)
    parts = [aggregate(rng.integers(1, 5, size=(n, 9)).astype(float)) for n in (1, 30, 2000)]
    stacked = stacked_aggregates(
        {f: np.stack([np.asarray(p.as_dict()[f]) for p in parts]) for f in parts[0].as_dict()}
    )
    fortran = Aggregates(
        **{
            f: v if f == "n" else np.asfortranarray(np.asarray(v))
            for f, v in parts[2].as_dict().items()
        }
    )
    assert not fortran.products.flags.c_contiguous
    for agg in (*parts, *stacked, fortran, Aggregates.empty(9, 5)):
        assert _figures_text(agg) == json.dumps(agg.as_dict(), sort_keys=True).encode()
    assert _fingerprint(parts, ["a", "b", "c"]) == _fingerprint(stacked, ["a", "b", "c"])


def test_a_views_free_app_scores_exactly_as_the_full_app(session, open_wave, runner, app_config):
    """``ikm score`` builds its app without views (create_app(views=False)): same settings and
    database, no pages, and the same output."""
    from flask.testing import FlaskCliRunner

    from survey.cli.main import ikm as ikm_group
    from survey.web import create_app

    add_responses(session, open_wave, "bpbd", [[4, 3, 4, 4, 3, 4, 4, 4, 3]] * 12)
    add_responses(session, open_wave, "rsud", [[2, 3, 2, 3, 2, 3, 2, 3, 2]] * 9)
    _rows, full = score_json(runner)
    lite = create_app(app_config, views=False)
    try:
        assert not lite.blueprints and "csrf" not in lite.extensions
        result = FlaskCliRunner(lite).invoke(
            ikm_group, args=["score", "--wave", "uji-2026", "--format", "json"]
        )
        assert result.exit_code == 0, result.output
        assert result.stdout == full.stdout
    finally:
        lite.extensions["ikm_engine"].dispose()


def test_ikm_score_imports_no_page_of_the_web_app(tmp_path):
    """The real command line: ``score`` builds the views-free app, other commands the full one
    (the pages, forms and translations are half a second of imports)."""
    import subprocess
    import sys

    script = (
        "import sys\n"
        "from survey.cli.main import ikm\n"
        "try:\n"
        "    ikm.main(sys.argv[1:], standalone_mode=False)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__)\n"
        "print(sorted(m for m in ('survey.web.citizen', 'wtforms', 'flask_babel')"
        " if m in sys.modules))\n"
    )
    env = {"PATH": "/usr/bin:/bin", "IKM_DATABASE_URL": f"sqlite:///{tmp_path / 'x.db'}"}

    def imported(*args: str) -> str:
        out = subprocess.run(
            [sys.executable, "-c", script, *args], capture_output=True, text=True, env=env
        )
        return out.stdout.strip().splitlines()[-1]

    # An empty database: the command fails (no tables) after building its app.
    assert imported("score", "--wave", "x") == "[]"
    assert imported("opd", "list") == "['flask_babel', 'survey.web.citizen', 'wtforms']"
