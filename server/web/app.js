// Lượt: what every page shares — words in two languages, the API client, the event stream.
"use strict";

const WORDS = {
  vi: {
    lang_switch: "English", logout: "Đăng xuất", login: "Đăng nhập", username: "Tên đăng nhập",
    password: "Mật khẩu", login_title: "Đăng nhập Lượt", login_sub: "Hệ thống xếp hàng tự động",
    login_failed: "Sai tên đăng nhập hoặc mật khẩu", online: "Đã kết nối", offline: "Mất kết nối — đang kết nối lại…",
    counter: "Quầy", pick_counter: "Chọn quầy làm việc", no_counters: "Bạn chưa được phân công quầy nào. Hãy liên hệ quản trị viên.",
    current: "Số đang phục vụ", none_current: "Chưa gọi số nào", nobody_waiting: "Không có công dân nào đang chờ.",
    closed_counter: "Quầy đang tạm nghỉ. Bấm “Mở quầy” để bắt đầu.", called: "Đang mời", serving: "Đang phục vụ",
    waited: "Đã chờ", served_for: "Phục vụ", minutes: "phút", recalls: "lần gọi lại",
    call_next: "Gọi tiếp", recall: "Gọi lại", start: "Bắt đầu", finish: "Hoàn thành", no_show: "Vắng mặt",
    transfer: "Chuyển", pause: "Tạm nghỉ", open: "Mở quầy", change_counter: "Đổi quầy",
    queue: "Hàng chờ", waiting: "đang chờ", today: "Hôm nay", served_today: "Đã phục vụ", waiting_here: "Chờ tại quầy",
    avg_service_here: "Phục vụ trung bình", no_shows_here: "Vắng mặt",
    transfer_title: "Chuyển số", to_service: "Sang lĩnh vực", to_counter: "Sang quầy", keep: "— giữ nguyên —",
    any_counter: "— quầy bất kỳ —", cancel: "Hủy", confirm: "Chuyển", priority: "Ưu tiên",
    elderly: "Người cao tuổi", disability: "Người khuyết tật", pregnant: "Phụ nữ mang thai",
    young_child: "Người có con nhỏ", meritorious: "Người có công",
    done_msg: "Đã hoàn thành số {n}.", called_msg: "Đã mời số {n}.", noshow_msg: "Số {n} vắng mặt.",
    transferred_msg: "Đã chuyển số {n}.", forbidden: "Bạn không có quyền truy cập trang này.",
    session_expired: "Phiên đăng nhập đã hết hạn. Vui lòng đăng nhập lại.",
  },
  en: {
    lang_switch: "Tiếng Việt", logout: "Log out", login: "Log in", username: "User name",
    password: "Password", login_title: "Log in to Lượt", login_sub: "Queue management",
    login_failed: "Wrong user name or password", online: "Connected", offline: "Connection lost — reconnecting…",
    counter: "Counter", pick_counter: "Choose your counter", no_counters: "You are not assigned to any counter. Ask an administrator.",
    current: "Now serving", none_current: "No ticket called yet", nobody_waiting: "Nobody is waiting.",
    closed_counter: "The counter is paused. Press “Open” to start.", called: "Called", serving: "Serving",
    waited: "Waited", served_for: "Serving for", minutes: "min", recalls: "recalls",
    call_next: "Call next", recall: "Recall", start: "Start", finish: "Finish", no_show: "No-show",
    transfer: "Transfer", pause: "Pause", open: "Open", change_counter: "Change counter",
    queue: "Queue", waiting: "waiting", today: "Today", served_today: "Served", waiting_here: "Waiting here",
    avg_service_here: "Average service", no_shows_here: "No-shows",
    transfer_title: "Transfer ticket", to_service: "To service", to_counter: "To counter", keep: "— keep —",
    any_counter: "— any counter —", cancel: "Cancel", confirm: "Transfer", priority: "Priority",
    elderly: "Elderly", disability: "Disability", pregnant: "Pregnant", young_child: "Young child",
    meritorious: "Meritorious", done_msg: "Ticket {n} finished.", called_msg: "Called ticket {n}.",
    noshow_msg: "Ticket {n} marked as no-show.", transferred_msg: "Ticket {n} transferred.",
    forbidden: "You may not open this page.", session_expired: "Your session expired. Please log in again.",
  },
};

const Luot = {
  lang: localStorage.getItem("luot.lang") === "en" ? "en" : "vi",

  /** A word in the current language; {x} placeholders filled from vars. */
  t(key, vars) {
    const text = (WORDS[Luot.lang] && WORDS[Luot.lang][key]) || (Luot.extra[Luot.lang] || {})[key] || WORDS.vi[key] || key;
    return vars ? text.replace(/\{(\w+)\}/g, (_, k) => (k in vars ? vars[k] : "")) : text;
  },
  extra: { vi: {}, en: {} },

  /**
   * Where a login may send the browser next: a path on this server, or null. Browsers read
   * "\\" as "/" and ignore tabs and newlines in URLs, so "/\\evil.com" would leave the site:
   * resolve it as the browser would and keep it only if it stays on this origin.
   */
  safeNext(next) {
    if (!next || !next.startsWith("/")) return null;
    let url;
    try { url = new URL(next, location.origin); } catch (e) { return null; }
    if (url.origin !== location.origin) return null;
    // "/.//evil" resolves to the path "//evil", which a relative link would read as a host:
    // refuse it, and hand back the absolute URL, which can only be this origin.
    if (url.pathname.startsWith("//") || url.pathname.startsWith("/\\")) return null;
    return url.href;
  },

  /** Adds page-specific words. */
  words(more) {
    for (const lang of ["vi", "en"]) Object.assign(Luot.extra[lang], more[lang] || {});
  },

  /** Fills every [data-i18n] element under root. */
  translate(root = document) {
    document.documentElement.lang = Luot.lang;
    root.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = Luot.t(el.dataset.i18n); });
    root.querySelectorAll("[data-i18n-placeholder]").forEach((el) => { el.placeholder = Luot.t(el.dataset.i18nPlaceholder); });
    root.querySelectorAll("[data-i18n-label]").forEach((el) => { el.setAttribute("aria-label", Luot.t(el.dataset.i18nLabel)); });
  },

  setLang(lang) {
    Luot.lang = lang;
    localStorage.setItem("luot.lang", lang);
    Luot.translate();
    document.dispatchEvent(new Event("luot:lang"));
  },

  csrf: sessionStorage.getItem("luot.csrf") || "",

  /** Calls the API; resolves to the parsed body (or null), rejects with {status, code, message, field}. */
  async api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET" && Luot.csrf) headers["X-CSRF-Token"] = Luot.csrf;
    let response;
    try {
      response = await fetch(path, { method, headers, credentials: "same-origin",
        body: body === undefined ? undefined : JSON.stringify(body) });
    } catch (e) {
      throw { status: 0, code: "network", message: Luot.t("offline") };
    }
    const text = await response.text();
    let data = null;
    if (text) { try { data = JSON.parse(text); } catch (e) { data = text; } }
    if (!response.ok) {
      const err = (data && data.error) || {};
      throw { status: response.status, code: err.code || "http_" + response.status,
        message: err.message || response.statusText, field: err.field };
    }
    return data;
  },

  /** Who is logged in, or null; refreshes the CSRF token of an existing session. */
  async me() {
    try {
      const me = await Luot.api("GET", "/api/v1/me");
      if (me.csrf) { Luot.csrf = me.csrf; sessionStorage.setItem("luot.csrf", me.csrf); }
      return me;
    } catch (e) {
      if (e.status === 401) return null;
      throw e;
    }
  },

  async login(username, password) {
    const r = await Luot.api("POST", "/api/v1/login", { username, password });
    Luot.csrf = r.csrf;
    sessionStorage.setItem("luot.csrf", r.csrf);
    return r;
  },

  async logout() {
    try { await Luot.api("POST", "/api/v1/logout"); } catch (e) { /* already gone */ }
    sessionStorage.removeItem("luot.csrf");
    location.href = "/login?next=" + encodeURIComponent(location.pathname);
  },

  /**
   * Follows /ws: calls onState(state) with every fresh state and onStatus(bool) on connection
   * changes. Events trigger a state refresh (coalesced); a gap or a drop reconnects with
   * `since` and exponential backoff with jitter.
   */
  follow(onState, onStatus) {
    let seq = null, ws = null, backoff = 500, refreshTimer = null, alive = true;
    const refresh = () => {
      if (refreshTimer) return;
      refreshTimer = setTimeout(async () => {
        refreshTimer = null;
        try { onState(await Luot.api("GET", "/api/v1/state")); } catch (e) { /* next event retries */ }
      }, 80);
    };
    const connect = () => {
      const url = (location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/ws" +
        (seq === null ? "" : "?since=" + seq);
      ws = new WebSocket(url);
      ws.onopen = () => { backoff = 500; onStatus(true); };
      ws.onmessage = (m) => {
        let msg;
        try { msg = JSON.parse(m.data); } catch (e) { return; }
        // A snapshot is the server's word as of now (after a restart its seq may even be
        // lower than before): `true` tells the page to take it whatever it showed.
        if (msg.type === "snapshot") { seq = msg.seq; onState(msg.state, true); }
        else if (msg.type === "event") {
          if (seq !== null && msg.seq !== seq + 1 && msg.seq > seq) { ws.close(); return; }
          if (seq === null || msg.seq > seq) { seq = msg.seq; refresh(); }
        }
      };
      ws.onclose = async (ev) => {
        onStatus(false);
        if (!alive) return;
        // 4401: the session was ended (logout elsewhere, password reset, account disabled).
        // A refused handshake shows only as 1006, so ask whether the session still works.
        const ended = ev.code === 4401 || (ev.code === 1006 && await Luot.me().then((me) => me === null, () => false));
        if (ended) {
          alive = false;
          sessionStorage.removeItem("luot.csrf");
          location.href = "/login?next=" + encodeURIComponent(location.pathname);
          return;
        }
        const wait = backoff * (0.5 + Math.random());
        backoff = Math.min(backoff * 2, 15000);
        setTimeout(connect, wait);
      };
    };
    connect();
    return { stop() { alive = false; if (ws) ws.close(); }, refresh };
  },

  /** Minutes between an RFC 3339 time and now (or `until`). */
  minutesSince(at, until) {
    if (!at) return 0;
    const end = until ? Date.parse(until) : Date.now();
    return Math.max(0, Math.floor((end - Date.parse(at)) / 60000));
  },

  el(tag, attrs, ...children) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (v !== undefined && v !== null && v !== false) e.setAttribute(k, v === true ? "" : v);
    }
    for (const c of children.flat()) if (c !== null && c !== undefined) e.append(c.nodeType ? c : String(c));
    return e;
  },

  /** Wires the language button and logout button present in the bar. */
  wireBar() {
    const lang = document.getElementById("lang");
    if (lang) lang.addEventListener("click", () => Luot.setLang(Luot.lang === "vi" ? "en" : "vi"));
    const out = document.getElementById("logout");
    if (out) out.addEventListener("click", () => Luot.logout());
  },
};

// The login page.
if (document.body && document.body.dataset.page === "login") {
  Luot.translate();
  Luot.wireBar();
  const form = document.getElementById("login-form");
  const error = document.getElementById("login-error");
  const params = new URLSearchParams(location.search);
  const next = params.get("next");
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    error.textContent = "";
    try {
      const r = await Luot.login(form.username.value.trim(), form.password.value);
      location.href = Luot.safeNext(next) || (r.role === "admin" ? "/admin" : "/counter");
    } catch (e) {
      error.textContent = e.status === 401 ? Luot.t("login_failed") : e.message;
      button.disabled = false;
      // The button lost the focus while it was disabled: give it to the password to retype.
      form.password.focus();
      form.password.select();
    }
  });
}

// The 403 page.
if (document.body && document.body.dataset.page === "forbidden") {
  Luot.translate();
  Luot.me().then(() => Luot.wireBar());
}
