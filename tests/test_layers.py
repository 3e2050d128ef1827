"""The house's walls: which package may import which.

- ``scoring`` and ``reports`` import neither Flask, the database nor ``survey``;
- ``survey.core`` (the services) imports no web or command-line package, and not
  ``survey.web`` or ``survey.cli``;
- ``survey.web`` does not import ``survey.cli`` (the command line builds on the app, not the
  other way round).

Checked twice: statically, every import statement of every module (late imports inside
functions included), and at run time, by importing every core module in a fresh interpreter
and looking at what ended up in ``sys.modules``.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
WEB_OR_CLI = {"flask", "flask_babel", "flask_wtf", "wtforms", "werkzeug", "click", "itsdangerous"}
RULES = {
    "scoring": WEB_OR_CLI | {"sqlmodel", "sqlalchemy", "alembic", "survey", "reports"},
    "reports": WEB_OR_CLI | {"sqlmodel", "sqlalchemy", "alembic", "survey"},
    "survey/core": WEB_OR_CLI | {"survey.web", "survey.cli"},
    "survey/web": {"survey.cli"},
}


def imported_names(path: Path) -> list[tuple[int, str]]:
    """Return (line, module) for every absolute import in a file, nested ones included."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level > 0 or node.module is None:
                continue  # relative: inside the module's own package
            found.append((node.lineno, node.module))
            # ``from survey import web`` names the package through its attribute.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def banned(module: str, forbidden: set[str]) -> bool:
    """Return True if ``module`` is one of ``forbidden`` or inside one of them."""
    return any(module == name or module.startswith(name + ".") for name in forbidden)


@pytest.mark.parametrize("folder", sorted(RULES))
def test_no_import_crosses_a_wall(folder: str) -> None:
    """No module of ``folder`` imports what its layer must not know."""
    files = sorted((ROOT / folder).rglob("*.py"))
    assert files, folder
    crossings = [
        f"{path.relative_to(ROOT)}:{line} imports {module}"
        for path in files
        for line, module in imported_names(path)
        if banned(module, RULES[folder])
    ]
    assert crossings == []


def test_the_wall_check_can_fail(tmp_path: Path) -> None:
    """The checker sees a late import inside a function (so the test above can fail)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from flask import g\n    import click.core\n")
    names = [name for _line, name in imported_names(module)]
    assert banned("flask", RULES["survey/core"]) and "flask" in names
    assert "click.core" in names and banned("click.core", RULES["survey/core"])


def test_core_services_load_without_web_packages() -> None:
    """Importing every core module in a fresh interpreter loads no web or CLI package."""
    modules = sorted(
        "survey.core." + path.stem
        for path in (ROOT / "survey" / "core").glob("*.py")
        if path.stem != "__init__"
    )
    code = (
        "import importlib, json, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    loaded = json.loads(done.stdout)
    assert len(modules) >= 15
    assert [m for m in loaded if banned(m, WEB_OR_CLI | {"survey.web", "survey.cli"})] == []


def test_the_folder_names_say_where_things_live() -> None:
    """A newcomer finds 'create a wave', 'read the response file', 'score a wave' by name."""
    core = {path.stem for path in (ROOT / "survey" / "core").glob("*.py")}
    assert {"waves", "responsefile", "scores", "opds", "accounts", "audit"} <= core
    from survey.core import responsefile, scores, waves

    assert callable(waves.create_wave)
    assert callable(responsefile.read_file)
    assert callable(scores.score_wave)


def shared_helper_problems(folder: Path) -> list[str]:
    """Return the test-to-test imports and stray ``users`` fixtures of the tests in ``folder``."""
    problems = []
    for path in sorted(folder.glob("*.py")):
        for line, module in imported_names(path):
            # ``tests.x`` and ``x``: both spellings reach a test file.
            name = module.removeprefix("tests.").split(".")[0]
            if name.startswith("test_"):
                problems.append(f"{path.name}:{line} imports {name}")
        if path.name == "conftest.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.FunctionDef) and node.name == "users":
                problems.append(f"{path.name}:{node.lineno} defines users")
    return list(dict.fromkeys(problems))  # ``from m import a`` also lists ``m.a``


def test_tests_import_helpers_not_other_tests() -> None:
    """Tests share helpers through conftest.py and *_helpers.py; ``users`` is defined once."""
    assert shared_helper_problems(ROOT / "tests") == []


def test_the_test_file_check_can_fail(tmp_path: Path) -> None:
    """The check sees both spellings of a test-to-test import and a second users fixture."""
    (tmp_path / "conftest.py").write_text("def users():\n    pass\n")
    (tmp_path / "test_a.py").write_text(
        "from test_auth import PASSWORD\nfrom tests.test_cli import CODES\n"
        "import pytest\n\n@pytest.fixture\ndef users():\n    pass\n"
    )
    assert shared_helper_problems(tmp_path) == [
        "test_a.py:1 imports test_auth",
        "test_a.py:2 imports test_cli",
        "test_a.py:6 defines users",
    ]


# The form classes themselves may look at the posted names (the survey form refuses unknown
# ones); views read what a posted form says through a WTForms form, never by hand.
FORM_MODULES = {"forms.py", "workspace_forms.py"}


def hand_parsed_forms(folder: Path) -> list[str]:
    """Return file:line of every ``request.form`` read outside the form modules."""
    found = []
    for path in sorted(folder.glob("*.py")):
        if path.name in FORM_MODULES:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "form"
                and isinstance(node.value, ast.Name)
                and node.value.id == "request"
            ):
                found.append(f"{path.name}:{node.lineno}")
    return found


def test_views_read_posted_forms_through_wtforms() -> None:
    """No view parses ``request.form`` by hand."""
    assert hand_parsed_forms(ROOT / "survey" / "web") == []


def test_the_form_check_can_fail(tmp_path: Path) -> None:
    """The check sees a view reading ``request.form`` and leaves the form modules alone."""
    (tmp_path / "view.py").write_text("from flask import request\n\nx = request.form.get('a')\n")
    (tmp_path / "forms.py").write_text("from flask import request\n\nx = request.form\n")
    assert hand_parsed_forms(tmp_path) == ["view.py:3"]
