"""Change between two waves: the one service behind ``ikm compare``, the OPD head's page and PDF.

:func:`compare` checks that two waves are comparable, scores both as
:func:`survey.core.scores.score_wave` does (counted responses only: flagged ones are never
scored) and hands every OPD scored in both to :func:`scoring.change.compare_waves`: the change
wave B − wave A, its Welch 95% interval from each wave's IKM, standard error and n − 1 degrees
of freedom, Holm's correction over the OPDs compared, and the regression-to-the-mean note.

Two waves are refused (:class:`ChangeRefused`, a code and an Indonesian reason) when they are
the same wave, use answer scales of different lengths, different questionnaires, different
category schemes (same scheme, or the same categories and thresholds), when a wave has no
counted response, or when no OPD has a counted response in both.

Machine-readable fields (``ikm compare --format json``: the object below; ``--format csv``:
one row per OPD with the fields of ``opds``, plus ``wave_a`` and ``wave_b``):

- ``wave_a``, ``wave_b``: the slugs; ``scale_points``; ``confidence_level`` (0.95);
  ``correction`` ("holm"); ``alpha`` (0.05, the family-wise error rate); ``tested`` (the m of
  the correction: OPDs with an estimable change);
- ``opds``: one object per OPD in both waves: ``opd``, ``name``, ``n_a``, ``n_b``, ``ikm_a``,
  ``ikm_b`` (1..scale), ``converted_a``, ``converted_b``, ``change`` and ``ci_low``/``ci_high``
  (IKM scale), ``change_converted`` and ``ci_low_converted``/``ci_high_converted``,
  ``se``, ``df`` (Welch), ``p_value``, ``p_holm``, ``verdict`` ("improved", "declined",
  "unclear" = not different beyond chance after Holm, "not-estimable"), ``extreme_in_a``
  ("bottom", "top" or null: the wave-A quarter) and ``regression_to_mean`` (true: it moved
  from that quarter toward the middle, which is partly expected by chance).
"""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable, Sequence
from typing import Any

from sqlmodel import Session

from reports.changes import ChangeReport, OpdChange, signed
from reports.formatting import format_number
from reports.model import ScoredWave
from survey.core import queries
from survey.core.models import CategoryScheme, Wave

__all__ = [
    "REASONS",
    "ChangeRefused",
    "compare",
    "previous_comparable",
    "to_csv",
    "to_json",
    "to_table",
]

Scorer = Callable[[Session, Wave], ScoredWave]

# code -> the reason in Bahasa Indonesia (the command line prints it; the web has its own
# gettext texts for the same codes in templates/opdhead/_change.html).
REASONS: dict[str, str] = {
    "same-wave": "Gelombang A dan B sama ({a}): pilih dua gelombang yang berbeda.",
    "scale": "Skala jawaban berbeda: {a} memakai skala {scale_a} poin, {b} skala {scale_b} poin.",
    "questionnaire": "Kuesioner berbeda: {a} dan {b} tidak memakai kuesioner yang sama.",
    "scheme": "Skema kategori berbeda: {a} memakai {scheme_a}, {b} memakai {scheme_b}.",
    "no-responses": "Gelombang {wave} belum punya respons yang dihitung.",
    "no-common-opd": "Tidak ada OPD yang punya respons dihitung di kedua gelombang ({a} dan {b}).",
}


class ChangeRefused(ValueError):
    """Two waves that cannot be compared; ``code`` and ``params`` say why."""

    def __init__(self, code: str, **params: Any) -> None:
        """Keep the code and parameters; the message is the Indonesian reason."""
        self.code = code
        self.params = params
        super().__init__(REASONS[code].format(**params))


def _default_scorer(session: Session, wave: Wave) -> ScoredWave:
    from survey.core.scores import score_wave

    return score_wave(session, wave=wave, seed=0, wave_tests=False)


def _scheme_key(session: Session, wave: Wave) -> tuple[str, list[Any]]:
    stored = session.get(CategoryScheme, wave.scheme_id)
    assert stored is not None
    categories = [
        (c.get("code"), c.get("min_ikm"), c.get("min_converted")) for c in stored.categories
    ]
    return stored.slug, categories


def check_comparable(session: Session, a: Wave, b: Wave) -> None:
    """Raise :class:`ChangeRefused` unless the two waves' designs allow a comparison."""
    if a.id == b.id:
        raise ChangeRefused("same-wave", a=a.slug)
    qa = queries.get_questionnaire(session, questionnaire_id=a.questionnaire_id)
    qb = queries.get_questionnaire(session, questionnaire_id=b.questionnaire_id)
    assert qa is not None and qb is not None
    if qa.scale_points != qb.scale_points:
        raise ChangeRefused(
            "scale", a=a.slug, b=b.slug, scale_a=qa.scale_points, scale_b=qb.scale_points
        )
    if qa.id != qb.id:
        raise ChangeRefused("questionnaire", a=a.slug, b=b.slug)
    slug_a, cats_a = _scheme_key(session, a)
    slug_b, cats_b = _scheme_key(session, b)
    if slug_a != slug_b and cats_a != cats_b:
        raise ChangeRefused("scheme", a=a.slug, b=b.slug, scheme_a=slug_a, scheme_b=slug_b)


def _slope(scored: Sequence[ScoredWave], scale_points: int) -> float:
    """Converted points per IKM point, read from the scored units (the conversion is affine).

    Falls back to 100 / scale points (25 on the regulation's scale) when every unit has the
    same IKM.
    """
    for wave in scored:
        units = wave.units() if wave.score is not None else ()
        for first in units:
            for other in units:
                if abs(other.ikm - first.ikm) > 1e-9:
                    return (other.converted() - first.converted()) / (other.ikm - first.ikm)
    return 100.0 / scale_points


def compare(
    session: Session, *, wave_a: Wave, wave_b: Wave, scorer: Scorer | None = None
) -> ChangeReport:
    """Compare every OPD scored in both waves (B − A); raise :class:`ChangeRefused` if not.

    ``scorer`` scores a wave (default :func:`survey.core.scores.score_wave` with seed 0, as
    ``ikm score``); the web passes its cached scorer.
    """
    from scoring.change import ChangeInput, compare_waves

    check_comparable(session, wave_a, wave_b)
    score = scorer or _default_scorer
    scored_a, scored_b = score(session, wave_a), score(session, wave_b)
    for wave, scored in ((wave_a, scored_a), (wave_b, scored_b)):
        if scored.score is None:
            raise ChangeRefused("no-responses", wave=wave.slug)
    pairs = []
    names = {}
    for info in scored_b.opds:
        ua, ub = scored_a.unit(info.slug), scored_b.unit(info.slug)
        if ua is None or ub is None:
            continue
        names[info.slug] = info.name
        pairs.append(
            (
                info.slug,
                ChangeInput(ua.ikm, ua.se, ua.n - 1, ua.n),
                ChangeInput(ub.ikm, ub.se, ub.n - 1, ub.n),
            )
        )
    if not pairs:
        raise ChangeRefused("no-common-opd", a=wave_a.slug, b=wave_b.slug)
    questionnaire = queries.get_questionnaire(session, questionnaire_id=wave_b.questionnaire_id)
    assert questionnaire is not None
    factor = _slope((scored_a, scored_b), questionnaire.scale_points)
    result = compare_waves(pairs, factor=factor)
    opds = []
    for item in result.units:
        ua, ub = scored_a.unit(item.unit), scored_b.unit(item.unit)
        assert ua is not None and ub is not None
        diff, low, high = item.converted()
        opds.append(
            OpdChange(
                slug=item.unit,
                name=names[item.unit],
                wave_a_slug=wave_a.slug,
                wave_a_title=wave_a.title,
                wave_b_slug=wave_b.slug,
                wave_b_title=wave_b.title,
                n_a=ua.n,
                n_b=ub.n,
                ikm_a=ua.ikm,
                ikm_b=ub.ikm,
                score_a=ua.converted(),
                score_b=ub.converted(),
                change=diff,
                low=low,
                high=high,
                se=item.se,
                df=item.df,
                p_value=item.p_value,
                p_holm=item.p_holm,
                verdict=item.verdict,
                extreme=item.extreme,
                rtm=item.rtm,
                tested=result.tested,
            )
        )
    return ChangeReport(
        wave_a_slug=wave_a.slug,
        wave_a_title=wave_a.title,
        wave_b_slug=wave_b.slug,
        wave_b_title=wave_b.title,
        scale_points=questionnaire.scale_points,
        factor=factor,
        level=result.level,
        alpha=result.alpha,
        tested=result.tested,
        opds=tuple(opds),
    )


def previous_comparable(
    session: Session,
    *,
    wave: Wave,
    opd_slug: str,
    statuses: Sequence[str] = ("closed", "published"),
    scorer: Scorer | None = None,
) -> tuple[ChangeReport | None, str | None]:
    """The change of the OPD from the latest earlier comparable wave that scored it.

    Looks back over the earlier waves (created before ``wave``, in ``statuses``) covering the
    OPD, newest first, and returns the first comparison that includes the OPD, with None; or
    (None, code) with the refusal code of the nearest earlier wave ("none" when there is no
    earlier wave at all).
    """
    opd = queries.get_opd(session, slug=opd_slug)
    if opd is None:
        return None, "none"
    first_reason: str | None = None
    earlier_waves = queries.earlier_waves(
        session, wave=wave, opd=opd, statuses=statuses, newest_first=True
    )
    for earlier in earlier_waves:
        try:
            report = compare(session, wave_a=earlier, wave_b=wave, scorer=scorer)
        except ChangeRefused as exc:
            first_reason = first_reason or exc.code
            continue
        if report.opd(opd_slug) is not None:
            return report, None
        first_reason = first_reason or "no-common-opd"
    return None, first_reason or "none"


# --- The command's outputs --------------------------------------------------------------------

VERDICT_WORDS = {
    "improved": "membaik",
    "declined": "menurun",
    "unclear": "tidak berbeda nyata",
    "not-estimable": "tidak dapat diuji",
}


def _num(value: float | None) -> float | None:
    return None if value is None or not math.isfinite(value) else float(value)


def rows(report: ChangeReport) -> list[dict[str, Any]]:
    """One machine-readable object per OPD (the fields of the module docstring)."""
    out = []
    for o in report.opds:
        factor = report.factor
        out.append(
            {
                "opd": o.slug,
                "name": o.name,
                "n_a": o.n_a,
                "n_b": o.n_b,
                "ikm_a": _num(o.ikm_a),
                "ikm_b": _num(o.ikm_b),
                "converted_a": _num(o.score_a),
                "converted_b": _num(o.score_b),
                "change": _num(o.change / factor),
                "ci_low": _num(o.low / factor),
                "ci_high": _num(o.high / factor),
                "change_converted": _num(o.change),
                "ci_low_converted": _num(o.low),
                "ci_high_converted": _num(o.high),
                "se": _num(o.se),
                "df": _num(o.df),
                "p_value": _num(o.p_value),
                "p_holm": _num(o.p_holm),
                "verdict": o.verdict,
                "extreme_in_a": o.extreme,
                "regression_to_mean": o.rtm,
            }
        )
    return out


def to_json(report: ChangeReport) -> str:
    """The ``--format json`` text."""
    data = {
        "wave_a": report.wave_a_slug,
        "wave_b": report.wave_b_slug,
        "scale_points": report.scale_points,
        "confidence_level": report.level,
        "correction": "holm",
        "alpha": report.alpha,
        "tested": report.tested,
        "opds": rows(report),
    }
    return json.dumps(data, ensure_ascii=False, indent=2)


def to_csv(report: ChangeReport) -> str:
    """The ``--format csv`` text: one row per OPD, the wave slugs first."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    items = rows(report)
    head = ["wave_a", "wave_b", *(items[0] if items else ["opd"])]
    writer.writerow(head)
    for row in items:
        values = [report.wave_a_slug, report.wave_b_slug, *row.values()]
        writer.writerow(["" if v is None else v for v in values])
    return buffer.getvalue()


def _p_text(p: float) -> str:
    """A p-value for the table: three decimals, "<0,001" below that (never "0,000")."""
    if not math.isfinite(p):
        return "–"
    return "<0,001" if p < 0.001 else format_number(p, "id", 3)


def to_table(report: ChangeReport) -> str:
    """A table for the terminal in Bahasa Indonesia (Indonesian number format)."""
    lines = [
        f"Perubahan IKM dari gelombang {report.wave_a_slug} ({report.wave_a_title}) "
        f"ke {report.wave_b_slug} ({report.wave_b_title})",
        "Nilai konversi; perubahan = B − A dengan interval kepercayaan 95% (Welch).",
        "",
        f"{'OPD':<24} {'n A':>5} {'n B':>5} {'A':>6} {'B':>6} {'perubahan':>9} "
        f"{'interval 95%':>17} {'p Holm':>7}  keterangan",
    ]
    for o in report.opds:
        interval = f"{signed(o.low, 'id')} s.d. {signed(o.high, 'id')}" if o.estimable else "–"
        word = VERDICT_WORDS[o.verdict] + (" *" if o.rtm else "")
        lines.append(
            f"{o.name[:24]:<24} {o.n_a:>5} {o.n_b:>5} {format_number(o.score_a, 'id', 2):>6} "
            f"{format_number(o.score_b, 'id', 2):>6} {signed(o.change, 'id'):>9} "
            f"{interval:>17} {_p_text(o.p_holm):>7}  {word}"
        )
    lines += [
        "",
        f"Koreksi Holm atas {report.tested} OPD yang dibandingkan (tingkat kesalahan 5%): "
        "'membaik' atau 'menurun' hanya bila perubahan tetap nyata setelah koreksi; "
        "selain itu 'tidak berbeda nyata'.",
    ]
    if any(o.rtm for o in report.opds):
        lines.append(
            "* OPD di seperempat terendah atau tertinggi gelombang A yang bergerak ke arah "
            "tengah: sebagian dari perubahan seperti ini diharapkan terjadi karena kebetulan "
            "(regresi ke arah rata-rata)."
        )
    return "\n".join(lines)
