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
  function fieldError(field, key, text) {
    const input = $(field), el = $(field + "-error");
    if (!input || !el) return;
    el.textContent = text || (key ? t(key) : "");
    el.hidden = !el.textContent;
    if (el.hidden) input.removeAttribute("aria-invalid"); else input.setAttribute("aria-invalid", "true");
  }
  function formError(text) {
    const el = $("form-error");
    el.textContent = text || "";
    el.hidden = !text;
  }
  function retryText(err) {
    if (!err.retry_at) return "";
    const at = new Date(err.retry_at);
    const sameDay = at - Date.now() < 20 * 3600e3;
    const s = at.toLocaleString(T["html.lang"], sameDay ? { hour: "2-digit", minute: "2-digit" } : { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
    return t("status.retry_at").replace("%s", s);
  }

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
  const limit = progress ? Number(progress.dataset.limit) || 300 : 300;
  // Correct the countdown for a wrong clock on the visitor's device; small
  // differences are just the page's own load time.
  let skew = progress ? Number(progress.dataset.serverNow) - Date.now() : 0;
  if (Math.abs(skew) < 3000) skew = 0;
  // Which of the four steps a state shows: 1 calling you, 2 answer your
  // phone (and press 1 when asked: confirming), 3 calling your friend, 4 connected.
  const stepOf = { queued: 1, calling_caller: 2, caller_answered: 3, confirming: 2, calling_callee: 3, connected: 4 };
  let timer = 0;
  let shown = 0; // transitions rendered: an older snapshot (a slow DELETE reply) never overwrites a newer one

  function render(req) {
    const n = (req.history || []).length;
    if (n < shown) return;
    shown = n;
    const final = ["completed", "failed", "canceled", "rejected"].includes(req.state);
    const title = $("state-title");
    title.dataset.state = req.state;
    title.textContent = t("state." + req.state);
    $("num-from").textContent = req.caller;
    $("num-to").textContent = req.callee;
    let reached = 0;
    for (const h of req.history || []) reached = Math.max(reached, stepOf[h.state] || 0);
    const cur = final ? 0 : stepOf[req.state] || 0;
    progress.querySelectorAll(".steps li").forEach((li) => {
      const n = Number(li.dataset.step);
      li.classList.toggle("active", n === cur);
      li.classList.toggle("done", final ? n <= reached && (n < 4 || req.connected_at) : n < cur);
    });
    const reason = req.reason ? t((req.state === "rejected" ? "error." : "reason.") + req.reason) : "";
    $("outcome").textContent = final ? reason : "";
    $("cancel-form").hidden = final || req.state === "connected";
    $("again").hidden = !final;
    clearInterval(timer);
    const cd = $("countdown");
    cd.hidden = req.state !== "connected" || !req.connected_at;
    if (!cd.hidden) {
      const end = Date.parse(req.connected_at) + limit * 1000;
      const tick = () => {
        const left = Math.max(0, Math.ceil((end - Date.now() - skew) / 1000));
        $("remaining").textContent = Math.floor(left / 60) + ":" + String(left % 60).padStart(2, "0");
        $("remaining").setAttribute("datetime", "PT" + left + "S");
      };
      tick();
      timer = setInterval(tick, 1000);
    }
    if (final) document.title = title.textContent;
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
            if (res.status === 404) { $("outcome").textContent = t("error.not_found"); return; }
            if (res.ok) {
              const req = await res.json();
              render(req);
              if (["completed", "failed", "canceled", "rejected"].includes(req.state)) return;
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
  let opener = $("call-now");

  function openDialog() {
    const k = check(caller.value, "caller");
    fieldError("caller", k);
    if (k) { caller.focus(); return; }
    formError("");
    $("dialog-error").hidden = true;
    dialog.showModal();
    callee.focus();
  }
  $("back").addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => { if (!form.hidden) opener.focus(); });
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
    return { ok: res.ok, data };
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
      const err = (r.data && r.data.error) || { code: "internal", message: t("error.internal") };
      const text = err.message + (retryText(err) ? " " + retryText(err) : "");
      if (err.field === "callee") {
        fieldError("callee", "", text);
        callee.focus();
      } else if (err.field === "caller") {
        dialog.close();
        fieldError("caller", "", text);
        caller.focus();
      } else {
        dialog.close();
        formError(text);
        $("form-error").focus();
      }
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
    if (!dialog.open) { opener = $("call-now"); openDialog(); } else { call(); }
  });
  $("form-error").tabIndex = -1;
  window.addEventListener("popstate", () => location.reload());
})();
