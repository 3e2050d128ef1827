"""Logs: one line per request and per error, as JSON (``IKM_LOG_FORMAT=json``) or text.

Each request is logged once, after its response is built, by the logger ``survey.request``:
time (UTC, ISO 8601), level, request id, method, path (never the query string: it can carry
tokens), status, duration in milliseconds, response size, the wave and OPD slugs when the
route has them, and ``client``, the first 16 hex digits of the salted hash of the client
address the rate limiter uses (never the address). Errors Flask logs (unhandled exceptions)
carry the exception's type, message and traceback as fields. Nothing else of the request is
logged: no form bodies, cookies, CSRF tokens or passwords. Successful ``/healthz`` probes are
logged at DEBUG so that a load balancer polling every few seconds does not drown the log.

The request id is the client's (the proxy's) ``X-Request-ID`` when it is well formed, else a
fresh one; it is echoed in the response's ``X-Request-ID`` header and attached to every record
logged while the request runs.

Every record is written to stderr with one ``write`` system call, so lines from several
gunicorn workers sharing stderr never interleave. The handler holds no file of its own (it
looks ``sys.stderr`` up on each record), so there is nothing to leak or close.
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import time
import traceback
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, g, has_request_context, request
from flask import Response as FlaskResponse

REQUEST_ID_HEADER = "X-Request-ID"
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{8,128}$")
REQUEST_LOGGER = "survey.request"
FORMATS = ("json", "text")
# The route arguments worth logging: they say which survey a request was about.
SLUG_ARGS = {"wave_slug": "wave", "opd_slug": "opd"}
_HANDLER_MARK = "_ikm_handler"
# Attributes every LogRecord has; anything else was passed in ``extra``.
_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


def utc_timestamp(created: float) -> str:
    """Return a record's time as UTC ISO 8601 with milliseconds (``2026-01-13T02:04:05.123Z``)."""
    moment = datetime.fromtimestamp(created, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def _extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """Return the fields a record was given through ``extra``."""
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS and k[0] != "_"}


class JsonFormatter(logging.Formatter):
    """Format a record as one JSON object on one line."""

    def format(self, record: logging.LogRecord) -> str:
        """Return the record as JSON: time, level, logger, message, extra fields, exception."""
        data: dict[str, Any] = {
            "time": utc_timestamp(record.created),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        data.update(_extra_fields(record))
        if record.exc_info and record.exc_info[0] is not None:
            exc_type, exc, tb = record.exc_info
            data["exc_type"] = exc_type.__name__
            data["exc_message"] = str(exc)
            data["traceback"] = "".join(traceback.format_exception(exc_type, exc, tb))
        elif record.stack_info:
            data["stack"] = record.stack_info
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    """Format a record as a readable line for development, extra fields as ``key=value``."""

    def __init__(self) -> None:
        """Use a short local-time stamp."""
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s", "%H:%M:%S")

    def format(self, record: logging.LogRecord) -> str:
        """Return the line, the extra fields appended, then any traceback."""
        line = super().format(record)
        extra = " ".join(f"{k}={v}" for k, v in _extra_fields(record).items() if v is not None)
        if not extra:
            return line
        first, newline, rest = line.partition("\n")
        return f"{first} [{extra}]{newline}{rest}"


class StderrHandler(logging.Handler):
    """Write each record to the current ``sys.stderr`` in a single ``write`` call."""

    def emit(self, record: logging.LogRecord) -> None:
        """Write the formatted record and a newline."""
        try:
            line = self.format(record) + "\n"
            stream = sys.stderr
            try:
                fd = stream.fileno()
            except (AttributeError, OSError, ValueError):
                fd = None  # a replaced stderr (pytest's capture): write to the object
            if fd is None:
                stream.write(line)
                stream.flush()
                return
            stream.flush()  # whatever Python buffered goes first, keeping the order
            data = line.encode("utf-8", "backslashreplace")
            while data:  # a pipe may take a long traceback in pieces
                written = os.write(fd, data)
                data = data[written:]
        except Exception:
            self.handleError(record)


def make_formatter(log_format: str) -> logging.Formatter:
    """Return the formatter for ``json`` or ``text``."""
    if log_format not in FORMATS:
        from survey.core.settings import ConfigError

        raise ConfigError(f"IKM_LOG_FORMAT={log_format!r} is not one of: {', '.join(FORMATS)}")
    return JsonFormatter() if log_format == "json" else TextFormatter()


class RequestIdFilter(logging.Filter):
    """Attach the current request's id to every record logged while it runs."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Add ``request_id`` when inside a request; never drop the record."""
        if not hasattr(record, "request_id") and has_request_context():
            record.request_id = g.get("request_id")
        return True


def configure_logger(log_format: str, level: str) -> logging.Logger:
    """Install the handler on the ``survey`` logger, replacing one installed before."""
    formatter = make_formatter(log_format)
    try:
        numeric_level = logging.getLevelNamesMapping()[str(level).upper()]
    except KeyError:
        from survey.core.settings import ConfigError

        raise ConfigError(f"IKM_LOG_LEVEL={level!r} is not a logging level") from None
    logger = logging.getLogger("survey")
    for old in list(logger.handlers):
        # Apps built earlier in this process (tests, the CLI) leave theirs; keep one.
        if getattr(old, _HANDLER_MARK, False):
            logger.removeHandler(old)
    handler = StderrHandler()
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter)
    handler.addFilter(RequestIdFilter())
    logger.addHandler(handler)
    logger.setLevel(numeric_level)
    return logger


def request_id_from(header: str | None) -> str:
    """Return the incoming request id if it is well formed, else a fresh one."""
    if header and REQUEST_ID_RE.fullmatch(header):
        return header
    return uuid.uuid4().hex


def _start_request() -> None:
    """Note when the request began and which id it carries."""
    g.request_started = time.perf_counter()
    g.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))


def _client_hash() -> str | None:
    """Return a prefix of the rate limiter's salted hash of the client address."""
    from flask import current_app

    from survey.web.antiabuse import client_key

    secret = current_app.config.get("SECRET_KEY")
    if not secret:
        return None
    return client_key(request.remote_addr, secret)[:16]


def _finish_request(response: FlaskResponse) -> FlaskResponse:
    """Echo the request id and log the request in one line."""
    request_id = g.get("request_id") or request_id_from(None)
    response.headers[REQUEST_ID_HEADER] = request_id
    started = g.get("request_started")
    duration = (time.perf_counter() - started) * 1000 if started is not None else None
    fields: dict[str, Any] = {
        "request_id": request_id,
        "method": request.method,
        "path": request.path,
        "status": response.status_code,
        "duration_ms": round(duration, 2) if duration is not None else None,
        "size": response.content_length,
        "client": _client_hash(),
    }
    for arg, name in SLUG_ARGS.items():
        value = (request.view_args or {}).get(arg)
        if value is not None:
            fields[name] = value
    quiet = request.endpoint == "health.healthz" and response.status_code < 400
    level = logging.DEBUG if quiet else logging.INFO
    logger = logging.getLogger(REQUEST_LOGGER)
    if logger.isEnabledFor(level):
        message = f"{request.method} {request.path} {response.status_code}"
        logger.log(level, message, extra=fields)
    return response


def init_app(app: Flask) -> None:
    """Configure the ``survey`` loggers and log every request of ``app``."""
    configure_logger(str(app.config["LOG_FORMAT"]), str(app.config["LOG_LEVEL"]))
    from flask.logging import default_handler

    # Flask would add its own stderr handler to app.logger otherwise: one line, not two.
    app.logger.removeHandler(default_handler)
    app.before_request(_start_request)
    app.after_request(_finish_request)
