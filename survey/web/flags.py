"""Flagged responses and the audit log: evaluators review flags, administrators read the log.

An evaluator (or administrator) sees a wave's flagged responses, newest first, and either
restores one to the count (its status becomes ``counted``) or confirms its exclusion (it stays
flagged). No column records a review: each decision is an audit entry (``flag.restore`` or
``flag.confirm``) naming the response, and a flagged response counts as reviewed when a
``flag.confirm`` entry names it. Administrators read the whole audit log at ``/kerja/audit``.
Both lists show ``PAGE_SIZE`` rows a page (``?halaman=N``).

Each flagged answer shows its evidence (channel and kiosk, visit code, seconds, uniform
answers, repeat device, network burst, outside service hours, the network's short hash), and
the page lists the wave's burst groups (one network, one OPD, one hour: see
:mod:`survey.core.flags`), which an evaluator flags or restores as a whole after a
confirmation step (``flag.group``). ``?opd=SLUG`` narrows both lists to one OPD (the
dashboard's alarms link there).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask.typing import ResponseReturnValue
from flask_babel import gettext as _
from sqlmodel import Session, col, select

from survey.core import flags as flag_service
from survey.core import queries
from survey.core.audit import audit
from survey.core.evidence import Evidence
from survey.core.models import AuditLog, Opd, Response, Wave
from survey.web.database import get_session
from survey.web.i18n import format_number
from survey.web.problems import problems_text
from survey.web.signin import current_user, roles_required
from survey.web.workspace_forms import BurstGroupForm, FlagDecisionForm

bp = Blueprint("flags", __name__)

PAGE_SIZE = 100
RESULTS = ("dipulihkan", "dikonfirmasi")
GROUP_RESULTS = ("flag", "restore")
NETWORK_SHOWN = 8  # hex digits of the network hash a page shows (the export has all 16)


def reason_label(reason: str | None) -> str:
    """Return the reason a response was flagged in the current language."""
    labels = {
        "duplicate-device": _("Perangkat ganda"),
        "bot-suspect": _("Dugaan bot"),
        "burst": _("Lonjakan dari satu jaringan"),
        "manual": _("Ditandai manual"),
    }
    if reason is None:
        return _("Tanpa alasan")
    return labels.get(reason, reason)


def action_label(action: str) -> str:
    """Return the name of an audit action in the current language."""
    labels = {
        "flag.restore": _("Respons dipulihkan ke hitungan"),
        "flag.confirm": _("Penandaan respons dikonfirmasi"),
        "user.create": _("Pengguna dibuat"),
        "user.role": _("Peran pengguna diubah"),
        "user.update": _("Akun pengguna diubah"),
        "user.password": _("Kata sandi pengguna diganti"),
        "user.deactivate": _("Pengguna dinonaktifkan"),
        "user.activate": _("Pengguna diaktifkan kembali"),
        "opd.create": _("OPD ditambahkan"),
        "opd.update": _("OPD diubah"),
        "opd.deactivate": _("OPD dinonaktifkan"),
        "opd.activate": _("OPD diaktifkan kembali"),
        "opd.import": _("OPD diimpor dari CSV"),
        "questionnaire.create": _("Kuesioner ditambahkan"),
        "scheme.create": _("Skema kategori ditambahkan"),
        "wave.create": _("Gelombang dibuat"),
        "wave.update": _("Gelombang diubah"),
        "wave.open": _("Gelombang dibuka"),
        "wave.close": _("Gelombang ditutup"),
        "wave.publish": _("Gelombang diterbitkan"),
        "import.run": _("Respons diimpor"),
        "export.run": _("Data diekspor"),
        "privacy.strip": _("Metadata responden dihapus"),
        "flag.group": _("Kelompok respons ditandai atau dipulihkan"),
        "alarm.raise": _("Alarm menyala"),
        "alarm.clear": _("Alarm diselesaikan"),
    }
    return labels.get(action, action)


def channel_label(evidence: Evidence) -> str:
    """Return how an answer arrived, in the current language."""
    if evidence.channel == "kiosk":
        if evidence.device_id is not None:
            return _("kios terdaftar #%(id)s", id=evidence.device_id)
        return _("kios tidak terdaftar")
    if evidence.channel == "import":
        return _("impor berkas")
    return _("kode QR")


def evidence_labels(evidence: Evidence) -> list[tuple[str, bool]]:
    """Return every signal of an answer as (label, warning), in the current language.

    The channel, the visit code and the seconds are always shown; the four warning signals
    when present (a row says "tanpa sinyal lain" when none is); the network's short hash when
    one was recorded.
    """
    labels = [(channel_label(evidence), evidence.channel == "kiosk" and not evidence.device_id)]
    labels.append((_("terverifikasi"), False) if evidence.verified else (_("tanpa kode"), False))
    if evidence.seconds is None:
        labels.append((_("durasi tidak dicatat"), False))
    else:
        seconds = format_number(evidence.seconds, 0)
        # Two messages rather than ngettext: the catalogue holds no plural forms.
        text = _("1 detik") if evidence.seconds == 1 else _("%(n)s detik", n=seconds)
        labels.append((text, False))
    warnings = [
        (evidence.straightline, _("jawaban seragam")),
        (evidence.repeat_device, _("perangkat berulang")),
        (evidence.burst, _("lonjakan jaringan")),
        (evidence.off_hours, _("di luar jam layanan")),
    ]
    shown = [(text, True) for present, text in warnings if present]
    labels += shown or [(_("tanpa sinyal lain"), False)]
    if evidence.network:
        labels.append((_("jaringan %(hash)s", hash=evidence.network[:NETWORK_SHOWN]), False))
    return labels


def _page_number() -> int:
    """Return the requested page (1-based; anything unreadable is page 1)."""
    try:
        return max(1, min(int(request.args.get("halaman", "1")), 1_000_000))
    except ValueError:
        return 1


@dataclass(frozen=True)
class Pager:
    """One page of a list: its number, the total of rows, and the rows a page."""

    page: int
    total: int
    size: int = PAGE_SIZE

    @property
    def pages(self) -> int:
        """Return the number of pages (at least 1)."""
        return max(1, -(-self.total // self.size))

    @property
    def offset(self) -> int:
        """Return the offset of the page's first row."""
        return (self.page - 1) * self.size


@dataclass(frozen=True)
class FlaggedRow:
    """One flagged response as the review page shows it."""

    id: int
    opd: str
    submitted_at: datetime
    reason: str
    answers: list[tuple[str, int | None]]
    comment: str | None
    reviewed: bool
    evidence: list[tuple[str, bool]]


def _wave_or_404(session: Session, slug: str) -> Wave:
    wave = queries.get_wave(session, slug=slug)
    if wave is None:
        abort(404)
    return wave


def confirmed_ids(session: Session, *, wave: Wave) -> set[int]:
    """Return the ids of the wave's responses whose flag an evaluator has confirmed."""
    query = select(AuditLog.detail).where(AuditLog.action == "flag.confirm")
    found = set()
    for detail in session.exec(query).all():
        if detail.get("wave") == wave.slug and isinstance(detail.get("response_id"), int):
            found.add(detail["response_id"])
    return found


def flagged_page(
    session: Session, *, wave: Wave, page: int, opd: Opd | None = None
) -> tuple[list[FlaggedRow], Pager]:
    """Return one page of the wave's flagged responses (of one OPD if given), newest first."""
    where: list[sa.ColumnElement[bool]] = [
        col(Response.wave_id) == wave.id,
        col(Response.status) == "flagged",
    ]
    if opd is not None:
        where.append(col(Response.opd_id) == opd.id)
    total = session.exec(select(sa.func.count()).select_from(Response).where(*where)).one()
    pager = Pager(page=page, total=int(total))
    query = (
        select(Response, Opd.name)
        .join(Opd, col(Opd.id) == Response.opd_id)
        .where(*where)
        .order_by(col(Response.submitted_at).desc(), col(Response.id).desc())
        .offset(pager.offset)
        .limit(pager.size)
    )
    codes = [
        (element.position, element.code)
        for element in queries.elements(session, questionnaire_id=wave.questionnaire_id)
    ]
    reviewed = confirmed_ids(session, wave=wave)
    rows = []
    for response, opd_name in session.exec(query).all():
        assert response.id is not None
        rows.append(
            FlaggedRow(
                id=response.id,
                opd=opd_name,
                submitted_at=response.submitted_at,
                reason=reason_label(response.flag_reason),
                answers=[(code, getattr(response, f"a{pos}")) for pos, code in codes],
                comment=response.comment,
                reviewed=response.id in reviewed,
                evidence=evidence_labels(Evidence.of(response)),
            )
        )
    return rows, pager


@bp.get("/kerja/gelombang/<wave_slug>/ditandai")
@roles_required("evaluator")
def review(wave_slug: str) -> ResponseReturnValue:
    """List a wave's flagged responses with a restore and a confirm button each."""
    session = get_session()
    wave = _wave_or_404(session, wave_slug)
    opd_slug = request.args.get("opd")
    opd = queries.opd_in_wave(session, wave=wave, opd_slug=opd_slug) if opd_slug else None
    rows, pager = flagged_page(session, wave=wave, page=_page_number(), opd=opd)
    groups = flag_service.burst_groups(session, wave=wave, opd_slug=opd.slug if opd else None)
    result = request.args.get("hasil")
    group_result = request.args.get("kelompok")
    return render_template(
        "flags/review.html",
        wave=wave,
        rows=rows,
        pager=pager,
        opd=opd,
        groups=groups,
        network_shown=NETWORK_SHOWN,
        result=result if result in RESULTS else None,
        result_id=request.args.get("respons", type=int),
        group_result=group_result if group_result in GROUP_RESULTS else None,
        group_count=request.args.get("jumlah", type=int),
    )


def _published_page(wave: Wave, message: str) -> ResponseReturnValue:
    """Return the 409 page of a change refused because the wave is published."""
    page = render_template(
        "errors/error.html", code=409, title=_("Gelombang sudah diterbitkan"), message=message
    )
    return page, 409


@bp.post("/kerja/gelombang/<wave_slug>/ditandai/kelompok")
@roles_required("evaluator")
def group_action(wave_slug: str) -> ResponseReturnValue:
    """Flag or restore a whole burst group: first a confirmation page, then the action."""
    session = get_session()
    wave = _wave_or_404(session, wave_slug)
    form = BurstGroupForm()
    if not form.validate():
        abort(400)
    decision = form.as_decision()
    group = next(
        (
            g
            for g in flag_service.burst_groups(session, wave=wave, opd_slug=decision.opd)
            if g.network == decision.network and g.hour == flag_service.hour_start(decision.hour)
        ),
        None,
    )
    if group is None:
        abort(404)
    if not form.confirmed:
        # No script on these pages: the confirmation is a page of its own, whose button posts
        # the same group again with yakin=1.
        return render_template(
            "flags/group_confirm.html", wave=wave, group=group, decision=decision
        )
    user = current_user()
    try:
        done = flag_service.act_on_group(
            session,
            wave=wave,
            opd_slug=decision.opd,
            network=decision.network,
            hour=decision.hour,
            action=decision.action,
            actor=user.username if user else None,
        )
    except flag_service.GroupError as exc:
        if wave.status == "published":
            return _published_page(wave, problems_text(exc.problems))
        page = render_template(
            "errors/error.html",
            code=409,
            title=_("Kelompok respons tidak diubah"),
            message=problems_text(exc.problems),
        )
        return page, 409
    return redirect(
        url_for(
            "flags.review",
            wave_slug=wave.slug,
            opd=decision.opd,
            kelompok=done.action,
            jumlah=done.changed,
        )
    )


@bp.post("/kerja/gelombang/<wave_slug>/ditandai/<int:response_id>")
@roles_required("evaluator")
def decide(wave_slug: str, response_id: int) -> ResponseReturnValue:
    """Restore a flagged response to the count, or confirm its exclusion; audit either."""
    session = get_session()
    wave = _wave_or_404(session, wave_slug)
    response = session.exec(
        select(Response).where(Response.id == response_id).with_for_update()
    ).first()
    if response is None or response.wave_id != wave.id or response.status != "flagged":
        abort(404)
    if wave.status == "published":
        # Published results are frozen: restoring a response would change public figures.
        return _published_page(
            wave,
            _(
                "Hasil gelombang survei ini sudah diterbitkan, sehingga penandaan respons "
                "tidak dapat diubah lagi."
            ),
        )
    form = FlagDecisionForm()
    if not form.validate():
        abort(400)
    action = form.action.data
    user = current_user()
    opd = session.get(Opd, response.opd_id)
    detail: dict[str, Any] = {
        "response_id": response.id,
        "wave": wave.slug,
        "opd": opd.slug if opd else None,
        "previous_status": response.status,
        "previous_reason": response.flag_reason,
    }
    if action == "restore":
        response.status = "counted"
        response.flag_reason = None
        session.add(response)
    audit(session, actor=user.username if user else None, action=f"flag.{action}", **detail)
    session.commit()
    result = "dipulihkan" if action == "restore" else "dikonfirmasi"
    return redirect(url_for("flags.review", wave_slug=wave.slug, hasil=result, respons=response_id))


@dataclass(frozen=True)
class AuditRow:
    """One audit entry as the audit page shows it."""

    at: datetime
    actor: str | None
    action: str
    label: str
    detail: list[tuple[str, str]]


def _detail_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, dict):
        return ", ".join(f"{k}: {_detail_text(v)}" for k, v in value.items())
    return str(value)


def audit_page(session: Session, *, page: int) -> tuple[list[AuditRow], Pager]:
    """Return one page of the audit log, newest first."""
    total = session.exec(select(sa.func.count()).select_from(AuditLog)).one()
    pager = Pager(page=page, total=int(total))
    query = (
        select(AuditLog)
        .order_by(col(AuditLog.at).desc(), col(AuditLog.id).desc())
        .offset(pager.offset)
        .limit(pager.size)
    )
    rows = [
        AuditRow(
            at=entry.at,
            actor=entry.actor,
            action=entry.action,
            label=action_label(entry.action),
            detail=[(key, _detail_text(value)) for key, value in entry.detail.items()],
        )
        for entry in session.exec(query).all()
    ]
    return rows, pager


@bp.get("/kerja/audit")
@roles_required("admin")
def audit_log() -> ResponseReturnValue:
    """The audit log for administrators, newest first."""
    rows, pager = audit_page(get_session(), page=_page_number())
    return render_template("flags/audit.html", rows=rows, pager=pager)
