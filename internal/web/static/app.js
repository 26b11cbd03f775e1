// webcallback visitor page. The page works without this script (the form
// posts to /call and the status page reloads itself); with it the friend's
// number is asked in a modal dialog, numbers are checked as they are typed,
// the call goes through the JSON API and progress arrives by Server-Sent
// Events. No outside code: everything here is ours.
(() => {
  "use strict";
  document.documentElement.classList.add("js");
  const $ = (id) => document.getElementById(id);
  const T = JSON.parse($("i18n").textContent);
  const t = (k) => (k in T ? T[k] : k);

  // ---- inline validation (the server stays the authority) ----------------
  function check(value, field) {
    const v = value.trim();
    if (!v) return field === "caller" ? "error.caller_required" : "error.callee_required";
    // Separators people type; full-width digits are folded by the server,
    // so only reject what surely is not a number.
    const d = v.replace(/[\s\-().\u00a0\u3000]/g, "").replace(/[\uff10-\uff19]/g, (c) => String.fromCharCode(c.charCodeAt(0) - 0xff10 + 48));
    if (!/^(\+|\uff0b)?[0-9]{5,20}$/.test(d)) return "error.invalid_number";
    return "";
  }
  // Say text to screen readers once (the visible texts are not live
  // regions, so a ticking countdown is never read out).
  function announce(text) {
    const el = $("announce");
    if (el) el.textContent = text;
  }
  // A server's refusal stays on screen until the visitor changes that
  // number: serverErr remembers the value it was about, and the checks as
  // one types or leaves the field leave it alone while the value is the same.
  const serverErr = {};
  function fieldError(field, key, text) {
    const input = $(field), el = $(field + "-error");
    if (!input || !el) return;
    if (!text && serverErr[field] !== undefined && serverErr[field] === input.value) return;
    delete serverErr[field];
    stopRetry(el);
    el.textContent = text || (key ? t(key) : "");
    el.hidden = !el.textContent;
    if (el.hidden) input.removeAttribute("aria-invalid"); else input.setAttribute("aria-invalid", "true");
  }
  function formError(text) {
    const el = $("form-error");
    stopRetry(el);
    el.textContent = text || "";
    el.hidden = !text;
  }
  // ---- durations and clocks (the same texts as the server's retryText) ---
  function unit(n, one, many) { return t(n === 1 ? one : many).replace("%d", n); }
  function durationWords(secs) {
    if (secs < 60) return unit(Math.max(secs, 1), "dur.second", "dur.seconds");
    if (secs < 3600) return unit(Math.ceil(secs / 60), "dur.minute", "dur.minutes");
    let h = Math.floor(secs / 3600), m = Math.ceil((secs % 3600) / 60);
    if (m === 60) { h++; m = 0; }
    return unit(h, "dur.hour", "dur.hours") + (m ? t("dur.sep") + unit(m, "dur.minute", "dur.minutes") : "");
  }
  function clock(secs) {
    const mm = String(Math.floor(secs / 60) % 60).padStart(secs >= 3600 ? 2 : 1, "0"), ss = String(secs % 60).padStart(2, "0");
    return (secs >= 3600 ? Math.floor(secs / 3600) + ":" : "") + mm + ":" + ss;
  }
  // showRefusal puts a refusal's message in el, with when to try again in
  // words and a live countdown to that moment (from Retry-After, so a wrong
  // clock on the phone does not matter).
  function showRefusal(el, message, retrySecs) {
    stopRetry(el);
    el.textContent = message;
    el.hidden = false;
    if (!(retrySecs > 0)) return message;
    const end = Date.now() + retrySecs * 1000;
    const at = new Date(end).toLocaleString(T["html.lang"], retrySecs >= 20 * 3600 ? { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" } : { hour: "2-digit", minute: "2-digit" });
    const words = document.createElement("span");
    words.className = "retry";
    words.textContent = " " + t("retry.in").replace("%s", durationWords(retrySecs)).replace("%s", at);
    const cd = document.createElement("span");
    cd.className = "retry-countdown";
    cd.append(t("retry.left") + " ");
    const tm = document.createElement("time");
    cd.append(tm);
    el.append(words, cd);
    const tick = () => {
      const left = Math.max(0, Math.ceil((end - Date.now()) / 1000));
      tm.textContent = clock(left);
      tm.setAttribute("datetime", "PT" + left + "S");
      if (!left) { stopRetry(el); words.textContent = " " + t("retry.now"); cd.remove(); }
    };
    tick();
    el._retry = setInterval(tick, 1000);
    return message + words.textContent;
  }
  function stopRetry(el) { if (el && el._retry) { clearInterval(el._retry); el._retry = 0; } }

  // ---- proof of work (only when the server demands it) -------------------
  async function sha256(bytes) {
    if (globalThis.crypto && crypto.subtle) return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
    return sha256js(bytes); // plain-http pages have no crypto.subtle
  }
  function zeroBits(h) {
    let n = 0;
    for (const b of h) { if (b) return n + Math.clz32(b) - 24; n += 8; }
    return n;
  }
  async function solve(ch) {
    const enc = new TextEncoder();
    for (let n = 0; n < 1 << 30; n++) {
      if (zeroBits(await sha256(enc.encode(ch.seed + ":" + n))) >= ch.difficulty) return ch.seed + ":" + n;
    }
    return "";
  }
  // A small SHA-256 (FIPS 180-4) for when crypto.subtle is missing.
  function sha256js(msg) {
    const K = new Uint32Array([0x428a2f98,0x71374491,0xb5c0fbcf,0xe9b5dba5,0x3956c25b,0x59f111f1,0x923f82a4,0xab1c5ed5,0xd807aa98,0x12835b01,0x243185be,0x550c7dc3,0x72be5d74,0x80deb1fe,0x9bdc06a7,0xc19bf174,0xe49b69c1,0xefbe4786,0x0fc19dc6,0x240ca1cc,0x2de92c6f,0x4a7484aa,0x5cb0a9dc,0x76f988da,0x983e5152,0xa831c66d,0xb00327c8,0xbf597fc7,0xc6e00bf3,0xd5a79147,0x06ca6351,0x14292967,0x27b70a85,0x2e1b2138,0x4d2c6dfc,0x53380d13,0x650a7354,0x766a0abb,0x81c2c92e,0x92722c85,0xa2bfe8a1,0xa81a664b,0xc24b8b70,0xc76c51a3,0xd192e819,0xd6990624,0xf40e3585,0x106aa070,0x19a4c116,0x1e376c08,0x2748774c,0x34b0bcb5,0x391c0cb3,0x4ed8aa4a,0x5b9cca4f,0x682e6ff3,0x748f82ee,0x78a5636f,0x84c87814,0x8cc70208,0x90befffa,0xa4506ceb,0xbef9a3f7,0xc67178f2]);
    const H = new Uint32Array([0x6a09e667,0xbb67ae85,0x3c6ef372,0xa54ff53a,0x510e527f,0x9b05688c,0x1f83d9ab,0x5be0cd19]);
    const len = msg.length, total = ((len + 9 + 63) >> 6) << 6;
    const m = new Uint8Array(total); m.set(msg); m[len] = 0x80;
    const dv = new DataView(m.buffer); dv.setUint32(total - 4, len * 8); dv.setUint32(total - 8, Math.floor(len / 0x20000000));
    const W = new Uint32Array(64), r = (x, n) => (x >>> n) | (x << (32 - n));
    for (let o = 0; o < total; o += 64) {
      for (let i = 0; i < 16; i++) W[i] = dv.getUint32(o + 4 * i);
      for (let i = 16; i < 64; i++) {
        const s0 = r(W[i-15], 7) ^ r(W[i-15], 18) ^ (W[i-15] >>> 3), s1 = r(W[i-2], 17) ^ r(W[i-2], 19) ^ (W[i-2] >>> 10);
        W[i] = W[i-16] + s0 + W[i-7] + s1;
      }
      let [a, b, c, d, e, f, g, h] = H;
      for (let i = 0; i < 64; i++) {
        const t1 = (h + (r(e, 6) ^ r(e, 11) ^ r(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + W[i]) >>> 0;
        const t2 = ((r(a, 2) ^ r(a, 13) ^ r(a, 22)) + ((a & b) ^ (a & c) ^ (b & c))) >>> 0;
        h = g; g = f; f = e; e = (d + t1) >>> 0; d = c; c = b; b = a; a = (t1 + t2) >>> 0;
      }
      H[0] += a; H[1] += b; H[2] += c; H[3] += d; H[4] += e; H[5] += f; H[6] += g; H[7] += h;
    }
    const out = new Uint8Array(32), odv = new DataView(out.buffer);
    H.forEach((v, i) => odv.setUint32(4 * i, v));
    return out;
  }

  // ---- live progress -----------------------------------------------------
  const progress = $("progress");
  // Correct the countdown for a wrong clock on the visitor's device; small
  // differences are just the page's own load time.
  let skew = progress ? Number(progress.dataset.serverNow) - Date.now() : 0;
  if (Math.abs(skew) < 3000) skew = 0;
  // Which of the four steps a state is at: 1 calling you, 2 answer your
  // phone (and press 1 when asked: confirming), 3 calling your friend, 4
  // connected (web/view.go's stepOf).
  const stepOf = { queued: 1, calling_caller: 2, caller_answered: 3, confirming: 2, calling_callee: 3, connected: 4 };
  const finals = ["completed", "failed", "canceled", "rejected"];
  let timer = 0;
  let shown = 0; // transitions rendered: an older snapshot (a slow DELETE reply) never overwrites a newer one
  let lastSaid = "";

  // present is web/view.go's present(): which steps happened (ticked),
  // which failed (crossed), none ticked that did not happen; a call that
  // connected and was then hung up reads as ended.
  function present(req) {
    // The step the call was at when it ended: the last live state's (not
    // the furthest: confirming comes after caller_answered, at step 2).
    let reached = 0;
    for (const h of req.history || []) reached = stepOf[h.state] || reached;
    const final = finals.includes(req.state), talked = !!req.connected_at;
    const o = { kind: "", stateKey: "state." + req.state, reasonKey: "", mark: () => "" };
    if (!final) {
      const cur = stepOf[req.state] || 0;
      o.mark = (n) => (n < cur ? "done" : n === cur ? "active" : "");
    } else if (talked) {
      o.kind = "ok"; o.stateKey = "state.completed"; o.mark = () => "done";
    } else if (req.state === "canceled" || req.state === "failed") {
      const last = req.state === "canceled" ? "stopped" : "failed";
      o.kind = req.state === "canceled" ? "canceled" : "failed";
      o.mark = (n) => (n < reached ? "done" : n === reached ? last : "");
    } else {
      o.kind = "failed";
    }
    if (!req.reason) o.reasonKey = "";
    else if (req.state === "rejected") o.reasonKey = "error." + req.reason;
    else if (talked && req.reason === "visitor") o.reasonKey = "reason.visitor_connected";
    else o.reasonKey = "reason." + req.reason;
    return o;
  }

  function render(req) {
    const n = (req.history || []).length;
    if (n < shown) return;
    shown = n;
    const final = finals.includes(req.state);
    const o = present(req);
    const title = $("state-title");
    title.dataset.state = req.state;
    title.textContent = t(o.stateKey);
    progress.dataset.outcome = o.kind;
    $("num-from").textContent = req.caller_display || req.caller;
    $("num-to").textContent = req.callee_display || req.callee;
    progress.querySelectorAll(".steps li").forEach((li) => {
      li.className = o.mark(Number(li.dataset.step));
    });
    const outcome = final && o.reasonKey ? t(o.reasonKey) : "";
    const talk = final && req.connected_at ? t("talk_time").replace("%s", clock(req.talk_seconds || 0)) : "";
    $("outcome").textContent = outcome;
    $("talk").textContent = talk;
    $("talk").hidden = !talk;
    $("outcome-box").hidden = !final;
    $("cancel-form").hidden = final;
    $("cancel").textContent = t(req.state === "connected" ? "hang_up" : "cancel");
    $("again").hidden = !final;
    const said = [title.textContent, outcome, talk].filter(Boolean).join(" ");
    if (said !== lastSaid) { announce(said); lastSaid = said; }
    clearInterval(timer);
    const cd = $("countdown");
    cd.hidden = req.state !== "connected" || !req.connected_at;
    if (!cd.hidden) {
      const end = req.ends_at ? Date.parse(req.ends_at) : Date.parse(req.connected_at) + (req.limit_seconds || Number(progress.dataset.limit) || 300) * 1000;
      const tick = () => {
        const left = Math.max(0, Math.ceil((end - Date.now() - skew) / 1000));
        $("remaining").textContent = clock(left);
        $("remaining").setAttribute("datetime", "PT" + left + "S");
      };
      tick();
      timer = setInterval(tick, 1000);
    }
    if (final) {
      document.title = title.textContent;
      // "Call again" keeps both numbers: the form page picks them up.
      $("again").onclick = () => {
        try { sessionStorage.setItem("wcb.numbers", JSON.stringify({ caller: req.caller_display || req.caller, callee: req.callee_display || req.callee })); } catch { /* private mode: start empty */ }
      };
    }
  }

  function follow(id) {
    const es = new EventSource("/api/v1/callbacks/" + encodeURIComponent(id) + "/events");
    const on = (ev) => {
      $("conn").hidden = true;
      render(JSON.parse(ev.data));
      if (ev.type === "final") es.close();
    };
    es.addEventListener("state", on);
    es.addEventListener("final", on);
    es.onopen = () => { $("conn").hidden = true; };
    es.onerror = () => {
      // EventSource reconnects by itself (sending Last-Event-ID) unless
      // the server refused the stream outright.
      if (es.readyState === EventSource.CLOSED) {
        // Refused (503 too many streams, 404): look once, then retry
        // only while the call is live.
        setTimeout(async () => {
          try {
            const res = await fetch("/api/v1/callbacks/" + encodeURIComponent(id), { headers: { Accept: "application/json" } });
            if (res.status === 404) { $("outcome-box").hidden = false; $("outcome").textContent = t("error.not_found"); return; }
            if (res.ok) {
              const req = await res.json();
              render(req);
              if (finals.includes(req.state)) return;
            }
          } catch { /* offline: try again */ }
          follow(id);
        }, 3000);
      } else {
        $("conn").hidden = false;
      }
    };
  }

  function startProgress(req) {
    progress.hidden = false;
    progress.dataset.id = req.id;
    $("cancel-form").action = "/call/" + req.id + "/cancel";
    render(req);
    const title = $("state-title");
    title.tabIndex = -1;
    title.focus();
    follow(req.id);
  }

  if (progress) {
    $("cancel-form").addEventListener("submit", async (e) => {
      e.preventDefault();
      const btn = $("cancel");
      btn.disabled = true;
      try {
        const res = await fetch("/api/v1/callbacks/" + encodeURIComponent(progress.dataset.id), { method: "DELETE", headers: { Accept: "application/json" } });
        if (res.ok) render(await res.json());
      } finally {
        btn.disabled = false;
      }
    });
    if (progress.dataset.id) follow(progress.dataset.id); // the /call/{id} page
  }

  // ---- the form and the friend dialog ------------------------------------
  const form = $("call-form");
  if (!form) return;
  const dialog = $("friend"), caller = $("caller"), callee = $("callee"), callBtn = $("call");
  dialog.close(); // open in the markup for the no-JS page
  // Where the focus goes when the dialog closes: back to Call now, or to
  // the field a refusal is about (the close event comes after our own
  // focus() call, so it must know).
  let focusAfterClose = $("call-now");

  // "Call again" on the last call's page left both numbers for us.
  try {
    const kept = JSON.parse(sessionStorage.getItem("wcb.numbers") || "null");
    sessionStorage.removeItem("wcb.numbers");
    if (kept && !caller.value && !callee.value) { caller.value = kept.caller || ""; callee.value = kept.callee || ""; }
  } catch { /* nothing kept */ }
  // A refusal the server rendered (the no-JS path) stays like ours.
  for (const f of ["caller", "callee"]) if (!$(f + "-error").hidden) serverErr[f] = $(f).value;
  // The number field has the focus from the start (a server-side error
  // message of the no-JS path takes it instead).
  // (The close event of the dialog closed above comes later: it focuses
  // the same.)
  focusAfterClose = $("form-error").hidden ? caller : $("form-error");
  focusAfterClose.focus();

  function openDialog() {
    const k = check(caller.value, "caller");
    fieldError("caller", k);
    if (k) { caller.focus(); return; }
    formError("");
    $("dialog-error").hidden = true;
    focusAfterClose = $("call-now");
    dialog.showModal();
    callee.focus();
  }
  $("back").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { if (!form.hidden) focusAfterClose.focus(); });
  for (const f of ["caller", "callee"]) {
    $(f).addEventListener("blur", () => { if ($(f).value.trim()) fieldError(f, check($(f).value, f)); });
    $(f).addEventListener("input", () => { if ($(f).getAttribute("aria-invalid")) fieldError(f, check($(f).value, f)); });
  }

  async function post(body) {
    const res = await fetch("/api/v1/callbacks", {
      method: "POST",
      headers: { "Content-Type": "application/json", Accept: "application/json" },
      body: JSON.stringify(body),
    });
    let data = null;
    try { data = await res.json(); } catch { /* not JSON: a proxy's page */ }
    return { ok: res.ok, data, retry: Number(res.headers.get("Retry-After")) || 0 };
  }

  // refused shows a refusal next to the number it is about (in the dialog
  // for the friend's, on the form for the caller's, above the form for
  // neither) until the visitor changes that number.
  function refused(err, retry) {
    let el, field = err.field === "callee" || err.field === "caller" ? err.field : "";
    if (field === "callee") {
      el = $("callee-error");
    } else {
      el = field ? $("caller-error") : $("form-error");
      focusAfterClose = field ? caller : $("form-error");
      dialog.close();
    }
    if (field) {
      fieldError(field, "", " ");
      serverErr[field] = $(field).value;
    }
    const said = showRefusal(el, err.message, retry);
    announce(said);
    if (field === "callee") callee.focus();
  }

  async function call() {
    const k = check(callee.value, "callee");
    fieldError("callee", k);
    if (k) { callee.focus(); return; }
    callBtn.disabled = true;
    callBtn.setAttribute("aria-busy", "true");
    try {
      const body = { caller: caller.value, callee: callee.value, lang: T["html.lang"].slice(0, 2), website: form.elements.website.value, pow: "" };
      let r = await post(body);
      if (!r.ok && r.data && r.data.error && r.data.error.challenge) {
        body.pow = await solve(r.data.error.challenge);
        r = await post(body);
      }
      if (r.ok && r.data) {
        dialog.close();
        form.hidden = true;
        history.pushState({ id: r.data.id }, "", "/call/" + r.data.id);
        startProgress(r.data);
        return;
      }
      refused((r.data && r.data.error) || { code: "internal", message: t("error.internal") }, r.retry);
    } catch {
      $("dialog-error").textContent = t("error.internal");
      $("dialog-error").hidden = false;
    } finally {
      callBtn.disabled = false;
      callBtn.removeAttribute("aria-busy");
    }
  }

  form.addEventListener("submit", (e) => {
    e.preventDefault();
    if (!dialog.open) openDialog(); else call();
  });
  $("form-error").tabIndex = -1;
  window.addEventListener("popstate", () => location.reload());
})();
