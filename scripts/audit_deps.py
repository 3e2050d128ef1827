"""Audit the installed Python packages for known vulnerabilities with pip-audit.

pip-audit asks PyPI about each installed version (``/pypi/NAME/VERSION/json``). Where that
answer is missing (some PyPI mirrors serve only ``/pypi/NAME/json``, which describes the
latest release), the package is audited from that answer when the installed version is the
latest one. Exit status: 1 when any package has a known vulnerability not ignored; 1 in CI
(``CI=true``) when the vulnerability service could not be reached at all; otherwise 0, with a
warning listing each package that could not be audited.

Usage: python scripts/audit_deps.py [--ignore-vuln ID]...
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess  # nosec B404
import sys
import urllib.request
from importlib import metadata
from pathlib import Path

PYPI_JSON = "https://pypi.org/pypi/{name}/json"
TIMEOUT = 30
PIP_AUDIT = Path(sys.executable).with_name("pip-audit")


class Unreachable(Exception):
    """The vulnerability service could not be reached."""


def run_pip_audit(ignored: list[str]) -> list[dict]:
    """Run pip-audit over this environment; return its per-package results."""
    args = [str(PIP_AUDIT), "-f", "json", "--progress-spinner", "off", "--skip-editable"]
    for vuln in ignored:
        args += ["--ignore-vuln", vuln]
    # A fixed argument list, no shell: nothing from outside reaches the command line.
    done = subprocess.run(args, capture_output=True, text=True, check=False)  # nosec B603
    try:
        return json.loads(done.stdout)["dependencies"]
    except (json.JSONDecodeError, KeyError):
        last = (done.stderr.strip().splitlines() or [""])[-1]
        if "ConnectionError" in last or "ProxyError" in last or "Timeout" in last:
            raise Unreachable(last) from None
        sys.stderr.write(done.stderr)
        raise SystemExit(f"audit: pip-audit failed (exit {done.returncode}), see above") from None


def latest_advisories(name: str, version: str) -> list[str] | None:
    """Return the advisory ids of ``name`` if ``version`` is its latest release, else None."""
    url = PYPI_JSON.format(name=name)
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT) as answer:  # nosec B310
            data = json.load(answer)
    except (OSError, ValueError):
        return None
    if data.get("info", {}).get("version") != version:
        return None
    return [v["id"] for v in data.get("vulnerabilities") or [] if not v.get("withdrawn")]


def main() -> int:
    """Audit, print what was found, and return the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ignore-vuln", action="append", default=[], metavar="ID")
    ignored: list[str] = parser.parse_args().ignore_vuln
    found: dict[str, list[str]] = {}
    unaudited: list[str] = []
    try:
        results = run_pip_audit(ignored)
    except Unreachable as exc:
        print(f"audit: {exc}", file=sys.stderr)
        return unreachable()
    for dep in results:
        name = dep["name"]
        if "skip_reason" not in dep:
            ids = [v["id"] for v in dep.get("vulns", [])]
        elif "editable" in dep["skip_reason"]:
            continue  # this project itself, installed from the work tree
        else:
            try:
                version = metadata.version(name)
            except metadata.PackageNotFoundError:
                unaudited.append(name)
                continue
            advisories = latest_advisories(name, version)
            if advisories is None:
                unaudited.append(f"{name} {version}")
                continue
            ids = [i for i in advisories if i not in ignored]
        if ids:
            found[name] = ids
    for name, ids in sorted(found.items()):
        print(f"audit: {name}: known vulnerabilities {', '.join(ids)}", file=sys.stderr)
    total = sum(1 for dep in results if "editable" not in dep.get("skip_reason", ""))
    audited = total - len(unaudited)
    print(f"audit: {audited} of {total} packages audited, {len(found)} vulnerable")
    if unaudited:
        print(f"audit: warning: could not audit {', '.join(unaudited)}", file=sys.stderr)
    if found:
        return 1
    if total and audited == 0:
        return unreachable()
    return 0


def unreachable() -> int:
    """Say the service could not be reached: a failure in CI, a warning elsewhere."""
    message = "audit: the vulnerability service (PyPI's JSON API) could not be reached"
    if os.environ.get("CI", "").lower() == "true":
        print(f"{message}; failing in CI", file=sys.stderr)
        return 1
    print(f"{message}; nothing audited (this fails in CI)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
