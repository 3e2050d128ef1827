"""The checklist before publishing: what an evaluator must know before a ranking goes public.

:func:`publication_checklist` looks at a wave as it would be published and returns one
:class:`ChecklistItem` per thing worth a second look. Each item has a stable ``code`` (what
``ikm wave publish --acknowledge`` takes and the audit records), whether it is ``blocking``,
and its title, explanation and detail lines as coded :class:`~survey.core.problems.Problem`
values: the command line prints their English sentences, the web translates the codes
(``survey.web.problems``), so the core holds no sentence in one language.

The items, in the order they are shown:

``nothing-counted`` (blocking)
    No OPD has a counted response: there is nothing to score, rank or publish.
``no-responses``
    OPDs without a counted response (published with n = 0 and no score).
``below-min-n``
    OPDs with fewer counted responses than the wave's ``min_rank_n``: published as "belum
    cukup data", without rank or category.
``unanswered-elements``
    Per OPD, the IKM elements that none of its counted responses answered (the lost-column
    case: an OPD ranked on 7 of 9 elements). Not blocking, because it has no remedy inside
    the service once the answers are stored (a wave's responses cannot be removed per OPD, nor
    an OPD with responses taken out of the wave) and a local questionnaire may legitimately
    leave an element unanswered; its explanation says plainly that the OPD's IKM is then the
    mean of fewer elements and not comparable, and the evaluator must acknowledge it.
``period-not-over``
    The wave's last day is today or later (local days in the app's time zone).
``flagged``
    Responses flagged and left out of the scores (``--confirm-reviewed`` acknowledges it).
``open-alarms``
    Integrity alarms (:mod:`survey.core.alarms`) not cleared.
``fragile-sets``
    Ranked OPDs whose membership of the best-K or lowest-K confidence set (as published, seed 0,
    K = :data:`TOP_K`) changes with at most :data:`FEW_BALLOTS` extreme ballots added to that
    OPD alone (:meth:`reports.model.ScoredWave.robustness`).

Blocking items block publication; :func:`check_publication` (called by
``waves.change_status``) refuses unless every other item present was acknowledged, and
:func:`audit_detail` is what the ``wave.publish`` audit entry records of them.

Every count comes from the wave scored as it is published (:func:`score_for_checklist`, seed
0, K = 5), so the checklist speaks of the very n, elements and sets the public pages will
show. ``change_status`` recomputes it after locking the wave row; the flags and alarms are read
in its transaction, the answers by ``score_wave``'s own reader (a second connection, as for
every score), which sees what is committed at that moment.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from survey.core import alarms, periods
from survey.core.models import Wave, utcnow
from survey.core.problems import Problem, define, problem

if TYPE_CHECKING:
    from sqlmodel import Session

    from reports.model import ScoredWave

# K of the best-K / lowest-K sets, as the public pages and the ranking PDF (survey.web.results).
TOP_K = 5
# A set membership that changes with at most this many extreme ballots is fragile.
FEW_BALLOTS = 5
SEED = 0  # the seed of every published figure

# Every item's code, in the order the checklist shows them; only the first blocks.
BLOCKING_CODES = ("nothing-counted",)
ACKNOWLEDGEABLE_CODES = (
    "no-responses",
    "below-min-n",
    "unanswered-elements",
    "period-not-over",
    "flagged",
    "open-alarms",
    "fragile-sets",
)
CODES = BLOCKING_CODES + ACKNOWLEDGEABLE_CODES

define(
    {
        # Titles (the command line's terse English; pages have their own texts).
        "checklist-nothing-counted": "no OPD has a counted response",
        "checklist-no-responses": "OPDs without a counted response: {count}",
        "checklist-below-min-n": "OPDs below the minimum n for ranking ({min_n}): {count}",
        "checklist-unanswered-elements": "OPDs with an IKM element nobody answered: {count}",
        "checklist-period-not-over": "the wave's period runs until {end}; today is {today}",
        "checklist-flagged": "flagged responses, not counted: {count}",
        "checklist-open-alarms": "integrity alarms not cleared: {count}",
        "checklist-fragile-sets": (
            "OPDs in or out of the best {k} / lowest {k} by {few} extreme ballots or fewer: {count}"
        ),
        # Explanations.
        "checklist-nothing-counted-why": (
            "nothing to score, rank or publish: collect or import responses, or restore "
            "responses flagged by mistake"
        ),
        "checklist-no-responses-why": (
            "published with n = 0 and no score; check that their survey links were used and "
            "that no import was meant for them"
        ),
        "checklist-below-min-n-why": (
            "fewer counted responses than the wave's minimum for ranking ({min_n}): published "
            "without rank or category ('belum cukup data'); lower the minimum only if a "
            "ranking on so few answers can be defended"
        ),
        "checklist-unanswered-elements-why": (
            "their IKM is the mean of the elements answered, not comparable with OPDs scored "
            "on every element (a ranked OPD is ranked on fewer elements than the others); "
            "usually a question was lost in an import (a column left unmapped): check the "
            "imports"
        ),
        "checklist-period-not-over-why": (
            "the period's last day ({end}, {timezone}) has not passed: answers of the "
            "remaining days will never count"
        ),
        "checklist-flagged-why": (
            "flagged responses are left out of the scores; review them on the flagged "
            "responses page and restore those flagged by mistake"
        ),
        "checklist-open-alarms-why": (
            "a burst or a sudden shift in an OPD's answers, possibly ballot stuffing: review "
            "the answers, flag those concerned, clear the alarm on the dashboard"
        ),
        "checklist-fragile-sets-why": (
            "a few extreme ballots added to one of these OPDs alone change whether it is among "
            "the best {k} or the lowest {k}: check their responses (robustness table on the "
            "wave's page)"
        ),
        # Detail lines.
        "checklist-detail-opd": "{opd}: none counted",
        "checklist-detail-below-min-n": "{opd}: n = {n}",
        "checklist-detail-elements-ranked": "{opd} (ranked, n = {n}): {elements} unanswered",
        "checklist-detail-elements-unranked": (
            "{opd} (not ranked, n = {n}): {elements} unanswered"
        ),
        "checklist-detail-flagged": "{opd}: {n} flagged response(s)",
        "checklist-detail-alarm": "{opd}: {kind} alarm raised {raised_at}",
        "checklist-detail-top-leave": "{opd}: out of the best {k} with {count} worst ballot(s)",
        "checklist-detail-top-enter": "{opd}: into the best {k} with {count} best ballot(s)",
        "checklist-detail-bottom-leave": (
            "{opd}: out of the lowest {k} with {count} best ballot(s)"
        ),
        "checklist-detail-bottom-enter": (
            "{opd}: into the lowest {k} with {count} worst ballot(s)"
        ),
        # Refusals of change_status.
        "wave-checklist-blocking": (
            "the checklist blocks publishing: {codes} (see the checklist's explanation)"
        ),
        "wave-checklist-unacknowledged": (
            "acknowledge each checklist item before publishing; not acknowledged: {codes}"
        ),
    }
)


@dataclass(frozen=True)
class ChecklistItem:
    """One point of the checklist: its code, whether it blocks, and its coded texts."""

    code: str
    blocking: bool
    title: Problem
    explanation: Problem
    details: tuple[Problem, ...] = ()

    def english(self) -> list[str]:
        """Return the item as English lines (title, explanation, one line per detail)."""
        mark = "BLOCKING" if self.blocking else "to acknowledge"
        lines = [f"[{mark}] {self.code}: {self.title.english()}"]
        lines.append(f"    {self.explanation.english()}")
        lines += [f"    - {detail.english()}" for detail in self.details]
        return lines

    def as_audit(self) -> dict[str, Any]:
        """Return what the audit log keeps of the item: code, title and details (English)."""
        return {
            "code": self.code,
            "blocking": self.blocking,
            "title": self.title.english(),
            "details": [detail.english() for detail in self.details],
        }


def _item(
    code: str,
    details: Sequence[Problem] = (),
    /,
    **params: Any,
) -> ChecklistItem:
    """Build an item with its title and explanation (both take ``params``)."""
    return ChecklistItem(
        code=code,
        blocking=code in BLOCKING_CODES,
        title=problem(f"checklist-{code}", "checklist", **params),
        explanation=problem(f"checklist-{code}-why", "checklist", **params),
        details=tuple(details),
    )


def _detail(code: str, /, **params: Any) -> Problem:
    """Build one detail line."""
    return problem(f"checklist-detail-{code}", "checklist", **params)


def score_for_checklist(session: Session, *, wave: Wave) -> ScoredWave:
    """Score the wave as it would be published (seed 0; the wave tests are not needed)."""
    from survey.core.scores import score_wave

    return score_wave(session, wave=wave, seed=SEED, top_k=TOP_K, wave_tests=False)


def publication_checklist(
    session: Session,
    *,
    wave: Wave,
    moment: datetime | None = None,
    timezone: str = periods.DEFAULT_TIMEZONE,
    scored: ScoredWave | None = None,
) -> list[ChecklistItem]:
    """Return the checklist of ``wave`` at ``moment`` (now), blocking items first.

    ``scored`` is the wave scored as published (seed 0, all counted answers); it is scored
    here when not given (the web passes its cached one to show the page).
    """
    if scored is None:
        scored = score_for_checklist(session, wave=wave)
    items: list[ChecklistItem] = []
    if scored.counted == 0:
        items.append(_item("nothing-counted"))

    names = {opd.slug: opd.name for opd in scored.opds}
    silent = [opd for opd in scored.opds if opd.slug not in scored.aggregates]
    if silent and scored.counted:
        details = [_detail("opd", opd=opd.name) for opd in silent]
        items.append(_item("no-responses", details, count=len(silent)))

    small = sorted(scored.small_units(), key=lambda u: (names[u.unit], u.unit))
    if small:
        details = [_detail("below-min-n", opd=names[u.unit], n=u.n) for u in small]
        items.append(_item("below-min-n", details, count=len(small), min_n=scored.min_rank_n()))

    ranked = {u.unit for u in scored.units()}
    codes = scored.element_codes
    empty = []
    for opd in scored.opds:
        agg = scored.aggregates.get(opd.slug)
        if agg is None:
            continue
        missing = [code for code, n in zip(codes, agg.n_answers, strict=True) if int(n) == 0]
        if missing:
            kind = "elements-ranked" if opd.slug in ranked else "elements-unranked"
            empty.append(_detail(kind, opd=opd.name, n=int(agg.n), elements=", ".join(missing)))
    if empty:
        items.append(_item("unanswered-elements", empty, count=len(empty)))

    today = periods.local_day(moment or utcnow(), timezone)
    if wave.period_end is not None and wave.period_end >= today:
        items.append(
            _item(
                "period-not-over",
                end=wave.period_end.isoformat(),
                today=today.isoformat(),
                timezone=timezone,
            )
        )

    flagged = [opd for opd in scored.opds if opd.flagged]
    if flagged:
        details = [_detail("flagged", opd=opd.name, n=opd.flagged) for opd in flagged]
        items.append(_item("flagged", details, count=sum(opd.flagged for opd in flagged)))

    open_alarms = sorted(
        alarms.open_alarms(session, wave=wave), key=lambda a: (a.opd_name, a.raised_at, a.id)
    )
    if open_alarms:
        details = [
            _detail(
                "alarm",
                opd=alarm.opd_name,
                kind=alarm.kind,
                raised_at=alarm.raised_at.isoformat(timespec="minutes"),
            )
            for alarm in open_alarms
        ]
        items.append(_item("open-alarms", details, count=len(open_alarms)))

    fragile = _fragile(scored, names)
    if fragile:
        opds = {line.values["opd"] for line in fragile}
        items.append(_item("fragile-sets", fragile, count=len(opds), k=_k(scored), few=FEW_BALLOTS))
    return items


def _k(scored: ScoredWave) -> int:
    """The K of the sets as the robustness counts them (clamped to the OPDs ranked)."""
    return max(1, min(TOP_K, len(scored.units())))


def _fragile(scored: ScoredWave, names: dict[str, str]) -> list[Problem]:
    """Return a line per set membership that at most FEW_BALLOTS extreme ballots change."""
    if scored.score is None or not scored.units():
        return []
    result = scored.robustness(TOP_K)
    if not result.sets_computed:
        return []
    k = result.top_k
    lines: list[tuple[str, Problem]] = []
    for u in result.units:
        for which, inside, count in (
            ("top", u.in_top_set, u.top_change),
            ("bottom", u.in_bottom_set, u.bottom_change),
        ):
            if count is None or count > FEW_BALLOTS:
                continue
            code = f"{which}-{'leave' if inside else 'enter'}"
            lines.append((names[u.unit], _detail(code, opd=names[u.unit], count=count, k=k)))
    return [line for _name, line in sorted(lines, key=lambda pair: pair[0])]


def check_publication(
    session: Session,
    *,
    wave: Wave,
    acknowledged: Collection[str],
    moment: datetime | None = None,
    timezone: str = periods.DEFAULT_TIMEZONE,
) -> tuple[list[ChecklistItem], list[Problem]]:
    """Return the wave's checklist and why publishing is refused (nothing when it may go on).

    Refused: a blocking item, or a non-blocking item whose code is not in ``acknowledged``.
    """
    items = publication_checklist(session, wave=wave, moment=moment, timezone=timezone)
    blocking = [item.code for item in items if item.blocking]
    if blocking:
        return items, [problem("wave-checklist-blocking", "checklist", codes=", ".join(blocking))]
    missing = [item.code for item in items if item.code not in set(acknowledged)]
    if missing:
        return items, [
            problem("wave-checklist-unacknowledged", "checklist", codes=", ".join(missing))
        ]
    return items, []


def audit_detail(items: Sequence[ChecklistItem], *, actor: str | None) -> dict[str, Any]:
    """Return what the ``wave.publish`` entry records of the checklist that was acknowledged."""
    return {
        "checklist": [item.as_audit() for item in items],
        "acknowledged": [item.code for item in items],
        "acknowledged_by": actor,
    }


def by_code(items: Sequence[ChecklistItem]) -> dict[str, ChecklistItem]:
    """Return the items by code."""
    return {item.code: item for item in items}
