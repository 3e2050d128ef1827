"""Simulated report inputs: a KNPI-like wave of OPDs, for tests, benchmarks and previews.

:func:`sample_ranking` draws respondents' answers with NumPy from a seeded generator (each
OPD around a KNPI-like mean on 1..4, answers correlated within a respondent, a few skipped),
aggregates them with :func:`scoring.aggregate_units` and scores them with
:func:`scoring.score_units`, exactly as the database side does with real answers.
:func:`sample_opd_report` adds a respondent profile, comments and earlier waves. The same seed
always gives the same inputs; the data are marked simulated, so every page says so.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta

import numpy as np

from scoring import PUBLISHED_RANK_DRAWS, SCHEMES, aggregate_units, score_units
from scoring.regulation import PERMENPANRB_2017_ELEMENTS

from .model import (
    Comment,
    ElementInfo,
    OpdInfo,
    OpdReportData,
    Poster,
    ScoredWave,
    TrendPoint,
    age_band,
)

__all__ = ["DEFAULT_ELEMENTS", "sample_opd_report", "sample_posters", "sample_ranking"]

# The regulation's nine elements, from the one copy in :mod:`scoring.regulation`.
DEFAULT_ELEMENTS: tuple[ElementInfo, ...] = tuple(
    ElementInfo(e.code, e.name_id, e.name_en, e.labels_id, e.labels_en)
    for e in PERMENPANRB_2017_ELEMENTS
)

# (slug, name, short name, mean on 1..4): KNPI Kota Serang's published five best and five
# worst (June 2025), and plausible means for the other ten.
KNPI_OPDS: tuple[tuple[str, str, str, float], ...] = (
    ("bpbd", "Badan Penanggulangan Bencana Daerah", "BPBD", 3.07),
    ("dispusip", "Dinas Perpustakaan dan Kearsipan", "Dispusip", 3.03),
    ("bapenda", "Badan Pendapatan Daerah", "Bapenda", 3.01),
    (
        "diskoumperindag",
        "Dinas Koperasi, Usaha Kecil dan Menengah, Perindustrian dan Perdagangan",
        "Diskoumperindag",
        2.98,
    ),
    ("disparpora", "Dinas Pariwisata, Kepemudaan dan Olahraga", "Disparpora", 2.93),
    ("diskominfo", "Dinas Komunikasi dan Informatika", "Diskominfo", 2.92),
    ("dpmptsp", "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu", "DPMPTSP", 2.91),
    ("bkpsdm", "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia", "BKPSDM", 2.90),
    ("dkp3", "Dinas Ketahanan Pangan, Pertanian dan Perikanan", "DKP3", 2.89),
    ("disdukcapil", "Dinas Kependudukan dan Pencatatan Sipil", "Disdukcapil", 2.88),
    ("disperkim", "Dinas Perumahan dan Kawasan Permukiman", "Disperkim", 2.87),
    ("dindikbud", "Dinas Pendidikan dan Kebudayaan", "Dindikbud", 2.86),
    ("dlh", "Dinas Lingkungan Hidup", "DLH", 2.85),
    ("dinkes", "Dinas Kesehatan", "Dinkes", 2.84),
    ("dinsos", "Dinas Sosial", "Dinsos", 2.83),
    ("dputr", "Dinas Pekerjaan Umum dan Tata Ruang", "DPUTR", 2.81),
    ("disnakertrans", "Dinas Tenaga Kerja dan Transmigrasi", "Disnakertrans", 2.81),
    ("dishub", "Dinas Perhubungan", "Dishub", 2.78),
    ("rsud", "Rumah Sakit Umum Daerah", "RSUD", 2.50),
    ("satpol-pp", "Satuan Polisi Pamong Praja", "Satpol PP", 2.50),
)

# Per-element offsets on 1..4: complaints handling and facilities are usually the weakest
# elements of SKM results, fees (often free) the strongest.
ELEMENT_OFFSETS = np.array([0.05, -0.02, -0.12, 0.30, 0.02, 0.06, 0.10, -0.15, -0.24])
RESPONDENT_SD = 0.42  # shared by one respondent's answers: inter-item correlation ~0.4
NOISE_SD = 0.52
SKIP_RATE = 0.02

PRAISE = (
    "Pelayanan cepat dan petugasnya ramah.",
    "Terima kasih, prosesnya mudah dan jelas.",
    "Sudah baik, mohon dipertahankan.",
    "Petugas sangat membantu menjelaskan persyaratan.",
)
COMPLAINTS = (
    "Antrean terlalu lama, mohon ditambah petugas loket.",
    "Informasi persyaratan kurang jelas, saya harus bolak-balik.",
    "Tempat parkir sempit dan ruang tunggu panas.",
    "Pengaduan saya belum ditanggapi sampai sekarang.",
)
SERVICES = ("Layanan informasi", "Perizinan", "Pengaduan", "Konsultasi")


def _opd_list(count: int, rng: np.random.Generator) -> list[tuple[str, str, str, float]]:
    """The 20 KNPI OPDs, then invented ones with means spread like theirs."""
    opds = list(KNPI_OPDS[:count])
    for i in range(len(opds), count):
        mean = float(np.clip(rng.normal(2.85, 0.16), 2.3, 3.5))
        opds.append((f"opd-{i + 1:02d}", f"Unit Pelayanan Contoh {i + 1}", f"UPC {i + 1}", mean))
    return opds


def _answers(rng: np.random.Generator, mean: float, n: int) -> np.ndarray:
    """n respondents x 9 answers around `mean`: a shared respondent effect plus noise."""
    latent = (
        mean
        + ELEMENT_OFFSETS
        - ELEMENT_OFFSETS.mean()
        + rng.normal(0.0, RESPONDENT_SD, (n, 1))
        + rng.normal(0.0, NOISE_SD, (n, ELEMENT_OFFSETS.size))
    )
    answers = np.clip(np.rint(latent), 1, 4)
    skipped = rng.random(answers.shape) < SKIP_RATE
    skipped[skipped.all(axis=1)] = False
    answers[skipped] = np.nan
    return answers


def sample_ranking(
    n_opds: int = 20,
    *,
    seed: int = 0,
    n_range: tuple[int, int] = (20, 80),
    sizes: Sequence[int] | None = None,
    scheme_slug: str = "permenpanrb-14-2017",
    bootstrap: int = 0,
    top_k: int = 5,
    rank_draws: int = PUBLISHED_RANK_DRAWS,
) -> ScoredWave:
    """Return a simulated wave of `n_opds` OPDs, scored like a real one.

    Parameters
    ----------
    n_opds : int
        OPDs (the first 20 are KNPI's Kota Serang OPDs with their published means).
    seed : int
        Seeds the answers and the scoring.
    n_range : (int, int)
        Respondents per OPD are drawn uniformly from this closed range...
    sizes : sequence of int, optional
        ... unless given here, one per OPD (0 = an OPD without responses, left unscored).
    scheme_slug : str
        A built-in scheme (:data:`scoring.SCHEMES`).
    bootstrap, top_k, rank_draws : int
        Passed to :func:`scoring.score_units`.

    Examples
    --------
    >>> data = sample_ranking(4, seed=1)
    >>> len(data.opds), data.counted == sum(u.n for u in data.score.units)
    (4, True)
    """
    if sizes is not None and len(sizes) != n_opds:
        raise ValueError(f"sizes has {len(sizes)} entries for {n_opds} OPDs")
    rng = np.random.default_rng(seed)
    opds = _opd_list(n_opds, rng)
    rows, index = [], []
    for i, (_slug, _name, _short, mean) in enumerate(opds):
        n = int(rng.integers(n_range[0], n_range[1] + 1)) if sizes is None else int(sizes[i])
        rows.append(_answers(rng, mean, n))
        index.append(np.full(n, i))
    answers = np.concatenate(rows)
    aggs = aggregate_units(np.concatenate(index), answers, len(opds))
    aggregates = {slug: agg for (slug, *_), agg in zip(opds, aggs, strict=True)}
    # Rows too, as the database side passes them: they give Cronbach's alpha with missing
    # answers, Kruskal-Wallis and (if asked) the bootstrap.
    row_map = {slug: r for (slug, *_), r in zip(opds, rows, strict=True)}
    score = score_units(
        aggregates,
        SCHEMES[scheme_slug],
        seed=seed,
        rows=row_map,
        bootstrap=bootstrap,
        top_k=top_k,
        rank_draws=rank_draws,
        element_codes=[e.code for e in DEFAULT_ELEMENTS],
    )
    flagged = rng.integers(0, 4, len(opds))
    infos = tuple(
        OpdInfo(
            slug=slug,
            name=name,
            short_name=short,
            target_n=50,
            # Population known for every other OPD, as it often is in practice.
            population=int(rng.integers(150, 3000)) if i % 2 == 0 else None,
            flagged=int(f),
        )
        for i, ((slug, name, short, _mean), f) in enumerate(zip(opds, flagged, strict=True))
    )
    total_flagged = int(flagged.sum())
    bots = total_flagged // 3
    fingerprint = hashlib.sha256(answers.tobytes()).hexdigest()[:16]
    return ScoredWave(
        title="Evaluasi 100 Hari Kerja",
        evaluator="DPD KNPI Kota Serang",
        period_start=date(2025, 6, 12),
        period_end=date(2025, 6, 16),
        data_taken_at=datetime(2025, 6, 17, 2, 30, tzinfo=UTC),
        simulated=True,
        scheme_slug=scheme_slug,
        elements=DEFAULT_ELEMENTS,
        opds=infos,
        score=score,
        aggregates=aggregates,
        counted=int(sum(a.n for a in aggs)),
        flagged=total_flagged,
        flag_reasons={"duplicate-device": total_flagged - bots, "bot-suspect": bots},
        seed=seed,
        fingerprint=fingerprint,
        bootstrap=bootstrap,
        wave_slug="evaluasi-100-hari-kerja",
    )


def sample_opd_report(ranking: ScoredWave, opd_slug: str, *, seed: int = 0) -> OpdReportData:
    """Return a simulated OPD report input: profile, comments and two earlier waves.

    The profile adds up to the OPD's counted responses (a few fields left empty), with some
    small groups, so that the anonymity rules have something to do.
    """
    unit = ranking.unit(opd_slug)
    n = 0 if unit is None else unit.n
    rng = np.random.default_rng([seed, *opd_slug.encode()])
    sex = rng.choice(["L", "P"], size=n, p=[0.55, 0.45])
    ages = np.clip(np.rint(rng.normal(38, 12, n)), 17, 75).astype(int)
    education = rng.choice(
        ["SD", "SMP", "SMA", "D1-D3", "S1", "S2", "S3"],
        size=n,
        p=[0.06, 0.1, 0.42, 0.12, 0.24, 0.05, 0.01],
    )
    occupation = rng.choice(
        ["PNS", "TNI", "POLRI", "Swasta", "Wirausaha", "Lainnya"],
        size=n,
        p=[0.12, 0.02, 0.02, 0.34, 0.3, 0.2],
    )
    service = rng.choice(SERVICES, size=n, p=[0.4, 0.3, 0.2, 0.1])

    def counts(values: np.ndarray) -> dict[str, int]:
        """Count the values, leaving out the respondents who skipped the field."""
        keep = rng.random(values.size) > 0.08  # some respondents leave a field empty
        found, freq = np.unique(values[keep], return_counts=True)
        return {str(v): int(c) for v, c in zip(found, freq, strict=True)}

    profile = {
        "sex": counts(sex),
        "age": counts(np.array([age_band(int(a)) for a in ages], dtype=object)),
        "education": counts(education),
        "occupation": counts(occupation),
        "service": counts(service),
    }
    start = datetime(2025, 6, 12, 1, 0, tzinfo=UTC)
    comments = []
    for _ in range(n):
        if rng.random() < 0.3:
            pool = PRAISE if rng.random() < 0.5 else COMPLAINTS
            comments.append(
                Comment(
                    text=str(pool[rng.integers(len(pool))]),
                    submitted_at=start + timedelta(minutes=int(rng.integers(0, 5 * 24 * 60))),
                )
            )
    trend: tuple[TrendPoint, ...] = ()
    if unit is not None:
        base = unit.ikm
        trend = tuple(
            TrendPoint(
                wave_title=title,
                period_end=end,
                ikm=base + shift,
                ci_low=base + shift - 0.12,
                ci_high=base + shift + 0.12,
                n=int(rng.integers(20, 60)),
            )
            for title, end, shift in (
                ("SKM Semester II 2024", date(2024, 12, 15), -0.14),
                ("SKM Semester I 2025", date(2025, 3, 20), -0.06),
            )
        )
    return OpdReportData(
        ranking=ranking,
        opd_slug=opd_slug,
        comments=tuple(comments),
        profile=profile,
        trend=trend,
    )


def sample_posters(
    ranking: ScoredWave, base_url: str = "https://skm.serangkota.go.id"
) -> list[Poster]:
    """Return one poster per OPD of the wave, pointing at ``{base_url}/s/{wave}/{opd}``."""
    short = base_url.split("://", 1)[-1]
    return [
        Poster(
            opd_name=opd.name,
            opd_short_name=opd.short_name,
            url=f"{base_url}/s/{ranking.wave_slug}/{opd.slug}",
            short_url=f"{short}/s/{ranking.wave_slug}/{opd.slug}",
        )
        for opd in ranking.opds
    ]
