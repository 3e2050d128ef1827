// The field pages' one script (the enumerator's interview page and the kiosk's page): each
// answer is first kept on this device (IndexedDB, keyed by a submission id made here), the
// form starts afresh, and the kept answers are sent to the server when it can be reached.
// The server stores each submission id once, so an answer sent twice is stored once; an
// answer the server refuses for good stays on the device, counted and shown, never dropped.
// No framework and no code from elsewhere; without this script the form posts as usual.
"use strict";

(function () {
  const form = document.getElementById("field-form");
  const status = document.getElementById("antrean");
  const thanks = document.getElementById("terima-kasih");
  if (!form || !status || !window.indexedDB) {
    return;
  }
  const config = form.dataset;
  const texts = status.dataset; // the messages, in the page's language
  const DB_NAME = "ikm-lapangan";
  const STORE = "jawaban";
  const RETRY_MS = 30000;
  const SKIPPED = new Set(["csrf_token", "token"]);
  let shownAt = Date.now();
  let sending = false;
  let signedOut = false;

  function openDb() {
    return new Promise((resolve, reject) => {
      const request = indexedDB.open(DB_NAME, 1);
      request.onupgradeneeded = () => {
        request.result.createObjectStore(STORE, { keyPath: "id" });
      };
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => reject(request.error);
    });
  }

  async function withStore(mode, work) {
    const db = await openDb();
    try {
      return await new Promise((resolve, reject) => {
        const tx = db.transaction(STORE, mode);
        const result = work(tx.objectStore(STORE));
        tx.oncomplete = () => resolve(result.result);
        tx.onerror = () => reject(tx.error);
        tx.onabort = () => reject(tx.error);
      });
    } finally {
      db.close();
    }
  }

  const allAnswers = () => withStore("readonly", (store) => store.getAll());
  const putAnswer = (answer) => withStore("readwrite", (store) => store.put(answer));
  const deleteAnswer = (id) => withStore("readwrite", (store) => store.delete(id));

  // Only this page's answers: the device may hold another OPD's or another kind's too.
  function mine(answer) {
    return (
      answer.kind === config.kind && answer.wave === config.wave && answer.opd === config.opd
    );
  }

  async function showCount() {
    const answers = (await allAnswers()).filter(mine);
    const waiting = answers.filter((a) => !a.refused).length;
    const refused = answers.filter((a) => a.refused).length;
    let text = texts.waiting.replace("{n}", String(waiting));
    if (refused) {
      text += ". " + texts.refused.replace("{n}", String(refused));
    }
    if (signedOut && waiting) {
      text += ". " + texts.signedOut;
    }
    status.textContent = text;
    status.dataset.count = String(waiting);
    status.dataset.refusedCount = String(refused);
  }

  function collect() {
    const fields = {};
    for (const [name, value] of new FormData(form).entries()) {
      if (!SKIPPED.has(name) && typeof value === "string") {
        fields[name] = value;
      }
    }
    return fields;
  }

  function anyQuestionAnswered() {
    return form.querySelector('fieldset.q[id^="q-"] input:checked') !== null;
  }

  function fresh() {
    form.reset();
    shownAt = Date.now();
    window.scrollTo(0, 0);
  }

  function thank() {
    const seconds = Number(config.thanksSeconds || 0);
    if (!seconds || !thanks) {
      fresh();
      return;
    }
    form.hidden = true;
    thanks.hidden = false;
    thanks.focus();
    window.setTimeout(() => {
      thanks.hidden = true;
      form.hidden = false;
      fresh();
    }, seconds * 1000);
  }

  async function onSubmit(event) {
    event.preventDefault();
    if (!anyQuestionAnswered()) {
      status.textContent = texts.oneAnswer;
      return;
    }
    const answer = {
      id: crypto.randomUUID(),
      kind: config.kind,
      wave: config.wave,
      opd: config.opd,
      who: config.who ? Number(config.who) : null,
      shown: shownAt,
      answered: Date.now(),
      fields: collect(),
      refused: null,
    };
    await putAnswer(answer);
    thank();
    await showCount();
    sendAll();
  }

  function payload(answer) {
    const { refused, ...sent } = answer;
    return JSON.stringify(sent);
  }

  // One pass over the waiting answers, oldest first; it stops at the first network failure,
  // server error or limit (they are tried again later) and when the enumerator is signed out.
  async function sendAll() {
    if (sending) {
      return;
    }
    sending = true;
    try {
      const answers = (await allAnswers())
        .filter((a) => mine(a) && !a.refused)
        .sort((a, b) => a.answered - b.answered);
      for (const answer of answers) {
        let response;
        try {
          response = await fetch(config.send, {
            method: "POST",
            credentials: "same-origin",
            headers: { "Content-Type": "application/json" },
            body: payload(answer),
          });
        } catch (error) {
          break; // offline: keep everything for the next try
        }
        if (response.ok) {
          signedOut = false;
          await deleteAnswer(answer.id); // stored now, or stored by an earlier send
        } else if (response.status === 401) {
          signedOut = true;
          break;
        } else if (response.status === 429 || response.status >= 500) {
          break;
        } else {
          let reason = "refused";
          try {
            reason = (await response.json()).reason || reason;
          } catch (error) {
            // not the endpoint's JSON (a proxy's page): keep the plain reason
          }
          answer.refused = { status: response.status, reason: reason };
          await putAnswer(answer);
        }
        await showCount();
      }
    } finally {
      sending = false;
      await showCount();
    }
  }

  async function keepThisPage() {
    // The page first loaded before the worker took over; keep it so that it opens offline.
    try {
      const response = await fetch(location.pathname, { credentials: "same-origin" });
      if (response.ok && !response.redirected) {
        const cache = await caches.open(config.cache);
        await cache.put(location.pathname, response);
      }
    } catch (error) {
      // offline: the copy kept earlier stays
    }
  }

  async function startWorker() {
    if (!("serviceWorker" in navigator) || !window.caches) {
      return;
    }
    try {
      await navigator.serviceWorker.register(config.worker, { scope: config.scope });
      await navigator.serviceWorker.ready;
      if (navigator.onLine) {
        await keepThisPage();
      }
    } catch (error) {
      // no worker (private mode, an old browser): the page still queues and sends
    }
  }

  form.addEventListener("submit", (event) => {
    onSubmit(event).catch(() => {
      // IndexedDB refused (storage full, private mode): post the form the plain way.
      form.submit();
    });
  });
  window.addEventListener("online", () => sendAll());
  window.setInterval(() => sendAll(), RETRY_MS);
  showCount().then(() => sendAll());
  startWorker();
})();
