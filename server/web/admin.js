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
    admin_nav: "Các mục quản trị", admin_title: "Quản trị trung tâm", actions_col: "Thao tác", row_n: "dòng {n}",
    reset_title: "Đặt lại mật khẩu cho {u}", new_password_hint: "Mật khẩu mới (ít nhất 8 ký tự)",
    password_short: "Mật khẩu cần ít nhất 8 ký tự.", password_reset_done: "Đã đặt lại mật khẩu cho {u}.",
    counters_saved: "Đã lưu quầy cho {u}.", account_changed: "Đã cập nhật tài khoản {u}.", counters_of: "Quầy của {u}",
    mode_of: "Cách gọi của {c}", counter: "Quầy",
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
    admin_nav: "Admin sections", admin_title: "Center administration", actions_col: "Actions", row_n: "row {n}",
    reset_title: "Reset the password of {u}", new_password_hint: "New password (at least 8 characters)",
    password_short: "The password needs at least 8 characters.", password_reset_done: "The password of {u} was reset.",
    counters_saved: "Counters saved for {u}.", account_changed: "Account {u} updated.", counters_of: "Counters of {u}",
    mode_of: "Calling mode of {c}", counter: "Counter",
  },
});

// ---- the page's own dialogs (never alert/prompt/confirm)
/** Asks a yes/no question in #ask-dialog; resolves to true when confirmed. */
function ask(text, ok) {
  return new Promise((resolve) => {
    const $ = (id) => document.getElementById(id);
    const dialog = $("ask-dialog");
    $("ask-text").textContent = text;
    $("ask-ok").textContent = ok;
    let answer = false;
    const onOk = (ev) => { ev.preventDefault(); answer = true; dialog.close(); };
    const onCancel = () => dialog.close();
    $("ask-form").addEventListener("submit", onOk);
    $("ask-cancel").addEventListener("click", onCancel);
    dialog.addEventListener("close", () => {
      $("ask-form").removeEventListener("submit", onOk);
      $("ask-cancel").removeEventListener("click", onCancel);
      resolve(answer);
    }, { once: true });
    dialog.showModal();
    $("ask-cancel").focus();
  });
}

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
    for (const b of $("tabs").querySelectorAll("[role=tab]")) {
      b.setAttribute("aria-selected", String(b.dataset.tab === name));
      b.tabIndex = b.dataset.tab === name ? 0 : -1;
    }
    for (const s of document.querySelectorAll("section.page")) s.hidden = s.id !== "tab-" + name;
    history.replaceState(null, "", "#" + name);
    if (name === "users") loadUsers();
    if (name === "devices") loadTokens();
    renderAll();
  }
  $("tabs").addEventListener("click", (ev) => { const b = ev.target.closest("[role=tab]"); if (b) showTab(b.dataset.tab); });
  document.querySelector(".tab-link[data-tab=reports]").addEventListener("click", () => showTab("reports"));
  // The ARIA tab pattern: arrows move along the tabs (wrapping), Home and End to the ends;
  // moving selects the tab and shows its panel.
  $("tabs").addEventListener("keydown", (ev) => {
    const tabs = [...$("tabs").querySelectorAll("[role=tab]")];
    const at = tabs.indexOf(document.activeElement);
    if (at < 0) return;
    const to = { ArrowRight: at + 1, ArrowLeft: at - 1, Home: 0, End: tabs.length - 1 }[ev.key];
    if (to === undefined) return;
    ev.preventDefault();
    const next = tabs[(to + tabs.length) % tabs.length];
    showTab(next.dataset.tab);
    next.focus();
  });

  const cell = (v, cls) => el("td", cls ? { class: cls } : {}, v);
  // A column without a visible title (the row's buttons) still has one for screen readers.
  const head = (...cols) => el("tr", {}, cols.map((c) => {
    const text = typeof c === "object" ? c.text : t(c);
    const attrs = Object.assign({ scope: "col" }, typeof c === "object" ? c : {});
    delete attrs.text;
    return el("th", attrs, text || el("span", { class: "sr-only" }, t("actions_col")));
  }));
  /** Gives every cell its column's title, shown above it when a narrow screen stacks the rows. */
  function labelCells(table) {
    const titles = [...table.querySelectorAll("tr:first-child th")].map((th) => (th.querySelector(".sr-only") ? "" : th.textContent));
    for (const tr of table.querySelectorAll("tr")) {
      const tds = tr.querySelectorAll("td");
      if (tds.length !== titles.length) continue;
      tds.forEach((td, i) => td.setAttribute("data-label", titles[i]));
    }
    return table;
  }
  /** An accessible name for the field of column `col` in row `i`. */
  const rowLabel = (col, i, who) => `${t(col)} — ${who || t("row_n", { n: i + 1 })}`;

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
    labelCells($("dash-counters"));
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
    labelCells($("dash-services"));
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
  const fieldId = (field) => "f-" + field.replace(/[^a-z0-9_]+/gi, "-");
  const input = (field, value, attrs = {}) => el("input", Object.assign({ "data-field": field, id: fieldId(field),
    "aria-describedby": fieldId(field) + "-error", value: value ?? "" }, attrs));
  const timeValue = (v) => (v ? v.slice(0, 5) : "");

  function renderCenter() {
    const c = config.center;
    const p = c.priority;
    const row = (label, control, field) => {
      const error = el("div", { class: "field-error", "data-error-for": field, id: fieldId(field) + "-error" });
      control.setAttribute("aria-describedby", error.id);
      return [el("label", { for: control.id }, t(label)), el("div", {}, control, error)];
    };
    const modeSel = el("select", { "data-field": "center.priority.mode", id: fieldId("center.priority.mode") },
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
      ...row("rating_reasons", el("textarea", { "data-field": "center.rating_reasons", id: fieldId("center.rating_reasons"), rows: 4 }, (c.rating_reasons || []).join("\n")), "center.rating_reasons"),
      ...row("rating_window", input("center.rating_window_min", c.rating_window_min ?? 10, { type: "number", min: 1, max: 720 }), "center.rating_window_min"),
      ...row("priority_mode", modeSel, "center.priority.mode"),
      ...row("interleave_n", input("center.priority.interleave", p.interleave, { type: "number", min: 1 }), "center.priority.interleave"),
      ...row("escalate", input("center.priority.escalate_after_min", p.escalate_after_min, { type: "number", min: 0 }), "center.priority.escalate_after_min"));
  }

  function renderServices() {
    $("services-table").replaceChildren(head("id", "name", "prefix", "start_no", "target", "service_min", { text: "" }),
      ...config.services.map((s, i) => {
        const who = s.name || s.id;
        const f = (col, field, attrs) => input(`services[${i}].${field}`, s[field], Object.assign({ "aria-label": rowLabel(col, i, who) }, attrs));
        return el("tr", {},
          cell([f("id", "id", { maxlength: 32 }), errorFor(`services[${i}].id`)]),
          cell([f("name", "name", { maxlength: 120 }), errorFor(`services[${i}].name`)]),
          cell([f("prefix", "prefix", { maxlength: 3, size: 3 }), errorFor(`services[${i}].prefix`)]),
          cell([f("start_no", "start", { type: "number", min: 1, max: 999 }), errorFor(`services[${i}].start`)]),
          cell([f("target", "target_wait_min", { type: "number", min: 0 }), errorFor(`services[${i}].target_wait_min`)]),
          cell([f("service_min", "service_min", { type: "number", min: 1 }), errorFor(`services[${i}].service_min`)]),
          cell(el("button", { type: "button", class: "danger", "aria-label": `${t("remove")} ${who || t("row_n", { n: i + 1 })}`,
            onclick: () => { readForm(); config.services.splice(i, 1); renderConfig(); } }, t("remove"))));
      }));
    labelCells($("services-table"));
  }

  function renderCounters() {
    $("counters-table").replaceChildren(head("id", "name", "services_col", "mode", { text: "" }),
      ...config.counters.map((c, i) => {
        const who = c.name || String(c.id);
        const label = (col) => ({ "aria-label": rowLabel(col, i, who) });
        return el("tr", {},
          cell([input(`counters[${i}].id`, c.id, Object.assign({ type: "number", min: 1, max: 999 }, label("id"))), errorFor(`counters[${i}].id`)]),
          cell([input(`counters[${i}].name`, c.name, Object.assign({ maxlength: 120 }, label("name"))), errorFor(`counters[${i}].name`)]),
          cell([input(`counters[${i}].services`, c.services.join(", "), label("services_col")), errorFor(`counters[${i}].services`)]),
          cell(el("select", Object.assign({ "data-field": `counters[${i}].mode` }, label("mode")),
            el("option", { value: "oldest", selected: c.mode === "oldest" }, t("mode_oldest")),
            el("option", { value: "service_order", selected: c.mode === "service_order" }, t("mode_service_order")))),
          cell(el("button", { type: "button", class: "danger", "aria-label": `${t("remove")} ${who}`,
            onclick: () => { readForm(); config.counters.splice(i, 1); renderConfig(); } }, t("remove"))));
      }),
      el("tr", {}, el("td", { colspan: 5, class: "muted" }, config.services.map((s) => `${s.id} = ${s.name}`).join(" · "))));
    labelCells($("counters-table"));
  }

  const errorFor = (field) => el("div", { class: "field-error", "data-error-for": field, id: fieldId(field) + "-error" });

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
  const usersStatus = (text, error) => { $("users-status").textContent = text; $("users-status").className = error ? "field-error" : "muted"; };
  async function patchUser(username, body) {
    await Luot.api("PATCH", `/api/v1/admin/users/${encodeURIComponent(username)}`, body);
  }
  /** Redraws the accounts and gives the focus back to the control `focus` names in the new rows. */
  async function loadUsers(focus) {
    const users = await Luot.api("GET", "/api/v1/admin/users");
    $("users-table").replaceChildren(head("username", "role", "counters", "status", { text: "" }),
      ...users.map((u) => {
        const counters = el("input", { value: u.counters.join(", "), size: 10, "aria-label": t("counters_of", { u: u.username }), inputmode: "numeric" });
        const act = (body, done, control) => async () => {
          try { await patchUser(u.username, body()); usersStatus(t(done, { u: u.username })); }
          catch (e) { usersStatus(e.message, true); }
          await loadUsers({ user: u.username, control });
        };
        return el("tr", { "data-user": u.username },
          cell(el("b", {}, u.username)), cell(t("role_" + u.role)),
          cell(el("div", { class: "toolbar" }, counters, el("button", { type: "button", class: "assign",
            onclick: act(() => ({ counters: parseCounters(counters.value) }), "counters_saved", "assign") }, t("assign")))),
          cell(el("span", { class: "badge " + (u.disabled ? "closed" : "open") }, t(u.disabled ? "disabled" : "active"))),
          cell(el("div", { class: "toolbar" },
            el("button", { type: "button", class: "reset", onclick: (ev) => askPassword(u.username, ev.currentTarget) }, t("reset_password")),
            el("button", { type: "button", class: "able " + (u.disabled ? "" : "danger"),
              onclick: act(() => ({ disabled: !u.disabled }), "account_changed", "able") }, t(u.disabled ? "enable" : "disable")))));
      }));
    labelCells($("users-table"));
    if (focus) {
      const again = $("users-table").querySelector(`tr[data-user="${CSS.escape(focus.user)}"] button.${focus.control}`);
      if (again) again.focus();
    }
  }


  // A new password is typed into a password field, checked here and by the server, and never shown.
  let resetting = null;
  function askPassword(username, from) {
    resetting = { username, from };
    $("reset-title").textContent = t("reset_title", { u: username });
    $("reset-password").value = "";
    $("reset-error").textContent = "";
    $("reset-password").removeAttribute("aria-invalid");
    $("reset-dialog").showModal();
    $("reset-password").focus();
  }
  $("reset-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!resetting) return;
    const password = $("reset-password").value;
    const fail = (message) => {
      $("reset-error").textContent = message;
      $("reset-password").setAttribute("aria-invalid", "true");
      $("reset-password").focus();
    };
    if (password.length < 8) { fail(t("password_short")); return; }
    $("reset-ok").disabled = true;
    try {
      await patchUser(resetting.username, { password });
      const { username } = resetting;
      resetting = null;
      $("reset-dialog").close();
      usersStatus(t("password_reset_done", { u: username }));
      await loadUsers({ user: username, control: "reset" });
    } catch (e) { fail(e.message); }
    finally { $("reset-ok").disabled = false; }
  });
  $("reset-cancel").addEventListener("click", () => $("reset-dialog").close());
  $("reset-dialog").addEventListener("close", () => {
    $("reset-password").value = "";
    if (resetting && resetting.from && resetting.from.isConnected) resetting.from.focus();
    resetting = null;
  });
  $("user-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const f = ev.target;
    $("user-error").textContent = "";
    try {
      await Luot.api("POST", "/api/v1/admin/users", { username: f.username.value.trim(), password: f.password.value,
        role: f.role.value, counters: parseCounters(f.counters.value) });
      f.reset();
      await loadUsers();
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
        cell(el("button", { type: "button", class: "danger", "aria-label": `${t("revoke")} ${k.label}`, onclick: async () => {
          if (!(await ask(t("confirm_revoke", { l: k.label }), t("revoke")))) return;
          try { await Luot.api("DELETE", `/api/v1/admin/tokens/${encodeURIComponent(k.id)}`); }
          catch (e) { $("token-error").textContent = e.message; }
          await loadTokens();
          const first = $("tokens-table").querySelector("button.danger");
          (first || $("token-form").querySelector("select")).focus();
        } }, t("revoke"))))));
    labelCells($("tokens-table"));
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
      ship_title: "Gửi dữ liệu về tỉnh", ship_off: "Máy chủ này không gửi dữ liệu về tỉnh (chạy với --site và --ship để bật).",
      ship_site: "Mã trung tâm / tỉnh", ship_server: "Máy chủ NATS", ship_state: "Trạng thái", ship_acked: "Tỉnh đã nhận đến / cuối",
      ship_backlog: "Còn chờ gửi", ship_last_ack: "Lần nhận gần nhất", ship_error: "Lỗi gần nhất",
      ship_connecting: "Đang kết nối", ship_shipping: "Đang gửi", ship_caught_up: "Đã gửi hết",
      ship_retrying: "Mất kết nối, đang thử lại", ship_refused: "Bị từ chối — cần xử lý",
    },
    en: {
      tab_webhooks: "One-door link", new_webhook: "Add an event receiver (webhook)",
      webhook_secret_optional: "whsec_… secret (empty: generated)", webhook_after: "Send after seq (empty: from now on)",
      webhook_events: "Event kinds (none ticked: all)", webhook_secret_once: "The secret, shown once — enter it in the one-door software:",
      wh_url: "URL", wh_events: "Events", wh_state: "State", wh_progress: "Delivered to / last", wh_backlog: "Backlog",
      wh_error: "Last error", wh_all: "all", wh_on: "Delivering", wh_off: "Stopped", wh_enable: "Enable", wh_disable: "Disable",
      wh_redeliver: "Redeliver from…", wh_redeliver_prompt: "Send again from event seq:", wh_delete: "Delete",
      wh_confirm_delete: "Delete the endpoint {u}?", wh_retry_at: "retry at {t}", wh_attempts: "{n} attempts",
      ship_title: "Shipping to the province", ship_off: "This server does not ship its log to the province (run it with --site and --ship).",
      ship_site: "Site / province", ship_server: "NATS server", ship_state: "State", ship_acked: "Acknowledged up to / last",
      ship_backlog: "Backlog", ship_last_ack: "Last acknowledgement", ship_error: "Last error",
      ship_connecting: "Connecting", ship_shipping: "Shipping", ship_caught_up: "Caught up",
      ship_retrying: "Link down, retrying", ship_refused: "Refused — needs attention",
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

  async function loadShip() {
    let status;
    try { status = await Luot.api("GET", "/api/v1/admin/ship"); } catch (e) { $("ship-status").textContent = e.message; return; }
    const s = status.shipping;
    if (!status.enabled || !s) { $("ship-status").replaceChildren(el("p", {}, t("ship_off"))); return; }
    const row = (k, v) => [el("dt", {}, t(k)), el("dd", {}, v)];
    $("ship-status").replaceChildren(el("dl", { class: "pairs" },
      ...row("ship_site", `${s.site} / ${s.province}`),
      ...row("ship_server", s.server),
      ...row("ship_state", t("ship_" + s.state)),
      ...row("ship_acked", `${s.acked_seq} / ${s.last_seq}`),
      ...row("ship_backlog", String(s.backlog)),
      ...row("ship_last_ack", when(s.last_acked_at) || "—"),
      ...row("ship_error", s.last_error ? `${s.last_error} (${when(s.last_error_at)})` : "—")));
  }

  async function load() {
    loadShip();
    let list;
    try { list = await Luot.api("GET", "/api/v1/admin/webhooks"); } catch (e) { $("webhook-error").textContent = e.message; return; }
    const path = (w) => `/api/v1/admin/webhooks/${encodeURIComponent(w.id)}`;
    $("webhooks-table").replaceChildren(
      el("tr", {}, ...["wh_url", "wh_events", "wh_state", "wh_progress", "wh_backlog", "wh_error", ""].map((k) =>
        el("th", { scope: "col" }, k ? t(k) : el("span", { class: "sr-only" }, t("actions_col"))))),
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
          el("button", { type: "button", onclick: () => askRedeliver(w, path(w)) }, t("wh_redeliver")),
          el("button", { type: "button", class: "danger", onclick: async () => {
            if (await ask(t("wh_confirm_delete", { u: w.url }), t("wh_delete"))) act("DELETE", path(w));
          } }, t("wh_delete"))))));
    const table = $("webhooks-table");
    const titles = [...table.querySelectorAll("tr:first-child th")].map((th) => (th.querySelector(".sr-only") ? "" : th.textContent));
    for (const tr of table.querySelectorAll("tr[data-webhook]")) tr.querySelectorAll("td").forEach((td, i) => td.setAttribute("data-label", titles[i] || ""));
  }

  // Redelivery asks for the first event seq in the page's own dialog.
  let redeliver = null;
  function askRedeliver(w, path) {
    redeliver = path;
    $("redeliver-from").value = String(w.cursor + 1);
    $("redeliver-error").textContent = "";
    $("redeliver-dialog").showModal();
    $("redeliver-from").focus();
  }
  $("redeliver-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const from = $("redeliver-from").value.trim();
    if (from === "" || !Number.isInteger(Number(from)) || Number(from) < 0) {
      $("redeliver-error").textContent = t("wh_redeliver_prompt");
      $("redeliver-from").focus();
      return;
    }
    const path = redeliver;
    $("redeliver-dialog").close();
    if (path) act("POST", path + "/redeliver", { from: Number(from) });
  });
  $("redeliver-cancel").addEventListener("click", () => $("redeliver-dialog").close());
  $("redeliver-dialog").addEventListener("close", () => { redeliver = null; });

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
  Luot.translate($("redeliver-dialog"));
  document.querySelector('[data-tab="webhooks"]').textContent = t("tab_webhooks");
  document.addEventListener("luot:lang", () => { if (!section.hidden) load(); });
  // The delivery state changes on its own: refresh while the tab is shown.
  new MutationObserver(() => { if (!section.hidden) load(); }).observe(section, { attributes: true, attributeFilter: ["hidden"] });
  setInterval(() => { if (!section.hidden) load(); }, 5000);
  if (!section.hidden) load();
})();
