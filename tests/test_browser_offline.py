"""The field pages without a network, in a real browser (Debian's Chromium, Playwright).

"Offline" here is real: the browser context is switched offline AND the server is stopped
(Chromium's offline switch does not reach a service worker's own fetches), and the test checks
that the page cannot reach the server before it answers. An enumerator fills three answers
offline, reloads the page offline (the service worker's copy), goes online and sees the queue
empty itself; the database then holds each answer once, and sending the same queue again stores
nothing new. A kiosk does the same once, and without JavaScript returns to a fresh form by
itself. axe-core finds no serious violation on either page; the citizen's page runs no script.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from auth_helpers import PASSWORD
from browser import axe_violations, chromium, require_chromium
from flask import Flask
from sqlmodel import Session
from survey_helpers import stored
from werkzeug.serving import BaseWSGIServer, make_server

from survey.core import accounts, fieldwork
from survey.core.models import EnumeratorScope, KioskDevice, Wave
from survey.web import antiabuse
from survey.web.devtools import wait_for

pytestmark = pytest.mark.browser

PHONE = {"width": 360, "height": 640}
INTERVIEW = "/lapangan/wawancara/uji-2026/bpbd"
KIOSK = "/lapangan/kios/uji-2026/bpbd"
ANSWERS = ("4", "3", "4", "2", "4", "4", "3", "4", "1")


class SwitchableServer:
    """The app on one fixed loopback port, stopped and started again at will.

    The same port each time: the service worker, its cache and IndexedDB belong to the origin.
    """

    def __init__(self, app: Flask) -> None:
        """Pick a free port for ``app``."""
        self.app = app
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.server: BaseWSGIServer | None = None
        self.thread: threading.Thread | None = None

    @property
    def base(self) -> str:
        """Return the base URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        """Serve the app (again)."""
        self.server = make_server("127.0.0.1", self.port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        """Stop serving: connections are refused until ``start``."""
        assert self.server is not None and self.thread is not None
        self.server.shutdown()
        self.thread.join(timeout=5)
        self.server.server_close()
        self.server = None


@contextmanager
def switchable(app: Flask) -> Iterator[SwitchableServer]:
    """Yield a started switchable server; stop it at the end."""
    server = SwitchableServer(app)
    server.start()
    try:
        yield server
    finally:
        if server.server is not None:
            server.stop()


def ready_offline(page) -> None:
    """Wait until the service worker controls the page and has kept the page's copy."""
    wait_for(page, "return navigator.serviceWorker.controller !== null;")
    wait_for(page, "return !!(await caches.match(location.pathname));")


def wait_until_waiting(page, count: int, *, timeout: float = 20.0) -> None:
    """Wait until the page shows ``count`` answers waiting to be sent.

    Polled from here: Playwright's own wait_for_function evaluates a string, which the field
    pages' policy (no 'unsafe-eval') rightly refuses.
    """
    wait_for(
        page,
        f"return document.getElementById('antrean').dataset.count === '{count}';",
        timeout=timeout,
    )


def go_offline(context, server: SwitchableServer, page) -> None:
    """Switch the network off for real, and check the server cannot be reached."""
    context.set_offline(True)
    server.stop()
    reached = page.evaluate(
        """async () => {
            try { await fetch('/lapangan/kirim', {method: 'POST', body: '{}'}); return true; }
            catch (error) { return false; }
        }"""
    )
    assert reached is False


def go_online(context, server: SwitchableServer) -> None:
    """Bring the server and the network back."""
    server.start()
    context.set_offline(False)


def waiting(page) -> str | None:
    """Return the count of answers waiting on the device, as the page shows it."""
    return page.locator("#antrean").get_attribute("data-count")


def answer(page, values: tuple[str, ...] = ANSWERS) -> None:
    """Choose one answer per question and send the form."""
    for number, value in enumerate(values, start=1):
        page.locator(f'input[name="U{number}"][value="{value}"]').check()
    page.get_by_role("button", name="Kirim jawaban").click()


def queued_ids(page) -> list[str]:
    """Return the submission ids waiting in IndexedDB."""
    return page.evaluate(
        """() => new Promise((resolve, reject) => {
            const open = indexedDB.open('ikm-lapangan', 1);
            open.onsuccess = () => {
                const request = open.result.transaction('jawaban').objectStore('jawaban').getAll();
                request.onsuccess = () => {
                    resolve(request.result.map((a) => a.id));
                    open.result.close();
                };
                request.onerror = () => reject(request.error);
            };
            open.onerror = () => reject(open.error);
        })"""
    )


@pytest.fixture
def enumerator(session: Session, open_wave: Wave):
    """An enumerator ``pencacah`` who may record every OPD of the open wave."""
    user = accounts.create_user(session, username="pencacah", password=PASSWORD, role="enumerator")
    session.add(EnumeratorScope(user_id=user.id, wave_id=open_wave.id, granted_by="eva"))
    session.commit()
    return user


def test_three_interviews_offline_are_stored_once_each(
    app: Flask, session: Session, enumerator, monkeypatch: pytest.MonkeyPatch
) -> None:
    require_chromium()
    # The test's "interviews" take a second; a real one takes minutes.
    monkeypatch.setattr(fieldwork, "INTERVIEW_MIN_SECONDS", 0.0)
    with switchable(app) as server, chromium() as browser:
        base = server.base
        context = browser.new_context(viewport=PHONE)
        page = context.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda error: errors.append(str(error)))
        page.goto(f"{base}/masuk?next={INTERVIEW}")
        page.get_by_label("Nama pengguna").fill("pencacah")
        page.get_by_label("Kata sandi").fill(PASSWORD)
        with page.expect_navigation():
            page.get_by_role("button", name="Masuk").click()
        assert page.url == f"{base}{INTERVIEW}"
        assert axe_violations(page) == [], "interview page"
        ready_offline(page)
        assert page.locator("#antrean").inner_text() == "0 jawaban menunggu dikirim"

        go_offline(context, server, page)
        for count in (1, 2, 3):
            answer(page)
            wait_until_waiting(page, count)
            # A fresh form for the next respondent.
            assert page.locator("input[type=radio]:checked").count() == 0
        assert page.locator("#antrean").inner_text() == "3 jawaban menunggu dikirim"
        ids = queued_ids(page)
        assert len(ids) == 3

        page.reload()  # offline: the service worker's copy
        assert (
            page.get_by_role("heading", level=1).inner_text()
            == "Badan Penanggulangan Bencana Daerah"
        )
        wait_until_waiting(page, 3)
        assert page.get_by_role("status").inner_text() == "3 jawaban menunggu dikirim"
        assert stored(session) == []

        go_online(context, server)
        wait_until_waiting(page, 0, timeout=40)
        rows = stored(session)
        assert sorted(r.submission_id for r in rows) == sorted(f"f-{i}" for i in ids)
        for row in rows:
            assert (row.channel, row.enumerator_id, row.status) == (
                "interview",
                enumerator.id,
                "counted",
            )
            assert row.seconds is not None and row.seconds >= 0
            assert (row.a1, row.a2, row.a4, row.a9) == (4, 3, 2, 1)

        # The same queue sent again (as after a lost answer from the server): nothing new.
        page.evaluate(
            """(ids) => new Promise((resolve) => {
                const open = indexedDB.open('ikm-lapangan', 1);
                open.onsuccess = () => {
                    const tx = open.result.transaction('jawaban', 'readwrite');
                    for (const id of ids) {
                        tx.objectStore('jawaban').put({id, kind: 'interview', wave: 'uji-2026',
                            opd: 'bpbd', who: WHO, shown: Date.now() - 60000,
                            answered: Date.now(), fields: {U1: '1'}, refused: null});
                    }
                    tx.oncomplete = () => { open.result.close(); resolve(); };
                };
            })""".replace("WHO", str(enumerator.id)),
            ids,
        )
        page.reload()
        wait_until_waiting(page, 0)
        again = stored(session)
        assert [(r.id, r.a1) for r in again] == [(r.id, r.a1) for r in rows]
        assert errors == []
        context.close()


def test_a_kiosk_offline_and_without_javascript(
    app: Flask, session: Session, open_wave: Wave
) -> None:
    require_chromium()
    from survey_helpers import enrol_kiosk

    with switchable(app) as server, chromium() as browser:
        base = server.base
        device = enrol_kiosk(session, app, app.test_client())
        device.faces = True
        session.add(device)
        session.commit()
        with app.test_request_context():
            cookie = antiabuse.sign_kiosk(
                device_id=device.id, wave_id=device.wave_id, opd_id=device.opd_id
            )
        jar = [{"name": antiabuse.KIOSK_COOKIE, "value": cookie, "url": base}]

        # Without JavaScript: the thank-you page returns to a fresh form by itself.
        plain = browser.new_context(viewport=PHONE, java_script_enabled=False)
        plain.add_cookies(jar)
        page = plain.new_page()
        page.goto(f"{base}{KIOSK}")
        time.sleep(3.2)  # the kiosk's minimum seconds for a person
        answer(page)
        page.wait_for_url(f"{base}{KIOSK}/terima-kasih")
        assert page.get_by_role("heading", level=1).inner_text() == "Terima kasih!"
        page.wait_for_url(f"{base}{KIOSK}", timeout=9000)
        assert page.locator("input[type=radio]:checked").count() == 0
        plain.close()
        [first] = stored(session)
        assert (first.channel, first.device_id, first.status) == ("kiosk", device.id, "counted")

        # With JavaScript, offline once.
        context = browser.new_context(viewport=PHONE)
        context.add_cookies(jar)
        page = context.new_page()
        page.goto(f"{base}{KIOSK}")
        assert axe_violations(page) == [], "kiosk page"
        # Large targets: every answer is at least 48 px tall; faces beside the labels.
        heights = page.locator("label.opt").evaluate_all(
            "labels => labels.map((l) => l.getBoundingClientRect().height)"
        )
        assert min(heights) >= 48
        label = page.locator("#q-U1 label.opt").first
        assert label.locator("svg.face").count() == 1
        assert page.get_by_role("radio", name="Tidak sesuai").count() >= 1
        ready_offline(page)
        go_offline(context, server, page)
        time.sleep(3.2)
        answer(page)
        thanks = page.locator("#terima-kasih")
        thanks.wait_for(state="visible")
        assert page.locator("#field-form").is_hidden()
        wait_until_waiting(page, 1)
        # A few seconds later the next citizen's fresh form.
        page.locator("#field-form").wait_for(state="visible", timeout=9000)
        assert thanks.is_hidden()
        assert page.locator("input[type=radio]:checked").count() == 0
        page.reload()
        wait_until_waiting(page, 1)
        go_online(context, server)
        wait_until_waiting(page, 0, timeout=40)
        rows = stored(session)
        assert len(rows) == 2
        assert (rows[1].channel, rows[1].device_id) == ("kiosk", device.id)
        assert rows[1].submission_id.startswith("f-")

        # The citizen's page stays script-free.
        citizen = context.new_page()
        response = citizen.goto(f"{base}/s/uji-2026/bpbd")
        assert "script-src 'none'" in response.headers["content-security-policy"]
        assert citizen.locator("script").count() == 0
        context.close()
        session.expire_all()
        assert session.get(KioskDevice, device.id).faces is True
