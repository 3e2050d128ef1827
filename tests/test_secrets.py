"""No secret key written anywhere in the repository can start a production app."""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

from survey.core.settings import ConfigError, resolve_secret_key
from survey.web import create_app

ROOT = Path(__file__).resolve().parent.parent
# An assignment of a secret key in any syntax the repository uses: shell and env files
# (IKM_SECRET_KEY=value), Python (SECRET_KEY = "value", "SECRET_KEY": "value",
# TEST_SECRET = "value"), YAML (secret_key: value). The value is the quoted literal, or the
# bare word up to a space, comma, bracket or comment.
ASSIGNMENT = re.compile(
    r"""\b(?:IKM_)?(?:SECRET_KEY|TEST_SECRET)\b["']?\s*(?:=|:)\s*"""
    r"""(?:"([^"\n]*)"|'([^'\n]*)'|([^\s"'#,()\[\]{}]+))""",
    re.IGNORECASE,
)


def repository_text_files() -> list[Path]:
    """Return the repository's tracked text files (no binary, no compiled catalogue)."""
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True
    ).stdout.split(b"\0")
    files = []
    for name in names:
        path = ROOT / name.decode()
        if not name or not path.is_file() or path.suffix in {".mo", ".png", ".pdf", ".ttf"}:
            continue
        if b"\0" in path.read_bytes()[:4096]:
            continue
        files.append(path)
    return files


def secret_assignments() -> dict[str, list[str]]:
    """Return each value assigned to a secret key in the repository, with where it is."""
    found: dict[str, list[str]] = {}
    for path in repository_text_files():
        text = path.read_text(encoding="utf-8", errors="replace")
        for match in ASSIGNMENT.finditer(text):
            value = next(group for group in match.groups() if group is not None)
            if value.startswith("$"):  # a shell substitution: made when it runs
                continue
            line = text.count("\n", 0, match.start()) + 1
            found.setdefault(value, []).append(f"{path.relative_to(ROOT)}:{line}")
    return found


def test_the_scan_finds_the_known_examples():
    """The scan really reads the example environment file and the tests' key (cannot pass empty)."""
    found = secret_assignments()
    assert "replace-with-a-long-random-value" in found
    assert any(
        where.startswith("deploy/ikm.env.example:")
        for where in found["replace-with-a-long-random-value"]
    )
    assert "test-secret-key-not-for-production-0123456789" in found


def test_every_key_in_the_repository_is_refused_in_production(tmp_path):
    """Each value assigned to a secret key anywhere in the repository stops production."""
    accepted = []
    for value, places in secret_assignments().items():
        try:
            resolve_secret_key({"ENV": "production", "SECRET_KEY": value}, tmp_path)
        except ConfigError:
            continue
        accepted.append((value, places))
    assert accepted == []


@pytest.mark.parametrize(
    ("key", "reason"),
    [
        ("replace-with-a-long-random-value", "published in the repository"),
        ("  Replace-With-A-Long-Random-Value ", "published in the repository"),
        ("k3Y9-pQ7zW2mX8vB1nR5tL0cF6hJ4dS", "shorter than 32"),  # 31 characters
        ("ab" * 20, "fewer than 8 different"),
    ],
)
def test_production_app_refuses_a_published_or_short_key(tmp_path, monkeypatch, key, reason):
    """The factory itself refuses, naming the reason and never the key."""
    for name in ("IKM_SECRET_KEY", "IKM_DATABASE_URL", "IKM_INSTANCE_PATH"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("IKM_ENV", "production")
    monkeypatch.setenv("IKM_SECRET_KEY", key)
    with pytest.raises(ConfigError, match=reason) as refused:
        create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}, str(tmp_path))
    assert key.strip() not in str(refused.value)


def test_a_long_random_key_starts_production(tmp_path, monkeypatch):
    """A 32-character random key is accepted and used as it is."""
    key = secrets.token_urlsafe(24)
    monkeypatch.setenv("IKM_ENV", "production")
    monkeypatch.setenv("IKM_SECRET_KEY", key)
    app = create_app({"DATABASE_URL": f"sqlite:///{tmp_path / 'p.sqlite3'}"}, str(tmp_path))
    assert app.config["SECRET_KEY"] == key
    app.extensions["ikm_engine"].dispose()
