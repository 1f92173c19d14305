// Lượt phone page: follows one ticket live over /ws/track/{track}, the secret printed on it.
// No polling: the server sends the ticket's view whenever it changes. A phone sleeps, so the
// page re-syncs when it is shown again and reconnects with backoff when the socket drops.
// What a test can read lives in `window.luotTrack`.
"use strict";

(function phoneTracking() {
  const $ = (id) => document.getElementById(id);

  Luot.words({
    vi: {
      your_number: "Số của bạn", loading: "Đang tải…", people_ahead: "người đang chờ trước bạn",
      people_ahead_one: "người đang chờ trước bạn", estimated_wait: "thời gian chờ ước tính",
      recent_calls: "Vừa gọi", touch_for_vibration: "Chạm vào trang một lần để điện thoại rung khi đến lượt bạn.",
      st_waiting: "Đang chờ đến lượt", st_waiting_text: "Khi đến lượt, trang này sẽ báo và điện thoại sẽ rung. Bạn cũng có thể theo dõi màn hình trong sảnh.",
      st_waiting_counter: "Bạn sẽ được gọi tại {c}.", st_transferred: "Số của bạn đã được chuyển sang lĩnh vực {s}.",
      st_next: "Bạn là người tiếp theo. Hãy chuẩn bị giấy tờ.",
      st_called: "Mời đến", st_called_text: "Đã đến lượt bạn. Xin mời đến ngay {c}.",
      st_serving: "Đang được phục vụ tại", st_serving_text: "",
      st_done: "Đã xong", st_done_text: "Cảm ơn bạn. Mời bạn đánh giá sự phục vụ trên máy đặt tại quầy.",
      st_no_show: "Bạn đã lỡ lượt", st_no_show_text: "Số của bạn đã được gọi nhưng bạn chưa đến quầy. Hãy đến {c} hoặc hỏi nhân viên hướng dẫn để được gọi lại.",
      st_cancelled: "Số đã bị hủy", st_cancelled_text: "Số này không còn trong hàng chờ. Nếu bạn vẫn cần làm thủ tục, hãy lấy số mới tại máy lấy số.",
      st_expired: "Số đã hết hạn", st_expired_text: "Ngày làm việc đã kết thúc trước khi đến lượt bạn. Hãy lấy số mới vào ngày làm việc tiếp theo.",
      st_gone: "Số không còn trong hàng chờ", st_gone_text: "Số này thuộc về một ngày làm việc đã kết thúc. Hãy lấy số mới tại máy lấy số.",
      the_counter: "quầy", soon: "Sắp đến lượt", under_minute: "< 1 phút", about_minutes: "{n} phút",
      about_hours: "{h} giờ {m} phút", live_at: "Cập nhật trực tiếp · {t}",
      live_down: "Mất kết nối — đang kết nối lại…", live_final: "Cập nhật lúc {t}", priority_mark: "Ưu tiên",
      title_called: "Mời đến {c}",
    },
    en: {
      your_number: "Your number", loading: "Loading…", people_ahead: "people waiting before you",
      people_ahead_one: "person waiting before you", estimated_wait: "estimated wait",
      recent_calls: "Recent calls", touch_for_vibration: "Touch this page once so the phone can vibrate when it is your turn.",
      st_waiting: "Waiting for your turn", st_waiting_text: "When it is your turn this page tells you and the phone vibrates. You can also watch the screen in the lobby.",
      st_waiting_counter: "You will be called to {c}.", st_transferred: "Your ticket was moved to {s}.",
      st_next: "You are next. Please have your papers ready.",
      st_called: "Please go to", st_called_text: "It is your turn. Please go to {c} now.",
      st_serving: "Being served at", st_serving_text: "",
      st_done: "Done", st_done_text: "Thank you. Please rate the service on the screen at the counter.",
      st_no_show: "You missed your call", st_no_show_text: "Your number was called but you did not come. Go to {c} or ask a staff member to be called again.",
      st_cancelled: "Ticket cancelled", st_cancelled_text: "This ticket is no longer in the queue. If you still need the service, take a new number at the kiosk.",
      st_expired: "Ticket expired", st_expired_text: "The working day ended before your turn. Please take a new number on the next working day.",
      st_gone: "Ticket no longer in the queue", st_gone_text: "This ticket belongs to a working day that has ended. Take a new number at the kiosk.",
      the_counter: "the counter", soon: "Almost your turn", under_minute: "< 1 min", about_minutes: "{n} min",
      about_hours: "{h} h {m} min", live_at: "Live · {t}", live_down: "Connection lost — reconnecting…",
      live_final: "Updated at {t}", priority_mark: "Priority", title_called: "Go to {c}",
    },
  });

  const track = decodeURIComponent(location.pathname.replace(/^\/t\//, ""));
  const BACKOFF_MIN_MS = 1000;
  const BACKOFF_MAX_MS = 30000;
  const PING_MS = 15000;
  const SILENCE_MS = 45000;
  const TICK_MS = 1000;
  const WAKE_GAP_MS = 5000;
  const OFFLINE_GRACE_MS = 2000;
  /** States after which nothing more happens to the ticket: the page stops following. */
  const FINAL = ["done", "cancelled", "expired"];
  const MAX_HISTORY = 200;

  const exposed = {
    view: null, status: null, online: false, connects: 0, resyncs: [], vibrations: [], views: 0,
    final: false, offlineSince: null, cspViolations: [],
  };
  window.luotTrack = exposed;
  document.addEventListener("securitypolicyviolation", (e) => push(exposed.cspViolations, `${e.violatedDirective} ${e.blockedURI}`));
  const push = (list, item) => { list.push(item); if (list.length > MAX_HISTORY) list.splice(0, list.length - MAX_HISTORY); };

  Luot.translate();
  $("lang").addEventListener("click", () => Luot.setLang(Luot.lang === "vi" ? "en" : "vi"));
  document.addEventListener("luot:lang", () => render());

  // --- Vibration: browsers allow it only after the citizen touched the page once. ----------
  let touched = false;
  const canVibrate = typeof navigator.vibrate === "function";
  $("touch-hint").hidden = !canVibrate;
  const noteTouch = () => { touched = true; $("touch-hint").hidden = true; };
  document.addEventListener("pointerdown", noteTouch, { once: true });
  document.addEventListener("keydown", noteTouch, { once: true });
  let vibratedFor = null;

  function vibrateFor(ticket) {
    const key = `${ticket.counter}@${ticket.called_at}`;
    if (vibratedFor === key) return;
    vibratedFor = key;
    let result = false;
    try { if (typeof navigator.vibrate === "function") result = navigator.vibrate([400, 150, 400, 150, 400]); } catch (e) { result = false; }
    push(exposed.vibrations, { key, touched, result });
  }

  // --- Rendering ---------------------------------------------------------------------------
  let firstService = null;
  let status = null;
  let lastUpdate = null;

  function counterLabel(view) {
    const id = view.ticket.counter;
    return id === undefined || id === null ? Luot.t("the_counter") : `${Luot.t("counter")} ${id}`;
  }

  function waitText(ticket) {
    if (ticket.ahead === 0) return Luot.t("soon");
    const s = ticket.estimated_wait_s;
    if (s < 60) return Luot.t("under_minute");
    const m = Math.round(s / 60);
    if (m < 60) return Luot.t("about_minutes", { n: m });
    return Luot.t("about_hours", { h: Math.floor(m / 60), m: m % 60 });
  }

  function render() {
    const view = exposed.view;
    if (status === "gone") {
      setStatus("gone", Luot.t("st_gone"), null, Luot.t("st_gone_text"));
      $("facts").hidden = true;
      renderLive();
      return;
    }
    if (!view) { renderLive(); return; }
    const t = view.ticket;
    $("center").textContent = view.center;
    $("number").textContent = t.number;
    $("number").dataset.number = t.number;
    $("service").replaceChildren(...[t.service_name,
      t.priority ? Luot.el("div", {}, Luot.el("span", { class: "tk-prio" }, Luot.t("priority_mark"))) : null].filter(Boolean));
    const where = counterLabel(view);
    const named = view.counter_name && view.counter_name !== where ? ` (${view.counter_name})` : "";
    let title = Luot.t("st_" + t.status);
    let big = null;
    let text = Luot.t(`st_${t.status}_text`, { c: where + named });
    if (t.status === "waiting") {
      const notes = [];
      if (firstService !== null && firstService !== t.service) notes.push(Luot.t("st_transferred", { s: t.service_name }));
      if (t.counter !== undefined && t.counter !== null) notes.push(Luot.t("st_waiting_counter", { c: where + named }));
      notes.push(t.ahead === 0 ? Luot.t("st_next") : Luot.t("st_waiting_text"));
      text = notes.join(" ");
    } else if (t.status === "called" || t.status === "serving") {
      big = where;
      text = t.status === "called" ? Luot.t("st_called_text", { c: where + named }) : (view.counter_name && named ? view.counter_name : "");
    }
    setStatus(t.status, title, big, text);
    document.title = t.status === "called" ? `${t.number} · ${Luot.t("title_called", { c: where })}` : `${t.number} · Lượt`;
    $("facts").hidden = t.status !== "waiting";
    $("ahead").textContent = String(t.ahead);
    $("ahead-label").textContent = Luot.t(t.ahead === 1 ? "people_ahead_one" : "people_ahead");
    $("estimate").textContent = waitText(t);
    const calls = (view.recent_calls || []).slice(0, 5);
    $("recent-box").hidden = calls.length === 0;
    $("recent").replaceChildren(...calls.map((c) => Luot.el("li", { class: c.number === t.number ? "mine" : "", "data-number": c.number },
      Luot.el("span", { class: "num" }, c.number), Luot.el("span", {}, "→ " + c.counter_name))));
    renderLive();
  }

  function setStatus(kind, title, big, text) {
    const box = $("status");
    box.dataset.status = kind;
    // The box is a live region: write only what changed, so each news is read out once.
    const put = (id, value) => { if ($(id).textContent !== value) $(id).textContent = value; };
    put("status-title", title);
    $("status-counter").hidden = !big;
    put("status-counter", big || "");
    put("status-text", text || "");
  }

  function clock(date) {
    return new Intl.DateTimeFormat(Luot.lang === "en" ? "en-GB" : "vi-VN", { hour: "2-digit", minute: "2-digit", hour12: false }).format(date);
  }

  function renderLive() {
    const live = $("live");
    const down = !exposed.final && exposed.offlineSince !== null && Date.now() - exposed.offlineSince >= OFFLINE_GRACE_MS;
    live.classList.toggle("down", down);
    document.body.classList.toggle("offline", down);
    const text = down ? Luot.t("live_down")
      : lastUpdate ? Luot.t(exposed.final ? "live_final" : "live_at", { t: clock(lastUpdate) }) : "";
    if (live.textContent !== text) live.textContent = text;
  }

  function receiveView(view) {
    if (firstService === null) firstService = view.ticket.service;
    exposed.view = view;
    exposed.views += 1;
    status = view.ticket.status;
    exposed.status = status;
    lastUpdate = new Date();
    if (status === "called") vibrateFor(view.ticket);
    render();
    if (FINAL.includes(status) && !exposed.final) finish();
  }

  /** Nothing more will happen to this ticket: stop following. */
  function finish() {
    exposed.final = true;
    clearTimeout(retryTimer);
    abandon();
    setOnline(false);
    renderLive();
  }

  function gone() {
    status = "gone";
    exposed.status = "gone";
    finish();
    render();
  }

  // --- The live channel ----------------------------------------------------------------------
  let ws = null;
  let backoff = BACKOFF_MIN_MS;
  let retryTimer = null;
  let lastHeard = 0;
  let lastPing = 0;

  function setOnline(online) {
    exposed.online = online;
    if (online) exposed.offlineSince = null;
    else if (exposed.offlineSince === null && !exposed.final) exposed.offlineSince = Date.now();
    renderLive();
  }

  function abandon() {
    const old = ws;
    ws = null;
    if (old) { old.onclose = null; old.onmessage = null; old.close(); }
  }

  function connect() {
    clearTimeout(retryTimer);
    retryTimer = null;
    abandon();
    if (exposed.final) return;
    const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws/track/" + encodeURIComponent(track);
    let socket;
    try { socket = new WebSocket(url); } catch (e) { dropped(1006, false); return; }
    ws = socket;
    exposed.connects += 1;
    let heard = false;
    socket.onmessage = (m) => {
      if (ws !== socket) return;
      lastHeard = Date.now();
      if (!heard) { heard = true; backoff = BACKOFF_MIN_MS; setOnline(true); }
      let msg;
      try { msg = JSON.parse(m.data); } catch (e) { return; }
      if (msg.type === "track") receiveView(msg.view);
    };
    socket.onclose = (ev) => {
      if (ws !== socket) return;
      ws = null;
      dropped(ev.code, heard);
    };
  }

  async function dropped(code, heard) {
    if (code === 4404) { gone(); return; }
    setOnline(false);
    if (!heard) {
      // A browser does not say why an upgrade failed: ask whether the ticket still exists.
      try {
        const r = await fetch("/api/v1/track/" + encodeURIComponent(track), { cache: "no-store" });
        if (r.status === 404) { gone(); return; }
        if (r.ok) receiveView(await r.json());
      } catch (e) { /* unreachable: back off */ }
      if (ws || exposed.final) return;
    }
    const wait = backoff * (0.5 + Math.random());
    backoff = Math.min(backoff * 2, BACKOFF_MAX_MS);
    retryTimer = setTimeout(connect, wait);
  }

  /** Connects again at once: the phone woke, the page was shown again, the network returned. */
  function resync(reason) {
    if (exposed.final) return;
    push(exposed.resyncs, { reason, at: Date.now() });
    backoff = BACKOFF_MIN_MS;
    connect();
  }
  exposed.resync = resync;

  let lastTick = Date.now();
  setInterval(() => {
    const now = Date.now();
    const late = now - lastTick > WAKE_GAP_MS;
    lastTick = now;
    renderLive();
    if (exposed.final) return;
    if (late) { resync("wake"); return; }
    if (ws && ws.readyState === WebSocket.OPEN) {
      if (now - lastHeard > SILENCE_MS) { resync("silent"); return; }
      if (now - lastPing > PING_MS) { lastPing = now; try { ws.send('{"type":"ping"}'); } catch (e) { /* closing */ } }
    }
  }, TICK_MS);

  document.addEventListener("visibilitychange", () => {
    if (document.visibilityState === "visible") resync("visible");
  });
  window.addEventListener("online", () => resync("online"));
  window.addEventListener("pageshow", (e) => { if (e.persisted) resync("pageshow"); });

  connect();
})();
