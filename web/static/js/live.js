/* Keeps the board, the worklist and the case pages up to date without reloading them.
   - Listens to /events (web/live_events.py): on `change`, fetches this page again and swaps its
     <main>, keeping the scroll and the focus; never while something is being typed (it waits).
     Without EventSource, or when the stream is refused (503: too many open pages), it polls
     every 15 s instead.
   - Counts down every time[data-countdown] each second, in the words this script's tag carries
     (data-in, data-overdue, data-days, data-under-minute), in the page's language.
   - On the worklist, the #offer-alerts checkbox (kept in localStorage) makes a new offer beep
     (Web Audio, no file) and show a browser notification: case number, modality, site code. */
"use strict";

(() => {
  const words = document.currentScript.dataset;
  const POLL_MS = 15000;
  const ALERTS_KEY = "garde.offerAlerts";

  // --- Countdowns, written as web/display.py's duration() writes them.
  const duration = (seconds) => {
    const s = Math.floor(Math.abs(seconds));
    const minutes = Math.floor(s / 60);
    if (minutes < 1) return s ? `${s} s` : words.underMinute;
    if (minutes < 60) return `${minutes} min`;
    const hours = Math.floor(minutes / 60);
    if (hours < 24) return `${hours} h ${String(minutes % 60).padStart(2, "0")}`;
    return words.days.replace("{days}", Math.floor(hours / 24)).replace("{hours}", hours % 24);
  };
  const tick = () => {
    for (const el of document.querySelectorAll("time[data-countdown]")) {
      const left = (Date.parse(el.getAttribute("datetime")) - Date.now()) / 1000;
      el.textContent = (left >= 0 ? words.in : words.overdue).replace("{duration}", duration(left));
      el.classList.toggle("running", left >= 0);
      el.classList.toggle("breached", left < 0);
    }
  };
  tick();
  setInterval(tick, 1000);

  // --- New offers on the worklist: a tone and a notification, if the expert asked for them.
  const alertsOn = () => localStorage.getItem(ALERTS_KEY) === "on";
  const offersShown = () => new Map([...document.querySelectorAll("tr[data-offer]")]
    .map((row) => [row.dataset.offer, row.dataset.note]));
  // Browsers let a page play sound only once the person has interacted with it: the context is
  // made (or resumed) on the toggle and on the first click or key, then reused.
  let audio = null;
  const sound = () => {
    const Context = window.AudioContext || window.webkitAudioContext;
    if (!Context) return null;
    if (!audio) audio = new Context();
    if (audio.state === "suspended") audio.resume();
    return audio;
  };
  for (const kind of ["pointerdown", "keydown"]) {
    document.addEventListener(kind, () => { if (alertsOn()) sound(); }, { once: true });
  }
  const beep = () => {
    const context = sound();
    if (!context) return;
    const tone = context.createOscillator();
    const gain = context.createGain();
    const now = context.currentTime;
    tone.frequency.value = 880;
    gain.gain.setValueAtTime(0.2, now);
    gain.gain.exponentialRampToValueAtTime(0.001, now + 0.6);
    tone.connect(gain).connect(context.destination);
    tone.start(now);
    tone.stop(now + 0.6);
  };
  const announce = (before) => {
    const fresh = [...offersShown()].filter(([id]) => !before.has(id));
    if (!fresh.length || !alertsOn()) return;
    beep();
    const box = document.getElementById("offer-alerts");
    if (window.Notification && Notification.permission === "granted") {
      new Notification(box ? box.dataset.title : "Garde", { body: fresh.map(([, note]) => note).join("\n") });
    }
  };
  const syncToggle = () => {
    const box = document.getElementById("offer-alerts");
    if (box) box.checked = alertsOn();
  };
  document.addEventListener("change", (e) => {
    if (e.target.id !== "offer-alerts") return;
    localStorage.setItem(ALERTS_KEY, e.target.checked ? "on" : "off");
    if (e.target.checked) sound();
    if (e.target.checked && window.Notification && Notification.permission === "default") {
      Notification.requestPermission();
    }
  });
  syncToggle();

  // --- Refreshing the page's <main>.
  const typing = () => {
    const el = document.activeElement;
    const field = el && (el.tagName === "TEXTAREA" || el.tagName === "SELECT" ||
      (el.tagName === "INPUT" && !["checkbox", "radio", "button", "submit"].includes(el.type)));
    const edited = [...document.querySelectorAll("main input:not([type=hidden]), main textarea")]
      .some((f) => (f.type === "checkbox" || f.type === "radio")
        ? f.checked !== f.defaultChecked && f.id !== "offer-alerts"
        : f.value !== f.defaultValue);
    return field || edited;
  };
  // Where the focus is, so it can be put back on the same control in the new <main>.
  const focusKey = (main) => {
    const el = document.activeElement;
    if (!el || !main.contains(el) || el === main) return null;
    if (el.id) return `#${CSS.escape(el.id)}`;
    const all = [...main.querySelectorAll("a, button, input, select, textarea")];
    return all.indexOf(el);
  };
  const refocus = (main, key) => {
    if (key === null) return;
    const el = typeof key === "string" ? main.querySelector(key)
      : main.querySelectorAll("a, button, input, select, textarea")[key];
    if (el) el.focus({ preventScroll: true });
  };

  let busy = false;
  let pending = false;
  async function refresh() {
    if (busy || document.hidden || typing()) { pending = true; return; }
    busy = true;
    pending = false;
    try {
      const answer = await fetch(location.href, { credentials: "same-origin", headers: { Accept: "text/html" } });
      // Logged out, or the page is gone: let the browser show what the server says.
      if (answer.redirected || !answer.ok) { location.reload(); return; }
      const page = new DOMParser().parseFromString(await answer.text(), "text/html");
      const fresh = page.querySelector("main");
      const main = document.querySelector("main");
      if (!fresh || !main || typing()) { pending = true; return; }
      const before = offersShown();
      const key = focusKey(main);
      const x = window.scrollX, y = window.scrollY;
      // What the last action did (a message the server shows once) stays: the fresh page
      // does not have it, and it would vanish a moment after it was shown.
      const flashed = main.querySelectorAll(":scope > [data-flashed]");
      main.replaceChildren(...fresh.childNodes);
      main.prepend(...flashed);
      document.title = page.title;
      syncToggle();
      tick();
      refocus(main, key);
      window.scrollTo(x, y);
      announce(before);
    } catch (e) {
      pending = true; // offline for now: the next change, poll or focus tries again
    } finally {
      busy = false;
    }
  }
  // A refresh put off (typing, hidden tab) happens once the reason is gone.
  const retry = () => { if (pending) refresh(); };
  document.addEventListener("visibilitychange", retry);
  document.addEventListener("focusout", () => setTimeout(retry, 500));
  setInterval(retry, 5000);

  let polling = null;
  const poll = () => { if (!polling) polling = setInterval(refresh, POLL_MS); };
  if (!window.EventSource || !words.events) { poll(); return; }
  // The version the page was rendered from: a change made before the stream opened (or while
  // it reconnects) arrives as a different first version.
  let seen = words.version || null;
  const stream = new EventSource(words.events);
  stream.addEventListener("change", (e) => {
    if (seen !== null && e.data !== seen) refresh();
    seen = e.data;
  });
  stream.addEventListener("error", () => {
    // CONNECTING: the browser reconnects by itself (the server ends each stream after a few
    // minutes). CLOSED: refused (503, 401): poll instead.
    if (stream.readyState === EventSource.CLOSED) poll();
  });
})();
