"""The foundation: settings, migrations, the default questionnaire and the layer boundaries."""

from __future__ import annotations

import secrets
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlmodel import SQLModel, select

from survey.core.builtin import DEFAULT_QUESTIONNAIRE_SLUG
from survey.core.database import make_engine
from survey.core.models import CategoryScheme, Element, Questionnaire
from survey.core.settings import ConfigError, resolve_secret_key
from survey.web import create_app
from survey.web.database import get_engine

ROOT = Path(__file__).resolve().parent.parent

REGULATION_LABELS = {
    "U1": ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
    "U2": ["Tidak mudah", "Kurang mudah", "Mudah", "Sangat mudah"],
    "U3": ["Tidak cepat", "Kurang cepat", "Cepat", "Sangat cepat"],
    "U4": ["Sangat mahal", "Cukup mahal", "Murah", "Gratis"],
    "U5": ["Tidak sesuai", "Kurang sesuai", "Sesuai", "Sangat sesuai"],
    "U6": ["Tidak kompeten", "Kurang kompeten", "Kompeten", "Sangat kompeten"],
    "U7": [
        "Tidak sopan dan ramah",
        "Kurang sopan dan ramah",
        "Sopan dan ramah",
        "Sangat sopan dan ramah",
    ],
    "U8": ["Buruk", "Cukup", "Baik", "Sangat baik"],
    "U9": [
        "Tidak ada",
        "Ada tetapi tidak berfungsi",
        "Berfungsi kurang maksimal",
        "Dikelola dengan baik",
    ],
}
REGULATION_NAMES = [
    "Persyaratan",
    "Sistem, Mekanisme, dan Prosedur",
    "Waktu Penyelesaian",
    "Biaya/Tarif",
    "Produk Spesifikasi Jenis Pelayanan",
    "Kompetensi Pelaksana",
    "Perilaku Pelaksana",
    "Sarana dan Prasarana",
    "Penanganan Pengaduan, Saran dan Masukan",
]


def test_default_questionnaire_is_the_regulation(session):
    """The nine elements come in the standard order with the regulation's labels."""
    questionnaire = session.exec(
        select(Questionnaire).where(Questionnaire.slug == DEFAULT_QUESTIONNAIRE_SLUG)
    ).one()
    assert questionnaire.scale_points == 4
    rows = session.exec(
        select(Element)
        .where(Element.questionnaire_id == questionnaire.id)
        .order_by(Element.position)
    ).all()
    assert [e.code for e in rows] == [f"U{i}" for i in range(1, 10)]
    assert [e.position for e in rows] == list(range(1, 10))
    assert [e.name_id for e in rows] == REGULATION_NAMES
    for element in rows:
        assert element.labels_id == REGULATION_LABELS[element.code]
        assert len(element.labels_en) == 4 and all(element.labels_en)
        assert element.question_id.startswith("Bagaimana pendapat Saudara tentang")
        assert element.question_en.endswith("?")
        assert element.kind == "ikm"


def test_builtin_schemes(session):
    """PermenPANRB 14/2017 and KepmenPAN 25/2004 thresholds are stored as data."""
    schemes = {s.slug: s for s in session.exec(select(CategoryScheme)).all()}
    permen = schemes["permenpanrb-14-2017"].categories
    assert [(c["code"], c["min_ikm"], c["min_converted"]) for c in permen] == [
        ("A", 3.5324, 88.31),
        ("B", 3.0644, 76.61),
        ("C", 2.60, 65.00),
        ("D", 1.00, 25.00),
    ]
    assert [c["label_id"] for c in permen] == ["Sangat baik", "Baik", "Kurang baik", "Tidak baik"]
    legacy = schemes["kepmenpan-25-2004"].categories
    assert [(c["min_ikm"], c["min_converted"]) for c in legacy] == [
        (3.26, 81.26),
        (2.51, 62.51),
        (1.76, 43.76),
        (1.00, 25.00),
    ]


def test_migrations_match_models(app):
    """The migrations create exactly the schema the models declare."""
    engine = get_engine(app)
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), SQLModel.metadata)
    assert diff == []


def test_init_db_command_is_idempotent(app, runner, session):
    """``ikm init-db`` on a migrated database changes nothing and says where it is."""
    before = len(session.exec(select(Element)).all())
    result = runner.invoke(args=["init-db"])
    assert result.exit_code == 0, result.output
    assert "Database ready" in result.output
    session.expire_all()
    assert len(session.exec(select(Element)).all()) == before == 9


def test_sqlite_pragmas(tmp_path):
    """SQLite files run in WAL mode with foreign keys enforced, a 32 MiB page cache and a
    checkpoint every 10,000 WAL pages."""
    engine = make_engine(f"sqlite:///{tmp_path / 'x.sqlite3'}")
    with engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(sa.text("PRAGMA cache_size")).scalar() == -32768
        assert conn.execute(sa.text("PRAGMA wal_autocheckpoint")).scalar() == 10_000
    engine.dispose()


def test_foreign_keys_enforced_on_sqlite(tmp_path):
    """A response pointing at a missing wave is refused by the database itself."""
    from survey.core.database import upgrade

    path = tmp_path / "fk.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    engine.dispose()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA foreign_keys=ON")
    with pytest.raises(sqlite3.IntegrityError):
        conn.execute(
            "INSERT INTO response (wave_id, opd_id, submission_id, submitted_at, channel, "
            "status) VALUES (999, 999, 'x', '2026-01-01', 'qr', 'counted')"
        )
    conn.close()


def test_production_refuses_placeholder_secret(tmp_path):
    """In production a missing, placeholder, short or one-letter key stops the app."""
    for key in (None, "changeme", "secret", "short", "x" * 40, secrets.token_urlsafe(48)[:31]):
        with pytest.raises(ConfigError):
            resolve_secret_key({"ENV": "production", "SECRET_KEY": key}, tmp_path)
    good = secrets.token_urlsafe(24)  # 32 characters
    assert resolve_secret_key({"ENV": "production", "SECRET_KEY": good}, tmp_path) == good


def test_production_app_refuses_to_start_without_secret(tmp_path, monkeypatch):
    """The factory itself raises when IKM_ENV=production has no real key."""
    monkeypatch.setenv("IKM_ENV", "production")
    monkeypatch.delenv("IKM_SECRET_KEY", raising=False)
    with pytest.raises(ConfigError):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}, str(tmp_path))
    monkeypatch.setenv("IKM_SECRET_KEY", "changeme")
    with pytest.raises(ConfigError):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}, str(tmp_path))


def test_secret_key_from_instance_folder(tmp_path):
    """A key written to instance/secret_key is used when the environment has none."""
    key = secrets.token_urlsafe(48)
    (tmp_path / "secret_key").write_text(key)
    assert resolve_secret_key({"ENV": "production"}, tmp_path) == key


def test_environment_settings_are_typed(monkeypatch, tmp_path):
    """IKM_* variables override the defaults, numbers as numbers; bad numbers are refused."""
    monkeypatch.setenv("IKM_LIMIT_SOFT", "7")
    monkeypatch.setenv("IKM_PUBLIC_URL", "https://skm.serangkota.go.id/")
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'e.sqlite3'}"}, str(tmp_path))
    assert app.config["LIMIT_SOFT"] == 7
    assert app.config["PUBLIC_URL"] == "https://skm.serangkota.go.id"
    assert app.config["SESSION_COOKIE_SECURE"] is True
    app.extensions["ikm_engine"].dispose()
    monkeypatch.setenv("IKM_LIMIT_SOFT", "many")
    with pytest.raises(ConfigError, match="IKM_LIMIT_SOFT"):
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'e.sqlite3'}"}, str(tmp_path))


@pytest.mark.parametrize(("count", "seen"), [(0, "10.0.0.1"), (1, "203.0.113.7")])
def test_proxy_count_decides_whose_address_is_seen(tmp_path, count, seen):
    """Only with IKM_PROXY_COUNT set does X-Forwarded-For replace the proxy's address."""
    from flask import request

    app = create_app(
        {
            "DATABASE_URL": f"sqlite:///{tmp_path / 'x.sqlite3'}",
            "PROXY_COUNT": count,
            "FORWARDED_ALLOW_IPS": "10.0.0.0/24",
        },
        str(tmp_path),
    )
    app.add_url_rule("/_addr", "addr", lambda: request.remote_addr or "")
    response = app.test_client().get(
        "/_addr",
        headers={"X-Forwarded-For": "203.0.113.7"},
        environ_base={"REMOTE_ADDR": "10.0.0.1"},
    )
    assert response.get_data(as_text=True) == seen
    app.extensions["ikm_engine"].dispose()
