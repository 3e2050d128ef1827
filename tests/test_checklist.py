"""The checklist before publishing (issue 13, item 2), on both backends.

A hand-built closed wave holds one case of each item: OPDs below the minimum n and without
counted responses, Dinas Sosial ranked on 7 of 9 elements, a period whose last day is today, a
flagged response, an open alarm, and OPDs whose best-5 / lowest-5 membership a few extreme
ballots change. Publishing is refused while an item blocks or is not acknowledged, with nothing
written; once every item is acknowledged the ``wave.publish`` entry lists them with the actor.
The same on the wave's page (400, then 303) and with ``ikm wave publish`` (exit 2, then 0), and
the demo wave, closed, is published that way.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
from auth_helpers import CSRF_RE, login
from flask.testing import FlaskClient
from sqlmodel import Session, col, select
from survey_helpers import add_opd, add_responses, create_wave

from survey.core import checklist, queries, waves
from survey.core.models import Alarm, AuditLog, Opd, Wave

SLUG = "cek-2026"
PAGE = f"/kerja/gelombang/{SLUG}"
STATUS = f"{PAGE}/status"
# The period's last day is far ahead, so the page and the command (real clock) list it too.
LAST_DAY = date(2099, 3, 31)
# 23:59 of the last day in Jakarta (UTC+7), and 00:00 of the day after.
LAST_MINUTE = datetime(2099, 3, 31, 16, 59, tzinfo=UTC)
DAY_AFTER = datetime(2099, 3, 31, 17, 0, tzinfo=UTC)

# (slug, name, counted answer patterns repeated to 6 rows); the scores descend from bpbd to
# dinkes so that the best-5 and lowest-5 sets are decided by a handful of answers.
RANKED = (
    ("bpbd", "Badan Penanggulangan Bencana Daerah", [[4] * 9, [3] * 9]),
    ("rsud", "Rumah Sakit Umum Daerah", [[4] * 9, [3] * 9, [3] * 9]),
    ("dishub", "Dinas Perhubungan", [[3] * 9]),
    # Dinas Sosial: U2 and U7 lost (the import case): ranked on 7 of 9 elements.
    (
        "dinsos",
        "Dinas Sosial",
        [[3, None, 3, 3, 3, 3, None, 3, 3], [2, None, 2, 2, 2, 2, None, 2, 2]],
    ),
    ("dlh", "Dinas Lingkungan Hidup", [[3] * 9, [2] * 9]),
    ("disdik", "Dinas Pendidikan", [[2] * 9]),
    ("dinkes", "Dinas Kesehatan", [[2] * 9, [1] * 9]),
)
MIN_RANK_N = 5


def rows(patterns: list, n: int) -> list:
    """Return ``n`` answer rows cycling through ``patterns``."""
    return [patterns[i % len(patterns)] for i in range(n)]


@pytest.fixture
def closed_wave(session: Session, users) -> Wave:
    """The hand-built wave, closed, with a case of every non-blocking item."""
    for slug, name, _patterns in RANKED:
        if queries.get_opd(session, slug=slug) is None:
            add_opd(session, slug=slug, name=name)
    add_opd(session, slug="bapenda", name="Badan Pendapatan Daerah")
    add_opd(session, slug="kominfo", name="Dinas Komunikasi dan Informatika")
    wave = create_wave(
        session,
        slug=SLUG,
        title="Cek 2026",
        status="open",
        period_start=date(2026, 3, 1),
        period_end=LAST_DAY,
        min_rank_n=MIN_RANK_N,
        opd_slugs=[slug for slug, _name, _p in RANKED] + ["bapenda", "kominfo"],
    )
    for slug, _name, patterns in RANKED:
        add_responses(session, wave, slug, rows(patterns, 6))
    # Bapenda: 3 counted responses (below 5), none answering U9.
    add_responses(session, wave, "bapenda", rows([[3] * 8 + [None]], 3))
    # Kominfo: nothing counted, one response flagged; BPBD has two more flagged.
    add_responses(session, wave, "kominfo", [[1] * 9], status="flagged", reason="manual")
    add_responses(session, wave, "bpbd", [[1] * 9] * 2, status="flagged", reason="bot-suspect")
    bpbd = queries.get_opd(session, slug="bpbd")
    rsud = queries.get_opd(session, slug="rsud")
    assert bpbd is not None and rsud is not None
    raised = datetime(2026, 3, 20, 3, 15, tzinfo=UTC)
    session.add(Alarm(wave_id=wave.id, opd_id=bpbd.id, kind="rate", raised_at=raised))
    # A cleared alarm is no longer an item.
    session.add(
        Alarm(
            wave_id=wave.id,
            opd_id=rsud.id,
            kind="pattern",
            raised_at=raised,
            cleared_at=raised,
            cleared_by="eva",
        )
    )
    session.commit()
    return waves.change_status(session, wave=wave, action="close", actor="eva")


EXPECTED = [
    (
        "no-responses",
        "OPDs without a counted response: 1",
        ["Dinas Komunikasi dan Informatika: none counted"],
    ),
    (
        "below-min-n",
        "OPDs below the minimum n for ranking (5): 1",
        ["Badan Pendapatan Daerah: n = 3"],
    ),
    (
        "unanswered-elements",
        "OPDs with an IKM element nobody answered: 2",
        [
            "Badan Pendapatan Daerah (not ranked, n = 3): U9 unanswered",
            "Dinas Sosial (ranked, n = 6): U2, U7 unanswered",
        ],
    ),
    (
        "period-not-over",
        "the wave's period runs until 2099-03-31; today is 2099-03-31",
        [],
    ),
    (
        "flagged",
        "flagged responses, not counted: 3",
        [
            "Badan Penanggulangan Bencana Daerah: 2 flagged response(s)",
            "Dinas Komunikasi dan Informatika: 1 flagged response(s)",
        ],
    ),
    (
        "open-alarms",
        "integrity alarms not cleared: 1",
        ["Badan Penanggulangan Bencana Daerah: rate alarm raised 2026-03-20T03:15+00:00"],
    ),
]


FRAGILE = (
    "fragile-sets",
    "OPDs in or out of the best 5 / lowest 5 by 5 extreme ballots or fewer: 3",
    [
        "Badan Penanggulangan Bencana Daerah: out of the lowest 5 with 4 best ballot(s)",
        "Dinas Kesehatan: into the best 5 with 1 best ballot(s)",
        "Dinas Pendidikan: out of the best 5 with 4 worst ballot(s)",
    ],
)
ALL_CODES = [code for code, _title, _details in [*EXPECTED, FRAGILE]]


def shown(items: list[checklist.ChecklistItem]) -> list[tuple]:
    """Return each item as (code, title, detail lines) in English."""
    return [
        (item.code, item.title.english(), [line.english() for line in item.details])
        for item in items
    ]


def state(session: Session) -> tuple:
    """Return the wave's status and publication time and every audit entry, as stored."""
    session.expire_all()
    wave = session.exec(select(Wave).where(Wave.slug == SLUG)).one()
    entries = session.exec(select(AuditLog.id, AuditLog.action).order_by(AuditLog.id)).all()
    return wave.status, wave.published_at, [tuple(e) for e in entries]


def publish_entry(session: Session) -> AuditLog:
    """Return the one wave.publish entry."""
    session.expire_all()
    [entry] = session.exec(select(AuditLog).where(AuditLog.action == "wave.publish")).all()
    return entry


# --- The items ------------------------------------------------------------------------------


def test_every_item_with_its_details(session: Session, closed_wave: Wave) -> None:
    """Each item of the hand-built wave, with its OPDs, element codes and counts."""
    items = checklist.publication_checklist(session, wave=closed_wave, moment=LAST_MINUTE)
    assert shown(items) == [*EXPECTED, FRAGILE]
    assert not any(item.blocking for item in items)
    # The fragile sets are the published robustness counts (seed 0, K = 5) of 5 or fewer.
    scored = checklist.score_for_checklist(session, wave=closed_wave)
    result = scored.robustness(5)
    assert result.unit("bpbd").in_bottom_set and result.unit("bpbd").bottom_change == 4
    assert not result.unit("dinkes").in_top_set and result.unit("dinkes").top_change == 1
    assert result.unit("disdik").in_top_set and result.unit("disdik").top_change == 4
    fewest_others = [
        c
        for u in result.units
        if u.unit not in ("bpbd", "dinkes", "disdik")
        for c in (u.top_change, u.bottom_change)
        if c is not None
    ]
    assert min(fewest_others) > checklist.FEW_BALLOTS
    # Dinas Sosial is ranked although two of its elements are empty (the import case).
    assert scored.unit("dinsos") is not None


def test_the_period_item_ends_with_the_last_local_day(session: Session, closed_wave) -> None:
    """Until 23:59 of the last day in Jakarta the period is running; at 00:00 it is over."""
    before = checklist.publication_checklist(session, wave=closed_wave, moment=LAST_MINUTE)
    after = checklist.publication_checklist(session, wave=closed_wave, moment=DAY_AFTER)
    assert [item.code for item in before] == ALL_CODES
    assert [item.code for item in after] == [c for c in ALL_CODES if c != "period-not-over"]
    # In UTC the last minute is still the day before: the wave's time zone decides.
    utc = checklist.publication_checklist(
        session, wave=closed_wave, moment=DAY_AFTER, timezone="UTC"
    )
    assert "period-not-over" in [item.code for item in utc]


def test_nothing_counted_blocks_and_writes_nothing(session: Session, users) -> None:
    """A wave with no counted response cannot be published, whatever is acknowledged."""
    wave = create_wave(session, slug=SLUG, title="Kosong", status="open", opd_slugs=["bpbd"])
    add_responses(session, wave, "bpbd", [[1] * 9], status="flagged", reason="manual")
    wave = waves.change_status(session, wave=wave, action="close", actor="eva")
    items = checklist.publication_checklist(session, wave=wave)
    assert [(item.code, item.blocking) for item in items] == [
        ("nothing-counted", True),
        ("flagged", False),
    ]
    assert items[0].english()[0] == "[BLOCKING] nothing-counted: no OPD has a counted response"
    before = state(session)
    with pytest.raises(waves.WaveSetupError) as caught:
        waves.change_status(
            session,
            wave=wave,
            action="publish",
            actor="eva",
            acknowledged=[*checklist.CODES],
        )
    assert [(p.code, p.values["codes"]) for p in caught.value.problems] == [
        ("wave-checklist-blocking", "nothing-counted")
    ]
    assert state(session) == before
    assert before[0] == "closed" and before[1] is None


def test_an_item_not_acknowledged_refuses_and_writes_nothing(session: Session, closed_wave) -> None:
    before = state(session)
    with pytest.raises(waves.WaveSetupError) as caught:
        waves.change_status(
            session,
            wave=closed_wave,
            action="publish",
            actor="eva",
            acknowledged=[c for c in ALL_CODES if c not in ("flagged", "fragile-sets")],
        )
    assert str(caught.value) == (
        "acknowledge each checklist item before publishing; not acknowledged: flagged, fragile-sets"
    )
    assert state(session) == before
    assert before[:2] == ("closed", None)


def test_every_item_acknowledged_publishes_and_is_audited(session: Session, closed_wave) -> None:
    wave = waves.change_status(
        session, wave=closed_wave, action="publish", actor="eva", acknowledged=ALL_CODES
    )
    assert wave.status == "published" and wave.published_at is not None
    entry = publish_entry(session)
    assert entry.actor == "eva"
    assert entry.detail["acknowledged"] == ALL_CODES
    assert entry.detail["acknowledged_by"] == "eva"
    recorded = {item["code"]: item for item in entry.detail["checklist"]}
    assert recorded["unanswered-elements"]["details"] == EXPECTED[2][2]
    assert recorded["fragile-sets"]["title"] == FRAGILE[1]
    assert not any(item["blocking"] for item in entry.detail["checklist"])


# --- The wave's page -----------------------------------------------------------------------


def post_status(client: FlaskClient, data: dict) -> object:
    """Post the wave's status form with the page's CSRF token."""
    match = CSRF_RE.search(client.get(PAGE).get_data(as_text=True))
    assert match
    return client.post(STATUS, data={"csrf_token": match.group(1), **data})


def test_the_page_shows_the_checklist_and_publishes_once_every_item_is_ticked(
    client: FlaskClient, session: Session, closed_wave
) -> None:
    login(client)
    page = client.get(PAGE).get_data(as_text=True)
    for code in ALL_CODES:
        assert f'id="butir-{code}"' in page
        assert f'name="acknowledge" value="{code}"' in page
    assert "Dinas Sosial (diperingkat, 6 respons dihitung): tidak ada yang menjawab U2, U7" in page
    assert "Badan Pendapatan Daerah: 3 respons dihitung" in page
    assert 'value="publish" disabled' not in page
    english = client.get(PAGE + "?lang=en").get_data(as_text=True)
    assert "Dinas Sosial (ranked, 6 counted responses): nobody answered U2, U7" in english
    client.get(PAGE + "?lang=id")
    # Two items not ticked: 400, the page with the error and the ticks kept, nothing written.
    before = state(session)
    ticked = [c for c in ALL_CODES if c not in ("open-alarms", "fragile-sets")]
    response = post_status(client, {"action": "publish", "acknowledge": ticked})
    assert response.status_code == 400
    page = response.get_data(as_text=True)
    assert "2 butir belum dicentang" in page
    assert 'id="err-ack-open-alarms"' in page and 'id="err-ack-fragile-sets"' in page
    assert 'id="err-ack-flagged"' not in page
    assert 'id="f-ack-flagged" name="acknowledge" value="flagged" checked' in page
    assert state(session) == before
    # Every item ticked: published, audited with the evaluator.
    response = post_status(client, {"action": "publish", "acknowledge": ALL_CODES})
    assert response.status_code == 303
    assert state(session)[0] == "published"
    entry = publish_entry(session)
    assert (entry.actor, entry.detail["acknowledged"]) == ("eva", ALL_CODES)


def test_a_blocking_item_disables_the_button_and_refuses(
    client: FlaskClient, session: Session, users
) -> None:
    wave = create_wave(session, slug=SLUG, title="Kosong", status="open", opd_slugs=["bpbd"])
    waves.change_status(session, wave=wave, action="close", actor="eva")
    login(client)
    page = client.get(PAGE).get_data(as_text=True)
    assert 'id="butir-nothing-counted" class="blocking"' in page
    assert "Menghalangi penerbitan" in page
    assert 'value="publish" disabled' in page
    before = state(session)
    response = post_status(client, {"action": "publish", "acknowledge": "nothing-counted"})
    assert response.status_code == 400
    assert "Daftar periksa menghalangi penerbitan: 1 butir harus diselesaikan dulu" in (
        response.get_data(as_text=True)
    )
    assert state(session) == before


# --- ikm wave publish ----------------------------------------------------------------------


def test_the_command_prints_the_checklist_and_needs_each_acknowledgement(
    runner, session: Session, closed_wave
) -> None:
    before = state(session)
    result = runner.invoke(args=["wave", "publish", SLUG])
    assert result.exit_code == 2
    out = result.output
    assert (
        "[to acknowledge] unanswered-elements: OPDs with an IKM element nobody answered: 2\n" in out
    )
    assert "    - Dinas Sosial (ranked, n = 6): U2, U7 unanswered\n" in out
    assert "not acknowledged: " + ", ".join(ALL_CODES) in out
    assert state(session) == before
    # An unknown code is a usage error; a missing one still refuses.
    result = runner.invoke(args=["wave", "publish", SLUG, "--acknowledge", "flags"])
    assert result.exit_code == 2 and "unknown item flags" in result.output
    partial = [a for code in ALL_CODES[:-1] for a in ("--acknowledge", code)]
    result = runner.invoke(args=["wave", "publish", SLUG, *partial])
    assert result.exit_code == 2
    assert "not acknowledged: fragile-sets" in result.output
    assert state(session) == before
    # Each one, the flagged item by its old name --confirm-reviewed.
    every = [a for code in ALL_CODES if code != "flagged" for a in ("--acknowledge", code)]
    result = runner.invoke(
        args=["wave", "publish", SLUG, *every, "--confirm-reviewed", "--no-reports"]
    )
    assert result.exit_code == 0, result.output
    assert f"Wave {SLUG} is now published\n" in result.output
    assert result.output.endswith(f"Wave {SLUG}: version 1 is public\n")  # built here
    entry = publish_entry(session)
    assert (entry.actor, entry.detail["acknowledged"]) == (None, ALL_CODES)


def test_acknowledge_all_names_every_item(runner, session: Session, closed_wave) -> None:
    result = runner.invoke(args=["wave", "publish", SLUG, "--acknowledge", "all", "--no-reports"])
    assert result.exit_code == 0, result.output
    assert f"Acknowledged (all): {', '.join(ALL_CODES)}\n" in result.output
    assert publish_entry(session).detail["acknowledged"] == ALL_CODES


# --- The demo -------------------------------------------------------------------------------


def test_the_demo_wave_closed_is_published_with_acknowledgements(session: Session, runner) -> None:
    """Its flagged responses and an alarm are items to acknowledge, not blocks."""
    from survey.core.demo import DEMO_WAVE_SLUG, write_demo

    wave, _data = write_demo(session)
    opd = session.exec(select(Opd).order_by(col(Opd.slug))).first()
    assert opd is not None
    # An alarm the live dashboard raised during the survey, not cleared.
    session.add(Alarm(wave_id=wave.id, opd_id=opd.id, kind="burst", raised_at=wave.created_at))
    session.commit()
    result = runner.invoke(args=["wave", "close", DEMO_WAVE_SLUG])
    assert result.exit_code == 0, result.output
    result = runner.invoke(args=["wave", "publish", DEMO_WAVE_SLUG])
    assert result.exit_code == 2
    assert "BLOCKING" not in result.output
    wave = waves.find_wave(session, slug=DEMO_WAVE_SLUG)
    codes = [item.code for item in checklist.publication_checklist(session, wave=wave)]
    # The demo's period runs 30 days past the build; its flagged answers and the alarm.
    assert {"period-not-over", "flagged", "open-alarms"} <= set(codes)
    args = [a for code in codes for a in ("--acknowledge", code)]
    result = runner.invoke(args=["wave", "publish", DEMO_WAVE_SLUG, *args, "--no-reports"])
    assert result.exit_code == 0, result.output
    session.expire_all()
    assert waves.find_wave(session, slug=DEMO_WAVE_SLUG).status == "published"
    assert publish_entry(session).detail["acknowledged"] == codes
