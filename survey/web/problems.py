"""Coded problems in the page's language: one text per code of :mod:`survey.core.problems`.

The services report what they refuse as codes with parameters; this module is the only place
that turns them into sentences for pages (Bahasa Indonesia, English through the Babel
catalogue). ``tests/test_problems.py`` checks that every defined code has a text here, so no
English sentence meant for the command line can reach an Indonesian page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from flask_babel import gettext as _

from survey.core.problems import Problem
from survey.web.i18n import format_day, format_moment, format_number


def field_label(name: str) -> str:
    """Return the name of an OPD field (or import column) in the current language."""
    labels = {
        "slug": _("Slug"),
        "name": _("Nama"),
        "short_name": _("Nama singkat"),
        "service_population": _("Populasi layanan"),
        "service_hours": _("Jam layanan"),
        "service": _("Nama layanan"),
        "target": _("Target"),
    }
    return labels.get(name, name)


def column_label(name: str) -> str:
    """Return an import file's column in the current language, with its name in the file."""
    labels = {
        "sex": _("Jenis kelamin"),
        "age": _("Umur"),
        "education": _("Pendidikan"),
        "occupation": _("Pekerjaan"),
        "service": _("Layanan"),
        "comment": _("Komentar"),
    }
    if name not in labels:
        return name  # a question code (U3) or a column named as in the file
    return _("%(label)s (kolom %(column)s)", label=labels[name], column=name)


def _zxcvbn_sentences() -> dict[str, str]:
    """Return zxcvbn's feedback sentences (its fixed English set) in the current language."""
    return {
        "Straight rows of keys are easy to guess.": _(
            "Deretan tombol papan ketik yang lurus mudah ditebak."
        ),
        "Short keyboard patterns are easy to guess.": _(
            "Pola papan ketik yang pendek mudah ditebak."
        ),
        "Use a longer keyboard pattern with more turns.": _(
            "Gunakan pola papan ketik yang lebih panjang dengan lebih banyak belokan."
        ),
        'Repeats like "aaa" are easy to guess.': _('Pengulangan seperti "aaa" mudah ditebak.'),
        'Repeats like "abcabcabc" are only slightly harder to guess than "abc".': _(
            'Pengulangan seperti "abcabcabc" hanya sedikit lebih sulit ditebak daripada "abc".'
        ),
        "Avoid repeated words and characters.": _("Hindari kata dan karakter yang berulang."),
        'Sequences like "abc" or "6543" are easy to guess.': _(
            'Urutan seperti "abc" atau "6543" mudah ditebak.'
        ),
        "Avoid sequences.": _("Hindari urutan."),
        "Recent years are easy to guess.": _("Tahun-tahun terakhir mudah ditebak."),
        "Avoid recent years.": _("Hindari tahun-tahun terakhir."),
        "Avoid years that are associated with you.": _("Hindari tahun yang berkaitan dengan Anda."),
        "Dates are often easy to guess.": _("Tanggal sering mudah ditebak."),
        "Avoid dates and years that are associated with you.": _(
            "Hindari tanggal dan tahun yang berkaitan dengan Anda."
        ),
        "This is a top-10 common password.": _("Ini termasuk 10 kata sandi paling umum."),
        "This is a top-100 common password.": _("Ini termasuk 100 kata sandi paling umum."),
        "This is a very common password.": _("Ini kata sandi yang sangat umum."),
        "This is similar to a commonly used password.": _(
            "Ini mirip kata sandi yang umum dipakai."
        ),
        "A word by itself is easy to guess.": _("Satu kata saja mudah ditebak."),
        "Names and surnames by themselves are easy to guess.": _(
            "Nama dan nama keluarga saja mudah ditebak."
        ),
        "Common names and surnames are easy to guess.": _(
            "Nama dan nama keluarga yang umum mudah ditebak."
        ),
        "Use a few words, avoid common phrases.": _(
            "Gunakan beberapa kata, hindari ungkapan yang umum."
        ),
        "No need for symbols, digits, or uppercase letters.": _(
            "Tidak perlu simbol, angka atau huruf besar."
        ),
        "Add another word or two. Uncommon words are better.": _(
            "Tambahkan satu atau dua kata lagi; kata yang jarang dipakai lebih baik."
        ),
        "Capitalization doesn't help very much.": _("Huruf besar di awal tidak banyak membantu."),
        "All-uppercase is almost as easy to guess as all-lowercase.": _(
            "Huruf besar semua hampir sama mudahnya ditebak dengan huruf kecil semua."
        ),
        "Reversed words aren't much harder to guess.": _(
            "Kata yang dibalik tidak jauh lebih sulit ditebak."
        ),
        "Predictable substitutions like '@' instead of 'a' don't help very much.": _(
            "Penggantian yang mudah diduga, seperti '@' untuk 'a', tidak banyak membantu."
        ),
    }


def password_advice(warning: str, suggestions: Iterable[str]) -> str:
    """Return why a password is weak and what to do, from zxcvbn's feedback, translated.

    A sentence zxcvbn might add in a later version, unknown here, is left out rather than
    shown in English on an Indonesian page.
    """
    known = _zxcvbn_sentences()
    parts = [known[text] for text in (warning, *suggestions) if text in known]
    if not parts:
        parts = [_("Gunakan beberapa kata yang jarang dipakai.")]
    return " ".join([_("Kata sandi terlalu mudah ditebak."), *parts])


def problem_text(item: Problem) -> str:
    """Return a problem in the current language (every defined code has a text here)."""
    v = item.values
    label = field_label(item.field)
    texts = {
        "slug-invalid": lambda: _(
            "Slug hanya huruf kecil, angka dan tanda hubung tunggal (paling banyak %(n)s "
            "karakter), misalnya dinas-perhubungan; bukan %(value)s.",
            n=v.get("limit"),
            value=repr(v.get("value")),
        ),
        "slug-reserved": lambda: _(
            "Slug %(value)s dipakai halaman; pilih slug lain.", value=repr(v.get("value"))
        ),
        "slug-taken": lambda: _(
            "Slug %(value)s sudah dipakai OPD lain.", value=repr(v.get("value"))
        ),
        "required": lambda: _("%(field)s wajib diisi.", field=label),
        "too-long": lambda: _(
            "%(field)s berisi %(length)s karakter (paling banyak %(limit)s).",
            field=label,
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "nul": lambda: _("%(field)s berisi karakter NUL.", field=label),
        "hidden-character": lambda: _(
            "%(field)s berisi karakter kendali atau tak terlihat %(character)s; ketik ulang "
            "tanpa karakter itu.",
            field=label,
            character=v.get("character"),
        ),
        "population": lambda: _(
            "Populasi layanan harus bilangan bulat 1 sampai %(limit)s atau dikosongkan; "
            "bukan %(value)s.",
            limit=format_number(v.get("limit"), 0),
            value=repr(v.get("value")),
        ),
        "service-hours": lambda: _(
            "Jam layanan ditulis jam buka dan tutup JJ:MM-JJ:MM, misalnya 08:00-15:30, atau "
            "dikosongkan; bukan %(value)s.",
            value=repr(v.get("value")),
        ),
        "name-taken": lambda: _(
            "Nama %(value)s sudah dipakai OPD %(other)s.",
            value=repr(v.get("value")),
            other=v.get("other"),
        ),
        "duplicate-slug": lambda: _(
            "Slug %(value)s juga ada di baris %(other)s.",
            value=repr(v.get("value")),
            other=v.get("other"),
        ),
        "duplicate-name": lambda: _(
            "Nama %(value)s juga ada di baris %(other)s.",
            value=repr(v.get("value")),
            other=v.get("other"),
        ),
        "extra-cells": lambda: _(
            "Baris ini berisi %(count)s sel, padahal judul kolom hanya %(columns)s.",
            count=v.get("count"),
            columns=v.get("columns"),
        ),
        "not-utf8": lambda: _('Berkas bukan teks UTF-8; simpan sebagai "CSV UTF-8".'),
        "not-csv": lambda: _(
            "Berkas tidak dapat dibaca sebagai CSV: %(detail)s", detail=v.get("detail")
        ),
        "empty-file": lambda: _("Berkas kosong."),
        "missing-column": lambda: _(
            "Kolom wajib %(value)s tidak ada (kolom: %(columns)s).",
            value=repr(v.get("value")),
            columns=v.get("columns"),
        ),
        "unknown-column": lambda: _(
            "Kolom %(value)s tidak dikenal (gunakan: %(columns)s).",
            value=repr(v.get("value")),
            columns=v.get("columns"),
        ),
        "duplicate-column": lambda: _(
            "Kolom %(value)s muncul dua kali.", value=repr(v.get("value"))
        ),
        "no-rows": lambda: _("Berkas hanya berisi judul kolom, tanpa baris OPD."),
        "too-large": lambda: _("Berkas terlalu besar: paling besar 2 MB."),
        "changed-meanwhile": lambda: _(
            "Data OPD baru saja diubah orang lain; muat ulang halaman lalu coba lagi."
        ),
        "service-taken": lambda: _(
            "Layanan %(value)s sudah ada dalam daftar.", value=repr(v.get("value"))
        ),
        "service-unknown": lambda: _(
            "Layanan %(value)s tidak ada dalam daftar.", value=repr(v.get("value"))
        ),
        "unit-slug-taken": lambda: _(
            "OPD ini sudah punya unit dengan slug %(value)s.", value=repr(v.get("value"))
        ),
        "unit-name-taken": lambda: _(
            "OPD ini sudah punya unit bernama %(value)s.", value=repr(v.get("value"))
        ),
        "unit-unknown": lambda: _(
            "OPD ini tidak punya unit %(value)s.", value=repr(v.get("value"))
        ),
        "unit-target": lambda: _(
            "Target %(value)s bukan bilangan bulat dari 1 sampai %(limit)s.",
            value=repr(v.get("value")),
            limit=format_number(v.get("limit"), 0),
        ),
        "unit-wave-opd": lambda: _("Gelombang ini tidak mencakup OPD unit ini."),
        "scheme-name-required": lambda: _("Isi nama skema kategori."),
        "scheme-name-too-long": lambda: _("Nama skema paling banyak 200 karakter."),
        "category-code": lambda: _("Kode kategori wajib diisi (paling banyak 8 karakter)."),
        "category-code-twice": lambda: _(
            "Kode kategori %(code)s dipakai dua kali.", code=v.get("category")
        ),
        "category-labels": lambda: _(
            "Isi label kategori dalam kedua bahasa (paling banyak 100 karakter)."
        ),
        "category-bound": lambda: _(
            "Batas bawah harus berupa angka antara 1 dan %(scale)s (skala jawaban kuesioner).",
            scale=v.get("scale", 4),
        ),
        "category-order": lambda: _(
            "Batas bawah harus lebih kecil dari batas kategori di atasnya (urut menurun)."
        ),
        "categories-too-few": lambda: _("Skema kategori memerlukan paling sedikit dua kategori."),
        "category-lowest-bound": lambda: _(
            "Batas bawah kategori terendah harus 1,00 agar setiap skor mendapat kategori."
        ),
        "wave-opd-unknown": lambda: _(
            "OPD %(slug)s tidak dikenal atau tidak aktif.", slug=v.get("slug")
        ),
        "wave-opds-none": lambda: _("Pilih paling sedikit satu OPD."),
        "questionnaire-unknown": lambda: _("Kuesioner tidak dikenal."),
        "scheme-unknown": lambda: _("Skema kategori tidak dikenal."),
        "wave-slug-required": lambda: _("Isi slug gelombang."),
        "wave-slug-invalid": lambda: _(
            "Slug hanya boleh berisi huruf kecil, angka, dan tanda hubung tunggal "
            "(paling banyak 64 karakter), misalnya evaluasi-2026."
        ),
        "wave-slug-reserved": lambda: _(
            "Slug %(slug)s dipakai oleh aplikasi; pilih slug lain.", slug=v.get("value")
        ),
        "wave-slug-taken": lambda: _(
            "Slug %(slug)s sudah dipakai gelombang lain.", slug=v.get("value")
        ),
        "wave-published": lambda: _("Gelombang yang sudah diterbitkan tidak dapat diubah."),
        "questionnaire-locked": lambda: _(
            "Kuesioner hanya dapat diganti selama gelombang masih draf dan belum ada respons."
        ),
        "wave-opds-answered": lambda: _(
            "OPD berikut sudah memiliki respons pada gelombang ini dan tidak dapat dikeluarkan: "
            "%(names)s.",
            names=v.get("names"),
        ),
        "wave-action-unknown": lambda: _("Tindakan tidak dikenal."),
        "wave-action-refused": lambda: _(
            "Tindakan ini tidak berlaku untuk gelombang dengan status saat ini."
        ),
        "publication-note-required": lambda: _(
            "Versi %(version)s mengoreksi versi yang sudah terbit: tuliskan catatan perubahan "
            "untuk publik.",
            version=v.get("version"),
        ),
        "publication-note-too-long": lambda: _(
            "Catatan perubahan terdiri atas %(length)s karakter (paling banyak %(limit)s).",
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "revision-reason-required": lambda: _(
            "Tuliskan alasan koreksi gelombang yang sudah terbit."
        ),
        "revision-reason-too-long": lambda: _(
            "Alasan koreksi terdiri atas %(length)s karakter (paling banyak %(limit)s).",
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "publication-none": lambda: _(
            "Gelombang %(wave)s belum memiliki publikasi untuk disiapkan.", wave=v.get("wave")
        ),
        "publication-ready": lambda: _(
            "Versi %(version)s gelombang %(wave)s sudah lengkap.",
            version=v.get("version"),
            wave=v.get("wave"),
        ),
        "wave-period-over": lambda: _(
            "Periode gelombang ini berakhir %(end)s. Ubah tanggal selesainya sebelum membukanya "
            "lagi.",
            end=v.get("end"),
        ),
        "score-scheme-unknown": lambda: _(
            "Skema kategori %(value)s tidak dikenal.", value=repr(v.get("value"))
        ),
        "score-bootstrap": lambda: _(
            "Jumlah ulangan bootstrap harus 0 atau lebih, bukan %(value)s.", value=v.get("value")
        ),
        "score-top-k": lambda: _(
            "K untuk K terbaik dan terendah paling sedikit 1, bukan %(value)s.",
            value=v.get("value"),
        ),
        "score-no-elements": lambda: _(
            "Kuesioner gelombang %(wave)s tidak memiliki unsur IKM.", wave=v.get("wave")
        ),
        "wave-title-required": lambda: _("Isi judul gelombang."),
        "wave-title-too-long": lambda: _(
            "Judul berisi %(length)s karakter (paling banyak %(limit)s).",
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "wave-evaluator-too-long": lambda: _(
            "Nama evaluator berisi %(length)s karakter (paling banyak %(limit)s).",
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "wave-period-order": lambda: _("Tanggal selesai tidak boleh sebelum tanggal mulai."),
        "wave-unknown": lambda: _("Gelombang %(value)s tidak dikenal.", value=repr(v.get("value"))),
        "builtin-missing": lambda: _(
            "Data bawaan belum dipasang; jalankan 'ikm init-db' di server."
        ),
        "demo-wave-real": lambda: _(
            "Gelombang %(value)s berisi data nyata; demo tidak akan menggantinya.",
            value=repr(v.get("value")),
        ),
        "visit-code-required": lambda: _(
            "Survei ini hanya menghitung jawaban dengan kode kunjungan. Ketik kode yang "
            "tercetak pada karcis antrean atau struk layanan Anda, lalu kirim lagi."
        ),
        "visit-code-invalid": lambda: _(
            "Kode kunjungan ini tidak berlaku untuk layanan ini, sudah kedaluwarsa atau sudah "
            "dipakai. Periksa kodenya lalu kirim lagi."
        ),
    }
    texts.update(_account_texts(v))
    texts.update(_questionnaire_texts(v))
    texts.update(_response_file_texts(v))
    texts.update(_import_texts(v))
    texts.update(_evidence_texts(v))
    texts.update(_code_texts(v))
    texts.update(_checklist_texts(v))
    texts.update(_enumerator_texts(v))
    return texts[item.code]()


def _enumerator_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of the enumerator codes (``survey.core.enumerators``)."""
    return {
        "enumerator-user-unknown": lambda: _(
            "Pengguna %(value)s tidak dikenal.", value=repr(v.get("value"))
        ),
        "enumerator-not-enumerator": lambda: _(
            "Pengguna %(value)s bukan pencacah.", value=repr(v.get("value"))
        ),
        "enumerator-opd-not-in-wave": lambda: _(
            "OPD %(opd)s tidak dicakup gelombang %(wave)s.", opd=v.get("opd"), wave=v.get("wave")
        ),
        "enumerator-wave-finished": lambda: _(
            "Gelombang %(wave)s sudah ditutup atau diterbitkan: izin pencacah hanya diberikan "
            "untuk gelombang draf atau yang sedang dibuka.",
            wave=v.get("wave"),
        ),
        "enumerator-scope-exists": lambda: _(
            "Pencacah %(value)s sudah boleh mewawancarai untuk OPD itu dalam gelombang ini.",
            value=v.get("value"),
        ),
        "enumerator-scope-unknown": lambda: _(
            "Pencacah %(value)s tidak memiliki izin itu dalam gelombang ini.",
            value=v.get("value"),
        ),
        "enumerator-scope-id-unknown": lambda: _(
            "Gelombang %(wave)s tidak memiliki izin pencacah %(value)s.",
            wave=v.get("wave"),
            value=v.get("value"),
        ),
    }


def _evidence_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of burst groups and alarms (``survey.core.flags``, ``.alarms``)."""
    return {
        "group-wave-published": lambda: _(
            "Gelombang %(wave)s sudah diterbitkan; jawabannya tidak dapat ditandai atau "
            "dipulihkan lagi.",
            wave=v.get("wave"),
        ),
        "group-action-unknown": lambda: _(
            "Tindakan kelompok %(value)s tidak dikenal (pilih tandai atau pulihkan).",
            value=repr(v.get("value")),
        ),
        "group-empty": lambda: _(
            "Tidak ada jawaban dari jaringan %(network)s untuk %(opd)s pada jam itu yang dapat "
            "diubah.",
            network=v.get("network"),
            opd=v.get("opd"),
        ),
        "alarm-not-found": lambda: _(
            "Gelombang %(wave)s tidak memiliki alarm %(value)s.",
            wave=v.get("wave"),
            value=v.get("value"),
        ),
        "alarm-already-cleared": lambda: _(
            "Alarm %(value)s sudah diselesaikan oleh %(by)s.", value=v.get("value"), by=v.get("by")
        ),
    }


def _code_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of the visit code, kiosk and verification codes."""
    return {
        "codes-wave-unknown": lambda: _(
            "Gelombang %(value)s tidak dikenal.", value=repr(v.get("value"))
        ),
        "codes-opd-unknown": lambda: _("OPD %(value)s tidak dikenal.", value=repr(v.get("value"))),
        "codes-opd-not-in-wave": lambda: _(
            "OPD %(opd)s tidak dicakup gelombang %(wave)s.", opd=v.get("opd"), wave=v.get("wave")
        ),
        "codes-wave-finished": lambda: _(
            "Gelombang %(wave)s sudah ditutup atau diterbitkan: kode kunjungan hanya dibuat "
            "untuk gelombang draf atau yang sedang dibuka.",
            wave=v.get("wave"),
        ),
        "codes-verification-off": lambda: _(
            "Gelombang %(wave)s tidak memakai kode kunjungan. Aktifkan dulu: ubah gelombang "
            "dan pilih kode kunjungan opsional atau wajib.",
            wave=v.get("wave"),
        ),
        "codes-count-range": lambda: _(
            "Jumlah kode harus dari 1 sampai %(limit)s, bukan %(value)s.",
            limit=format_number(v.get("limit"), 0),
            value=v.get("value"),
        ),
        "wave-verification-unknown": lambda: _("Pilih mati, opsional, atau wajib."),
        "wave-min-rank-n": lambda: _(
            "Minimum responden untuk peringkat harus bilangan bulat dari %(low)s sampai %(high)s.",
            low=v.get("low"),
            high=format_number(v.get("high"), 0),
        ),
        "kiosk-label-required": lambda: _("Isi label perangkat, misalnya Loket 1."),
        "kiosk-label-too-long": lambda: _(
            "Label perangkat berisi %(length)s karakter (paling banyak %(limit)s).",
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "kiosk-label-control": lambda: _(
            "Label perangkat berisi karakter kendali atau tak terlihat."
        ),
        "kiosk-opd-not-in-wave": lambda: _(
            "OPD %(opd)s tidak dicakup gelombang %(wave)s.", opd=v.get("opd"), wave=v.get("wave")
        ),
        "kiosk-wave-finished": lambda: _(
            "Gelombang %(wave)s sudah ditutup atau diterbitkan: kios baru tidak dapat didaftarkan.",
            wave=v.get("wave"),
        ),
        "kiosk-unknown": lambda: _(
            "Gelombang %(wave)s tidak memiliki kios %(value)s.",
            wave=v.get("wave"),
            value=v.get("value"),
        ),
        "kiosk-unit-unknown": lambda: _(
            "OPD %(opd)s tidak memiliki unit layanan aktif %(unit)s.",
            opd=v.get("opd"),
            unit=v.get("unit"),
        ),
    }


def _account_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of the account codes (``survey.core.accounts``)."""
    return {
        "role-unknown": lambda: _("Pilih salah satu peran."),
        "role-needs-opd": lambda: _("Pilih OPD yang dipimpin kepala OPD ini."),
        "role-no-opd": lambda: _("Hanya peran Kepala OPD yang memiliki OPD."),
        "user-opd-unknown": lambda: _("OPD ini tidak dikenal."),
        "username-required": lambda: _("Isi nama pengguna."),
        "username-invalid": lambda: _(
            "Nama pengguna 2 sampai 64 karakter: huruf, angka, '.', '_' atau '-', diawali "
            "huruf atau angka."
        ),
        "username-taken": lambda: _("Nama pengguna ini sudah dipakai."),
        "password-required": lambda: _("Isi kata sandi."),
        "password-too-short": lambda: _(
            "Kata sandi terlalu pendek: paling sedikit %(n)s karakter.", n=v.get("limit")
        ),
        "password-weak": lambda: password_advice(
            str(v.get("warning") or ""), tuple(v.get("suggestions") or ())
        ),
        "user-unknown": lambda: _("Pengguna %(value)s tidak dikenal.", value=repr(v.get("value"))),
        "user-already-active": lambda: _("Pengguna ini sudah aktif."),
        "user-already-inactive": lambda: _("Pengguna ini sudah nonaktif."),
        "admin-self-demote": lambda: _("Anda tidak dapat menurunkan peran akun Anda sendiri."),
        "admin-self-deactivate": lambda: _("Anda tidak dapat menonaktifkan akun Anda sendiri."),
        "admin-last": lambda: _(
            "Ini administrator aktif terakhir; jadikan pengguna lain administrator lebih dulu."
        ),
        "role-not-yours": lambda: _("Akun Anda tidak berhak memberi peran ini."),
    }


def _questionnaire_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of the questionnaire-file codes (the field is the place in the file)."""
    return {
        "questionnaire-file-type": lambda: _(
            "%(field)s: jenis berkas tidak didukung; simpan sebagai .yaml, .yml atau .json.",
            field=v.get("field"),
        ),
        "questionnaire-file-size": lambda: _(
            "%(field)s: %(size)s bita; paling besar %(limit)s bita.",
            field=v.get("field"),
            size=format_number(v.get("size"), 0),
            limit=format_number(v.get("limit"), 0),
        ),
        "questionnaire-not-utf8": lambda: _(
            "%(field)s: bukan teks UTF-8 (bita ke-%(offset)s).",
            field=v.get("field"),
            offset=v.get("offset"),
        ),
        "questionnaire-bad-json": lambda: _(
            "%(field)s: bukan JSON yang sah (baris %(line)s, kolom %(column)s).",
            field=v.get("field"),
            line=v.get("line"),
            column=v.get("column"),
        ),
        "questionnaire-bad-yaml": lambda: _(
            "%(field)s: bukan YAML yang sah.", field=v.get("field")
        ),
        "questionnaire-bad-yaml-at": lambda: _(
            "%(field)s: bukan YAML yang sah (baris %(line)s, kolom %(column)s).",
            field=v.get("field"),
            line=v.get("line"),
            column=v.get("column"),
        ),
        "questionnaire-yaml-alias": lambda: _(
            "%(field)s: anchor dan alias YAML (& dan *) tidak diterima (baris %(line)s, "
            "kolom %(column)s); tulis setiap nilai apa adanya.",
            field=v.get("field"),
            line=v.get("line"),
            column=v.get("column"),
        ),
        "questionnaire-not-mapping": lambda: _(
            "%(field)s: isi berkas harus berupa pemetaan dengan kunci slug, title_id, … elements.",
            field=v.get("field"),
        ),
        "questionnaire-unknown-key": lambda: _(
            "%(field)s: kunci tidak dikenal.", field=v.get("field")
        ),
        "questionnaire-slug": lambda: _(
            "%(field)s: %(value)s bukan slug: huruf kecil, angka dan tanda hubung "
            "tunggal, paling banyak %(limit)s karakter.",
            field=v.get("field"),
            value=repr(v.get("value")),
            limit=v.get("limit"),
        ),
        "questionnaire-version": lambda: _(
            "%(field)s: %(value)s; hapus kunci ini atau isi bilangan bulat 1 atau lebih.",
            field=v.get("field"),
            value=repr(v.get("value")),
        ),
        "questionnaire-text-required": lambda: _(
            "%(field)s: wajib berisi teks.", field=v.get("field")
        ),
        "questionnaire-text-too-long": lambda: _(
            "%(field)s: %(length)s karakter; paling banyak %(limit)s.",
            field=v.get("field"),
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "questionnaire-scale": lambda: _(
            "%(field)s: %(value)s; gunakan 4 atau 5.",
            field=v.get("field"),
            value=repr(v.get("value")),
        ),
        "questionnaire-elements-required": lambda: _(
            "%(field)s: wajib berupa daftar yang tidak kosong.", field=v.get("field")
        ),
        "questionnaire-elements-too-many": lambda: _(
            "%(field)s: %(count)s unsur; paling banyak %(limit)s.",
            field=v.get("field"),
            count=v.get("count"),
            limit=v.get("limit"),
        ),
        "questionnaire-no-ikm": lambda: _(
            "%(field)s: paling sedikit satu unsur harus berjenis ikm.", field=v.get("field")
        ),
        "questionnaire-element-mapping": lambda: _(
            "%(field)s: wajib berupa pemetaan dengan kunci %(keys)s.",
            field=v.get("field"),
            keys=v.get("keys"),
        ),
        "questionnaire-code-invalid": lambda: _(
            "%(field)s: %(value)s bukan kode: satu huruf, lalu paling banyak 15 "
            "huruf, angka atau _.",
            field=v.get("field"),
            value=repr(v.get("value")),
        ),
        "questionnaire-code-repeated": lambda: _(
            "%(field)s: %(value)s sama dengan %(first)s.",
            field=v.get("field"),
            value=repr(v.get("value")),
            first=v.get("first"),
        ),
        "questionnaire-kind": lambda: _(
            "%(field)s: %(value)s; gunakan salah satu dari %(kinds)s.",
            field=v.get("field"),
            value=repr(v.get("value")),
            kinds=v.get("kinds"),
        ),
        "questionnaire-labels-list": lambda: _(
            "%(field)s: wajib berupa daftar label.", field=v.get("field")
        ),
        "questionnaire-labels-count": lambda: _(
            "%(field)s: %(count)s label, padahal scale_points %(scale)s.",
            field=v.get("field"),
            count=v.get("count"),
            scale=v.get("scale"),
        ),
        "questionnaire-builtin": lambda: _(
            "%(field)s: %(value)s adalah kuesioner bawaan; pilih slug lain.",
            field=v.get("field"),
            value=repr(v.get("value")),
        ),
        "questionnaire-texts-mapping": lambda: _(
            "%(field)s: wajib berupa pemetaan dari kode bahasa (misalnya su) ke teksnya.",
            field=v.get("field"),
        ),
        "questionnaire-locale-unknown": lambda: _(
            "%(field)s: %(value)s bukan kode bahasa yang dikenal Babel (misalnya su atau jv).",
            field=v.get("field"),
            value=repr(v.get("value")),
        ),
        "questionnaire-locale-builtin": lambda: _(
            "%(field)s: bahasa Indonesia dan Inggris punya kuncinya sendiri (%(keys)s); "
            "texts untuk bahasa lain.",
            field=v.get("field"),
            keys=v.get("keys"),
        ),
        "questionnaire-locale-too-many": lambda: _(
            "%(field)s: %(count)s bahasa; paling banyak %(limit)s.",
            field=v.get("field"),
            count=v.get("count"),
            limit=v.get("limit"),
        ),
        "questionnaire-locale-texts": lambda: _(
            "%(field)s: wajib berupa pemetaan dengan sebagian dari kunci %(keys)s.",
            field=v.get("field"),
            keys=v.get("keys"),
        ),
        "questionnaire-locale-missing": lambda: _(
            "%(field)s: tidak ada teks dalam bahasa %(locale)s; setiap elemen memerlukannya, "
            "seperti %(first)s.",
            field=v.get("field"),
            locale=v.get("locale"),
            first=v.get("first"),
        ),
        "questionnaire-locale-not-applicable": lambda: _(
            "%(field)s: elemen ini tidak punya not_applicable_id untuk diterjemahkan.",
            field=v.get("field"),
        ),
    }


def _response_file_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of the response-file codes (a row problem's field is its column)."""
    return {
        "file-not-utf8": lambda: _(
            "Berkas bukan teks UTF-8 (bita tidak sah pada posisi %(offset)s); "
            'simpan sebagai "CSV UTF-8".',
            offset=v.get("offset"),
        ),
        "file-csv-unreadable": lambda: _(
            "Baris %(row)s tidak dapat dibaca sebagai CSV.", row=v.get("row")
        ),
        "file-xlsx-unreadable": lambda: _(
            "Berkas bukan buku kerja XLSX yang dapat dibaca; simpan sebagai .xlsx "
            "(Excel) atau CSV UTF-8."
        ),
        "file-empty": lambda: _("Berkas kosong."),
        "file-sheet-empty": lambda: _("Lembar kerja pertama kosong."),
        "file-header-empty": lambda: _("Baris pertama (judul kolom) kosong."),
        "file-header-unnamed": lambda: _(
            "Kolom %(index)s pada judul kolom tidak bernama.", index=v.get("index")
        ),
        "file-column-twice": lambda: _(
            "Kolom %(value)s muncul dua kali.", value=repr(v.get("value"))
        ),
        "file-column-unknown": lambda: _(
            "Kolom %(names)s tidak dikenal (yang diharapkan: %(expected)s); petakan "
            "kolomnya atau abaikan kolom lebih.",
            names=v.get("names"),
            expected=v.get("expected"),
        ),
        "file-columns-unknown": lambda: _(
            "Kolom-kolom %(names)s tidak dikenal (yang diharapkan: %(expected)s); "
            "petakan kolomnya atau abaikan kolom lebih.",
            names=v.get("names"),
            expected=v.get("expected"),
        ),
        "file-column-missing": lambda: _(
            "Kolom wajib %(value)s tidak ada.", value=repr(v.get("value"))
        ),
        "file-column-ambiguous": lambda: _(
            "Kolom %(value)s mirip pertanyaan %(code)s (%(score)s%% sama) tetapi belum pasti: "
            "pilih cara membacanya.",
            value=repr(v.get("value")),
            code=v.get("code"),
            score=v.get("score"),
        ),
        "mapping-not-object": lambda: _("Pemetaan harus berupa objek JSON."),
        "mapping-unknown-keys": lambda: _(
            "Kunci pemetaan tidak dikenal: %(keys)s.", keys=v.get("keys")
        ),
        "mapping-columns": lambda: _(
            '"columns" harus memetakan judul kolom ke nama isian (atau null).'
        ),
        "mapping-values": lambda: _('"values" harus memetakan nama isian ke objek {"teks": kode}.'),
        "mapping-time-format": lambda: _(
            '"time_format" harus berupa format strptime, misalnya %(example)s.', example="%d/%m/%Y"
        ),
        "mapping-unknown-field": lambda: _(
            "Pemetaan menyebut isian %(value)s yang tidak dikenal (isian: %(fields)s).",
            value=repr(v.get("value")),
            fields=v.get("fields"),
        ),
        "mapping-values-unknown-field": lambda: _(
            "Pemetaan memberi nilai untuk isian %(value)s yang tidak dikenal.",
            value=repr(v.get("value")),
        ),
        "row-extra-cells": lambda: _(
            "Baris ini berisi %(count)s sel, padahal judul kolom hanya %(columns)s.",
            count=v.get("count"),
            columns=v.get("columns"),
        ),
        "row-nul": lambda: _(
            "%(field)s berisi karakter NUL.", field=column_label(str(v.get("field")))
        ),
        "row-opd-empty": lambda: _("Kolom opd kosong."),
        "row-opd-not-covered": lambda: _(
            "OPD %(value)s tidak termasuk gelombang ini.", value=repr(v.get("value"))
        ),
        "row-opd-unknown": lambda: _(
            "OPD %(value)s tidak dikenal (gunakan slug atau nama lengkapnya).",
            value=repr(v.get("value")),
        ),
        "row-time-invalid": lambda: _(
            "submitted_at %(value)s bukan waktu ISO 8601 (misalnya 2025-06-12T09:30:00+07:00).",
            value=repr(v.get("value")),
        ),
        "row-time-future": lambda: _(
            "submitted_at %(value)s ada di masa depan.", value=repr(v.get("value"))
        ),
        "row-answer-invalid": lambda: _(
            "%(field)s: %(value)s bukan jawaban (isi 1 sampai %(scale)s atau kosongkan).",
            field=v.get("field"),
            value=repr(v.get("value")),
            scale=v.get("scale"),
        ),
        "row-no-answer": lambda: _("Tidak ada pertanyaan yang dijawab."),
        "row-choice-invalid": lambda: _(
            "%(field)s %(value)s bukan salah satu dari %(choices)s.",
            field=column_label(str(v.get("field"))),
            value=repr(v.get("value")),
            choices=v.get("choices"),
        ),
        "row-age-invalid": lambda: _(
            "Umur %(value)s bukan bilangan bulat tahun dari %(low)s sampai %(high)s.",
            value=repr(v.get("value")),
            low=v.get("low"),
            high=v.get("high"),
        ),
        "row-text-too-long": lambda: _(
            "%(field)s berisi %(length)s karakter (paling banyak %(limit)s).",
            field=column_label(str(v.get("field"))),
            length=v.get("length"),
            limit=v.get("limit"),
        ),
        "row-service-unlisted": lambda: _(
            "Layanan %(value)s tidak ada dalam daftar layanan OPD ini (%(listed)s); tambahkan "
            "dulu di halaman OPD atau kosongkan.",
            value=repr(v.get("value")),
            listed=v.get("listed") if v.get("listed") != "none" else _("belum ada"),
        ),
    }


def _import_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of the import and export codes (survey.core.imports)."""
    return {
        "import-timezone-unknown": lambda: _(
            "Zona waktu %(value)s tidak dikenal (IKM_TIMEZONE).", value=repr(v.get("value"))
        ),
        "import-wave-published": lambda: _(
            "Gelombang ini sudah diterbitkan; responsnya tidak dapat diubah."
        ),
        "import-wave-gone": lambda: _("Gelombang ini sudah tidak ada."),
        "import-concurrent": lambda: _(
            "Impor lain ke gelombang ini baru saja menyimpan sebagian baris yang "
            "sama; impor ini tidak menyimpan apa pun. Jalankan lagi."
        ),
        "import-time-format-invalid": lambda: _(
            "Format waktu tidak dikenali; contoh: %(example)s", example="%d/%m/%Y %H:%M:%S"
        ),
        "import-time-format-unusable": lambda: _(
            "Format waktu tidak dikenali; contoh: %(example)s", example="%d/%m/%Y %H:%M:%S"
        ),
        "import-digest-mismatch": lambda: _("Berkas yang tersimpan tidak cocok dengan sidiknya."),
        "import-rows-bad": lambda: _(
            "%(bad)s dari %(total)s baris bermasalah; tidak ada yang diimpor.",
            bad=format_number(v.get("bad"), 0),
            total=format_number(v.get("total"), 0),
        ),
        "import-no-rows": lambda: _("Berkas tidak berisi baris data untuk diimpor."),
        "import-expired": lambda: _(
            "Unggahan dibiarkan pada langkah pemetaan dan sudah kedaluwarsa; tidak "
            "ada yang disimpan."
        ),
        "import-stopped": lambda: _(
            "Impor berhenti sebelum selesai (server dimulai ulang?); tidak ada yang "
            "disimpan: unggah berkasnya lagi."
        ),
        "import-running": lambda: _(
            "Impor ke gelombang %(wave)s masih berjalan; tunggu sampai selesai.",
            wave=v.get("wave"),
        ),
        "import-taking-back": lambda: _(
            "Baris impor yang gagal ke gelombang %(wave)s masih sedang ditarik kembali; "
            "coba lagi beberapa menit lagi.",
            wave=v.get("wave"),
        ),
        "import-check-crashed": lambda: _("Terjadi galat tak terduga saat memeriksa berkas."),
        "import-write-crashed": lambda: _(
            "Terjadi galat tak terduga saat menyimpan; tidak ada yang diimpor."
        ),
        "import-element-empty": lambda: _(
            "%(code)s (%(element)s) tidak terisi untuk %(opd)s (%(rows)s baris).",
            code=v.get("code"),
            element=v.get("element"),
            opd=v.get("opd"),
            rows=format_number(v.get("rows"), 0),
        ),
        "import-element-unmapped": lambda: _(
            "%(code)s (%(element)s) tidak punya kolom di berkas: kosong di semua %(rows)s baris.",
            code=v.get("code"),
            element=v.get("element"),
            rows=format_number(v.get("rows"), 0),
        ),
        "export-format-unknown": lambda: _(
            "Format ekspor %(value)s tidak dikenal (gunakan %(formats)s).",
            value=repr(v.get("value")),
            formats=v.get("formats"),
        ),
        "export-not-published": lambda: _(
            "Gelombang %(wave)s belum diterbitkan.", wave=v.get("wave")
        ),
        "logo-empty": lambda: _("Berkas logo kosong."),
        "logo-too-large": lambda: _(
            "Berkas logo berukuran %(size)s KB; paling besar %(limit)s KB.",
            size=format_number(-(-int(v.get("size", 0)) // 1024), 0),
            limit=format_number(int(v.get("limit", 0)) // 1024, 0),
        ),
        "logo-not-image": lambda: _("Berkas logo bukan gambar PNG atau JPEG."),
        "logo-broken": lambda: _(
            "Berkas logo adalah gambar %(format)s yang rusak atau tidak lengkap.",
            format=v.get("format"),
        ),
        "logo-dimensions": lambda: _(
            "Logo berukuran %(width)s × %(height)s piksel; setiap sisi harus %(low)s sampai "
            "%(high)s piksel dan luasnya paling banyak %(pixels)s piksel.",
            width=format_number(v.get("width"), 0),
            height=format_number(v.get("height"), 0),
            low=format_number(v.get("low"), 0),
            high=format_number(v.get("high"), 0),
            pixels=format_number(v.get("pixels"), 0),
        ),
        "logo-wave-published": lambda: _(
            "Gelombang %(wave)s sudah diterbitkan: sampul laporannya tetap, logonya tidak "
            "dapat diubah.",
            wave=v.get("wave"),
        ),
    }


def _iso_day(value: Any) -> str:
    """Return an ISO day (a problem's parameter) as the page writes dates, else as it is."""
    try:
        return format_day(date.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _iso_moment(value: Any) -> str:
    """Return an ISO moment (a problem's parameter) in local time as pages write it."""
    try:
        return format_moment(datetime.fromisoformat(str(value)))
    except ValueError:
        return str(value)


def _alarm_kind(kind: Any) -> str:
    """Return an alarm's kind in the current language."""
    from survey.web.dashboard import alarm_kind_label

    return alarm_kind_label(str(kind))


def _count_codes(codes: Any) -> int:
    """Return how many item codes a refusal names (they are joined with commas)."""
    return len([code for code in str(codes or "").split(",") if code.strip()])


def _checklist_texts(v: dict[str, Any]) -> dict[str, Callable[[], str]]:
    """Return the texts of the checklist before publishing (survey.core.checklist)."""
    return {
        "checklist-nothing-counted": lambda: _("Belum ada OPD dengan respons yang dihitung"),
        "checklist-no-responses": lambda: _(
            "%(count)s OPD tanpa satu pun respons yang dihitung", count=v.get("count")
        ),
        "checklist-below-min-n": lambda: _(
            "%(count)s OPD di bawah minimum %(min_n)s respons untuk peringkat",
            count=v.get("count"),
            min_n=v.get("min_n"),
        ),
        "checklist-unanswered-elements": lambda: _(
            "%(count)s OPD memiliki unsur IKM yang tidak dijawab siapa pun", count=v.get("count")
        ),
        "checklist-period-not-over": lambda: _(
            "Periode gelombang berlangsung sampai %(end)s; hari ini %(today)s",
            end=_iso_day(v.get("end")),
            today=_iso_day(v.get("today")),
        ),
        "checklist-flagged": lambda: _(
            "%(count)s respons ditandai dan tidak dihitung", count=v.get("count")
        ),
        "checklist-open-alarms": lambda: _(
            "%(count)s alarm integritas masih terbuka", count=v.get("count")
        ),
        "checklist-fragile-sets": lambda: _(
            "%(count)s OPD berpindah keanggotaan %(k)s terbaik atau %(k)s terendah dengan "
            "paling banyak %(few)s suara ekstrem",
            count=v.get("count"),
            k=v.get("k"),
            few=v.get("few"),
        ),
        "checklist-nothing-counted-why": lambda: _(
            "Tidak ada yang dapat dinilai, diperingkat, atau diterbitkan. Kumpulkan atau impor "
            "respons, atau pulihkan respons yang keliru ditandai, lalu terbitkan."
        ),
        "checklist-no-responses-why": lambda: _(
            "OPD ini diterbitkan dengan n = 0 dan tanpa skor. Periksa bahwa tautan surveinya "
            "dipakai dan tidak ada impor yang ditujukan untuknya."
        ),
        "checklist-below-min-n-why": lambda: _(
            "OPD ini memiliki respons dihitung lebih sedikit daripada minimum gelombang untuk "
            "peringkat (%(min_n)s): diterbitkan tanpa peringkat dan kategori, ditandai „belum "
            "cukup data”. Turunkan minimum hanya jika Anda dapat mempertanggungjawabkan "
            "peringkat dari jawaban sesedikit itu.",
            min_n=v.get("min_n"),
        ),
        "checklist-unanswered-elements-why": lambda: _(
            "Tidak satu pun respons dihitung dari OPD ini menjawab unsur yang disebut. IKM-nya "
            "lalu menjadi rata-rata unsur yang dijawab saja: tidak sebanding dengan OPD yang "
            "dinilai dari semua unsur, dan OPD yang diperingkat dinilai dari unsur yang lebih "
            "sedikit daripada OPD lain. Biasanya ini berarti sebuah pertanyaan hilang (kolom "
            "impor yang tidak dipetakan): periksa impornya sebelum menerbitkan."
        ),
        "checklist-period-not-over-why": lambda: _(
            "Hari terakhir periode (%(end)s, zona waktu %(timezone)s) belum lewat: menerbitkan "
            "sekarang berarti menerbitkan hasil sebelum periode berakhir, dan jawaban pada hari "
            "yang tersisa tidak akan pernah dihitung.",
            end=_iso_day(v.get("end")),
            timezone=v.get("timezone"),
        ),
        "checklist-flagged-why": lambda: _(
            "Respons yang ditandai tidak ikut dinilai. Tinjau di halaman respons ditandai dan "
            "pulihkan yang keliru ditandai sebelum menerbitkan."
        ),
        "checklist-open-alarms-why": lambda: _(
            "Alarm melaporkan lonjakan atau perubahan mendadak pada jawaban sebuah OPD, yang "
            "bisa berarti penggelembungan suara. Tinjau jawabannya, tandai yang bermasalah, dan "
            "tutup alarmnya di dasbor."
        ),
        "checklist-fragile-sets-why": lambda: _(
            "Untuk OPD ini, beberapa suara ekstrem yang ditambahkan ke OPD itu saja sudah "
            "mengubah apakah OPD tersebut termasuk %(k)s terbaik atau %(k)s terendah: himpunan "
            "yang diterbitkan bergantung pada sangat sedikit jawaban. Periksa respons OPD ini "
            "(lihat tabel ketahanan).",
            k=v.get("k"),
        ),
        "checklist-detail-opd": lambda: _(
            "%(opd)s: belum ada respons yang dihitung", opd=v.get("opd")
        ),
        "checklist-detail-below-min-n": lambda: _(
            "%(opd)s: %(n)s respons dihitung", opd=v.get("opd"), n=v.get("n")
        ),
        "checklist-detail-elements-ranked": lambda: _(
            "%(opd)s (diperingkat, %(n)s respons dihitung): tidak ada yang menjawab %(elements)s",
            opd=v.get("opd"),
            n=v.get("n"),
            elements=v.get("elements"),
        ),
        "checklist-detail-elements-unranked": lambda: _(
            "%(opd)s (tidak diperingkat, %(n)s respons dihitung): tidak ada yang menjawab "
            "%(elements)s",
            opd=v.get("opd"),
            n=v.get("n"),
            elements=v.get("elements"),
        ),
        "checklist-detail-flagged": lambda: _(
            "%(opd)s: %(n)s ditandai", opd=v.get("opd"), n=v.get("n")
        ),
        "checklist-detail-alarm": lambda: _(
            "%(opd)s: %(kind)s, sejak %(moment)s",
            opd=v.get("opd"),
            kind=_alarm_kind(v.get("kind")),
            moment=_iso_moment(v.get("raised_at")),
        ),
        "checklist-detail-top-leave": lambda: _(
            "%(opd)s: %(count)s suara terburuk mengeluarkannya dari %(k)s terbaik",
            opd=v.get("opd"),
            count=v.get("count"),
            k=v.get("k"),
        ),
        "checklist-detail-top-enter": lambda: _(
            "%(opd)s: %(count)s suara terbaik memasukkannya ke %(k)s terbaik",
            opd=v.get("opd"),
            count=v.get("count"),
            k=v.get("k"),
        ),
        "checklist-detail-bottom-leave": lambda: _(
            "%(opd)s: %(count)s suara terbaik mengeluarkannya dari %(k)s terendah",
            opd=v.get("opd"),
            count=v.get("count"),
            k=v.get("k"),
        ),
        "checklist-detail-bottom-enter": lambda: _(
            "%(opd)s: %(count)s suara terburuk memasukkannya ke %(k)s terendah",
            opd=v.get("opd"),
            count=v.get("count"),
            k=v.get("k"),
        ),
        "wave-checklist-blocking": lambda: _(
            "Daftar periksa menghalangi penerbitan: %(n)s butir harus diselesaikan dulu (lihat "
            "penjelasannya di daftar periksa).",
            n=_count_codes(v.get("codes")),
        ),
        "wave-checklist-unacknowledged": lambda: _(
            "Centang setiap butir daftar periksa sebelum menerbitkan: %(n)s butir belum dicentang.",
            n=_count_codes(v.get("codes")),
        ),
    }


def problems_text(problems: Iterable[Problem]) -> str:
    """Return several problems as one text in the current language (joined with "; ")."""
    return "; ".join(problem_text(item) for item in problems)


def field_errors(problems: Iterable[Problem]) -> dict[str, str]:
    """Return the text of the first problem of each field, by field."""
    errors: dict[str, str] = {}
    for item in problems:
        errors.setdefault(item.field, problem_text(item))
    return errors
