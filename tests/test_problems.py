"""Coded problems: every code a service can raise has an English sentence and a page text."""

from __future__ import annotations

import importlib
import pkgutil
from string import Formatter

import pytest
from flask import Flask

import survey.core
from survey.core.problems import ENGLISH, Problem, ProblemError, define, problem
from survey.web.problems import problem_text


def all_codes() -> dict[str, str]:
    """Import every core module (each defines its codes at import) and return the codes."""
    for info in pkgutil.iter_modules(survey.core.__path__):
        importlib.import_module(f"survey.core.{info.name}")
    return dict(ENGLISH)


def test_every_code_has_a_text_in_both_languages(app: Flask) -> None:
    """Each code reads in Indonesian and English on pages; neither is the CLI's sentence."""
    codes = all_codes()
    assert len(codes) >= 40
    for code, sentence in codes.items():
        names = {name for _text, name, _spec, _conv in Formatter().parse(sentence) if name}
        params = {name: 7 for name in names - {"field"}}
        item = Problem(code=code, field="name", params=tuple(params.items()))
        for lang in ("id", "en"):
            with app.test_request_context(f"/?lang={lang}"):
                text = problem_text(item)
            assert text and text != item.english(), (code, lang, text)
        assert sentence


def test_a_code_needs_a_sentence_and_keeps_it() -> None:
    """An undefined code cannot be raised; a code cannot be given a second sentence."""
    with pytest.raises(KeyError, match="no-such-code"):
        problem("no-such-code")
    define({"test-only-code": "a sentence for {field}"})
    define({"test-only-code": "a sentence for {field}"})  # the same again is fine
    with pytest.raises(ValueError, match="already defined"):
        define({"test-only-code": "another sentence"})
    error = ProblemError([problem("test-only-code", "slug"), problem("test-only-code", "x")])
    assert str(error) == "a sentence for slug; a sentence for x"
    assert list(error.by_field()) == ["slug", "x"]
