"""A bare Flask app: the yardstick ``bench/load.py`` measures the survey against.

``GET /`` answers a tiny page; ``POST /`` inserts one row into SQLite (the file named by
``BARE_DB``, WAL with synchronous=NORMAL like the survey's) and answers 303. Nothing else: no
templates, forms, sessions or ORM, so its rates are what gunicorn and Flask cost on their own.
"""

from __future__ import annotations

import os
import sqlite3
import threading

from flask import Flask, redirect, request

app = Flask(__name__)
_local = threading.local()


def _connection() -> sqlite3.Connection:
    """Return this thread's connection to the bare database, opened on first use."""
    conn = getattr(_local, "conn", None)
    if conn is None:
        conn = sqlite3.connect(os.environ["BARE_DB"], timeout=10, isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA busy_timeout=10000")
        conn.execute("CREATE TABLE IF NOT EXISTS answer (id INTEGER PRIMARY KEY, body TEXT)")
        _local.conn = conn
    return conn


@app.get("/")
def page() -> str:
    """Answer a tiny page."""
    return "<!doctype html><title>bare</title><p>ok</p>"


@app.post("/")
def submit() -> object:
    """Insert one row and redirect, as the survey does."""
    body = "&".join(f"{k}={v}" for k, v in request.form.items())
    _connection().execute("INSERT INTO answer (body) VALUES (?)", (body,))
    return redirect("/", code=303)
