"""Gunicorn settings for production: ``gunicorn -c gunicorn.conf.py 'survey.web:create_app()'``.

Read from the environment (see docs/deploy.md), next to the app's own ``IKM_*`` settings:

- ``IKM_BIND`` (``127.0.0.1:8000``): address to listen on; the reverse proxy connects here.
- ``IKM_WORKERS`` (2 x CPU cores): worker processes. The app is CPU-bound (templates, scrypt
  at sign-in, PDFs), so more processes than cores only adds memory.
- ``IKM_THREADS`` (1): threads per worker; 1 runs gunicorn's plain ``sync`` workers, more
  switches to ``gthread``. Keep ``IKM_DB_POOL_SIZE`` + ``IKM_DB_MAX_OVERFLOW`` >= threads.
- ``IKM_TIMEOUT`` (60): seconds a worker may spend on one request before it is restarted (the
  ranking report and posters of a large wave are built in the request).
- ``IKM_FORWARDED_ALLOW_IPS`` (``127.0.0.1,::1``): addresses whose ``X-Forwarded-Proto``
  gunicorn believes: the reverse proxy only. The app itself trusts ``X-Forwarded-*`` only with
  ``IKM_PROXY_COUNT`` set, and only from these peers too (addresses or CIDR networks).
- ``IKM_LOG_FORMAT`` / ``IKM_LOG_LEVEL``: gunicorn's own messages use the app's format too.

The app is not preloaded: each worker builds its own app and database engine after the fork,
so no connection pool is ever shared between processes. There is no access log: the app logs
every request itself (``survey.web.logs``), with the fields that matter and none that must not be
kept.
"""

from __future__ import annotations

import gc
import os


def _int(name: str, default: int) -> int:
    """Return the integer environment variable ``name``, or ``default`` when unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise SystemExit(f"{name}={raw!r} is not a whole number") from None
    if value < 1:
        raise SystemExit(f"{name}={raw!r} must be at least 1")
    return value


bind = [os.environ.get("IKM_BIND", "127.0.0.1:8000")]
workers = _int("IKM_WORKERS", 2 * (os.cpu_count() or 1))
threads = _int("IKM_THREADS", 1)
# sync workers suit a buffering reverse proxy (nginx reads slow clients' requests and
# responses); with IKM_THREADS > 1 gunicorn switches to gthread by itself.
worker_class = "gthread" if threads > 1 else "sync"
timeout = _int("IKM_TIMEOUT", 60)
# On SIGTERM (systemd stop, deploys) requests in flight get this long to finish.
graceful_timeout = 20
keepalive = 5  # only gthread keeps connections open; the proxy's keep-alive pool reuses them
backlog = 2048

preload_app = False

forwarded_allow_ips = os.environ.get("IKM_FORWARDED_ALLOW_IPS", "127.0.0.1,::1")

# The request line and headers are capped well above what the app's own URLs need.
limit_request_line = 4094
limit_request_fields = 100
limit_request_field_size = 8190

# The heartbeat file on a RAM disk: a worker on a slow or full disk is not killed by mistake.
# (gunicorn makes it with mkstemp: an unpredictable name, mode 0600, so a shared folder is safe.)
if os.path.isdir("/dev/shm"):  # nosec B108
    worker_tmp_dir = "/dev/shm"  # nosec B108

# gunicorn >= 25 opens a control socket under $HOME by default; two instances on one machine
# (app servers, the load bench, tests) would fight over it, and nothing here uses it.
control_socket_disable = True

proc_name = "ikm"


def post_worker_init(worker: object) -> None:
    """Once the worker has built its app: move every object it holds to the garbage
    collector's permanent generation (``gc.freeze``). The imports leave about 170,000
    objects; a full collection walked them all, about 100 ms, every few requests (a
    dashboard refresh at 500 OPDs took 240 or 350 ms depending on it). Objects made by
    requests are collected as before.

    The app imports ``scipy.stats`` only when a request first needs it (alarm checks, the
    bootstrap), which keeps ``ikm`` commands quick; a worker imports it here, so that no
    citizen's or head's request pays the 0.5 s.
    """
    import scipy.stats  # noqa: F401

    gc.freeze()


accesslog = None
errorlog = "-"
loglevel = os.environ.get("IKM_LOG_LEVEL", "info").lower()

if os.environ.get("IKM_LOG_FORMAT", "text") == "json":
    # gunicorn's own messages (workers starting, timeouts) as JSON lines like the app's.
    logconfig_dict = {
        "version": 1,
        "disable_existing_loggers": False,
        "root": {"level": "WARNING", "handlers": []},
        "loggers": {
            "gunicorn.error": {
                "level": loglevel.upper(),
                "handlers": ["stderr"],
                "propagate": False,
                "qualname": "gunicorn.error",
            },
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False},
        },
        "handlers": {"stderr": {"class": "survey.web.logs.StderrHandler", "formatter": "json"}},
        "formatters": {"json": {"()": "survey.web.logs.JsonFormatter"}},
    }
