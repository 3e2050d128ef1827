"""From a template and its context to PDF bytes: Jinja2 for the HTML, WeasyPrint for the PDF.

The templates live in ``templates/reports/`` at the top of the project, beside the survey's own
templates, with their stylesheets (``report.css``, ``posters.css``, ``codesheet.css``);
autoescaping is on for every template, so citizens' comments and OPD names are always text,
never markup. WeasyPrint only reads what this module allows: the template folder, the DejaVu
fonts and ``data:`` URLs (the charts), never the network, so a report cannot make the server
fetch anything.

PDFs are deterministic: the creation and modification dates are the data's
(``data_taken_at``), the file identifier is a hash of the content, and WeasyPrint adds no
random ids in the PDF/UA variant. The same data give the same bytes.

The stylesheet and the ``@font-face`` rules are not in the HTML: :func:`html_to_pdf` applies
them as WeasyPrint objects parsed once per thread, with the one font configuration they were
parsed for, so a report neither re-reads the CSS nor reloads the fonts (a tenth of an OPD
report's time). The PDF bytes are the same as with the stylesheet linked from the HTML.
"""

from __future__ import annotations

import functools
import gc
import re
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import weasyprint
from markupsafe import Markup
from weasyprint import html as weasyprint_html
from weasyprint.text.fonts import FontConfiguration
from weasyprint.urls import URLFetcher

__all__ = [
    "TEMPLATE_DIR",
    "environment",
    "fewer_collections",
    "html_to_pdf",
    "render",
    "w3c_date",
]

TEMPLATE_DIR = Path(__file__).resolve().parent.parent / "templates" / "reports"

# DejaVu Sans: Debian's fonts-dejavu-core if installed, else the copy matplotlib ships (it is a
# dependency anyway), so the reports look the same on any machine and the charts' text, also
# set in DejaVu Sans, matches the body text.
_FONT_DIRS = (
    Path("/usr/share/fonts/truetype/dejavu"),
    Path(matplotlib.get_data_path()) / "fonts" / "ttf",
)
_FONT_FILES = {
    ("normal", "normal"): "DejaVuSans.ttf",
    ("bold", "normal"): "DejaVuSans-Bold.ttf",
    ("normal", "italic"): "DejaVuSans-Oblique.ttf",
    ("bold", "italic"): "DejaVuSans-BoldOblique.ttf",
}
_MONO_FILE = "DejaVuSansMono.ttf"


def _font_dir() -> Path:
    """Return the first folder that holds every DejaVu Sans face."""
    for folder in _FONT_DIRS:
        if all((folder / name).is_file() for name in (*_FONT_FILES.values(), _MONO_FILE)):
            return folder
    raise FileNotFoundError(
        "DejaVu Sans not found; install fonts-dejavu-core or matplotlib's bundled fonts"
    )


@functools.cache
def font_face_css() -> Markup:
    """Return the ``@font-face`` rules that embed DejaVu Sans from its files."""
    folder = _font_dir()
    rules = []
    for (weight, style), name in _FONT_FILES.items():
        rules.append(
            "@font-face { font-family: 'DejaVu Sans'; "
            f"src: url('{(folder / name).as_uri()}'); "
            f"font-weight: {weight}; font-style: {style}; }}"
        )
    rules.append(
        "@font-face { font-family: 'DejaVu Sans Mono'; "
        f"src: url('{(folder / _MONO_FILE).as_uri()}'); }}"
    )
    # Built here from file paths, with no outside text.
    return Markup("\n".join(rules))  # nosec B704


class _LocalFetcher(URLFetcher):
    """Fetch only ``data:`` URLs and files under the template and font folders."""

    def __init__(self) -> None:
        """Allow no network protocol at all."""
        super().__init__(allowed_protocols={"data", "file"})
        self._roots = (TEMPLATE_DIR, *(d.resolve() for d in _FONT_DIRS))

    def fetch(self, url: str, headers: Any = None) -> Any:
        """Refuse files outside the allowed folders (WeasyPrint logs and skips them)."""
        if url.startswith("file:"):
            path = Path(url.split("?", 1)[0].removeprefix("file://")).resolve()
            if not any(path.is_relative_to(root) for root in self._roots):
                raise ValueError(f"report may not read {url}")
        return super().fetch(url, headers)


def _css_string(value: Any) -> Markup:
    """Quote a value as a CSS string for a ``<style>`` block (page margin boxes from data).

    Inside ``<style>`` HTML entities are not decoded, so the value is escaped for CSS instead,
    with ``<`` escaped too: no text can close the style element.
    """
    text = str(value)
    for char, escape in (("\\", "\\\\"), ('"', '\\"'), ("\n", "\\A "), ("<", "\\3C ")):
        text = text.replace(char, escape)
    # Escaped above for a CSS string in <style>: no text can end it.
    return Markup(f'"{text}"')  # nosec B704


def _capitalize_first(text: str) -> str:
    """Upper-case the first letter only ("lima OPD ..." -> "Lima OPD ..."), unlike capitalize."""
    return text[:1].upper() + text[1:]


@functools.cache
def environment() -> jinja2.Environment:
    """Return the Jinja2 environment of the report templates (autoescaped, strict)."""
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATE_DIR),
        autoescape=True,  # every template, whatever its name: free text is data, not markup
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["css_string"] = _css_string
    env.filters["capitalize_first"] = _capitalize_first
    return env


def render(template: str, context: Mapping[str, Any]) -> str:
    """Render one report template to an HTML string."""
    return environment().get_template(template).render(**context)


def w3c_date(moment: datetime) -> str:
    """Return the W3C date-time WeasyPrint reads from ``dcterms`` meta tags (UTC)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# Rendering a report allocates millions of short-lived objects (boxes, styles, matplotlib
# artists); with the default threshold (700) the collector runs thousands of times per report,
# each young collection also walking the large heap of imported modules now and then. A higher
# first threshold while a report renders takes a quarter off its time; memory stays bounded
# (cycles are still collected, only after more allocations).
GC_THRESHOLD = 100_000
_GC_LOCK = threading.Lock()
_gc_depth = 0
_gc_saved: tuple[int, int, int] = (0, 0, 0)


@contextmanager
def fewer_collections() -> Iterator[None]:
    """Raise the garbage collector's first threshold while a report renders, then restore it.

    Nests and is safe across threads (the thresholds are global to the process): the first
    entry raises it, the last exit puts back what was there. A collector that is off
    (threshold 0) or already less eager is left alone.
    """
    global _gc_depth, _gc_saved
    with _GC_LOCK:
        if _gc_depth == 0:
            _gc_saved = gc.get_threshold()
            if 0 < _gc_saved[0] < GC_THRESHOLD:
                gc.set_threshold(GC_THRESHOLD, *_gc_saved[1:])
        _gc_depth += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _gc_depth -= 1
            if _gc_depth == 0:
                gc.set_threshold(*_gc_saved)


# Per thread (a web server may render in several): the font configuration, the parsed
# @font-face rules and the parsed stylesheets by file name. WeasyPrint's objects are not meant
# to be shared between threads; within one thread, documents rendered one after another share
# them safely (fonts are subset per document).
_LOCAL = threading.local()


def _stylesheets(name: str) -> tuple[FontConfiguration, list[weasyprint.CSS]]:
    """Return this thread's font configuration with the font rules and stylesheet `name`."""
    cache: dict[str, weasyprint.CSS] | None = getattr(_LOCAL, "sheets", None)
    if cache is None:
        _LOCAL.font_config = FontConfiguration()
        cache = _LOCAL.sheets = {}
    font_config: FontConfiguration = _LOCAL.font_config
    for key, text in (("", font_face_css), (name, lambda: (TEMPLATE_DIR / name).read_text())):
        if key not in cache:
            cache[key] = weasyprint.CSS(
                string=str(text()),
                base_url=TEMPLATE_DIR.as_uri() + "/",
                url_fetcher=_LocalFetcher(),
                font_config=font_config,
            )
    return font_config, [cache[""], cache[name]]


# WeasyPrint's user-agent stylesheet styles the ::marker, ::footnote-* and ::note-*
# pseudo-elements of every element (``::marker { ... }``), and WeasyPrint computes a style for
# each such pair: six per element, though only list items have a marker and no report has a
# footnote or a note. The ranking report of 50 OPDs has some 3,900 elements, so 23,000 styles,
# 60% of its style computation. The same sheet with ``li::marker`` and without the note rules
# styles every box the reports draw alike (the PDF bytes are the same) in 0.4 s less.
_UNIVERSAL_MARKER = "\n::marker {"
_NOTE_RULES = re.compile(r"^::(?:footnote|note)-[a-z]+ \{[^}]*\}\n", re.M)


@functools.cache
def _user_agent_sheet() -> weasyprint.CSS:
    """WeasyPrint's HTML user-agent stylesheet, marker rule for list items only, no note rules.

    Falls back to WeasyPrint's own sheet, unchanged, if its text is not the one expected.
    """
    text = weasyprint_html.UA
    if text.count(_UNIVERSAL_MARKER) != 1 or not _NOTE_RULES.search(text):
        return weasyprint_html.UA_STYLESHEET
    text = _NOTE_RULES.sub("", text.replace(_UNIVERSAL_MARKER, "\nli::marker {"))
    return weasyprint.CSS(string=text, counter_style=weasyprint_html.UA_COUNTER_STYLE)


class _ReportHTML(weasyprint.HTML):
    """A report's HTML, styled with the slimmer user-agent sheet of :func:`_user_agent_sheet`."""

    def _ua_stylesheets(self, forms: bool = False) -> list[weasyprint.CSS]:
        """The user-agent stylesheets (reports have no forms)."""
        if forms:
            return super()._ua_stylesheets(forms)
        return [_user_agent_sheet()]


def html_to_pdf(html: str, *, stylesheet: str = "report.css", tagged: bool = True) -> bytes:
    """Render HTML from :func:`render` to PDF bytes (PDF/UA-1, tagged, unless `tagged` is off).

    `stylesheet` is a file in :data:`TEMPLATE_DIR`, applied with the DejaVu fonts (see the
    module's text); the ``<style>`` of the HTML (page headers and footers) comes on top. The
    document's dates come from its ``dcterms.created``/``dcterms.modified`` meta tags, which
    the templates fill from the data, so no clock is read here.
    """
    if "/" in stylesheet or not (TEMPLATE_DIR / stylesheet).is_file():
        raise ValueError(f"no stylesheet {stylesheet!r} in {TEMPLATE_DIR}")
    font_config, stylesheets = _stylesheets(stylesheet)
    document = _ReportHTML(
        string=html, base_url=TEMPLATE_DIR.as_uri() + "/", url_fetcher=_LocalFetcher()
    )
    options: dict[str, Any] = {"pdf_identifier": True}  # an md5 of the content: stable
    if tagged:
        options["pdf_variant"] = "pdf/ua-1"
    with fewer_collections():
        return document.write_pdf(font_config=font_config, stylesheets=stylesheets, **options)
