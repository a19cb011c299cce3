// A study page's small duties: notice when another tab takes the study over, record the
// page's focus and visibility for the step, and send problem reports without leaving the page.
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("study-data").textContent);
  const csrf = (document.cookie.match(/(?:^|; )csrftoken=([^;]+)/) || [])[1] || "";
  const opened = performance.now();
  const events = [];
  let hidden = 0, blurred = 0, hiddenSince = null, blurredSince = null;

  function seconds() { return Math.round(performance.now() - opened) / 1000; }
  function note() {
    const now = performance.now();
    if (document.hidden && hiddenSince === null) hiddenSince = now;
    if (!document.hidden && hiddenSince !== null) { hidden += (now - hiddenSince) / 1000; hiddenSince = null; }
    const focused = document.hasFocus();
    if (!focused && blurredSince === null) blurredSince = now;
    if (focused && blurredSince !== null) { blurred += (now - blurredSince) / 1000; blurredSince = null; }
    events.push([seconds(), focused, !document.hidden]);
  }
  ["focus", "blur"].forEach((name) => window.addEventListener(name, note));
  document.addEventListener("visibilitychange", note);
  note();

  function sendAttention() {
    if (!data.attentionUrl) return; // a page between steps (a block's score page) has none
    note();
    const now = performance.now();
    const body = JSON.stringify({
      position: data.position,
      events: events.slice(0, 500),
      hidden: hidden + (hiddenSince === null ? 0 : (now - hiddenSince) / 1000),
      blurred: blurred + (blurredSince === null ? 0 : (now - blurredSince) / 1000),
    });
    fetch(data.attentionUrl, {
      method: "POST", body, keepalive: true, credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
    }).catch(() => {});
  }
  let sent = false;
  function sendOnce() { if (!sent) { sent = true; sendAttention(); } }
  document.querySelectorAll("main form").forEach((form) => form.addEventListener("submit", sendOnce));
  window.addEventListener("pagehide", sendOnce);

  // The page claims the study as it opens; a tab opened later takes it over, and this one
  // then says so and stops acting.
  const banner = document.getElementById("tab-taken");
  async function checkTab() {
    try {
      const response = await fetch(data.tabUrl, {
        method: "POST", body: new URLSearchParams({ t: data.tab }), credentials: "same-origin",
        headers: { "X-CSRFToken": csrf },
      });
      if (!response.ok) return;
      const answer = await response.json();
      if (!answer.current) {
        banner.hidden = false;
        document.querySelectorAll("main form button").forEach((b) => { b.disabled = true; });
        return;
      }
    } catch (error) { /* offline for a moment: ask again */ }
    setTimeout(checkTab, 3000);
  }
  checkTab();

  const report = document.getElementById("report-form");
  if (report) {
    report.addEventListener("submit", async (event) => {
      event.preventDefault();
      const status = report.querySelector(".report-status");
      const response = await fetch(report.action, {
        method: "POST", body: new FormData(report), credentials: "same-origin",
        headers: { Accept: "application/json" },
      });
      const answer = await response.json().catch(() => ({}));
      status.textContent = response.ok ? "Thank you, your report was sent." : (answer.error || "The report could not be sent.");
      if (response.ok) report.querySelector("textarea").value = "";
    });
  }
})();

// A game block's live panel: games, minutes, score and bonus, and Continue once it is done
// (the server decides; the next game stops starting by itself then).
(function () {
  "use strict";
  const panel = document.getElementById("block-panel");
  if (!panel) return;
  const button = document.querySelector("#block-continue button");
  const show = (id, text) => { const node = document.getElementById(id); if (node) node.textContent = text; };
  const play = document.getElementById("play");
  // Where the block stands now; true while it is not done (the next game may start).
  async function check() {
    const response = await fetch(panel.dataset.progressUrl, { credentials: "same-origin" });
    if (!response.ok) return true;
    const p = await response.json();
    show("block-episodes", String(p.episodes));
    show("block-minutes", p.minutes.toFixed(1));
    show("block-score", String(Math.round(p.score * 100) / 100));
    show("block-bonus", p.bonus.toFixed(2));
    if (p.can_continue) {
      button.disabled = false;
      if (play) delete play.dataset.autostart;
      show("block-requirement", p.done ? "Done: press Continue when you are ready." : "Time is up: press Continue.");
    }
    return !p.can_continue;
  }
  // As a game ends, the page asks before the next starts: the game just ended is counted by
  // then (the server records its end before telling the page), so a block that it completes
  // starts no other.
  if (play) play.autostartGate = check;
  async function refresh() {
    try { await check(); } catch (error) { /* the next refresh tries again */ }
    setTimeout(refresh, 2000);
  }
  setTimeout(refresh, 2000);
})();

// The connection gate: time round trips to the server, then send them (the server decides).
(function () {
  "use strict";
  const gate = document.getElementById("gate");
  if (!gate) return;
  const wanted = Number(gate.dataset.samples || 10);
  const status = document.getElementById("gate-status");
  (async () => {
    const rtts = [];
    for (let i = 0; i < wanted + 1; i++) {
      const began = performance.now();
      try {
        await fetch(`${gate.dataset.pingUrl}?n=${i}`, { cache: "no-store", credentials: "same-origin" });
      } catch (error) { continue; }
      if (i > 0) rtts.push(Math.round((performance.now() - began) * 10) / 10); // the first warms up
      status.textContent = `Measuring… ${rtts.length} of ${wanted}`;
    }
    document.getElementById("gate-rtts").value = rtts.join(",");
    document.getElementById("gate-form").submit();
  })();
})();
