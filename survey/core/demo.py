"""The demo data: KNPI Kota Serang's evaluation of 20 OPDs (12-16 June 2025), simulated.

KNPI published the scores of its five best and five worst OPDs (see
shared/seeds/003_*.txt); the other ten scores were not published, so the demo gives them
invented scores inside the gap (2.83 to 2.92) to keep the published top five and bottom five
where they were. The responses are simulated with a seeded generator: each answer is a
respondent's latent level plus the element's offset plus noise, rounded and clipped to 1..4,
with the location set through the normal CDF so that the expected mean answer equals the
OPD's score. The wave is marked ``simulated`` so that every page says the data are not real.

``demo_data`` builds the rows without a database (tests check them directly);
``write_demo`` replaces the demo wave and adds its missing OPDs through the same services as the
workspace and the command line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
from scipy.special import ndtr
from sqlmodel import Session

from survey.core import opds, queries, submissions, units, waves
from survey.core.builtin import DEFAULT_ELEMENTS, DEFAULT_SCHEME_SLUG
from survey.core.models import EDUCATIONS, OCCUPATIONS, Wave
from survey.core.problems import ProblemError, define, problem

define(
    {"demo-wave-real": "wave {value!r} exists and holds real data; the demo will not replace it"}
)

DEMO_SEED = 20250612
DEMO_WAVE_SLUG = "evaluasi-100-hari-kerja"
# The evaluation the demo imitates (its scores are simulated; every page and report says so).
DEMO_EVALUATOR = "DPD KNPI Kota Serang"
DEMO_WAVE_TITLE = "Evaluasi 100 Hari Kerja"
# The days the simulated answers are drawn on; ``write_demo`` moves them by whole weeks to just
# before the day it builds the demo, so that the demo's wave is open (see ``demo_period``).
PERIOD_START = date(2025, 6, 12)
PERIOD_END = date(2025, 6, 16)
DAYS_OPEN_AHEAD = 30  # the demo wave's period ends this many days after the build
TARGET_N = 50
SAMPLE_RANGE = (20, 80)  # counted responses per OPD, inclusive
# BPBD (the demo OPD head's) serves at two units as well as at its office: its responses are
# spread over them by their place in the data (two of five at the first unit, one at the
# second, two at the office), so the OPD report has its per-unit table; no figure changes.
DEMO_UNITS: dict[str, tuple[tuple[str, str], ...]] = {
    "bpbd": (("pusdalops", "Pusdalops PB"), ("posko-walantaka", "Posko Kecamatan Walantaka")),
}
UNIT_CYCLE = (0, 0, 1, None, None)  # index into the OPD's DEMO_UNITS, None: the office


class DemoError(ProblemError):
    """The demo cannot be written (its wave's slug holds real data)."""


JAKARTA = ZoneInfo("Asia/Jakarta")
QUESTION_CODES = tuple(element[0] for element in DEFAULT_ELEMENTS)


@dataclass(frozen=True)
class DemoOpd:
    """An OPD of the demo, with the score its simulated responses are drawn around."""

    slug: str
    name: str
    short_name: str
    score: float  # on the 1..4 scale
    published: bool  # True: KNPI's published score; False: invented for the demo
    services: tuple[str, ...]
    every_day: bool = False  # serves at the weekend too (hospital, disaster, order)


DEMO_OPDS: tuple[DemoOpd, ...] = (
    # KNPI's five best, as published.
    DemoOpd(
        "bpbd",
        "Badan Penanggulangan Bencana Daerah",
        "BPBD",
        3.07,
        True,
        ("Informasi kebencanaan", "Bantuan logistik bencana", "Kaji cepat rumah terdampak"),
        every_day=True,
    ),
    DemoOpd(
        "dispusip",
        "Dinas Perpustakaan dan Kearsipan",
        "Dispusip",
        3.03,
        True,
        ("Peminjaman buku", "Keanggotaan perpustakaan", "Layanan arsip"),
    ),
    DemoOpd(
        "bapenda",
        "Badan Pendapatan Daerah",
        "Bapenda",
        3.01,
        True,
        ("Pembayaran PBB", "Pelayanan BPHTB", "Pajak hotel dan restoran"),
    ),
    DemoOpd(
        "diskoumperindag",
        "Dinas Koperasi, Usaha Kecil dan Menengah, Perindustrian dan Perdagangan",
        "Diskoumperindag",
        2.98,
        True,
        ("Perizinan usaha mikro", "Pendampingan koperasi", "Tera ulang timbangan"),
    ),
    DemoOpd(
        "disparpora",
        "Dinas Pariwisata, Kepemudaan dan Olahraga",
        "Disparpora",
        2.93,
        True,
        ("Izin pemakaian gedung olahraga", "Pendataan usaha pariwisata", "Kegiatan kepemudaan"),
    ),
    # KNPI's five worst, as published.
    DemoOpd(
        "rsud",
        "Rumah Sakit Umum Daerah",
        "RSUD",
        2.50,
        True,
        ("Poli umum", "Instalasi gawat darurat", "Rawat inap", "Farmasi"),
        every_day=True,
    ),
    DemoOpd(
        "satpol-pp",
        "Satuan Polisi Pamong Praja",
        "Satpol PP",
        2.50,
        True,
        ("Pengaduan ketertiban umum", "Penataan pedagang kaki lima", "Perlindungan masyarakat"),
        every_day=True,
    ),
    DemoOpd(
        "dishub",
        "Dinas Perhubungan",
        "Dishub",
        2.78,
        True,
        ("Uji KIR kendaraan", "Izin trayek", "Retribusi parkir"),
    ),
    DemoOpd(
        "dputr",
        "Dinas Pekerjaan Umum dan Tata Ruang",
        "DPUTR",
        2.81,
        True,
        ("Informasi tata ruang", "Pengaduan jalan rusak", "Pengaduan drainase"),
    ),
    DemoOpd(
        "disnakertrans",
        "Dinas Tenaga Kerja dan Transmigrasi",
        "Disnakertrans",
        2.81,
        True,
        ("Kartu pencari kerja (AK-1)", "Pelatihan kerja", "Mediasi hubungan industrial"),
    ),
    # Not published: invented scores strictly between 2.81 and 2.93.
    DemoOpd(
        "disdukcapil",
        "Dinas Kependudukan dan Pencatatan Sipil",
        "Disdukcapil",
        2.88,
        False,
        ("KTP elektronik", "Kartu Keluarga", "Akta Kelahiran", "Surat pindah"),
    ),
    DemoOpd(
        "dinkes",
        "Dinas Kesehatan",
        "Dinkes",
        2.84,
        False,
        ("Izin praktik tenaga kesehatan", "Layanan puskesmas", "Imunisasi"),
    ),
    DemoOpd(
        "dindikbud",
        "Dinas Pendidikan dan Kebudayaan",
        "Dindikbud",
        2.86,
        False,
        ("Legalisir ijazah", "Penerimaan peserta didik baru", "Mutasi siswa"),
    ),
    DemoOpd(
        "dinsos",
        "Dinas Sosial",
        "Dinsos",
        2.83,
        False,
        ("Bantuan sosial", "Pendataan DTKS", "Rekomendasi PBI JK"),
    ),
    DemoOpd(
        "dpmptsp",
        "Dinas Penanaman Modal dan Pelayanan Terpadu Satu Pintu",
        "DPMPTSP",
        2.91,
        False,
        ("Persetujuan bangunan gedung (PBG)", "Nomor induk berusaha (NIB)", "Izin reklame"),
    ),
    DemoOpd(
        "dlh",
        "Dinas Lingkungan Hidup",
        "DLH",
        2.85,
        False,
        ("Pengangkutan sampah", "Persetujuan lingkungan", "Pengaduan pencemaran"),
    ),
    DemoOpd(
        "disperkim",
        "Dinas Perumahan dan Kawasan Permukiman",
        "Disperkim",
        2.87,
        False,
        ("Bantuan rumah tidak layak huni", "Penerangan jalan umum", "Pemakaman"),
    ),
    DemoOpd(
        "diskominfo",
        "Dinas Komunikasi dan Informatika",
        "Diskominfo",
        2.92,
        False,
        ("Layanan informasi publik (PPID)", "Pengaduan SP4N-LAPOR!", "Internet publik"),
    ),
    DemoOpd(
        "bkpsdm",
        "Badan Kepegawaian dan Pengembangan Sumber Daya Manusia",
        "BKPSDM",
        2.90,
        False,
        ("Kenaikan pangkat", "Pensiun", "Cuti pegawai"),
    ),
    DemoOpd(
        "dkp3",
        "Dinas Ketahanan Pangan, Pertanian dan Perikanan",
        "DKP3",
        2.89,
        False,
        ("Bantuan benih dan pupuk", "Pemeriksaan kesehatan hewan", "Penyuluhan pertanian"),
    ),
)

# Typical shape of SKM results: fees (U4) score high because most services are free,
# complaint handling (U9) and speed (U3) low. Calibration absorbs the overall level.
ELEMENT_OFFSETS = np.array([0.05, 0.0, -0.2, 0.35, 0.0, 0.05, 0.1, -0.1, -0.25])
ELEMENT_JITTER = 0.1  # each OPD's own deviation from the typical shape
RESPONDENT_SD = 0.35  # between respondents (lenient vs. strict raters)
NOISE_SD = 0.55  # within a respondent, between questions
SKIP_RATE = np.array([0.02, 0.02, 0.02, 0.08, 0.02, 0.02, 0.02, 0.02, 0.02])  # U4: often n/a
# The published score is an observation, not a population mean: draw samples until the
# sample's IKM rounds to it (as KNPI's did), so that the demo reproduces the published ranks.
SCORE_TOLERANCE = 0.005
MAX_DRAWS = 10_000
DUPLICATE_RATE = 0.03
BOT_RATE = 0.01
KIOSK_RATE = 0.15
COMMENT_RATE = 0.15
OFFICE_HOURS = (time(8, 0), time(16, 0))  # Asia/Jakarta

SEX_CHOICES = ("L", "P", None)
SEX_WEIGHTS = (0.5, 0.45, 0.05)
EDUCATION_WEIGHTS = dict(zip(EDUCATIONS, (0.06, 0.12, 0.42, 0.10, 0.24, 0.05, 0.01), strict=True))
OCCUPATION_WEIGHTS = dict(zip(OCCUPATIONS, (0.10, 0.02, 0.02, 0.30, 0.30, 0.26), strict=True))
FIELD_EMPTY_RATE = 0.07  # each optional respondent field is left empty this often
PRAISE = (
    "Pelayanan cepat dan petugasnya ramah.",
    "Terima kasih, prosesnya mudah dan jelas.",
    "Sudah baik, mohon dipertahankan.",
    "Petugas sangat membantu menjelaskan persyaratan.",
    "Ruang tunggu bersih dan nyaman.",
    "Tidak dipungut biaya apa pun, terima kasih.",
)
COMPLAINTS = (
    "Antrean terlalu lama, mohon ditambah petugas loket.",
    "Informasi persyaratan kurang jelas, saya harus bolak-balik.",
    "Tempat parkir sempit dan ruang tunggu panas.",
    "Pengaduan saya belum ditanggapi sampai sekarang.",
    "Petugas kurang ramah dan sering tidak ada di tempat.",
    "Mohon jam pelayanan ditepati, loket buka terlambat.",
    "Prosesnya berbelit-belit, harus ke beberapa meja.",
)


@dataclass(frozen=True)
class DemoData:
    """The demo's OPDs and simulated responses (``opd`` is a slug; times are aware UTC)."""

    seed: int
    opds: tuple[DemoOpd, ...]
    responses: tuple[dict[str, Any], ...]


def expected_mean(location: float, offsets: np.ndarray, sd: float) -> float:
    """Return the expected mean answer when answer = clip(round(N(location + offset, sd)), 1, 4)."""
    # E[answer] = 1 + P(latent >= 1.5) + P(latent >= 2.5) + P(latent >= 3.5).
    means = location + offsets
    steps = np.array([1.5, 2.5, 3.5])
    return float(np.mean(1 + ndtr((means[:, None] - steps) / sd).sum(axis=1)))


def calibrate(score: float, offsets: np.ndarray, sd: float) -> float:
    """Return the latent location whose expected mean answer is ``score``."""
    from scipy.optimize import brentq  # imported here: only the demo builder needs it

    return float(brentq(lambda loc: expected_mean(loc, offsets, sd) - score, -3.0, 8.0))


def sample_ikm(answers: np.ndarray) -> float:
    """Return the IKM (mean of the element means) of a respondents x elements array."""
    return float(np.mean(np.nanmean(answers, axis=0)))


def _simulate_answers(rng: np.random.Generator, opd: DemoOpd, n: int) -> np.ndarray:
    """Draw n respondents' answers (NaN = skipped) whose IKM rounds to the OPD's score."""
    offsets = ELEMENT_OFFSETS + rng.normal(0.0, ELEMENT_JITTER, ELEMENT_OFFSETS.size)
    location = calibrate(opd.score, offsets, float(np.hypot(RESPONDENT_SD, NOISE_SD)))
    for _ in range(MAX_DRAWS):
        latent = (
            location
            + offsets
            + rng.normal(0.0, RESPONDENT_SD, (n, 1))
            + rng.normal(0.0, NOISE_SD, (n, offsets.size))
        )
        answers = np.clip(np.rint(latent), 1, 4)
        skipped = rng.random(answers.shape) < SKIP_RATE
        skipped[skipped.all(axis=1)] = False  # everyone answers at least one question
        answers[skipped] = np.nan
        if abs(sample_ikm(answers) - opd.score) <= SCORE_TOLERANCE:
            return answers
    raise RuntimeError(f"no sample of {n} for {opd.slug} came near {opd.score}")


def _respondent(rng: np.random.Generator, opd: DemoOpd, mean_answer: float) -> dict[str, Any]:
    """Draw plausible respondent fields, some left empty, and now and then a comment."""

    def maybe(value: Any) -> Any:
        """Return the value, or now and then None (a field the respondent skipped)."""
        return None if rng.random() < FIELD_EMPTY_RATE else value

    sex = SEX_CHOICES[rng.choice(len(SEX_CHOICES), p=SEX_WEIGHTS)]
    education = rng.choice(list(EDUCATION_WEIGHTS), p=list(EDUCATION_WEIGHTS.values()))
    occupation = rng.choice(list(OCCUPATION_WEIGHTS), p=list(OCCUPATION_WEIGHTS.values()))
    comment = None
    if rng.random() < COMMENT_RATE:
        pool = PRAISE if mean_answer >= 3.0 else COMPLAINTS
        comment = pool[rng.integers(len(pool))]
    return {
        "sex": sex,
        "age": maybe(int(np.clip(np.rint(rng.normal(38, 12)), 17, 75))),
        "education": maybe(str(education)),
        "occupation": maybe(str(occupation)),
        "service": maybe(opd.services[rng.integers(len(opd.services))]),
        "comment": comment,
    }


def _submitted_at(rng: np.random.Generator, opd: DemoOpd) -> datetime:
    """Draw a time in Jakarta office hours on a day of the period the OPD serves."""
    days = [
        PERIOD_START + timedelta(days=i)
        for i in range((PERIOD_END - PERIOD_START).days + 1)
        if opd.every_day or (PERIOD_START + timedelta(days=i)).weekday() < 5
    ]
    day = days[rng.integers(len(days))]
    opening = datetime.combine(day, OFFICE_HOURS[0], tzinfo=JAKARTA)
    span = (OFFICE_HOURS[1].hour - OFFICE_HOURS[0].hour) * 3600
    return (opening + timedelta(seconds=int(rng.integers(span)))).astimezone(UTC)


def _answers_tuple(row: np.ndarray) -> tuple[int | None, ...]:
    """Convert one row of the answer array to ints and None (what the database takes)."""
    return tuple(None if np.isnan(value) else int(value) for value in row)


def demo_data(seed: int = DEMO_SEED) -> DemoData:
    """Return the demo OPDs and their simulated responses; the same seed, the same data."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    counted_by_opd: dict[str, list[dict[str, Any]]] = {}
    for opd in DEMO_OPDS:
        n = int(rng.integers(SAMPLE_RANGE[0], SAMPLE_RANGE[1] + 1))
        answers = _simulate_answers(rng, opd, n)
        opd_rows = []
        for respondent in answers:
            opd_rows.append(
                {
                    "opd": opd.slug,
                    "submitted_at": _submitted_at(rng, opd),
                    "channel": "kiosk" if rng.random() < KIOSK_RATE else "qr",
                    "status": "counted",
                    "flag_reason": None,
                    "answers": _answers_tuple(respondent),
                    **_respondent(rng, opd, float(np.nanmean(respondent))),
                }
            )
        counted_by_opd[opd.slug] = opd_rows
        rows.extend(opd_rows)
    rows.extend(_flagged_rows(rng, counted_by_opd))
    rows.sort(key=lambda row: (row["submitted_at"], row["opd"]))
    for index, row in enumerate(rows, start=1):
        row["submission_id"] = f"demo-{index:05d}"
    return DemoData(seed=seed, opds=DEMO_OPDS, responses=tuple(rows))


def _flagged_rows(
    rng: np.random.Generator, counted_by_opd: dict[str, list[dict[str, Any]]]
) -> list[dict[str, Any]]:
    """Add repeats from the same device and bot-like straight-lining; neither counts."""
    slugs = list(counted_by_opd)
    sizes = np.array([len(counted_by_opd[slug]) for slug in slugs], dtype=float)
    total = int(sizes.sum())
    flagged: list[dict[str, Any]] = []
    # At least one of each, so that the demo always shows what flagging looks like.
    for reason, rate in (("duplicate-device", DUPLICATE_RATE), ("bot-suspect", BOT_RATE)):
        for _ in range(max(1, round(rate * total))):
            slug = slugs[rng.choice(len(slugs), p=sizes / sizes.sum())]
            if reason == "duplicate-device":
                original = counted_by_opd[slug][rng.integers(len(counted_by_opd[slug]))]
                row = {
                    **original,
                    "submitted_at": original["submitted_at"]
                    + timedelta(seconds=int(rng.integers(60, 1200))),
                }
            else:
                opd = next(o for o in DEMO_OPDS if o.slug == slug)
                row = {
                    "opd": slug,
                    "submitted_at": _submitted_at(rng, opd),
                    "channel": "qr",
                    "answers": (int(rng.integers(1, 5)),) * len(QUESTION_CODES),
                    "sex": None,
                    "age": None,
                    "education": None,
                    "occupation": None,
                    "service": None,
                    "comment": None,
                }
            row.update(status="flagged", flag_reason=reason)
            flagged.append(row)
    return flagged


def demo_period(today: date) -> tuple[date, date, timedelta]:
    """Return the demo wave's period around ``today`` and the shift of the simulated answers.

    The five days of answers (``PERIOD_START`` to ``PERIOD_END``) move by whole weeks, so each
    keeps its weekday (no office answers on a Sunday), to end 1 to 7 days before ``today``; the
    period starts on their first day (5 to 11 days before ``today``) and ends
    ``DAYS_OPEN_AHEAD`` days after ``today``: the demo survey is open when it is built.
    """
    weeks = ((today - timedelta(days=5)) - PERIOD_START).days // 7
    shift = timedelta(weeks=weeks)
    return PERIOD_START + shift, today + timedelta(days=DAYS_OPEN_AHEAD), shift


def write_demo(
    session: Session,
    *,
    seed: int = DEMO_SEED,
    echo: Callable[[str], None] = lambda _message: None,
    today: date | None = None,
) -> tuple[Wave, DemoData]:
    """Replace the demo wave with freshly simulated data, adding missing OPDs.

    The OPDs and the wave are made through the services the workspace and ``ikm`` use
    (``opds.create_opd``, ``waves.create_wave``, ``waves.change_status``), with their audit
    entries; the responses are written in one last commit. OPDs that already exist are kept
    as they are; a wave with the demo's slug that is not simulated is refused
    (``DemoError``), never replaced. An interrupted build leaves a simulated wave, which the
    next build replaces.

    The wave's period runs around ``today`` (Asia/Jakarta, the day of the build by default),
    and the simulated answers are moved into it (``demo_period``).
    """
    start, end, shift = demo_period(today or datetime.now(JAKARTA).date())
    echo(f"Simulating responses (seed {seed}) ...")
    data = demo_data(seed)
    existing = queries.get_wave(session, slug=DEMO_WAVE_SLUG)
    if existing is not None:
        if not existing.simulated:
            raise DemoError([problem("demo-wave-real", "wave", value=DEMO_WAVE_SLUG)])
        echo("Removing the earlier demo wave ...")
        waves.delete_wave(session, wave=existing)
        session.commit()
    echo(f"Writing {len(data.opds)} OPDs ...")
    opd_ids = {}
    for opd in data.opds:
        stored = queries.get_opd(session, slug=opd.slug)
        if stored is None:
            stored = opds.create_opd(
                session, slug=opd.slug, name=opd.name, short_name=opd.short_name, actor=None
            )
        # The answers name the OPD's services, so they are on its list (as staff would put them).
        assert stored.id is not None
        listed = {name.casefold() for name in opds.service_names(session, opd_id=stored.id)}
        for service in opd.services:
            if service.casefold() not in listed:
                opds.add_service(session, opd=stored, name=service, actor=None)
        opd_ids[opd.slug] = stored.id
    unit_ids: dict[str, list[int]] = {}
    for slug, wanted in DEMO_UNITS.items():
        stored = queries.get_opd(session, slug=slug)
        assert stored is not None
        for unit_slug, name in wanted:
            unit = units.get_unit(session, opd_id=opd_ids[slug], slug=unit_slug)
            if unit is None:
                unit = units.add_unit(session, opd=stored, slug=unit_slug, name=name, actor=None)
            unit_ids.setdefault(slug, []).append(int(unit.id or 0))
    settings = waves.WaveSettings(
        title=DEMO_WAVE_TITLE,
        evaluator=DEMO_EVALUATOR,
        period_start=start,
        period_end=end,
        opd_slugs=tuple(opd.slug for opd in data.opds),
        questionnaire_id=None,
        scheme_slug=DEFAULT_SCHEME_SLUG,
        targets=dict.fromkeys((opd.slug for opd in data.opds), TARGET_N),
        simulated=True,
    )
    wave = waves.create_wave(session, slug=DEMO_WAVE_SLUG, settings=settings, actor=None)
    wave = waves.change_status(session, wave=wave, action="open", actor=None)
    # Fixed, so that two builds on one day with one seed hold the same data: the eve of the
    # survey.
    wave.created_at = (datetime(2025, 6, 11, 9, 0, tzinfo=JAKARTA) + shift).astimezone(UTC)
    session.add(wave)
    positions = [
        element.position
        for element in queries.elements(session, questionnaire_id=wave.questionnaire_id)
    ]
    echo(f"Writing {len(data.responses)} responses ...")

    def stored_rows() -> Iterator[dict[str, Any]]:
        """Yield the column values of each simulated response for this wave."""
        for i, row in enumerate(data.responses):
            values = {key: value for key, value in row.items() if key not in ("opd", "answers")}
            values.update(wave_id=wave.id, opd_id=opd_ids[row["opd"]])
            place = UNIT_CYCLE[i % len(UNIT_CYCLE)]
            at = unit_ids.get(row["opd"])
            # Every row has the same keys (one bulk insert takes its columns from the first).
            values["unit_id"] = None if at is None or place is None else at[place]
            values["submitted_at"] = row["submitted_at"] + shift
            values.update(
                {f"a{pos}": answer for pos, answer in zip(positions, row["answers"], strict=True)}
            )
            yield values

    submissions.insert_responses(session, rows=stored_rows())
    session.commit()
    return wave, data


# Accounts to explore the workspace with: (username, role, OPD slug). Their passwords are new
# random ones at every build, printed once by ``ikm demo``; the demo refuses production.
DEMO_ACCOUNTS: tuple[tuple[str, str, str | None], ...] = (
    ("demo-admin", "admin", None),
    ("demo-evaluator", "evaluator", None),
    ("demo-kepala-bpbd", "opd-head", "bpbd"),
    ("demo-pencacah", "enumerator", None),  # may interview for every OPD of the demo wave
)


def write_demo_accounts(session: Session) -> list[tuple[str, str, str]]:
    """Create the demo accounts, or give existing ones new passwords; return name, role, password.

    An existing account keeps its role: an operator may have changed it on purpose.
    """
    import secrets

    from survey.core import accounts

    made = []
    for username, role, opd_slug in DEMO_ACCOUNTS:
        password = secrets.token_urlsafe(12)
        user = accounts.get_user(session, username=username)
        if user is None:
            accounts.create_user(
                session, username=username, password=password, role=role, opd_slug=opd_slug
            )
        else:
            accounts.set_password(session, username=username, password=password)
            role = user.role
        made.append((username, role, password))
    _grant_demo_enumerator(session)
    return made


def _grant_demo_enumerator(session: Session) -> None:
    """Let the demo enumerator interview for every OPD of the demo wave (once; audited)."""
    from survey.core import accounts, enumerators

    wave = queries.get_wave(session, slug=DEMO_WAVE_SLUG)
    user = accounts.get_user(session, username="demo-pencacah")
    if wave is None or user is None or user.role != "enumerator":
        return  # an operator changed the account's role: leave it alone
    if wave.status not in enumerators.GRANTABLE_STATUSES:
        return  # the demo wave is closed or published: nothing left to interview for
    held = enumerators.list_scopes(session, wave=wave)
    if not any(row.username == user.username for row in held):
        enumerators.grant_scope(
            session, wave=wave, username=user.username, opd_slug=None, actor=None
        )
