/* The site's case page: asks the API for the case every 5 s and reloads when something changed.
   Its tag carries data-url (the case in the API) and data-seen (what the page shows, as JSON);
   the #live line carries what to say, in the page's language ({time}: the time of the check). */
"use strict";

(() => {
  const url = document.currentScript.dataset.url;
  const seen = JSON.parse(document.currentScript.dataset.seen);
  const live = document.getElementById("live");
  const changed = (c) =>
    c.status !== seen.status ||
    c.timeline.length !== seen.events ||
    (c.report ? c.report.id : null) !== seen.report ||
    c.addenda.length !== seen.addenda ||
    c.sla.accept.met !== seen.accept_met ||
    c.sla.report.met !== seen.report_met;
  async function poll() {
    if (document.hidden) return;
    try {
      const answer = await fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } });
      if (answer.status === 401) { location.reload(); return; }
      if (!answer.ok) throw new Error(answer.status);
      if (changed(await answer.json())) location.reload();
      else live.textContent = live.dataset.upToDate.replace("{time}", new Date().toLocaleTimeString(document.documentElement.lang));
    } catch (e) {
      live.textContent = live.dataset.offline;
    }
  }
  setInterval(poll, 5000);
})();
