// webcallback admin dashboard. The page is static; this script asks for
// the admin token once (kept in sessionStorage, gone with the tab) and sends
// it as a Bearer header on every API call. The live view is an SSE stream
// read with fetch(), because EventSource cannot send headers.
(() => {
  "use strict";
  document.documentElement.classList.add("js");
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("i18n").textContent);
  const t = (k) => (k in T ? T[k] : k);
  const KEY = "webcallback.admin.token";
  let token = sessionStorage.getItem(KEY) || "";
  let liveAbort = null;
  const live = new Map(); // id → request

  class HTTPError extends Error { constructor(status, msg) { super(msg); this.status = status; } }

  async function api(path, opts = {}) {
    const res = await fetch(path, { ...opts, headers: { Accept: "application/json", ...(opts.headers || {}), Authorization: "Bearer " + token } });
    if (res.status === 401) { signOut(); throw new HTTPError(401, "unauthorized"); }
    if (!res.ok) {
      let m = res.statusText;
      try { m = (await res.json()).error.message; } catch { /* keep statusText */ }
      throw new HTTPError(res.status, m);
    }
    return res;
  }
  const json = async (path, opts) => (await api(path, opts)).json();

  function showError(id, err) {
    const el = $(id);
    el.textContent = err ? String(err.message || err) : "";
    el.hidden = !err;
  }

  function cell(tr, text) { const td = document.createElement("td"); td.textContent = text == null ? "" : String(text); tr.appendChild(td); return td; }
  // Every time in the service's zone (--timezone; the column headers name
  // it), written the way the page's language writes dates.
  const tz = document.querySelector(".admin").dataset.tz || "UTC";
  const dateFmt = new Intl.DateTimeFormat(T["html.lang"], { timeZone: tz, year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit", second: "2-digit", hourCycle: "h23" });
  const fmt = (s) => (s ? dateFmt.format(new Date(s)) : "");
  // name translates a contract name (state, reason, rule, disposition) for
  // the operator, or shows it as it is when there is no text for it yet.
  const name = (kind, v) => (v && "adm." + kind + "." + v in T ? T["adm." + kind + "." + v] : v || "");

  // ---- sign in -----------------------------------------------------------
  function signOut() {
    sessionStorage.removeItem(KEY);
    token = "";
    if (liveAbort) liveAbort.abort();
    $("dash").hidden = true;
    $("login").hidden = false;
    $("token").focus();
  }
  $("login").addEventListener("submit", async (e) => {
    e.preventDefault();
    token = $("token").value.trim();
    try {
      await json("/api/v1/admin/calls");
      sessionStorage.setItem(KEY, token);
      $("token").value = "";
      showError("login-error", null);
      start();
    } catch (err) {
      $("login").hidden = false;
      showError("login-error", err.status === 404 ? t("adm.the_admin_interface_is_disabled_on_this_server") : t("adm.wrong_token"));
    }
  });
  $("logout").addEventListener("click", signOut);

  // ---- live calls ----------------------------------------------------------
  function renderLive() {
    const tbody = $("live").tBodies[0];
    tbody.replaceChildren();
    const rows = [...live.values()].sort((a, b) => Date.parse(a.created_at) - Date.parse(b.created_at));
    for (const r of rows) {
      const tr = document.createElement("tr");
      tr.dataset.id = r.id;
      // Hang up first: on a phone it is on screen without scrolling.
      const b = document.createElement("button");
      b.type = "button";
      b.className = "button danger small";
      b.textContent = t("adm.hang_up");
      b.setAttribute("aria-label", t("adm.hang_up") + " " + (r.caller_display || r.caller) + " → " + (r.callee_display || r.callee));
      b.addEventListener("click", () => hangup(r.id, b));
      cell(tr, "").appendChild(b);
      cell(tr, fmt(r.created_at));
      cell(tr, r.caller_display || r.caller);
      cell(tr, r.callee_display || r.callee);
      cell(tr, name("state", r.state));
      tbody.appendChild(tr);
    }
    $("live-count").textContent = rows.length;
    $("live-empty").hidden = rows.length > 0;
  }
  async function hangup(id, btn) {
    btn.disabled = true;
    try {
      await api("/api/v1/admin/calls/" + encodeURIComponent(id), { method: "DELETE" });
      loadAudit();
    } catch (err) {
      if (err.status !== 409) showError("admin-error", err);
    } finally {
      btn.disabled = false;
    }
  }
  const FINAL = ["completed", "failed", "canceled", "rejected"];
  function onEvent(name, data) {
    const v = JSON.parse(data);
    if (name === "snapshot") {
      live.clear();
      for (const r of v.calls) live.set(r.id, r);
    } else if (name === "call") {
      if (FINAL.includes(v.state)) live.delete(v.id); else live.set(v.id, v);
    }
    renderLive();
  }
  // streamLive reads text/event-stream from fetch and reconnects with a
  // growing delay; a new snapshot replaces the table on every reconnect.
  async function streamLive() {
    let delay = 1000;
    while (token) {
      liveAbort = new AbortController();
      try {
        const res = await api("/api/v1/admin/calls/events", { signal: liveAbort.signal, headers: { Accept: "text/event-stream" } });
        delay = 1000;
        const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
        let buf = "";
        for (;;) {
          const { value, done } = await reader.read();
          if (done) break;
          buf += value;
          let i;
          while ((i = buf.indexOf("\n\n")) >= 0) {
            const frame = buf.slice(0, i);
            buf = buf.slice(i + 2);
            let name = "message", data = "";
            for (const line of frame.split("\n")) {
              if (line.startsWith("event: ")) name = line.slice(7);
              else if (line.startsWith("data: ")) data += line.slice(6);
            }
            if (data) onEvent(name, data);
          }
        }
      } catch (err) {
        if (err.name === "AbortError" || err.status === 401) return;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 30000);
    }
  }

  // ---- statistics and charts ----------------------------------------------
  async function loadCharts() {
    const hours = Number($("range-hours").value) || 24;
    const to = new Date(Math.ceil(Date.now() / 3600e3) * 3600e3);
    const from = new Date(to - hours * 3600e3);
    const q = "?from=" + from.toISOString().replace(/\.\d+Z$/, "Z") + "&to=" + to.toISOString().replace(/\.\d+Z$/, "Z");
    try {
      const s = await json("/api/v1/admin/stats" + q);
      $("totals").textContent = `${s.requests} ${t("adm.requests")} · ${s.connected} ${t("adm.connected")} · ${s.failed} ${t("adm.failed")} · ${t("adm.asr")} ${(100 * s.asr).toFixed(1)}% · ${t("adm.acd")} ${s.acd.toFixed(0)} ${t("adm.seconds")}`;
      for (const div of document.querySelectorAll(".chart")) {
        const text = await (await api("/api/v1/admin/charts/" + div.dataset.chart + q)).text();
        const doc = new DOMParser().parseFromString(text, "image/svg+xml");
        div.replaceChildren(document.importNode(doc.documentElement, true));
      }
    } catch (err) { showError("admin-error", err); }
  }
  $("range").addEventListener("submit", (e) => { e.preventDefault(); loadCharts(); });

  // ---- CDRs ----------------------------------------------------------------
  const PAGE = 50;
  let cdrOffset = 0;
  function cdrQuery() {
    const p = new URLSearchParams();
    for (const [k, id] of [["number", "cdr-number"], ["disposition", "cdr-disp"], ["from", "cdr-from"], ["to", "cdr-to"]]) {
      if ($(id).value) p.set(k, $(id).value);
    }
    return p;
  }
  async function loadCDRs() {
    const p = cdrQuery();
    p.set("limit", PAGE);
    p.set("offset", cdrOffset);
    try {
      const r = await json("/api/v1/admin/cdrs?" + p);
      const tbody = $("cdrs").tBodies[0];
      tbody.replaceChildren();
      for (const c of r.cdrs) {
        const tr = document.createElement("tr");
        // The callee is the request's: dst is "s" on every row of our dialplan.
        [fmt(c.calldate), c.src, c.callee || c.dst, name("disp", c.disposition), c.billsec, c.userfield].forEach((v) => cell(tr, v));
        tbody.appendChild(tr);
      }
      $("cdr-page").textContent = r.total ? `${cdrOffset + 1}–${cdrOffset + r.cdrs.length} ${t("adm.of")} ${r.total}` : t("adm.no_records");
      $("cdr-prev").disabled = cdrOffset === 0;
      $("cdr-next").disabled = cdrOffset + r.cdrs.length >= r.total;
    } catch (err) { showError("admin-error", err); }
  }
  $("cdr-form").addEventListener("submit", (e) => { e.preventDefault(); cdrOffset = 0; loadCDRs(); });
  $("cdr-prev").addEventListener("click", () => { cdrOffset = Math.max(0, cdrOffset - PAGE); loadCDRs(); });
  $("cdr-next").addEventListener("click", () => { cdrOffset += PAGE; loadCDRs(); });
  async function download(path, name) {
    try {
      const blob = await (await api(path)).blob();
      const a = document.createElement("a");
      a.href = URL.createObjectURL(blob);
      a.download = name;
      document.body.appendChild(a);
      a.click();
      setTimeout(() => { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
    } catch (err) { showError("admin-error", err); }
  }
  $("cdr-csv").addEventListener("click", () => { const p = cdrQuery(); p.set("format", "csv"); download("/api/v1/admin/cdrs?" + p, "cdr.csv"); });
  $("num-csv").addEventListener("click", () => download("/api/v1/admin/numbers?format=csv", "numbers.csv"));

  // ---- numbers ---------------------------------------------------------------
  let current = "";
  async function lookup(number) {
    try {
      const n = await json("/api/v1/admin/numbers/" + encodeURIComponent(number));
      current = n.number;
      const dl = $("num-stats");
      dl.replaceChildren();
      const yn = (b) => t(b ? "adm.yes" : "adm.no");
      for (const [k, v] of [["adm.number", n.display + " (" + n.number + ")"], ["adm.calls", n.calls], ["adm.answered", n.answered], ["adm.billed_seconds", n.billsec],
        ["adm.last_call", fmt(n.last_call_at) || t("adm.never")], ["adm.eligible_now", yn(n.eligible)], ["adm.blocked", yn(n.blocked)], ["adm.always_allowed", yn(n.allowed)]]) {
        const dt = document.createElement("dt"), dd = document.createElement("dd");
        dt.textContent = t(k); dd.textContent = String(v);
        dl.append(dt, dd);
      }
      renderQuotas(n.quotas || []);
      $("num-result").hidden = false;
      showError("num-error", null);
    } catch (err) {
      $("num-result").hidden = true;
      showError("num-error", err);
    }
  }
  // renderQuotas says why the number may or may not call: every quota with
  // its counter, limit, state and reset time.
  function renderQuotas(qs) {
    const tbody = $("quotas").tBodies[0];
    tbody.replaceChildren();
    for (const q of qs) {
      const tr = document.createElement("tr");
      let used = q.used, limit = q.limit;
      if (q.rule === "caller_cooldown") {
        used = q.used < 0 ? "—" : t("adm.since_last").replace("%s", q.used + " " + t("adm.seconds"));
        limit = q.limit + " " + t("adm.seconds");
      }
      cell(tr, name("rule", q.rule));
      const pill = document.createElement("span");
      pill.className = "pill " + (q.refused ? "bad" : "ok");
      pill.textContent = t(q.refused ? "adm.refused" : "adm.ok");
      cell(tr, "").appendChild(pill);
      [used, limit].forEach((v) => cell(tr, v));
      cell(tr, q.reset_at ? fmt(q.reset_at) : q.rule === "caller_cooldown" ? "—" : t("adm.never"));
      tbody.appendChild(tr);
    }
    $("quotas").hidden = qs.length === 0;
    $("quotas-none").hidden = qs.length > 0;
  }
  $("num-form").addEventListener("submit", (e) => { e.preventDefault(); lookup($("num").value.trim()); });
  async function override(kind) {
    if (!current) return;
    const path = "/api/v1/admin/numbers/" + encodeURIComponent(current) + "/override";
    try {
      if (kind) await api(path, { method: "PUT", headers: { "Content-Type": "application/json" }, body: JSON.stringify({ kind, note: "dashboard" }) });
      else await api(path, { method: "DELETE" });
      await lookup(current);
      loadAudit();
    } catch (err) { showError("num-error", err); }
  }
  $("num-block").addEventListener("click", () => override("block"));
  $("num-allow").addEventListener("click", () => override("allow"));
  $("num-clear").addEventListener("click", () => override(""));

  // actionCell appends a cell with one button that runs act (an admin
  // change: the audit log is reloaded after it), its errors shown in errId.
  function actionCell(tr, kind, label, what, errId, act) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "button small " + kind;
    b.textContent = label;
    b.setAttribute("aria-label", label + " " + what);
    b.addEventListener("click", async () => {
      b.disabled = true;
      try {
        await act();
        loadAudit();
      } catch (err) { b.disabled = false; showError(errId, err); }
    });
    cell(tr, "").appendChild(b);
  }

  // ---- do-not-call list ----------------------------------------------------------
  async function loadDoNotCall() {
    try {
      const r = await json("/api/v1/admin/donotcall?limit=200");
      const tbody = $("dnc").tBodies[0];
      tbody.replaceChildren();
      for (const e of r.do_not_call) {
        const tr = document.createElement("tr");
        [e.number, fmt(e.created_at), e.request_id].forEach((v) => cell(tr, v));
        actionCell(tr, "secondary", t("adm.remove"), e.number, "dnc-error", async () => {
          await api("/api/v1/admin/donotcall/" + encodeURIComponent(e.number), { method: "DELETE" });
          await loadDoNotCall();
        });
        tbody.appendChild(tr);
      }
      $("dnc-empty").hidden = r.do_not_call.length > 0;
      showError("dnc-error", null);
    } catch (err) { if (err.status !== 501) showError("dnc-error", err); }
  }
  $("dnc-csv").addEventListener("click", () => download("/api/v1/admin/donotcall?format=csv", "do-not-call.csv"));

  // ---- Asterisk nodes: state, calls, drain ----------------------------------------
  async function loadNodes() {
    try {
      const r = await json("/api/v1/admin/nodes");
      const tbody = $("nodes").tBodies[0];
      tbody.replaceChildren();
      for (const n of r.nodes) {
        const tr = document.createElement("tr");
        tr.dataset.node = n.node;
        [n.node, name("nodestate", n.state), n.live_calls, n.service_calls, n.max_concurrent].forEach((v) => cell(tr, v));
        actionCell(tr, n.draining ? "secondary" : "danger", t(n.draining ? "adm.undrain" : "adm.drain"), n.node, "nodes-error", async () => {
          await api("/api/v1/admin/nodes/" + encodeURIComponent(n.node) + "/drain", { method: n.draining ? "DELETE" : "POST" });
          await loadNodes();
        });
        tbody.appendChild(tr);
      }
      showError("nodes-error", null);
    } catch (err) { showError("nodes-error", err); }
  }

  // ---- audit -------------------------------------------------------------------
  async function loadAudit() {
    try {
      const r = await json("/api/v1/admin/audit?limit=50");
      const tbody = $("audit").tBodies[0];
      tbody.replaceChildren();
      for (const a of r.audit) {
        const tr = document.createElement("tr");
        [fmt(a.at), a.actor, a.action, a.target, a.detail].forEach((v) => cell(tr, v));
        tbody.appendChild(tr);
      }
    } catch (err) { if (err.status !== 501) showError("admin-error", err); }
  }

  async function amiState() {
    try {
      const text = await (await fetch("/readyz")).text();
      const ok = text.startsWith("ready");
      $("ami-state").textContent = t("adm.ami") + ": " + (ok ? t("adm.ready") : text.trim().split("\n")[0]);
      $("ami-state").className = "pill " + (ok ? "ok" : "bad");
    } catch { /* next round */ }
  }

  function start() {
    $("login").hidden = true;
    $("dash").hidden = false;
    streamLive();
    loadCharts();
    loadCDRs();
    loadDoNotCall();
    loadAudit();
    loadNodes();
    amiState();
    setInterval(amiState, 15000);
    setInterval(loadNodes, 15000);
  }
  if (token) start(); else signOut();
})();
