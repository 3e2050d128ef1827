"""Coded problems in the page's language: one text per code of :mod:`survey.core.problems`.

The services report what they refuse as codes with parameters; this module is the only place
that turns them into sentences for pages (Bahasa Indonesia, English through the Babel
catalogue). ``tests/test_problems.py`` checks that every defined code has a text here, so no
English sentence meant for the command line can reach an Indonesian page.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from flask_babel import gettext as _

from survey.core.problems import Problem
from survey.web.i18n import format_number


def field_label(name: str) -> str:
    """Return the name of an OPD field (or import column) in the current language."""
    labels = {
        "slug": _("Slug"),
        "name": _("Nama"),
        "short_name": _("Nama singkat"),
        "service_population": _("Populasi layanan"),
        "service_hours": _("Jam layanan"),
        "service": _("Nama layanan"),
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
        "wave-publish-unconfirmed": lambda: _(
            "Centang konfirmasi bahwa Anda sudah meninjau respons ditandai sebelum menerbitkan."
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
    return texts[item.code]()


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
        "import-check-crashed": lambda: _("Terjadi galat tak terduga saat memeriksa berkas."),
        "import-write-crashed": lambda: _(
            "Terjadi galat tak terduga saat menyimpan; tidak ada yang diimpor."
        ),
        "export-format-unknown": lambda: _(
            "Format ekspor %(value)s tidak dikenal (gunakan %(formats)s).",
            value=repr(v.get("value")),
            formats=v.get("formats"),
        ),
        "export-not-published": lambda: _(
            "Gelombang %(wave)s belum diterbitkan.", wave=v.get("wave")
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
