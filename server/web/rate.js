// Lượt rating tablet: paired to one counter by a kiosk token made with `--counter N`, given
// once as /rate#token=… (the fragment never reaches the server) and kept in localStorage.
// When that counter finishes a ticket (`ticket_finished` on /ws) it asks for a rating, sends
// it, thanks, and returns to idle; after `?idle=SECONDS` (default 30) without a choice it
// returns to idle by itself. What a test can read lives in `window.luotRate`.
"use strict";

(function ratingTablet() {
  const $ = (id) => document.getElementById(id);

  Luot.words({
    vi: {
      idle_thanks: "Xin cảm ơn quý khách!", idle_text: "Sau khi được phục vụ, mời quý khách đánh giá tại đây.",
      ticket_number: "Số", ask: "Quý khách có hài lòng với sự phục vụ?",
      s5: "Rất hài lòng", s4: "Hài lòng", s3: "Bình thường", s2: "Không hài lòng", s1: "Rất không hài lòng",
      reason_ask: "Điều gì làm quý khách chưa hài lòng?", reason_optional: "Chọn một lý do, hoặc bấm “Bỏ qua”.", skip: "Bỏ qua",
      thanks_title: "Xin cảm ơn quý khách!", thanks_text: "Ý kiến của quý khách đã được ghi nhận.", you_chose: "Quý khách đã chọn: {s}",
      sending_title: "Đang gửi đánh giá…", sending_text: "Xin quý khách chờ một chút.",
      retrying_title: "Chưa gửi được đánh giá", retrying_text: "Mất kết nối với máy chủ. Máy đang tự gửi lại (lần {n})… Quý khách không cần chờ.",
      failed_title: "Không gửi được đánh giá", failed_text: "Xin lỗi quý khách, máy không liên lạc được với máy chủ. Xin hãy báo nhân viên.",
      already_title: "Số này đã được đánh giá", already_text: "Xin cảm ơn quý khách!",
      closed_title: "Đã hết thời gian đánh giá", closed_text: "Số {n} không còn nhận đánh giá. Xin cảm ơn quý khách!",
      refused_rating_title: "Máy này không đánh giá được số {n}", refused_rating_text: "Xin hãy báo nhân viên tại quầy.",
      missing_title: "Máy chưa được ghép với quầy", missing_text: "Máy đánh giá này chưa có mã ghép nên chưa dùng được.",
      refused_title: "Máy không còn được ghép với quầy", refused_text: "Mã ghép của máy này không hợp lệ hoặc đã bị thu hồi.",
      not_rating_title: "Mã này không dùng cho máy đánh giá", not_rating_text: "Máy đánh giá cần mã “máy lấy số” gắn với đúng một quầy.",
      pair_how: "Nhờ quản trị viên vào trang Quản trị → Thiết bị → “Liên kết máy đánh giá”, chọn quầy, rồi mở liên kết đó trên máy này.",
      retry_in: "Thử lại sau {n} giây", offline: "Mất kết nối với máy chủ — đang kết nối lại…",
    },
    en: {
      idle_thanks: "Thank you!", idle_text: "After your visit, please rate our service here.",
      ticket_number: "Ticket", ask: "How satisfied are you with our service?",
      s5: "Very satisfied", s4: "Satisfied", s3: "Neutral", s2: "Dissatisfied", s1: "Very dissatisfied",
      reason_ask: "What were you not satisfied with?", reason_optional: "Choose one reason, or press “Skip”.", skip: "Skip",
      thanks_title: "Thank you!", thanks_text: "Your opinion has been recorded.", you_chose: "You chose: {s}",
      sending_title: "Sending your rating…", sending_text: "One moment, please.",
      retrying_title: "Your rating is not sent yet", retrying_text: "The server cannot be reached. This screen keeps trying (attempt {n})… You need not wait.",
      failed_title: "The rating could not be sent", failed_text: "Sorry, this screen cannot reach the server. Please tell a staff member.",
      already_title: "This ticket was already rated", already_text: "Thank you!",
      closed_title: "The time to rate has passed", closed_text: "Ticket {n} can no longer be rated. Thank you!",
      refused_rating_title: "This screen cannot rate ticket {n}", refused_rating_text: "Please tell the staff at the counter.",
      missing_title: "This screen is not paired with a counter", missing_text: "This rating screen has no pairing code yet.",
      refused_title: "This screen is no longer paired", refused_text: "Its pairing code is invalid or was revoked.",
      not_rating_title: "This code is not for a rating screen", not_rating_text: "A rating screen needs a kiosk code tied to exactly one counter.",
      pair_how: "Ask an administrator to open Admin → Devices → “Rating screen link”, pick the counter, and open that link on this screen.",
      retry_in: "Retrying in {n} s", offline: "Connection to the server lost — reconnecting…",
    },
  });

  // --- Settings: the token comes once in the fragment, then is kept. ------------------------
  const TOKEN_KEY = "luot.rate.token";
  const params = new URLSearchParams(location.search);
  const fragment = new URLSearchParams(location.hash.replace(/^#/, ""));
  let token = fragment.get("token");
  if (token) {
    try { localStorage.setItem(TOKEN_KEY, token); } catch (e) { /* private mode: this load only */ }
    history.replaceState(null, "", location.pathname + location.search);
  } else {
    try { token = localStorage.getItem(TOKEN_KEY); } catch (e) { token = null; }
  }
  if (params.get("lang") === "en" || params.get("lang") === "vi") Luot.setLang(params.get("lang"));
  Luot.translate();

  const seconds = (name, fallback) => {
    const s = Number(params.get(name));
    return params.has(name) && Number.isFinite(s) && s > 0 ? s * 1000 : fallback;
  };
  /** Without a choice, a question returns to idle after this (`?idle=SECONDS`). */
  const IDLE_MS = seconds("idle", 30000);
  /** Thanks and notices stay this long (`?thanks=SECONDS`). */
  const THANKS_MS = seconds("thanks", 5000);
  const BACKOFF_MIN_MS = 500;
  const BACKOFF_MAX_MS = 15000;
  const SEND_RETRY_MAX_MS = 10000;
  /** A rating not sent after this long is given up (the server's window is 10 minutes). */
  const SEND_GIVE_UP_MS = 10 * 60000;
  const REFUSED_RETRY_MS = 60000;
  const PING_MS = 15000;
  const SILENCE_MS = 45000;
  const TICK_MS = 1000;
  const WAKE_GAP_MS = 5000;
  const MAX_HISTORY = 200;
  const MAX_RATED = 500;

  const exposed = {
    screen: "idle", counter: null, current: null, sent: [], offered: [], connects: 0, online: false,
    unpaired: null, seq: null, idleMs: IDLE_MS, reasons: [], cspViolations: [],
  };
  window.luotRate = exposed;
  const push = (list, item) => { list.push(item); if (list.length > MAX_HISTORY) list.splice(0, list.length - MAX_HISTORY); };
  document.addEventListener("securitypolicyviolation", (e) => push(exposed.cspViolations, `${e.violatedDirective} ${e.blockedURI}`));

  // --- The server's clock: the tablet's own may be wrong. ----------------------------------
  let clockOffsetMs = 0;
  function noteClock(response) {
    const date = Date.parse(response.headers.get("date") || "");
    if (Number.isFinite(date)) clockOffsetMs = date + 500 - Date.now();
  }
  const serverNow = () => Date.now() + clockOffsetMs;

  // --- Faces: drawn here, so they look the same on every tablet, emoji font or not. --------
  const SVG = "http://www.w3.org/2000/svg";
  const MOUTHS = {
    5: "M27 58 Q50 86 73 58", 4: "M31 62 Q50 77 69 62", 3: "M31 66 L69 66",
    2: "M31 72 Q50 60 69 72", 1: "M27 77 Q50 53 73 77",
  };
  const COLOURS = { 5: "#17803d", 4: "#6aa531", 3: "#e0a800", 2: "#e8710a", 1: "#c62828" };
  function face(score) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 100 100");
    svg.setAttribute("aria-hidden", "true");
    const add = (tag, attrs) => {
      const e = document.createElementNS(SVG, tag);
      for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
      svg.append(e);
    };
    add("circle", { cx: 50, cy: 50, r: 46, fill: COLOURS[score], stroke: "#1b1b1b", "stroke-width": 3 });
    add("circle", { cx: 35, cy: 40, r: 6, fill: "#1b1b1b" });
    add("circle", { cx: 65, cy: 40, r: 6, fill: "#1b1b1b" });
    if (score === 1) {
      // Brows raised in the middle: very unhappy, not angry.
      add("path", { d: "M24 31 L42 25", stroke: "#1b1b1b", "stroke-width": 5, "stroke-linecap": "round" });
      add("path", { d: "M76 31 L58 25", stroke: "#1b1b1b", "stroke-width": 5, "stroke-linecap": "round" });
    }
    add("path", { d: MOUTHS[score], fill: "none", stroke: "#1b1b1b", "stroke-width": 6, "stroke-linecap": "round" });
    return svg;
  }

  /** A green tick: the thanks is the same whatever the citizen chose. */
  function tick() {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("viewBox", "0 0 100 100");
    svg.setAttribute("aria-hidden", "true");
    const circle = document.createElementNS(SVG, "circle");
    for (const [k, v] of Object.entries({ cx: 50, cy: 50, r: 46, fill: "#17803d" })) circle.setAttribute(k, v);
    const mark = document.createElementNS(SVG, "path");
    for (const [k, v] of Object.entries({ d: "M28 52 L44 67 L73 35", fill: "none", stroke: "#fff", "stroke-width": 9,
      "stroke-linecap": "round", "stroke-linejoin": "round" })) mark.setAttribute(k, v);
    svg.append(circle, mark);
    return svg;
  }

  function buildChoices() {
    $("choices").replaceChildren(...[5, 4, 3, 2, 1].map((score) =>
      Luot.el("button", { type: "button", class: "rt-choice", "data-score": score, onclick: () => choose(score) },
        face(score), Luot.el("span", { class: "label" }, Luot.t("s" + score)))));
  }

  // --- Screens -------------------------------------------------------------------------------
  let screenTimer = null;
  /** What the screen shows now; a timer or a late reply acts only if it still shows it. */
  let shown = 0;

  function show(screen, until) {
    shown += 1;
    const mine = shown;
    exposed.screen = screen;
    document.querySelectorAll(".rt-screen").forEach((e) => { e.hidden = e.dataset.screen !== screen; });
    clearTimeout(screenTimer);
    screenTimer = null;
    const fill = document.querySelector(`#${screen} .rt-timer-fill`);
    if (fill) {
      fill.classList.remove("run");
      // Restart the animation: it shows the time left before the screen gives up.
      void fill.offsetWidth;
      fill.style.setProperty("--idle", `${until ? until.ms : IDLE_MS}ms`);
      fill.classList.add("run");
    }
    if (until) screenTimer = setTimeout(() => { if (shown === mine) until.then(); }, until.ms);
    return mine;
  }

  function idle() {
    exposed.current = null;
    show("idle");
  }

  function message(kind, title, text, score) {
    const box = $("message");
    box.dataset.kind = kind;
    $("message-face").replaceChildren(...(kind === "thanks" ? [tick()] : []));
    $("message-choice").replaceChildren(...(score ? [face(score), Luot.el("span", {}, Luot.t("you_chose", { s: Luot.t("s" + score) }))] : []));
    $("message-title").textContent = title;
    $("message-text").textContent = text;
    const done = kind !== "sending" && kind !== "retrying";
    return show("message", done ? { ms: THANKS_MS, then: idle } : null);
  }

  function renderIdle() {
    $("center-name").textContent = center || "";
    $("counter-name").textContent = exposed.counter === null ? "" : counterName || `${Luot.t("counter")} ${exposed.counter}`;
  }

  // --- A rating ------------------------------------------------------------------------------
  /** Tickets answered on this tablet (rated, or refused for good): never offered again. */
  const answered = new Set();
  const answeredOrder = [];
  function markAnswered(id) {
    if (answered.has(id)) return;
    answered.add(id);
    answeredOrder.push(id);
    if (answeredOrder.length > MAX_RATED) answered.delete(answeredOrder.shift());
  }

  /** The counter finished a ticket: ask about it (the newest finish replaces an older one). */
  function offer(ticket, at) {
    if (answered.has(ticket.id)) return;
    const age = serverNow() - Date.parse(at);
    if (age > IDLE_MS) return;
    exposed.current = { id: ticket.id, number: ticket.number, score: null };
    push(exposed.offered, { id: ticket.id, number: ticket.number });
    $("choose-number").textContent = ticket.number;
    show("choose", { ms: IDLE_MS, then: idle });
  }

  function choose(score) {
    const item = exposed.current;
    if (!item || exposed.screen !== "choose") return;
    item.score = score;
    if (score <= 2 && reasons.length > 0) {
      $("reasons").replaceChildren(...reasons.map((r) =>
        Luot.el("button", { type: "button", "data-reason": r, onclick: () => send(item, r) }, r)));
      // Walking away from the reason question still records the choice already made.
      show("reason", { ms: IDLE_MS, then: () => send(item, null) });
      return;
    }
    send(item, null);
  }
  $("skip").addEventListener("click", () => { if (exposed.current && exposed.screen === "reason") send(exposed.current, null); });

  // Ratings not yet sent are kept in storage too, so a tablet reloaded or restarted while
  // the server was down still sends them (the server's window is its own bound).
  const PENDING_KEY = "luot.rate.pending";
  const MAX_PENDING = 20;
  function loadPending() {
    try { const list = JSON.parse(localStorage.getItem(PENDING_KEY) || "[]"); return Array.isArray(list) ? list : []; }
    catch (e) { return []; }
  }
  function savePending(list) {
    try { localStorage.setItem(PENDING_KEY, JSON.stringify(list.slice(-MAX_PENDING))); } catch (e) { /* storage full or off */ }
  }
  const keepPending = (p) => savePending(loadPending().filter((q) => q.id !== p.id).concat([p]));
  const dropPending = (id) => savePending(loadPending().filter((q) => q.id !== id));

  /** Ratings left unsent by an earlier load of the page, sent now without taking the screen. */
  let resumed = false;
  function resumePending() {
    if (resumed) return;
    resumed = true;
    for (const p of loadPending()) {
      if (Date.now() - p.started > SEND_GIVE_UP_MS) { dropPending(p.id); continue; }
      send({ id: p.id, number: p.number, score: p.score }, p.reason, { quiet: true, started: p.started });
    }
  }

  /**
   * Sends a rating, retrying while the server cannot be reached; the screen says how it went
   * (unless `quiet`: a rating resumed from storage after a reload).
   */
  async function send(item, reason, options = {}) {
    if (item.sending) return;
    item.sending = true;
    markAnswered(item.id);
    const started = options.started || Date.now();
    keepPending({ id: item.id, number: item.number, score: item.score, reason, started });
    try { await deliver(item, reason, started, !!options.quiet); } finally { dropPending(item.id); }
  }

  async function deliver(item, reason, started, quiet) {
    let attempt = 0;
    let wait = 1000;
    let screen = quiet ? -1 : message("sending", Luot.t("sending_title"), Luot.t("sending_text"));
    const record = { ticket: item.id, number: item.number, score: item.score, reason, status: null, code: null, attempts: 0, quiet };
    push(exposed.sent, record);
    const onScreen = () => shown === screen;
    for (;;) {
      attempt += 1;
      record.attempts = attempt;
      let status = 0;
      let code = null;
      try {
        const body = { score: item.score };
        if (reason) body.reason = reason;
        const r = await fetch(`/api/v1/tickets/${item.id}/rating`, {
          method: "POST", cache: "no-store",
          headers: { Authorization: "Bearer " + token, "Content-Type": "application/json", Accept: "application/json" },
          body: JSON.stringify(body),
        });
        status = r.status;
        if (!r.ok) { try { code = ((await r.json()).error || {}).code || null; } catch (e) { code = null; } }
      } catch (e) { status = 0; }
      record.status = status;
      record.code = code;
      if (status >= 200 && status < 300) {
        if (onScreen()) message("thanks", Luot.t("thanks_title"), Luot.t("thanks_text"), item.score);
        return;
      }
      if (status === 401) { unpaired("refused"); return; }
      if (status === 409 && code === "already_rated") {
        if (onScreen()) message("notice", Luot.t("already_title"), Luot.t("already_text"));
        return;
      }
      if (status === 409 || code === "rating_window_closed") {
        if (onScreen()) message("notice", Luot.t("closed_title"), Luot.t("closed_text", { n: item.number }));
        return;
      }
      if ((status === 400 || status === 422) && reason) {
        // The center changed its list of reasons meanwhile: the score still counts.
        reason = null;
        record.reason = null;
        continue;
      }
      if (status >= 400 && status < 500 && status !== 408 && status !== 429) {
        if (onScreen()) message("notice", Luot.t("refused_rating_title", { n: item.number }), Luot.t("refused_rating_text"));
        return;
      }
      // Unreachable, busy or failing: say so, and try again.
      if (Date.now() - started > SEND_GIVE_UP_MS) {
        if (onScreen()) message("failed", Luot.t("failed_title"), Luot.t("failed_text"));
        return;
      }
      if (onScreen()) screen = message("retrying", Luot.t("retrying_title"), Luot.t("retrying_text", { n: attempt }));
      await new Promise((resolve) => setTimeout(resolve, wait * (0.75 + Math.random() / 2)));
      wait = Math.min(wait * 2, SEND_RETRY_MAX_MS);
    }
  }

  // --- Pairing -------------------------------------------------------------------------------
  let center = "";
  let counterName = "";
  let reasons = [];
  let refusedCountdown = null;
  let retryTimer = null;

  function authHeaders() {
    return { Authorization: "Bearer " + token, Accept: "application/json" };
  }

  function unpaired(kind) {
    abandon();
    exposed.unpaired = kind;
    exposed.online = false;
    exposed.current = null;
    $("offline").hidden = true;
    $("unpaired-title").textContent = Luot.t(`${kind}_title`);
    $("unpaired-text").textContent = Luot.t(`${kind}_text`);
    show("unpaired");
    clearTimeout(retryTimer);
    refusedCountdown = null;
    if (kind === "missing" || kind === "not_rating") { $("unpaired-retry").textContent = ""; return; }
    // A token re-issued under the same storage works again without anyone touching the tablet.
    const due = Date.now() + REFUSED_RETRY_MS * (0.9 + 0.2 * Math.random());
    refusedCountdown = () => {
      $("unpaired-retry").textContent = Luot.t("retry_in", { n: Math.max(0, Math.ceil((due - Date.now()) / 1000)) });
    };
    refusedCountdown();
    retryTimer = setTimeout(pair, due - Date.now());
  }

  /** Asks the server whom the token stands for: a kiosk token tied to one counter. */
  async function pair() {
    clearTimeout(retryTimer);
    if (!token) { unpaired("missing"); return; }
    let me;
    try {
      const r = await fetch("/api/v1/me", { headers: authHeaders(), cache: "no-store" });
      noteClock(r);
      if (r.status === 401) { unpaired("refused"); return; }
      if (!r.ok) throw new Error(String(r.status));
      me = await r.json();
    } catch (e) {
      setOnline(false);
      retryTimer = setTimeout(pair, nextBackoff());
      return;
    }
    if (me.role !== "kiosk" || !Array.isArray(me.counters) || me.counters.length !== 1) { unpaired("not_rating"); return; }
    exposed.counter = me.counters[0];
    if (exposed.unpaired !== null) { exposed.unpaired = null; idle(); }
    renderIdle();
    connect();
    resumePending();
  }

  // --- The event stream ----------------------------------------------------------------------
  let ws = null;
  let seq = null;
  let backoff = BACKOFF_MIN_MS;
  let lastHeard = 0;
  let lastPing = 0;

  function nextBackoff() {
    const wait = backoff * (0.5 + Math.random());
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    return wait;
  }

  function setOnline(online) {
    exposed.online = online;
    $("offline").hidden = online || exposed.unpaired !== null;
    $("offline").textContent = Luot.t("offline");
  }

  function abandon() {
    const old = ws;
    ws = null;
    if (old) { old.onclose = null; old.onmessage = null; old.close(); }
  }

  function connect(since) {
    clearTimeout(retryTimer);
    abandon();
    const from = since === undefined ? seq : since;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws?token=" +
      encodeURIComponent(token) + (from === null ? "" : "&since=" + from);
    let socket;
    try { socket = new WebSocket(url); } catch (e) { dropped(1006, false); return; }
    ws = socket;
    exposed.connects += 1;
    let heard = false;
    socket.onmessage = (m) => {
      if (ws !== socket) return;
      lastHeard = Date.now();
      if (!heard) { heard = true; backoff = BACKOFF_MIN_MS; setOnline(true); }
      receive(m.data);
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      ws = null;
      dropped(ev.code, heard);
    };
  }
  /** Reconnects from `since` (a test replays events the tablet has already seen). */
  exposed.reconnect = (since) => connect(since);

  async function dropped(code, heard) {
    if (code === 4401) { unpaired("refused"); return; }
    setOnline(false);
    if (!heard) {
      // The upgrade was refused or the server is down: find out which by asking again.
      retryTimer = setTimeout(pair, nextBackoff());
      return;
    }
    retryTimer = setTimeout(() => connect(), nextBackoff());
  }

  function applyConfig(state) {
    center = state.center;
    const mine = (state.counters || []).find((c) => c.id === exposed.counter);
    counterName = mine ? mine.name : "";
    reasons = (state.rating_reasons || []).slice();
    exposed.reasons = reasons;
    renderIdle();
  }

  function receive(text) {
    let msg;
    try { msg = JSON.parse(text); } catch (e) { return; }
    if (msg.type === "snapshot") {
      seq = msg.seq;
      exposed.seq = seq;
      applyConfig(msg.state);
      return;
    }
    if (msg.type !== "event") return;
    if (seq !== null && msg.seq <= seq) return;
    if (seq === null || msg.seq !== seq + 1) { connect(); return; }
    seq = msg.seq;
    exposed.seq = seq;
    const ev = msg.event;
    if (ev.kind === "ticket_finished" && ev.counter === exposed.counter) offer(ev.ticket, msg.at);
    else if (ev.kind === "ticket_rated" && exposed.current && ev.ticket.id === exposed.current.id && !exposed.current.sending) {
      // Rated some other way (an admin's correction): nothing left to ask.
      markAnswered(ev.ticket.id);
      idle();
    } else if (ev.kind === "center_configured") {
      const c = ev.config;
      applyConfig({ center: c.center.name, counters: c.counters, rating_reasons: c.center.rating_reasons });
    }
  }

  // --- Heartbeat: liveness, the unpaired countdown, and noticing a sleep. -------------------
  let lastTick = Date.now();
  setInterval(() => {
    const now = Date.now();
    const late = now - lastTick > WAKE_GAP_MS;
    lastTick = now;
    if (refusedCountdown && exposed.unpaired !== null) refusedCountdown();
    if (exposed.unpaired !== null || exposed.counter === null) return;
    if (late) { backoff = BACKOFF_MIN_MS; connect(); return; }
    if (ws && ws.readyState === WebSocket.OPEN) {
      if (now - lastHeard > SILENCE_MS) { connect(); return; }
      if (now - lastPing > PING_MS) { lastPing = now; try { ws.send('{"type":"ping"}'); } catch (e) { /* closing */ } }
    }
  }, TICK_MS);

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible" && exposed.unpaired === null && exposed.counter !== null) connect();
  });
  $("lang").addEventListener("click", () => Luot.setLang(Luot.lang === "vi" ? "en" : "vi"));
  document.addEventListener("luot:lang", () => {
    buildChoices();
    renderIdle();
    if (exposed.unpaired !== null) { $("unpaired-title").textContent = Luot.t(`${exposed.unpaired}_title`); $("unpaired-text").textContent = Luot.t(`${exposed.unpaired}_text`); }
  });

  buildChoices();
  idle();
  pair();
})();
