// Lượt lobby display in a browser, for smart TVs: follows /ws with the display's device token,
// shows who is called to which counter, and announces each call with a chime and a voice.
//
// How a call sounds is in display-voice.js. What a test or a script can read lives in
// `window.luotDisplay` (see `exposed` below).
"use strict";

(function lobbyDisplay() {
  const $ = (id) => document.getElementById(id);

  Luot.words({
    vi: {
      invite: "Mời công dân có số", to: "đến", recent_calls: "Vừa gọi", counters_open: "Quầy đang phục vụ",
      waiting_by_service: "Đang chờ theo lĩnh vực", waiting_total: "Đang chờ: {n}", no_counter_open: "Chưa có quầy nào mở",
      no_calls: "Chưa gọi số nào", tap_for_sound: "Chạm vào màn hình để bật âm thanh",
      lost: "Mất kết nối", lost_for: "Mất kết nối · {d} — đang kết nối lại…",
      seconds: "{n} giây", minutes_seconds: "{m} phút {s} giây", hours_minutes: "{h} giờ {m} phút",
      missing_title: "Chưa có mã thiết bị",
      missing_text: "Mở trang này bằng địa chỉ /display?token=… với mã thiết bị màn hình do quản trị viên cấp.",
      refused_title: "Mã thiết bị bị từ chối",
      refused_text: "Mã thiết bị không hợp lệ hoặc đã bị thu hồi. Hãy xin quản trị viên một mã mới và mở lại /display?token=…",
      forbidden_title: "Máy chủ từ chối kết nối",
      forbidden_text: "Máy chủ không chấp nhận kết nối của màn hình này. Hãy liên hệ quản trị viên.",
      retry_in: "Thử lại sau {n} giây",
    },
    en: {
      invite: "Citizen number", to: "please go to", recent_calls: "Recent calls", counters_open: "Open counters",
      waiting_by_service: "Waiting by service", waiting_total: "Waiting: {n}", no_counter_open: "No counter is open yet",
      no_calls: "No ticket called yet", tap_for_sound: "Touch the screen to turn the sound on",
      lost: "Connection lost", lost_for: "Connection lost · {d} — reconnecting…",
      seconds: "{n} s", minutes_seconds: "{m} min {s} s", hours_minutes: "{h} h {m} min",
      missing_title: "No device token",
      missing_text: "Open this page as /display?token=… with the display token an administrator gave you.",
      refused_title: "Device token refused",
      refused_text: "The device token is invalid or was revoked. Ask an administrator for a new one and open /display?token=… again.",
      forbidden_title: "The server refused the connection",
      forbidden_text: "The server does not accept this screen's connection. Contact an administrator.",
      retry_in: "Retrying in {n} s",
    },
  });

  // --- Settings: the token is given once in the URL, then kept. ---------------------------
  const TOKEN_KEY = "luot.display.token";
  const params = new URLSearchParams(location.search);
  let token = params.get("token");
  if (token) {
    try { localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode: this load only */ }
    params.delete("token");
    const rest = params.toString();
    history.replaceState(null, "", location.pathname + (rest ? "?" + rest : ""));
  } else {
    try { token = localStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
  }
  if (params.get("lang") === "en" || params.get("lang") === "vi") Luot.setLang(params.get("lang"));
  Luot.translate();

  /** Calls missed while offline are announced when at most this old (`?recent=SECONDS`). */
  const RECENT_MS = (() => {
    const s = Number(params.get("recent"));
    return Number.isFinite(s) && s >= 0 && params.has("recent") ? s * 1000 : 120000;
  })();
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  /** After a refused credential, try again this rarely: a re-issued token then works. */
  const REFUSED_RETRY_MS = 60000;
  /** The page's own heartbeat; a beat this late means the machine slept or the tab froze. */
  const TICK_MS = 1000;
  const WAKE_GAP_MS = 5000;
  /** An application ping this often; a socket silent this long is dead. */
  const PING_MS = 15000;
  const SILENCE_MS = 45000;
  /** A fresh call stays highlighted this long. */
  const HIGHLIGHT_MS = 10000;
  /** Short blips (a re-sync) do not flash the offline banner. */
  const OFFLINE_GRACE_MS = 1500;
  /** Bounds: calls remembered for "announce once", history kept for tests, queued announcements. */
  const MAX_KNOWN = 500;
  const MAX_HISTORY = 500;
  const MAX_QUEUE = 200;

  /** What the page did, for tests and for anyone checking a screen from the console. */
  const exposed = {
    seq: null, state: null, online: false, connects: 0, refused: null, nextRetryMs: 0,
    offlineSince: null, resyncs: [], announced: [], shown: [], queued: 0, audio: "locked", voice: null,
    recentMs: RECENT_MS,
  };
  window.luotDisplay = exposed;
  // The page runs under a strict Content-Security-Policy: anything it blocks is a bug here.
  exposed.cspViolations = [];
  document.addEventListener("securitypolicyviolation", (e) => push(exposed.cspViolations, `${e.violatedDirective} ${e.blockedURI}`));

  const push = (list, item) => { list.push(item); if (list.length > MAX_HISTORY) list.splice(0, list.length - MAX_HISTORY); };
  const wallMs = () => performance.timeOrigin + performance.now();

  // --- Server clock: the TV's own clock may be wrong; the server's Date header is not. -----
  let clockOffsetMs = 0;
  function noteClock(response) {
    const date = Date.parse(response.headers.get("date") || "");
    // The header has whole seconds: the true time is on average half a second later.
    if (Number.isFinite(date)) clockOffsetMs = date + 500 - Date.now();
  }
  const serverNow = () => Date.now() + clockOffsetMs;

  // --- The view: the last full state, with calls applied at once as they arrive. ------------
  let state = null;
  let highlightUntil = 0;

  function setState(next) {
    state = next;
    exposed.state = next;
    render();
  }

  function counterName(id) {
    const c = state && state.counters.find((k) => k.id === id);
    return c ? c.name : `${Luot.t("counter")} ${id}`;
  }

  /** Shows a call from its event right away; the full state follows from the API. */
  function applyCall(rec) {
    const ev = rec.event;
    if (!state || rec.seq <= state.seq) return;
    const call = { ticket: ev.ticket, counter: ev.counter, at: rec.at, recall: ev.recall };
    const calls = state.recent_calls.filter((r) => r.ticket.id !== ev.ticket.id);
    calls.unshift(call);
    const counters = state.counters.map((c) => {
      if (c.id === ev.counter) {
        return Object.assign({}, c, { current: Object.assign({}, ev.ticket, { status: "called", called_at: rec.at }) });
      }
      if (c.current && c.current.id === ev.ticket.id) return Object.assign({}, c, { current: undefined });
      return c;
    });
    setState(Object.assign({}, state, { recent_calls: calls.slice(0, 10), counters }));
  }

  // --- Rendering -----------------------------------------------------------------------------
  let shownCall = null;
  let tickerText = null;

  function render() {
    if (!state) return;
    $("center-name").textContent = state.center;
    renderClock();
    renderCall();
    renderRecent();
    renderCounters();
    renderWaiting();
    renderTicker();
  }

  function renderCall() {
    const latest = state.recent_calls[0];
    const key = latest ? callKey(latest) : null;
    const box = $("call");
    box.classList.toggle("empty", !latest);
    if (key !== shownCall) {
      shownCall = key;
      $("call-number").textContent = latest ? latest.ticket.number : "—";
      $("call-number").dataset.number = latest ? latest.ticket.number : "";
      $("call-counter").textContent = latest ? counterName(latest.counter) : Luot.t("no_calls");
      box.dataset.counter = latest ? String(latest.counter) : "";
    }
    box.classList.toggle("fresh", Date.now() < highlightUntil);
  }

  function renderRecent() {
    const list = $("recent");
    list.closest("section").hidden = state.recent_calls.length < 2;
    list.replaceChildren(...state.recent_calls.slice(1, 7).map((r) =>
      Luot.el("li", { "data-number": r.ticket.number, "data-counter": r.counter, class: r.ticket.priority ? "prio" : "" },
        Luot.el("span", { class: "num" }, r.ticket.number),
        Luot.el("span", { class: "arrow", "aria-hidden": "true" }, "→"),
        Luot.el("span", { class: "ctr" }, counterName(r.counter)))));
  }

  function renderCounters() {
    const open = state.counters.filter((c) => c.open);
    const grid = $("counters");
    // Three tiles a row fit nine counters; more get four, then five smaller ones a row.
    grid.classList.toggle("many", open.length > 9 && open.length <= 16);
    grid.classList.toggle("lots", open.length > 16);
    if (open.length === 0) {
      grid.replaceChildren(Luot.el("div", { class: "tv-none" }, Luot.t("no_counter_open")));
      return;
    }
    grid.replaceChildren(...open.map((c) => {
      const t = c.current;
      const status = t ? (t.status === "serving" ? "serving" : "called") : "idle";
      return Luot.el("div", { class: `tv-counter ${status}`, "data-counter": c.id, "data-number": t ? t.number : "" },
        Luot.el("div", { class: "name" }, c.name),
        Luot.el("div", { class: "num" }, t ? t.number : "—"));
    }));
  }

  function renderWaiting() {
    const total = state.services.reduce((n, s) => n + s.waiting, 0);
    document.querySelector(".tv-waiting h2").textContent = `${Luot.t("waiting_by_service")} · ${total}`;
    // Past ten fields a single column would run off the screen.
    $("waiting").classList.toggle("cols2", state.services.length > 10);
    $("waiting").replaceChildren(...state.services.map((s) =>
      Luot.el("li", { "data-service": s.id, "data-waiting": s.waiting, class: s.waiting ? "" : "zero" },
        Luot.el("span", { class: "name" }, s.name),
        Luot.el("span", { class: "count" }, String(s.waiting)))));
  }

  function renderTicker() {
    const text = (state.ticker || "").trim();
    if (text === tickerText) return;
    tickerText = text;
    const box = $("ticker-box");
    const line = $("ticker");
    box.hidden = !text;
    line.classList.remove("scroll");
    line.replaceChildren(Luot.el("span", { class: "t" }, text));
    if (!text || line.scrollWidth <= box.clientWidth) return;
    // Too long for the screen: two copies side by side move left by one copy's width and
    // start over, so the line is readable from the first second and loops without a jump.
    line.append(Luot.el("span", { class: "t", "aria-hidden": "true" }, text));
    const copy = line.firstChild.getBoundingClientRect().width;
    const seconds = Math.max(10, (copy / box.clientWidth) * 14);
    line.style.setProperty("--ticker-s", `${seconds.toFixed(1)}s`);
    line.classList.add("scroll");
  }

  const dateFormat = new Map();
  function formatter(kind, timeZone) {
    const key = `${kind}|${timeZone}|${Luot.lang}`;
    if (!dateFormat.has(key)) {
      const locale = Luot.lang === "en" ? "en-GB" : "vi-VN";
      const options = kind === "date"
        ? { weekday: "long", day: "2-digit", month: "2-digit", year: "numeric" }
        : { hour: "2-digit", minute: "2-digit", hour12: false };
      try { dateFormat.set(key, new Intl.DateTimeFormat(locale, Object.assign({ timeZone }, options))); }
      catch (e) { dateFormat.set(key, new Intl.DateTimeFormat(locale, options)); }
    }
    return dateFormat.get(key);
  }

  function renderClock() {
    const zone = (state && state.timezone) || "Asia/Ho_Chi_Minh";
    const now = new Date(serverNow());
    const date = formatter("date", zone).format(now);
    $("date").textContent = date.charAt(0).toUpperCase() + date.slice(1);
    $("clock").textContent = formatter("time", zone).format(now);
  }

  function duration(ms) {
    const s = Math.floor(ms / 1000);
    if (s < 60) return Luot.t("seconds", { n: s });
    if (s < 3600) return Luot.t("minutes_seconds", { m: Math.floor(s / 60), s: String(s % 60).padStart(2, "0") });
    return Luot.t("hours_minutes", { h: Math.floor(s / 3600), m: String(Math.floor(s / 60) % 60).padStart(2, "0") });
  }

  function renderConnection() {
    const banner = $("offline");
    const down = exposed.refused === null && exposed.offlineSince !== null &&
      Date.now() - exposed.offlineSince >= OFFLINE_GRACE_MS;
    banner.hidden = !down;
    // What is on screen may be stale: dim it while the banner shows.
    document.body.classList.toggle("offline", down);
    if (down) banner.textContent = Luot.t("lost_for", { d: duration(Date.now() - exposed.offlineSince) });
  }

  // --- Calls and their announcements ------------------------------------------------------
  const known = new Set();
  const knownOrder = [];
  const callKey = (call) => `${call.ticket.id}@${call.at}`;

  function remember(key) {
    known.add(key);
    knownOrder.push(key);
    if (knownOrder.length > MAX_KNOWN) known.delete(knownOrder.shift());
  }

  /** A call the page has just learnt of: announced once, when recent enough. */
  function noteCall(call) {
    const key = callKey(call);
    if (known.has(key)) return;
    remember(key);
    highlightUntil = Date.now() + HIGHLIGHT_MS;
    const age = serverNow() - Date.parse(call.at);
    if (age <= RECENT_MS) announcer.enqueue(call, key);
  }

  /** The sentence for a ticket number and a counter, for checking the wording. */
  exposed.sentenceFor = (number, counter) => LuotVoice.sentence({ ticket: { number: String(number) }, counter });

  const announcer = LuotVoice.announcer({
    exposed, push, wallMs, maxQueue: MAX_QUEUE,
    onAudio: (audio) => { $("sound-hint").hidden = audio !== "locked"; },
  });

  // --- The event stream ---------------------------------------------------------------------
  let ws = null;
  let seq = null;
  let backoff = BACKOFF_MIN_MS;
  let retryTimer = null;
  let lastHeard = 0;
  let lastPing = 0;

  function authHeaders() {
    return { Authorization: "Bearer " + token, Accept: "application/json" };
  }

  function setOnline(online) {
    exposed.online = online;
    if (online) exposed.offlineSince = null;
    else if (exposed.offlineSince === null) exposed.offlineSince = Date.now();
    renderConnection();
  }

  function schedule(ms) {
    clearTimeout(retryTimer);
    exposed.nextRetryMs = Math.round(ms);
    retryTimer = setTimeout(connect, ms);
  }

  /** Forgets the current socket, if any, without reacting to its end. */
  function abandon() {
    const old = ws;
    ws = null;
    if (old) { old.onclose = null; old.close(); }
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    abandon();
    if (!token) { refuse("missing"); return; }
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?token=" +
      encodeURIComponent(token) + (seq === null ? "" : "&since=" + seq);
    let socket;
    try { socket = new WebSocket(url); } catch (e) { dropped(1006, false); return; }
    ws = socket;
    exposed.connects += 1;
    let heard = false;
    socket.onmessage = (m) => {
      if (ws !== socket) return;
      lastHeard = Date.now();
      if (!heard) {
        heard = true;
        backoff = BACKOFF_MIN_MS;
        if (exposed.refused !== null) { exposed.refused = null; $("refused").hidden = true; }
        setOnline(true);
      }
      receive(m.data);
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      ws = null;
      dropped(ev.code, heard);
    };
    syncClock();
  }

  /** The socket ended: refused credentials get a message and a slow retry, the rest backoff. */
  async function dropped(code, heard) {
    if (code === 4401 || code === 4403) { refuse(code === 4403 ? "forbidden" : "refused"); return; }
    setOnline(false);
    if (!heard) {
      // A browser does not tell why an upgrade failed: ask the API whether the token is good.
      try {
        const r = await fetch("/api/v1/state", { headers: authHeaders(), cache: "no-store" });
        if (r.status === 401) { refuse("refused"); return; }
        if (r.status === 403) { refuse("forbidden"); return; }
      } catch (e) { /* the server is unreachable: back off */ }
      // A re-sync may have connected again meanwhile: then that socket carries on.
      if (ws) return;
    }
    const wait = backoff * (0.5 + Math.random());
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    schedule(wait);
  }

  function refuse(kind) {
    abandon();
    exposed.refused = kind;
    exposed.online = false;
    $("refused-title").textContent = Luot.t(`${kind}_title`);
    $("refused-text").textContent = Luot.t(`${kind}_text`);
    $("refused").hidden = false;
    $("offline").hidden = true;
    if (kind === "missing") { $("refused-retry").textContent = ""; return; }
    const wait = REFUSED_RETRY_MS * (0.9 + 0.2 * Math.random());
    const due = Date.now() + wait;
    const countdown = () => {
      const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
      $("refused-retry").textContent = Luot.t("retry_in", { n: left });
    };
    countdown();
    refusedCountdown = countdown;
    schedule(wait);
  }
  let refusedCountdown = null;

  /** Drops the socket and connects again at once with `since`: after a gap, a wake, a return. */
  function resync(reason) {
    push(exposed.resyncs, { reason, at: wallMs() });
    backoff = BACKOFF_MIN_MS;
    if (exposed.refused !== null) return;
    connect();
    scheduleRefresh();
  }

  function receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (msg.type === "snapshot") {
      const first = state === null;
      seq = msg.seq;
      exposed.seq = seq;
      const calls = msg.state.recent_calls.slice().reverse();
      if (first) calls.forEach((c) => remember(callKey(c)));
      setState(msg.state);
      if (!first) calls.forEach(noteCall);
      render();
    } else if (msg.type === "event") {
      if (seq !== null && msg.seq <= seq) return;
      if (seq === null || msg.seq !== seq + 1) { resync("gap"); return; }
      seq = msg.seq;
      exposed.seq = seq;
      if (msg.event.kind === "ticket_called") {
        applyCall(msg);
        noteCall({ ticket: msg.event.ticket, counter: msg.event.counter, at: msg.at, recall: msg.event.recall });
        render();
        push(exposed.shown, { seq: msg.seq, number: msg.event.ticket.number, counter: msg.event.counter, t: wallMs() });
      }
      scheduleRefresh();
    }
  }

  // The full state after events: one request at a time, the latest wins.
  let refreshTimer = null;
  let refreshing = false;
  let refreshAgain = false;

  function scheduleRefresh() {
    if (refreshing || refreshTimer) { refreshAgain = true; return; }
    refreshTimer = setTimeout(refresh, 50);
  }

  async function refresh() {
    refreshTimer = null;
    refreshing = true;
    refreshAgain = false;
    try {
      const r = await fetch("/api/v1/state", { headers: authHeaders(), cache: "no-store" });
      noteClock(r);
      if (r.ok) {
        const next = await r.json();
        // Before the stream's first snapshot there is no seq to compare with: wait for it.
        if (seq !== null && next.seq >= seq) setState(next);
        else if (seq !== null) refreshAgain = true;
      }
    } catch (e) { /* offline: the stream's reconnect brings the state back */ }
    refreshing = false;
    if (refreshAgain && token) scheduleRefresh();
  }

  async function syncClock() {
    try { noteClock(await fetch("/healthz", { cache: "no-store" })); } catch (e) { /* keep the last offset */ }
  }

  // --- The page's heartbeat: clock, banner, liveness, and noticing a sleep. ---------------
  let lastTick = Date.now();
  setInterval(() => {
    const now = Date.now();
    const late = now - lastTick > WAKE_GAP_MS;
    lastTick = now;
    renderClock();
    renderConnection();
    if (refusedCountdown && exposed.refused !== null) refusedCountdown();
    $("call").classList.toggle("fresh", now < highlightUntil);
    if (late) { resync("wake"); return; }
    if (ws && ws.readyState === WebSocket.OPEN) {
      if (now - lastHeard > SILENCE_MS) { resync("silent"); return; }
      if (now - lastPing > PING_MS) { lastPing = now; try { ws.send('{"type":"ping"}'); } catch (e) { /* closing */ } }
    }
  }, TICK_MS);

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") resync("visible");
  });
  window.addEventListener("online", () => { if (!ws) resync("online"); });
  // A TV turned or resized: the ticker decides again whether it must scroll.
  window.addEventListener("resize", () => { tickerText = null; render(); });
  document.addEventListener("luot:lang", () => { dateFormat.clear(); shownCall = null; tickerText = null; render(); });

  connect();
})();
