"""Data out: the staff exports of a wave (CSV, XLSX, JSON) and the open-data package.

Staff exports carry the counted responses in the canonical columns followed by each answer's
evidence (``EVIDENCE_COLUMNS``: channel, enrolled kiosk, verified code, seconds, uniform
answers, repeat device, burst, outside service hours, and the network as the stored keyed hash,
never an address; rows from before the evidence existed give the defaults) and, in XLSX and
JSON, the scores; no submission ids or secrets. ``ikm import`` reads such a file back and
leaves the evidence out. Formulas are neutralised where a spreadsheet would run them.

The open-data ZIP of a published wave holds the responses without free text or evidence, ages
in bands, dates only, made k-anonymous (``survey.core.kanon``: every combination of OPD, date,
sex, age band, education and occupation in at least ``K_ANONYMITY`` rows, by generalising and
suppressing), the scores and a README of every column and of what was generalised; the same
data always give the same bytes.
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlmodel import Session

from survey.core import queries
from survey.core.evidence import Evidence
from survey.core.imports import answer_positions, refused
from survey.core.kanon import (
    FIELDS,
    HIDDEN,
    K_ANONYMITY,
    PERIOD,
    Anonymised,
    Profile,
    anonymise,
)
from survey.core.models import Questionnaire, Wave
from survey.core.notapplicable import EXPORT_VALUE, by_code, export_value
from survey.core.responsefile import (
    EVIDENCE_COLUMNS,
    ExportRecord,
    canonical_columns,
    record_cells,
    write_rows,
)

EXPORT_FORMATS = ("csv", "xlsx", "json")
OPEN_DATA_MIN_GROUP = K_ANONYMITY  # rows per combination of quasi-identifiers (kanon)
OPEN_DATA_LICENCE = "CC BY 4.0"


def question_codes(session: Session, *, wave: Wave) -> list[str]:
    """Return the wave's question codes in questionnaire order."""
    return [e.code for e in queries.elements(session, questionnaire_id=wave.questionnaire_id)]


def export_records(session: Session, *, wave: Wave) -> Iterator[ExportRecord]:
    """Yield the wave's counted responses as export records (no ids, no hashes)."""
    columns = [f"a{position}" for position in answer_positions(session, wave=wave)]
    for row in queries.counted_responses(session, wave=wave):
        yield _export_record(row, columns)


def _export_record(row: Any, columns: Sequence[str]) -> ExportRecord:
    """Return the export record of one counted-responses row."""
    return ExportRecord(
        opd=row.opd_slug,
        submitted_at=row.submitted_at,
        answers=tuple(row._mapping[column] for column in columns),
        sex=row.sex,
        age=row.age,
        education=row.education,
        occupation=row.occupation,
        service=row.service,
        comment=row.comment,
    )


class StaffRecord(NamedTuple):
    """One counted response of a staff export: the canonical record and its evidence."""

    record: ExportRecord
    evidence: Evidence


def staff_columns(question_codes: Sequence[str]) -> list[str]:
    """Return the header of a staff export: the canonical columns, then the evidence."""
    return [*canonical_columns(question_codes), *EVIDENCE_COLUMNS]


def evidence_values(evidence: Evidence) -> list[Any]:
    """Return the evidence in ``EVIDENCE_COLUMNS`` order (yes/no signals as true/false)."""
    return list(evidence.values())


def staff_cells(row: StaffRecord) -> list[Any]:
    """Return a staff record's cells for CSV and XLSX (yes/no signals as 1 and 0)."""
    signals = [int(v) if isinstance(v, bool) else v for v in evidence_values(row.evidence)]
    return record_cells(row.record) + signals


def staff_object(question_codes: Sequence[str], row: StaffRecord) -> dict[str, Any]:
    """Return a staff record as a JSON object (yes/no signals as true/false)."""
    values = record_cells(row.record) + evidence_values(row.evidence)
    return dict(zip(staff_columns(question_codes), values, strict=True))


def staff_records(session: Session, *, wave: Wave) -> Iterator[StaffRecord]:
    """Yield the wave's counted responses with their evidence (no submission ids)."""
    columns = [f"a{position}" for position in answer_positions(session, wave=wave)]
    for row in queries.counted_responses(session, wave=wave):
        yield StaffRecord(_export_record(row, columns), Evidence.of(row))


def write_staff_csv(
    stream: TextIO, question_codes: Sequence[str], rows: Iterable[StaffRecord], *, safe: bool
) -> int:
    """Write a staff CSV (header and rows) to ``stream``; return the row count.

    ``safe`` puts a quote before text a spreadsheet would run as a formula (see
    ``responsefile.write_csv``); without it free text is written as stored.
    """
    cells = (staff_cells(row) for row in rows)
    return write_rows(stream, staff_columns(question_codes), cells, safe=safe)


def score_rows(session: Session, *, wave: Wave) -> list[dict[str, Any]]:
    """Return the wave's score rows (as 'ikm score --format json'), none if it cannot score."""
    from survey.core.scores import ScoreError, score_wave

    try:
        return score_wave(session, wave=wave, wave_tests=False).rows()
    except ScoreError:
        return []


def score_table(rows: list[dict[str, Any]]) -> tuple[list[str], list[list[Any]]]:
    """Flatten score rows as 'ikm score --format csv' does: element figures as columns."""
    if not rows:
        return ["opd"], []
    codes = list(rows[0]["elements"])
    head = [key for key in rows[0] if key != "elements"]
    parts = ("nrr", "ci_low", "ci_high", "n")
    table = [
        [row[key] for key in head]
        + [row["elements"][code][part] for code in codes for part in parts]
        for row in rows
    ]
    return head + [f"{code}_{part}" for code in codes for part in parts], table


def wave_object(wave: Wave, codes: list[str], count: int) -> dict[str, Any]:
    """Return the wave's public description for the JSON export."""
    return {
        "slug": wave.slug,
        "title": wave.title,
        "evaluator": wave.evaluator,
        "period_start": wave.period_start.isoformat() if wave.period_start else None,
        "period_end": wave.period_end.isoformat() if wave.period_end else None,
        "status": wave.status,
        "simulated": wave.simulated,
        "question_codes": codes,
        "columns": staff_columns(codes),
        "counted": count,
    }


def export_csv(session: Session, *, wave: Wave, safe: bool = True) -> tuple[bytes, int]:
    """Return the canonical CSV of the counted responses (UTF-8) and its row count."""
    buffer = io.StringIO(newline="")
    codes = question_codes(session, wave=wave)
    count = write_staff_csv(buffer, codes, staff_records(session, wave=wave), safe=safe)
    return buffer.getvalue().encode("utf-8"), count


def export_xlsx(session: Session, *, wave: Wave) -> tuple[bytes, int]:
    """Return the workbook (sheets 'responses' and 'scores', neutralised) and its row count."""
    from survey.core.spreadsheet import xlsx_bytes

    codes = question_codes(session, wave=wave)
    cells = [staff_cells(row) for row in staff_records(session, wave=wave)]
    head, table = score_table(score_rows(session, wave=wave))
    data = xlsx_bytes([("responses", staff_columns(codes), cells), ("scores", head, table)])
    return data, len(cells)


def export_json(session: Session, *, wave: Wave) -> tuple[bytes, int]:
    """Return the JSON document {"wave", "responses", "scores"} (text as stored), its count."""
    codes = question_codes(session, wave=wave)
    responses = [staff_object(codes, row) for row in staff_records(session, wave=wave)]
    document = {
        "wave": wave_object(wave, codes, len(responses)),
        "responses": responses,
        "scores": score_rows(session, wave=wave),
    }
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    return text.encode("utf-8"), len(responses)


EXPORT_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "json": "application/json",
}


def export_file(session: Session, *, wave: Wave, fmt: str) -> tuple[bytes, int]:
    """Return a web export (CSV always formula-safe) and its row count."""
    if fmt == "csv":
        return export_csv(session, wave=wave, safe=True)
    if fmt == "xlsx":
        return export_xlsx(session, wave=wave)
    if fmt == "json":
        return export_json(session, wave=wave)
    raise refused("export-format-unknown", value=fmt, formats=", ".join(EXPORT_FORMATS))


# --- Open data --------------------------------------------------------------------------------

OPEN_RESPONSE_COLUMNS = ("opd", "submitted_at")
OPEN_RESPONDENT_COLUMNS = ("sex", "age_band", "education", "occupation")
# Column descriptions of scores.csv: (Bahasa Indonesia, English). Other columns (the element
# figures) are described by their pattern.
SCORE_COLUMNS: dict[str, tuple[str, str]] = {
    "opd": ("slug OPD", "OPD slug"),
    "name": ("nama OPD", "OPD name"),
    "n": ("jumlah respons yang dihitung", "number of counted responses"),
    "flagged": ("respons ditandai (tidak dihitung)", "flagged responses (not counted)"),
    "ikm": ("IKM pada skala 1–4", "IKM on the 1–4 scale"),
    "ikm_converted": ("IKM konversi (25–100)", "converted IKM (25–100)"),
    "ci_low": ("batas bawah interval 95% (25–100)", "lower bound of the 95% interval (25–100)"),
    "ci_high": ("batas atas interval 95% (25–100)", "upper bound of the 95% interval (25–100)"),
    "ci_method": ("metode interval", "interval method"),
    "unreliable": ("sampel di bawah 15 (kurang andal)", "sample under 15 (unreliable)"),
    "category": ("huruf kategori mutu", "quality category letter"),
    "category_label": ("nama kategori (Indonesia)", "category name (Indonesian)"),
    "category_label_en": ("nama kategori (Inggris)", "category name (English)"),
    "crosses_boundary": (
        "interval melewati batas kategori",
        "the interval crosses a category boundary",
    ),
    "rank": ("peringkat (1 = terbaik)", "rank (1 = best)"),
    "rank_ci_low": (
        "peringkat terbaik dalam himpunan kepercayaan 95% serentak",
        "best rank of the simultaneous 95% confidence set",
    ),
    "rank_ci_high": (
        "peringkat terburuk dalam himpunan kepercayaan 95% serentak",
        "worst rank of the simultaneous 95% confidence set",
    ),
    "rank_marginal_low": (
        "peringkat terbaik dalam himpunan 95% marginal (berlaku untuk satu OPD saja; "
        "halaman dan laporan memakai rank_ci_low)",
        "best rank of the marginal 95% set (holds for one OPD alone; pages and reports use "
        "rank_ci_low)",
    ),
    "rank_marginal_high": (
        "peringkat terburuk dalam himpunan 95% marginal (berlaku untuk satu OPD saja; "
        "halaman dan laporan memakai rank_ci_high)",
        "worst rank of the marginal 95% set (holds for one OPD alone; pages and reports use "
        "rank_ci_high)",
    ),
    "in_top_set": ("mungkin termasuk K terbaik", "may be among the best K"),
    "in_bottom_set": ("mungkin termasuk K terburuk", "may be among the worst K"),
    "funnel_95": (
        "posisi terhadap batas corong 95% per OPD, tanpa koreksi untuk banyaknya OPD "
        "(above, below, inside)",
        "position against the per-OPD 95% funnel limits, not corrected for the number of "
        "OPDs (above, below, inside)",
    ),
    "funnel_998": (
        "posisi terhadap batas corong 99,8% (above, below, inside)",
        "position against the 99.8% funnel limits (above, below, inside)",
    ),
    "shrunken": ("IKM empirical Bayes (1–4)", "empirical-Bayes IKM (1–4)"),
    "ranked": (
        "diberi peringkat (false: belum cukup data, respons di bawah minimum gelombang; "
        "tanpa peringkat dan kategori)",
        "ranked (false: not enough data, responses below the wave's minimum; no rank and "
        "no category)",
    ),
}


def _csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """Return CSV text with LF line ends, formula-like text neutralised, None empty."""
    from survey.core.spreadsheet import neutralise

    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    for row in rows:
        writer.writerow(["" if value is None else neutralise(value) for value in row])
    return buffer.getvalue()


def _open_responses(
    session: Session, *, wave: Wave, zone: ZoneInfo
) -> tuple[list[str], list[list[Any]], Anonymised]:
    """Return the header and sorted rows of responses.csv, made k-anonymous (survey.core.kanon)."""
    from reports.model import age_band

    codes = question_codes(session, wave=wave)
    records = list(export_records(session, wave=wave))
    profiles: list[Profile] = []
    for record in records:
        submitted = record.submitted_at
        if submitted.tzinfo is None:
            submitted = submitted.replace(tzinfo=UTC)
        band = age_band(record.age) if record.age is not None else None
        day = submitted.astimezone(zone).date().isoformat()
        profile = (record.sex, band, record.education, record.occupation)
        profiles.append(Profile(record.opd, day, *profile))
    safe = anonymise(profiles, k=K_ANONYMITY)
    rows: list[list[Any]] = []
    for record, row in zip(records, safe.rows, strict=True):
        if row is not None:
            answers = (export_value(answer) for answer in record.answers)
            rows.append([row.opd, row.date, *answers, *row[2:]])
    # Sorted on the values, so that the order says nothing of when each row was stored.
    rows.sort(key=lambda row: tuple("" if v is None else str(v) for v in row))
    header = [*OPEN_RESPONSE_COLUMNS, *codes, *OPEN_RESPONDENT_COLUMNS]
    return header, rows, safe


def _readme(
    wave: Wave,
    *,
    codes: list[tuple[str, str, str]],
    score_header: list[str],
    counted: int,
    flagged: int,
    opds: int,
    safe: Anonymised,
    taken: str,
    fingerprint: str | None,
    scale_points: int = 4,
    not_applicable: Mapping[str, tuple[str, str]] | None = None,
) -> str:
    """Return README.md of the open-data package, in Bahasa Indonesia and English.

    The scale "1–4" in the column texts becomes the questionnaire's "1–m"; on m != 4 points
    a line gives the conversion (scoring.schemes.converted).
    """
    period = " – ".join(d.isoformat() for d in (wave.period_start, wave.period_end) if d) or "–"
    lines = [
        f"# Data terbuka / Open data: {wave.title}",
        "",
        f"- Gelombang / Wave: `{wave.slug}` — {wave.title}",
        f"- Penyelenggara / Evaluator: {wave.evaluator or '–'}",
        f"- Periode / Period: {period}",
        f"- Data diambil / Data taken: {taken} (saat diterbitkan / when published)",
        f"- Respons dihitung / Counted responses: {counted}",
        f"- Respons ditandai, tidak disertakan / Flagged responses, left out: {flagged}",
        f"- OPD: {opds}",
        f"- Sidik data / Data fingerprint: {fingerprint or '–'}",
        f"- Lisensi / Licence: {OPEN_DATA_LICENCE} (https://creativecommons.org/licenses/by/4.0/)",
    ]
    if wave.simulated:
        lines.append("- **Data simulasi (demo) / Simulated data (demo)**")
    lines += [
        "",
        "Berkas CSV berkodekan UTF-8, dipisahkan koma; teks yang diawali = + - @ diberi tanda "
        "kutip tunggal di depannya agar tidak dijalankan sebagai rumus oleh program lembar "
        "kerja. / CSV files are UTF-8, comma-separated; text starting with = + - @ has a "
        "single quote put before it so that spreadsheet programs do not run it as a formula.",
        "",
        "## responses.csv",
        "",
        "Satu baris per responden yang dihitung (kecuali yang dikeluarkan, lihat di bawah), "
        "diurutkan menurut nilainya; tanpa komentar, tanpa jenis layanan, tanpa pengenal apa "
        "pun. / One row per counted respondent (but those left out, see below), sorted by "
        "value; no comments, no service, no identifiers of any kind.",
        "",
        "| kolom / column | arti | meaning |",
        "| --- | --- | --- |",
        f"| `opd` | slug OPD (`{HIDDEN}`: OPD kecil, lihat di bawah) | OPD slug (`{HIDDEN}`: "
        "a small OPD, see below) |",
        "| `submitted_at` | tanggal pengisian (Asia/Jakarta, YYYY-MM-DD), atau bulannya "
        f"(YYYY-MM), atau `{PERIOD}` (dalam periode gelombang) | date answered (Asia/Jakarta, "
        f"YYYY-MM-DD), or its month (YYYY-MM), or `{PERIOD}` (within the wave's period) |",
    ]
    offered = not_applicable or {}
    for code, name_id, name_en in codes:
        na_id = na_en = ""
        if code in offered:
            label_id, label_en = offered[code]
            na_id = f"; `{EXPORT_VALUE}`: {label_id}, tidak diberi skor"
            na_en = f"; `{EXPORT_VALUE}`: {label_en}, not scored"
        lines.append(
            f"| `{code}` | jawaban unsur {name_id} (1–4, kosong: tidak dijawab{na_id}) | answer "
            f"to element {name_en} (1–4, empty: not answered{na_en}) |"
        )
    lines += [
        "| `sex` | jenis kelamin (L/P) | sex (L = male, P = female) |",
        "| `age_band` | kelompok umur, atau kelompok yang lebih lebar (< 35, 35–54, ≥ 55; "
        "atau < 35, ≥ 35) | age band, or a wider band (< 35, 35–54, ≥ 55; or < 35, ≥ 35) |",
        "| `education` | pendidikan (SD … S3), atau kelas yang lebih kasar (SD–SMP, SMA, "
        "D1–S3; atau SD–SMA, D1–S3) | education (SD … S3), or a coarser class (SD–SMP, SMA, "
        "D1–S3; or SD–SMA, D1–S3) |",
        "| `occupation` | pekerjaan, atau kelas yang lebih kasar (PNS/TNI/POLRI, "
        "Swasta/Wirausaha, Lainnya; atau PNS/TNI/POLRI, bukan PNS/TNI/POLRI) | occupation, "
        "or a coarser class (PNS/TNI/POLRI, Swasta/Wirausaha, Lainnya; or PNS/TNI/POLRI, "
        "bukan PNS/TNI/POLRI = not civil servant, military or police) |",
        "",
        *_privacy_lines(safe),
        "",
        "## scores.csv, scores.json",
        "",
        "Skor tiap OPD seperti `ikm score` (interval 95% berklaster responden, himpunan "
        "peringkat serentak; seed 0). scores.json memuat objek yang sama dengan `elements` "
        "bersarang. / Each OPD's scores as `ikm score` gives them (respondent-clustered 95% "
        "intervals, simultaneous rank sets; seed 0). scores.json holds the same objects with "
        "`elements` nested.",
        "",
        f"OPD dengan kurang dari {wave.min_rank_n} respons dihitung diberi skor tetapi tidak "
        f"diberi peringkat atau kategori (`ranked` false: belum cukup data). / OPDs with fewer "
        f"than {wave.min_rank_n} counted responses are scored but not ranked and given no "
        f"category (`ranked` false: not enough data).",
        "",
        "| kolom / column | arti | meaning |",
        "| --- | --- | --- |",
    ]
    parts = {
        "nrr": ("nilai rata-rata unsur (1–4)", "element mean (1–4)"),
        "ci_low": ("batas bawah interval 95% (1–4)", "lower bound of the 95% interval (1–4)"),
        "ci_high": ("batas atas interval 95% (1–4)", "upper bound of the 95% interval (1–4)"),
        "n": ("jumlah jawaban unsur", "answers to the element"),
    }
    for name in score_header:
        text_id, text_en = SCORE_COLUMNS.get(name, ("lihat `ikm score`", "see `ikm score`"))
        for part, (part_id, part_en) in parts.items():
            if name not in SCORE_COLUMNS and name.endswith(f"_{part}"):
                code = name[: -len(part) - 1]
                text_id, text_en = f"unsur {code}: {part_id}", f"element {code}: {part_en}"
                break
        lines.append(f"| `{name}` | {text_id} | {text_en} |")
    if scale_points != 4:
        m = scale_points
        lines += [
            "",
            f"Skala jawaban 1–{m}; nilai konversi = 25 + 75 × (IKM − 1) ÷ ({m} − 1), dan "
            "kategori ditentukan dari nilai konversi. / Answers on a 1–{m} scale; converted "
            f"score = 25 + 75 × (IKM − 1) ÷ ({m} − 1), and the category follows the converted "
            "score.".replace("{m}", str(m)),
        ]
        return "\n".join(lines).replace("1–4", f"1–{m}") + "\n"
    return "\n".join(lines) + "\n"


def _privacy_lines(safe: Anonymised) -> list[str]:
    """Return the README's section on k-anonymity: what was generalised or suppressed, counts."""
    k = safe.k
    names = {
        "date": ("tanggal → bulan", "date → month"),
        "age_band": ("kelompok umur → kelompok lebar", "age band → wider band"),
        "education": ("pendidikan → kelas kasar", "education → coarser class"),
        "occupation": ("pekerjaan → kelas kasar", "occupation → coarser class"),
    }
    lines = [
        "## Perlindungan responden / Protecting respondents",
        "",
        f"Setiap kombinasi `opd`, `submitted_at`, `sex`, `age_band`, `education` dan "
        f"`occupation` di responses.csv muncul pada sedikitnya {k} baris (k-anonimitas, "
        f"k = {k}), agar tidak ada responden yang dapat dikenali dari profilnya. Untuk itu "
        f"nilai dibuat lebih kasar atau disembunyikan (`{HIDDEN}`; tanggal: `{PERIOD}`); "
        "jawaban U… tidak diubah, sehingga skor tiap OPD dapat dihitung ulang. / Every "
        "combination of `opd`, `submitted_at`, `sex`, `age_band`, `education` and "
        f"`occupation` in responses.csv appears in at least {k} rows (k-anonymity, k = {k}), "
        "so that no respondent can be singled out by their profile. To that end values were "
        f"made coarser or hidden (`{HIDDEN}`; dates: `{PERIOD}`); the answers U… are "
        "unchanged, so each OPD's scores can be recomputed.",
        "",
        f"- Baris dalam berkas / Rows in the file: {safe.kept}",
        f"- Bidang profil yang dikasarkan atau disembunyikan / Profile fields made coarser or "
        f"hidden: {safe.share_changed():.1%} ({safe.kept} × 5); disembunyikan / hidden: "
        f"{safe.share_hidden():.1%}",
    ]
    for name in ("date", "age_band", "education", "occupation"):
        if safe.generalised[name]:
            label_id, label_en = names[name]
            lines.append(f"- {label_id} / {label_en}: {safe.generalised[name]}")
    for name in FIELDS:
        if safe.hidden[name]:
            lines.append(f"- `{name}` disembunyikan / hidden: {safe.hidden[name]}")
    lines += [
        f"- Baris dengan seluruh profil disembunyikan karena kelompoknya di bawah {k} / Rows "
        f"with their whole profile hidden because their group was under {k}: {safe.suppressed}",
        f"- Baris OPD dengan kurang dari {k} respons, dengan `opd` = `{HIDDEN}` / Rows of OPDs "
        f"with fewer than {k} responses, with `opd` = `{HIDDEN}`: {safe.pooled}",
        f"- Baris OPD dengan kurang dari {k} respons yang dikeluarkan (gabungannya pun di bawah "
        f"{k}; skor OPD tersebut tetap ada di scores.csv) / Rows of OPDs with fewer than {k} "
        f"responses left out (even pooled they were under {k}; those OPDs' scores are still in "
        f"scores.csv): {safe.dropped}",
    ]
    return lines


def _scale_points(session: Session, wave: Wave) -> int:
    """The wave's questionnaire's number of answer values."""
    questionnaire = session.get(Questionnaire, wave.questionnaire_id)
    return int(questionnaire.scale_points) if questionnaire is not None else 4


def open_data_zip(
    session: Session,
    *,
    wave: Wave,
    timezone: str = "Asia/Jakarta",
    taken_at: datetime | None = None,
) -> bytes:
    """Return the open-data ZIP of a published wave; the same data give the same bytes.

    ``taken_at`` is the "data taken" time it states (a publication's); the first publication
    time by default.
    """
    from survey.core.scores import ScoreError, score_wave, to_csv, to_json

    if wave.status != "published":
        raise refused("export-not-published", wave=wave.slug)
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise refused("import-timezone-unknown", value=timezone) from None
    header, rows, safe = _open_responses(session, wave=wave, zone=zone)
    try:
        report = score_wave(session, wave=wave, wave_tests=False)
        scores_csv, scores_json = to_csv(report), to_json(report) + "\n"
        fingerprint: str | None = report.fingerprint
        score_header = next(csv.reader(io.StringIO(scores_csv)))
    except ScoreError:
        scores_csv, scores_json, fingerprint, score_header = "opd\n", "[]\n", None, ["opd"]
    # Score text is numbers and names; OPD names could still start like a formula.
    scores_csv = _csv_text(score_header, list(csv.reader(io.StringIO(scores_csv)))[1:])
    published = taken_at or wave.published_at or wave.created_at
    if published.tzinfo is None:
        published = published.replace(tzinfo=UTC)
    local = published.astimezone(zone)
    elements = queries.elements(session, questionnaire_id=wave.questionnaire_id)
    counts = queries.response_counts(session, wave=wave)
    questionnaire = queries.get_questionnaire(session, questionnaire_id=wave.questionnaire_id)
    assert questionnaire is not None  # a foreign key guarantees it
    readme = _readme(
        wave,
        codes=[(e.code, e.name_id, e.name_en) for e in elements],
        not_applicable=by_code(elements, questionnaire),
        score_header=score_header,
        counted=len(safe.rows),
        flagged=counts.get("flagged", 0),
        opds=len(queries.wave_opds(session, wave=wave)),
        safe=safe,
        taken=local.isoformat(timespec="seconds"),
        fingerprint=fingerprint,
        scale_points=_scale_points(session, wave),
    )
    files = [
        ("README.md", readme),
        ("responses.csv", _csv_text(header, rows)),
        ("scores.csv", scores_csv),
        ("scores.json", scores_json),
    ]
    # Fixed entry times (the publication time, local) and attributes: byte-identical output.
    stamp = max(local.replace(tzinfo=None), datetime(1980, 1, 1)).timetuple()[:6]
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, text in files:
            info = zipfile.ZipInfo(f"{wave.slug}/{name}", date_time=stamp)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            info.create_system = 3
            archive.writestr(info, text.encode("utf-8"))
    return buffer.getvalue()
