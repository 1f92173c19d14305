// Lượt admin: live dashboard, center configuration, accounts, device tokens; the reports tab opens
// the report page (/admin/report, report.js).
"use strict";

Luot.words({
  vi: {
    tab_dashboard: "Theo dõi", tab_center: "Trung tâm", tab_services: "Lĩnh vực", tab_counters: "Quầy",
    tab_users: "Nhân viên", tab_devices: "Thiết bị", tab_reports: "Báo cáo", counters_live: "Quầy",
    services_live: "Lĩnh vực", save: "Lưu", saved: "Đã lưu và áp dụng.", add_service: "+ Thêm lĩnh vực",
    add_counter: "+ Thêm quầy", remove: "Xóa", new_user: "Thêm tài khoản", role_staff: "Nhân viên",
    role_admin: "Quản trị", role_kiosk: "Kiosk lấy số", role_display: "Màn hình sảnh",
    counters_hint: "Quầy (vd: 1, 2)", create: "Tạo", my_password: "Đổi mật khẩu của tôi",
    old_password: "Mật khẩu hiện tại", new_password: "Mật khẩu mới", change: "Đổi", password_changed: "Đã đổi mật khẩu.",
    new_token: "Cấp mã thiết bị", counter_optional: "Quầy (nếu có)", label: "Tên gọi",
    token_once: "Mã này chỉ hiện một lần. Hãy nhập vào thiết bị ngay:", revoke: "Thu hồi",
    name: "Tên", id: "Mã", prefix: "Tiền tố",
    start_no: "Số đầu", target: "Chờ tối đa (phút)", service_min: "Phục vụ dự kiến (phút)",
    services_col: "Lĩnh vực phục vụ (theo thứ tự)", mode: "Cách gọi", mode_oldest: "Chờ lâu nhất trước",
    mode_service_order: "Theo thứ tự lĩnh vực", status: "Trạng thái", staff: "Nhân viên", ticket: "Số",
    elapsed: "Thời gian", waiting_col: "Đang chờ", longest: "Chờ lâu nhất", estimate: "Ước tính",
    open_state: "Mở", closed_state: "Nghỉ", center_name: "Tên trung tâm", ticker: "Dòng chữ chạy trên màn hình", timezone: "Múi giờ",
    open_at: "Giờ bắt đầu cấp số", issue_until: "Ngừng cấp số lúc", close_at: "Giờ kết thúc ngày",
    priority_mode: "Chính sách ưu tiên", strict: "Ưu tiên tuyệt đối", interleave: "Xen kẽ",
    interleave_n: "Số lượt ưu tiên trước 1 lượt thường", escalate: "Chờ quá (phút) thì coi như ưu tiên (0: tắt)",
    role: "Vai trò", counters: "Quầy", disabled: "Đã khóa", active: "Hoạt động", disable: "Khóa", enable: "Mở khóa",
    reset_password: "Đặt lại mật khẩu", new_password_prompt: "Mật khẩu mới cho {u} (ít nhất 8 ký tự):",
    assign: "Lưu quầy", created: "Tạo lúc", total_waiting: "Đang chờ",
    open_counters: "Quầy đang mở", served_today_kpi: "Đã phục vụ hôm nay", longest_wait: "Chờ lâu nhất", issued_today: "Số đã cấp",
    confirm_revoke: "Thu hồi mã {l}? Thiết bị dùng mã này sẽ ngừng hoạt động.", issuing_stopped: "Ngừng cấp số", issuing_on: "Đang cấp số",
    clock_back: "Đồng hồ máy chủ bị chỉnh lùi {d} lúc {at}.", clock_forward: "Đồng hồ máy chủ bị chỉnh tới {d} lúc {at}.",
    clock_note: "Thời gian ghi nhận theo đồng hồ đã chỉnh; thứ tự sự kiện không đổi. Hãy kiểm tra NTP của máy chủ.",
    rating_window: "Thời hạn đánh giá sau khi xong (phút)",
    ticket_footer: "Dòng cuối phiếu in", rating_reasons: "Lý do khi chưa hài lòng (mỗi dòng một lý do)",
    rating_link: "Liên kết máy đánh giá", make_rating_link: "Tạo liên kết",
    rating_link_hint: "Tạo mã cho máy tính bảng đánh giá đặt tại một quầy, rồi mở liên kết trên máy đó một lần.",
    rating_link_once: "Liên kết chỉ hiện một lần. Mở nó trên máy tính bảng của quầy {c} (máy sẽ tự ghi nhớ):",
    rating_label: "Máy đánh giá quầy {c}", copy: "Chép", copied: "Đã chép", role_rating: "Máy đánh giá",
  },
  en: {
    tab_dashboard: "Live", tab_center: "Center", tab_services: "Services", tab_counters: "Counters",
    tab_users: "Staff", tab_devices: "Devices", tab_reports: "Reports", counters_live: "Counters",
    services_live: "Services", save: "Save", saved: "Saved and applied.", add_service: "+ Add service",
    add_counter: "+ Add counter", remove: "Remove", new_user: "New account", role_staff: "Staff",
    role_admin: "Admin", role_kiosk: "Ticket kiosk", role_display: "Lobby display",
    counters_hint: "Counters (e.g. 1, 2)", create: "Create", my_password: "Change my password",
    old_password: "Current password", new_password: "New password", change: "Change", password_changed: "Password changed.",
    new_token: "New device token", counter_optional: "Counter (optional)", label: "Label",
    token_once: "This token is shown only once. Enter it on the device now:", revoke: "Revoke",
    name: "Name", id: "Id", prefix: "Prefix", start_no: "First number",
    target: "Target wait (min)", service_min: "Expected service (min)", services_col: "Services served (in order)",
    mode: "Calling mode", mode_oldest: "Oldest first", mode_service_order: "Service order", status: "Status",
    staff: "Staff", ticket: "Ticket", elapsed: "Elapsed", waiting_col: "Waiting", longest: "Longest wait",
    estimate: "Estimate", open_state: "Open", closed_state: "Paused", center_name: "Center name", ticker: "Screen ticker line", timezone: "Time zone",
    open_at: "Issuing starts", issue_until: "Issuing stops", close_at: "Day closes", priority_mode: "Priority policy",
    strict: "Strict", interleave: "Interleave", interleave_n: "Priority calls before one normal",
    escalate: "Wait (min) after which a ticket counts as priority (0: off)", role: "Role", counters: "Counters",
    disabled: "Disabled", active: "Active", disable: "Disable", enable: "Enable", reset_password: "Reset password",
    new_password_prompt: "New password for {u} (at least 8 characters):", assign: "Save counters", created: "Created",
    total_waiting: "Waiting", open_counters: "Open counters",
    served_today_kpi: "Served today", longest_wait: "Longest wait", issued_today: "Issued",
    clock_back: "The server clock was set back {d} at {at}.", clock_forward: "The server clock was set forward {d} at {at}.",
    clock_note: "Times are recorded by the corrected clock; the order of events is unchanged. Check the server's NTP.",
    rating_window: "Rating window after finish (minutes)",
    ticket_footer: "Ticket footer line", rating_reasons: "Reasons for a low rating (one per line)",
    rating_link: "Rating screen link", make_rating_link: "Make link",
    rating_link_hint: "Make a code for the rating tablet at one counter, then open the link once on that tablet.",
    rating_link_once: "This link is shown only once. Open it on the tablet of counter {c} (it remembers it):",
    rating_label: "Rating screen, counter {c}", copy: "Copy", copied: "Copied", role_rating: "Rating screen",
    confirm_revoke: "Revoke token {l}? The device using it will stop working.", issuing_stopped: "Issuing stopped", issuing_on: "Issuing",
  },
});

(async function admin() {
  const $ = (id) => document.getElementById(id);
  const el = Luot.el;
  const t = Luot.t;
  Luot.translate();
  Luot.wireBar();

  const me = await Luot.me().catch(() => null);
  if (!me) { location.href = "/login?next=/admin"; return; }
  $("who").textContent = me.name;

  let state = await Luot.api("GET", "/api/v1/state");
  let config = await Luot.api("GET", "/api/v1/admin/center");
  let tab = location.hash.slice(1) || "dashboard";

  // ---- tabs
  function showTab(name) {
    // The reports are a page of their own (report.js), printable and with the period in its URL.
    if (name === "reports") { location.href = "/admin/report"; return; }
    if (!$("tab-" + name)) name = "dashboard";
    tab = name;
    for (const b of $("tabs").querySelectorAll("button")) b.setAttribute("aria-selected", String(b.dataset.tab === name));
    for (const s of document.querySelectorAll("section.page")) s.hidden = s.id !== "tab-" + name;
    history.replaceState(null, "", "#" + name);
    if (name === "users") loadUsers();
    if (name === "devices") loadTokens();
    renderAll();
  }
  $("tabs").addEventListener("click", (ev) => { const b = ev.target.closest("button"); if (b) showTab(b.dataset.tab); });

  const cell = (v, cls) => el("td", cls ? { class: cls } : {}, v);
  const head = (...cols) => el("tr", {}, cols.map((c) => el("th", typeof c === "object" ? c : {}, typeof c === "object" ? c.text : t(c))));

  // ---- live dashboard
  function renderDashboard() {
    $("center-name").textContent = state.center;
    const waiting = state.services.reduce((a, s) => a + s.waiting, 0);
    const open = state.counters.filter((c) => c.open).length;
    const served = state.counters.reduce((a, c) => a + c.served_today, 0);
    const oldest = state.services.map((s) => s.oldest_waiting_since).filter(Boolean).sort()[0];
    $("kpis").replaceChildren(
      el("div", { class: "kpi" }, el("b", { id: "kpi-waiting" }, String(waiting)), t("total_waiting")),
      el("div", { class: "kpi" }, el("b", {}, `${open}/${state.counters.length}`), t("open_counters")),
      el("div", { class: "kpi" }, el("b", {}, String(served)), t("served_today_kpi")),
      el("div", { class: "kpi" }, el("b", {}, oldest ? `${Luot.minutesSince(oldest)} ${t("minutes")}` : "—"), t("longest_wait")),
      el("div", { class: "kpi" }, el("b", {}, state.issuing ? t("issuing_on") : t("issuing_stopped")),
        state.issuing ? state.day : (state.issuing_note || state.day)));
    renderClockSteps();
    const svcName = (id) => (state.services.find((s) => s.id === id) || { name: id }).name;
    $("dash-counters").replaceChildren(head("counters", "status", "staff", "ticket", "elapsed"),
      ...state.counters.map((c) => {
        const cur = c.current;
        const since = cur ? (cur.started_at || cur.called_at) : null;
        return el("tr", { "data-counter": c.id },
          cell(el("span", {}, el("b", {}, c.name), el("br"), el("small", { class: "muted" }, c.services.map(svcName).join(", ")))),
          cell(el("span", { class: "badge " + (c.open ? "open" : "closed") }, t(c.open ? "open_state" : "closed_state"))),
          cell(c.staff || "—"),
          cell(cur ? el("b", {}, cur.number) : "—"),
          cell(since ? `${Luot.minutesSince(since)} ${t("minutes")}` : "—", "num"));
      }));
    $("dash-services").replaceChildren(head("services_live", { text: t("waiting_col"), class: "num" },
      { text: t("longest"), class: "num" }, { text: t("estimate"), class: "num" }),
      ...state.services.map((s) => {
        const longest = s.oldest_waiting_since ? Luot.minutesSince(s.oldest_waiting_since) : null;
        return el("tr", { "data-service": s.id },
          cell(el("span", {}, `${s.prefix} · ${s.name}`)),
          cell(el("b", {}, String(s.waiting)), "num"),
          cell(longest === null ? "—" : el("span", { class: longest > s.target_wait_min ? "badge late" : "" }, `${longest} ${t("minutes")}`), "num"),
          cell(`${Math.round(s.estimated_wait_s / 60)} ${t("minutes")}`, "num"));
      }));
  }

  /** The latest steps of the server's wall clock (`clock_stepped` events), newest first. */
  function renderClockSteps() {
    let box = $("clock-steps");
    if (!box) {
      box = el("div", { id: "clock-steps", class: "notice error", role: "status" });
      $("kpis").before(box);
    }
    const steps = state.clock_steps || [];
    const span = (ms) => {
      const s = Math.round(Math.abs(ms) / 1000);
      const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
      return [h ? `${h} h` : "", m ? `${m} min` : "", !h && sec ? `${sec} s` : ""].filter(Boolean).join(" ") || "0 s";
    };
    const when = (at) => new Date(at).toLocaleString(Luot.lang === "en" ? "en-GB" : "vi-VN", { timeZone: state.timezone });
    box.replaceChildren(...(steps.length ? [
      ...steps.map((st) => el("div", { "data-clock-step": st.seq },
        t(st.offset_ms < 0 ? "clock_back" : "clock_forward", { d: span(st.offset_ms), at: when(st.at) }))),
      el("small", {}, t("clock_note"))] : []));
  }

  // ---- configuration (center, services, counters): edited locally, saved whole
  const input = (field, value, attrs = {}) => el("input", Object.assign({ "data-field": field, value: value ?? "" }, attrs));
  const timeValue = (v) => (v ? v.slice(0, 5) : "");

  function renderCenter() {
    const c = config.center;
    const p = c.priority;
    const row = (label, control, field) => [el("label", {}, t(label)), el("div", {}, control, el("div", { class: "field-error", "data-error-for": field }))];
    const modeSel = el("select", { "data-field": "center.priority.mode" },
      el("option", { value: "interleave", selected: p.mode === "interleave" }, t("interleave")),
      el("option", { value: "strict", selected: p.mode === "strict" }, t("strict")));
    $("center-form").replaceChildren(
      ...row("center_name", input("center.name", c.name, { maxlength: 120 }), "center.name"),
      ...row("timezone", input("center.timezone", c.timezone), "center.timezone"),
      ...row("open_at", input("center.open", timeValue(c.open), { type: "time" }), "center.open"),
      ...row("issue_until", input("center.issue_until", timeValue(c.issue_until), { type: "time" }), "center.issue_until"),
      ...row("close_at", input("center.close", timeValue(c.close), { type: "time" }), "center.close"),
      ...row("ticker", input("center.ticker", c.ticker || "", { maxlength: 300 }), "center.ticker"),
      ...row("ticket_footer", input("center.ticket_footer", c.ticket_footer || "", { maxlength: 160 }), "center.ticket_footer"),
      ...row("rating_reasons", el("textarea", { "data-field": "center.rating_reasons", rows: 4 }, (c.rating_reasons || []).join("\n")), "center.rating_reasons"),
      ...row("rating_window", input("center.rating_window_min", c.rating_window_min ?? 10, { type: "number", min: 1, max: 720 }), "center.rating_window_min"),
      ...row("priority_mode", modeSel, "center.priority.mode"),
      ...row("interleave_n", input("center.priority.interleave", p.interleave, { type: "number", min: 1 }), "center.priority.interleave"),
      ...row("escalate", input("center.priority.escalate_after_min", p.escalate_after_min, { type: "number", min: 0 }), "center.priority.escalate_after_min"));
  }

  function renderServices() {
    $("services-table").replaceChildren(head("id", "name", "prefix", "start_no", "target", "service_min", { text: "" }),
      ...config.services.map((s, i) => el("tr", {},
        cell([input(`services[${i}].id`, s.id, { maxlength: 32 }), errorFor(`services[${i}].id`)]),
        cell([input(`services[${i}].name`, s.name, { maxlength: 120 }), errorFor(`services[${i}].name`)]),
        cell([input(`services[${i}].prefix`, s.prefix, { maxlength: 3, size: 3 }), errorFor(`services[${i}].prefix`)]),
        cell([input(`services[${i}].start`, s.start, { type: "number", min: 1, max: 999 }), errorFor(`services[${i}].start`)]),
        cell(input(`services[${i}].target_wait_min`, s.target_wait_min, { type: "number", min: 0 })),
        cell([input(`services[${i}].service_min`, s.service_min, { type: "number", min: 1 }), errorFor(`services[${i}].service_min`)]),
        cell(el("button", { type: "button", class: "danger", onclick: () => { readForm(); config.services.splice(i, 1); renderConfig(); } }, t("remove"))))));
  }

  function renderCounters() {
    $("counters-table").replaceChildren(head("id", "name", "services_col", "mode", { text: "" }),
      ...config.counters.map((c, i) => el("tr", {},
        cell([input(`counters[${i}].id`, c.id, { type: "number", min: 1, max: 999 }), errorFor(`counters[${i}].id`)]),
        cell([input(`counters[${i}].name`, c.name, { maxlength: 120 }), errorFor(`counters[${i}].name`)]),
        cell([input(`counters[${i}].services`, c.services.join(", ")), errorFor(`counters[${i}].services`)]),
        cell(el("select", { "data-field": `counters[${i}].mode` },
          el("option", { value: "oldest", selected: c.mode === "oldest" }, t("mode_oldest")),
          el("option", { value: "service_order", selected: c.mode === "service_order" }, t("mode_service_order")))),
        cell(el("button", { type: "button", class: "danger", onclick: () => { readForm(); config.counters.splice(i, 1); renderConfig(); } }, t("remove"))))),
      el("tr", {}, el("td", { colspan: 5, class: "muted" }, config.services.map((s) => `${s.id} = ${s.name}`).join(" · "))));
  }

  const errorFor = (field) => el("div", { class: "field-error", "data-error-for": field });

  function renderConfig() { renderCenter(); renderServices(); renderCounters(); }

  /** Reads every [data-field] input back into `config`. */
  function readForm() {
    const value = (f) => { const e = document.querySelector(`[data-field="${f}"]`); return e ? e.value : undefined; };
    const num = (f) => { const v = value(f); return v === "" || v === undefined ? undefined : Number(v); };
    const time = (f) => { const v = value(f); return v ? v + ":00" : undefined; };
    const c = config.center;
    c.name = value("center.name");
    c.timezone = value("center.timezone");
    c.open = time("center.open");
    c.issue_until = time("center.issue_until");
    c.close = time("center.close");
    c.ticker = (value("center.ticker") || "").trim() || undefined;
    c.ticket_footer = (value("center.ticket_footer") || "").trim() || undefined;
    c.rating_reasons = (value("center.rating_reasons") || "").split("\n").map((r) => r.trim()).filter(Boolean);
    c.rating_window_min = num("center.rating_window_min");
    c.priority = { mode: value("center.priority.mode"), interleave: num("center.priority.interleave"),
      escalate_after_min: num("center.priority.escalate_after_min") };
    config.services = config.services.map((s, i) => ({
      id: value(`services[${i}].id`).trim(), name: value(`services[${i}].name`), prefix: value(`services[${i}].prefix`).trim(),
      start: num(`services[${i}].start`), target_wait_min: num(`services[${i}].target_wait_min`),
      service_min: num(`services[${i}].service_min`) }));
    config.counters = config.counters.map((k, i) => ({
      id: num(`counters[${i}].id`), name: value(`counters[${i}].name`),
      services: value(`counters[${i}].services`).split(",").map((x) => x.trim()).filter(Boolean),
      mode: value(`counters[${i}].mode`) }));
    for (const k of ["open", "issue_until", "close"]) if (c[k] === undefined) delete c[k];
  }

  function clearErrors() {
    document.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
    document.querySelectorAll("[data-error-for]").forEach((e) => { e.textContent = ""; });
    document.querySelectorAll(".config-status").forEach((e) => { e.textContent = ""; e.className = "config-status"; });
  }

  async function saveConfig() {
    readForm();
    clearErrors();
    try {
      config = await Luot.api("PUT", "/api/v1/admin/center", config);
      renderConfig();
      document.querySelectorAll(".config-status").forEach((e) => { e.textContent = t("saved"); e.className = "config-status badge open"; });
    } catch (e) {
      const field = e.field || "";
      const target = document.querySelector(`[data-field="${field}"]`);
      const slot = document.querySelector(`[data-error-for="${field}"]`);
      if (target) { target.setAttribute("aria-invalid", "true"); target.focus(); }
      if (slot) slot.textContent = e.message;
      document.querySelectorAll(".config-status").forEach((s) => { s.textContent = e.message; s.className = "config-status field-error"; });
    }
  }
  document.querySelectorAll(".save-config").forEach((b) => b.addEventListener("click", saveConfig));
  $("add-service").addEventListener("click", () => {
    readForm();
    const used = new Set(config.services.map((s) => s.prefix));
    let prefix = 1;
    while (used.has(String(prefix))) prefix++;
    config.services.push({ id: "", name: "", prefix: String(prefix), start: 1, target_wait_min: 15, service_min: 8 });
    renderConfig();
  });
  $("add-counter").addEventListener("click", () => {
    readForm();
    const next = Math.max(0, ...config.counters.map((c) => c.id || 0)) + 1;
    config.counters.push({ id: next, name: `Quầy ${next}`, services: [], mode: "oldest" });
    renderConfig();
  });

  // ---- accounts
  const parseCounters = (text) => text.split(",").map((x) => x.trim()).filter(Boolean).map(Number);
  async function loadUsers() {
    const users = await Luot.api("GET", "/api/v1/admin/users");
    $("users-table").replaceChildren(head("username", "role", "counters", "status", { text: "" }),
      ...users.map((u) => {
        const counters = el("input", { value: u.counters.join(", "), size: 10 });
        const act = (body) => async () => {
          try { await Luot.api("PATCH", `/api/v1/admin/users/${encodeURIComponent(u.username)}`, body()); loadUsers(); }
          catch (e) { alert(e.message); }
        };
        return el("tr", { "data-user": u.username },
          cell(el("b", {}, u.username)), cell(t("role_" + u.role)),
          cell(el("div", { class: "toolbar" }, counters, el("button", { type: "button", onclick: act(() => ({ counters: parseCounters(counters.value) })) }, t("assign")))),
          cell(el("span", { class: "badge " + (u.disabled ? "closed" : "open") }, t(u.disabled ? "disabled" : "active"))),
          cell(el("div", { class: "toolbar" },
            el("button", { type: "button", onclick: async () => {
              const p = prompt(t("new_password_prompt", { u: u.username }));
              if (p) await act(() => ({ password: p }))();
            } }, t("reset_password")),
            el("button", { type: "button", class: u.disabled ? "" : "danger", onclick: act(() => ({ disabled: !u.disabled })) }, t(u.disabled ? "enable" : "disable")))));
      }));
  }
  $("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $("user-error").textContent = "";
    try {
      await Luot.api("POST", "/api/v1/admin/users", { username: f.username.value.trim(), password: f.password.value,
        role: f.role.value, counters: parseCounters(f.counters.value) });
      f.reset();
      loadUsers();
    } catch (e) { $("user-error").textContent = e.message; }
  });
  $("password-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    try {
      await Luot.api("POST", "/api/v1/password", { old: f.old.value, new: f.new.value });
      f.reset();
      $("password-status").textContent = t("password_changed");
      $("password-status").className = "badge open";
    } catch (e) { $("password-status").textContent = e.message; $("password-status").className = "field-error"; }
  });

  // ---- device tokens
  async function loadTokens() {
    renderRatingCounters();
    const tokens = await Luot.api("GET", "/api/v1/admin/tokens");
    $("tokens-table").replaceChildren(head("label", "role", "counters", "created", { text: "" }),
      ...tokens.map((k) => el("tr", { "data-token": k.id },
        cell(el("b", {}, k.label)), cell(t(k.role === "kiosk" && k.counter ? "role_rating" : "role_" + k.role)), cell(k.counter ? String(k.counter) : "—"),
        cell(new Date(k.created_at).toLocaleString(Luot.lang === "vi" ? "vi-VN" : "en-GB")),
        cell(el("button", { type: "button", class: "danger", onclick: async () => {
          if (!confirm(t("confirm_revoke", { l: k.label }))) return;
          await Luot.api("DELETE", `/api/v1/admin/tokens/${encodeURIComponent(k.id)}`);
          loadTokens();
        } }, t("revoke"))))));
  }
  $("token-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $("token-error").textContent = "";
    const body = { role: f.role.value };
    if (f.counter.value) body.counter = Number(f.counter.value);
    if (f.label.value.trim()) body.label = f.label.value.trim();
    try {
      const r = await Luot.api("POST", "/api/v1/admin/tokens", body);
      const box = $("token-secret");
      box.hidden = false;
      box.replaceChildren(el("div", {}, t("token_once")), el("b", { id: "new-token" }, r.token));
      f.reset();
      loadTokens();
    } catch (e) { $("token-error").textContent = e.message; }
  });

  // ---- rating tablets: a kiosk token tied to one counter, handed over as a /rate link
  function renderRatingCounters() {
    const select = $("rating-counter");
    const chosen = select.value;
    select.replaceChildren(...state.counters.map((c) => el("option", { value: c.id, selected: String(c.id) === chosen }, c.name)));
  }
  $("rating-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $("rating-error").textContent = "";
    const counter = Number(f.counter.value);
    const body = { role: "kiosk", counter, label: f.label.value.trim() || t("rating_label", { c: counter }) };
    try {
      const r = await Luot.api("POST", "/api/v1/admin/tokens", body);
      const link = `${location.origin}/rate#token=${encodeURIComponent(r.token)}`;
      const box = $("rating-secret");
      const copy = el("button", { type: "button", onclick: async () => {
        try { await navigator.clipboard.writeText(link); copy.textContent = t("copied"); }
        catch (e) { const sel = getSelection(); const range = document.createRange(); range.selectNodeContents($("rating-link")); sel.removeAllRanges(); sel.addRange(range); }
      } }, t("copy"));
      box.hidden = false;
      box.replaceChildren(el("div", {}, t("rating_link_once", { c: counter })), el("b", { id: "rating-link" }, link), " ", copy);
      f.label.value = "";
      loadTokens();
    } catch (e) { $("rating-error").textContent = e.message; }
  });

  // ---- live updates
  function renderAll() {
    if (tab === "dashboard") renderDashboard();
    if (tab === "devices") renderRatingCounters();
  }
  Luot.follow(async (s) => {
    const configChanged = s.services.length !== state.services.length || s.counters.length !== state.counters.length;
    state = s;
    if (configChanged && !["center", "services", "counters"].includes(tab)) config = await Luot.api("GET", "/api/v1/admin/center");
    renderAll();
  }, (online) => {
    const conn = $("conn");
    conn.hidden = false;
    conn.textContent = t(online ? "online" : "offline");
    conn.classList.toggle("down", !online);
  });
  setInterval(() => { if (tab === "dashboard") renderDashboard(); }, 30000);
  document.addEventListener("luot:lang", () => { renderConfig(); renderAll(); if (tab === "users") loadUsers(); if (tab === "devices") loadTokens(); });

  renderConfig();
  showTab(tab);
})();

// ---- webhooks to the one-door software: its own block, with its own words and refresh.
(function webhooks() {
  const $ = (id) => document.getElementById(id);
  const el = Luot.el;
  const t = Luot.t;
  const section = $("tab-webhooks");
  if (!section) return;
  Luot.words({
    vi: {
      tab_webhooks: "Kết nối một cửa", new_webhook: "Thêm địa chỉ nhận sự kiện (webhook)",
      webhook_secret_optional: "Khóa whsec_… (để trống: tự tạo)", webhook_after: "Gửi từ sau số thứ tự (trống: từ bây giờ)",
      webhook_events: "Loại sự kiện (không chọn: tất cả)", webhook_secret_once: "Khóa bí mật, chỉ hiện một lần — nhập vào phần mềm một cửa:",
      wh_url: "Địa chỉ", wh_events: "Sự kiện", wh_state: "Trạng thái", wh_progress: "Đã gửi đến / cuối", wh_backlog: "Còn chờ",
      wh_error: "Lỗi gần nhất", wh_all: "tất cả", wh_on: "Đang gửi", wh_off: "Tạm dừng", wh_enable: "Bật", wh_disable: "Tắt",
      wh_redeliver: "Gửi lại từ…", wh_redeliver_prompt: "Gửi lại từ số thứ tự sự kiện:", wh_delete: "Xóa",
      wh_confirm_delete: "Xóa địa chỉ {u}?", wh_retry_at: "thử lại lúc {t}", wh_attempts: "{n} lần thử",
    },
    en: {
      tab_webhooks: "One-door link", new_webhook: "Add an event receiver (webhook)",
      webhook_secret_optional: "whsec_… secret (empty: generated)", webhook_after: "Send after seq (empty: from now on)",
      webhook_events: "Event kinds (none ticked: all)", webhook_secret_once: "The secret, shown once — enter it in the one-door software:",
      wh_url: "URL", wh_events: "Events", wh_state: "State", wh_progress: "Delivered to / last", wh_backlog: "Backlog",
      wh_error: "Last error", wh_all: "all", wh_on: "Delivering", wh_off: "Stopped", wh_enable: "Enable", wh_disable: "Disable",
      wh_redeliver: "Redeliver from…", wh_redeliver_prompt: "Send again from event seq:", wh_delete: "Delete",
      wh_confirm_delete: "Delete the endpoint {u}?", wh_retry_at: "retry at {t}", wh_attempts: "{n} attempts",
    },
  });
  const KINDS = ["ticket_issued", "ticket_called", "ticket_serving", "ticket_finished", "ticket_no_show",
    "ticket_reinstated", "ticket_transferred", "ticket_cancelled", "ticket_rated", "counter_opened",
    "counter_closed", "day_closed", "center_configured", "clock_stepped"];
  $("webhook-kinds").replaceChildren(...KINDS.map((k) =>
    el("label", { class: "gap-left" }, el("input", { type: "checkbox", name: "kind", value: k }), " ", k)));
  const when = (ts) => (ts ? new Date(ts).toLocaleString(Luot.lang === "vi" ? "vi-VN" : "en-GB") : "");
  const td = (...c) => el("td", {}, ...c);

  async function act(method, path, body) {
    $("webhook-error").textContent = "";
    try { await Luot.api(method, path, body); } catch (e) { $("webhook-error").textContent = e.message; }
    load();
  }

  async function load() {
    let list;
    try { list = await Luot.api("GET", "/api/v1/admin/webhooks"); } catch (e) { $("webhook-error").textContent = e.message; return; }
    const path = (w) => `/api/v1/admin/webhooks/${encodeURIComponent(w.id)}`;
    $("webhooks-table").replaceChildren(
      el("tr", {}, ...["wh_url", "wh_events", "wh_state", "wh_progress", "wh_backlog", "wh_error", ""].map((k) => el("th", {}, k ? t(k) : ""))),
      ...list.map((w) => el("tr", { "data-webhook": w.id },
        td(el("b", {}, w.url)),
        td(w.events.length ? w.events.join(", ") : t("wh_all")),
        td(el("span", { class: w.enabled ? "badge open" : "badge" }, t(w.enabled ? "wh_on" : "wh_off")),
          w.disabled_reason ? el("div", { class: "field-error" }, w.disabled_reason) : null),
        td(`${w.cursor} / ${w.last_seq}`),
        td(String(w.backlog)),
        td(w.last_error ? el("div", {}, w.last_error, el("div", {}, when(w.last_error_at))) : "—",
          w.attempts ? el("div", {}, t("wh_attempts", { n: w.attempts }),
            w.next_retry_at ? ", " + t("wh_retry_at", { t: when(w.next_retry_at) }) : "") : null),
        td(el("button", { type: "button", onclick: () => act("PATCH", path(w), { enabled: !w.enabled }) },
            t(w.enabled ? "wh_disable" : "wh_enable")),
          el("button", { type: "button", onclick: () => {
            const from = prompt(t("wh_redeliver_prompt"), String(w.cursor + 1));
            if (from !== null && from.trim() !== "") act("POST", path(w) + "/redeliver", { from: Number(from) });
          } }, t("wh_redeliver")),
          el("button", { type: "button", class: "danger", onclick: () => {
            if (confirm(t("wh_confirm_delete", { u: w.url }))) act("DELETE", path(w));
          } }, t("wh_delete"))))));
  }

  $("webhook-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $("webhook-error").textContent = "";
    const body = { url: f.url.value.trim(), events: [...f.querySelectorAll("input[name=kind]:checked")].map((c) => c.value) };
    if (f.secret.value.trim()) body.secret = f.secret.value.trim();
    if (f.after.value !== "") body.after = Number(f.after.value);
    try {
      const r = await Luot.api("POST", "/api/v1/admin/webhooks", body);
      const box = $("webhook-secret");
      box.hidden = false;
      box.replaceChildren(el("div", {}, t("webhook_secret_once")), el("b", { id: "new-webhook-secret" }, r.secret));
      f.reset();
      load();
    } catch (e) { $("webhook-error").textContent = e.message; }
  });

  Luot.translate(section);
  document.querySelector('[data-tab="webhooks"]').textContent = t("tab_webhooks");
  document.addEventListener("luot:lang", () => { if (!section.hidden) load(); });
  // The delivery state changes on its own: refresh while the tab is shown.
  new MutationObserver(() => { if (!section.hidden) load(); }).observe(section, { attributes: true, attributeFilter: ["hidden"] });
  setInterval(() => { if (!section.hidden) load(); }, 5000);
  if (!section.hidden) load();
})();
