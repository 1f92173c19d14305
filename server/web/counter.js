// Lượt counter console: one counter's current ticket, its queue, and the buttons that move it.
"use strict";

Luot.words({
  vi: {
    actions_label: "Thao tác với số", shortcuts_on: "Dùng phím tắt (G, L, B, H, V, C, T)",
    confirm_title: "Kết thúc lượt phục vụ?", keep_serving: "Không, tiếp tục phục vụ",
    ask_call_next: "Số {n} vẫn đang ở quầy. Hoàn thành số {n} và mời số tiếp theo?",
    ticket_changed: "Số ở quầy đã thay đổi — chưa làm gì; xem lại rồi thao tác lại.", ask_finish: "Hoàn thành số {n}?", ask_no_show: "Đánh dấu số {n} vắng mặt?",
    ok_call_next: "Hoàn thành và gọi tiếp", ok_finish: "Hoàn thành", ok_no_show: "Vắng mặt",
  },
  en: {
    actions_label: "Ticket actions", shortcuts_on: "Use keyboard shortcuts (G, L, B, H, V, C, T)",
    confirm_title: "End this service?", keep_serving: "No, keep serving",
    ask_call_next: "Ticket {n} is still at the counter. Finish {n} and call the next one?",
    ticket_changed: "The ticket at the counter changed — nothing was done; look again and act again.", ask_finish: "Finish ticket {n}?", ask_no_show: "Mark ticket {n} as a no-show?",
    ok_call_next: "Finish and call next", ok_finish: "Finish", ok_no_show: "No-show",
  },
});

(async function counterConsole() {
  const $ = (id) => document.getElementById(id);
  Luot.translate();
  Luot.wireBar();

  const me = await Luot.me().catch(() => null);
  if (!me) { location.href = "/login?next=/counter"; return; }
  if (me.role !== "staff" && me.role !== "admin") { document.body.textContent = Luot.t("forbidden"); return; }
  $("who").textContent = me.name;
  $("logout").hidden = false;

  // Single-key shortcuts, on unless this staff member switched them off on this browser.
  const shortcutsKey = "luot.shortcuts." + me.name;
  const shortcutsOn = () => localStorage.getItem(shortcutsKey) !== "off";
  function applyShortcuts() {
    const on = shortcutsOn();
    $("shortcuts").checked = on;
    document.body.classList.toggle("no-shortcuts", !on);
    for (const b of $("actions").querySelectorAll("button[data-key]")) {
      if (on) b.setAttribute("aria-keyshortcuts", b.dataset.key.toUpperCase());
      else b.removeAttribute("aria-keyshortcuts");
    }
  }
  $("shortcuts").addEventListener("change", () => {
    localStorage.setItem(shortcutsKey, $("shortcuts").checked ? "on" : "off");
    applyShortcuts();
  });
  applyShortcuts();

  let state = await Luot.api("GET", "/api/v1/state");
  let counterId = null;
  let busy = false;
  let notice = { text: "", error: false };

  const allowed = () => {
    const all = state.counters.map((c) => c.id);
    return me.counters === null ? all : me.counters.filter((id) => all.includes(id));
  };
  const counter = () => state.counters.find((c) => c.id === counterId);
  const service = (id) => state.services.find((s) => s.id === id);
  const setNotice = (text, error) => { notice = { text, error: !!error }; renderNotice(); };

  function choose(id) {
    counterId = id;
    localStorage.setItem("luot.counter", String(id));
    history.replaceState(null, "", "/counter?counter=" + id);
    $("pick-view").hidden = true;
    $("console-view").hidden = false;
    $("counter-title").hidden = false;
    $("change-counter").hidden = allowed().length < 2;
    setNotice("");
    render();
    // The picker's button is gone: the focus goes to the console, named after its counter.
    if (!document.activeElement || document.activeElement === document.body) $("console-view").focus();
  }

  function showPicker() {
    const list = $("pick-list");
    list.replaceChildren();
    const ids = allowed();
    if (ids.length === 0) list.append(Luot.el("p", {}, Luot.t("no_counters")));
    for (const id of ids) {
      const c = state.counters.find((k) => k.id === id);
      const names = c.services.map((s) => (service(s) || { name: s }).name).join(", ");
      list.append(Luot.el("button", { type: "button", "data-counter": id, onclick: () => choose(id) },
        Luot.el("b", {}, c.name), Luot.el("br"), Luot.el("small", { class: "muted" }, names)));
    }
    $("console-view").hidden = true;
    $("pick-view").hidden = false;
    $("counter-title").textContent = "";
    $("counter-title").hidden = true;
  }

  // #notice is the page's one live region: it is written only when its words change, so a
  // call is announced once and not again with every event that redraws the page.
  function renderNotice() {
    const n = $("notice");
    if (n.textContent !== notice.text) n.textContent = notice.text;
    n.classList.toggle("error", notice.error);
  }

  function renderTimes() {
    const c = counter();
    const t = c && c.current;
    if (!t) { $("cur-times").textContent = ""; return; }
    const parts = [];
    if (t.called_at) parts.push(`${Luot.t("waited")} ${Luot.minutesSince(t.issued_at, t.called_at)} ${Luot.t("minutes")}`);
    if (t.started_at) parts.push(`${Luot.t("served_for")} ${Luot.minutesSince(t.started_at)} ${Luot.t("minutes")}`);
    $("cur-times").textContent = parts.join(" · ");
  }

  function render() {
    const c = counter();
    if (!c) { showPicker(); return; }
    $("counter-title").textContent = `${c.name}`;
    const t = c.current;
    const num = $("cur-number");
    if (num.textContent !== (t ? t.number : "—")) num.textContent = t ? t.number : "—";
    num.classList.toggle("idle", !t);
    const meta = $("cur-meta");
    meta.replaceChildren();
    if (t) {
      meta.append(t.service_name, " ");
      if (t.priority) meta.append(Luot.el("span", { class: "badge prio" }, Luot.t(t.priority)), " ");
      meta.append(Luot.el("span", { class: "badge" }, Luot.t(t.status === "serving" ? "serving" : "called")));
    } else {
      meta.append(Luot.el("span", { class: "muted" }, Luot.t("none_current")));
    }
    renderTimes();

    const status = t ? t.status : null;
    const enable = {
      "call-next": c.open,
      recall: c.open && status === "called",
      start: c.open && status === "called",
      finish: status === "called" || status === "serving",
      "no-show": status === "called",
      transfer: status === "called" || status === "serving",
      toggle: !c.open || !t,
    };
    for (const b of $("actions").querySelectorAll("button")) b.disabled = busy || !enable[b.dataset.action];
    $("toggle-label").textContent = Luot.t(c.open ? "pause" : "open");
    $("toggle").classList.toggle("primary", !c.open);

    if (!c.open) {
      if (!notice.error) { notice.text = Luot.t("closed_counter"); renderNotice(); }
    } else if (!t && c.waiting === 0 && !notice.error) {
      notice.text = Luot.t("nobody_waiting");
      renderNotice();
    } else if (notice.text === Luot.t("closed_counter") || notice.text === Luot.t("nobody_waiting")) {
      notice.text = "";
      renderNotice();
    }

    const queues = $("queues");
    queues.replaceChildren();
    for (const id of c.services) {
      const s = service(id);
      if (!s) continue;
      const late = s.oldest_waiting_since && Luot.minutesSince(s.oldest_waiting_since) > s.target_wait_min;
      queues.append(Luot.el("div", { class: "svc", "data-service": id },
        Luot.el("div", { class: "head" }, Luot.el("span", {}, s.name),
          Luot.el("span", { class: "count" }, String(s.waiting))),
        Luot.el("div", { class: "muted" }, `${s.waiting} ${Luot.t("waiting")}`,
          late ? Luot.el("span", { class: "badge late" }, `> ${s.target_wait_min} ${Luot.t("minutes")}`) : null),
        Luot.el("div", { class: "next" }, s.next.map((n) =>
          Luot.el("span", { class: n.priority ? "prio" : "", title: n.priority ? Luot.t(n.priority) : "" }, n.number)))));
    }
    const today = $("today");
    today.replaceChildren(
      Luot.el("div", { class: "stat" }, Luot.el("b", { id: "served-today" }, String(c.served_today)), Luot.t("served_today")),
      Luot.el("div", { class: "stat" }, Luot.el("b", { id: "waiting-here" }, String(c.waiting)), Luot.t("waiting_here")),
      Luot.el("div", { class: "stat" }, Luot.el("b", {}, c.served_today ? `${(c.avg_service_s / 60).toFixed(1)}′` : "—"), Luot.t("avg_service_here")),
      Luot.el("div", { class: "stat" }, Luot.el("b", {}, String(c.no_shows_today)), Luot.t("no_shows_here")));
  }

  async function refresh() {
    try { state = await Luot.api("GET", "/api/v1/state"); } catch (e) { /* the stream will catch up */ }
    render();
  }

  /**
   * Gives the focus back after an action: to the button that did it when it can be used
   * again, else to the next usable action, so it never falls to the page.
   */
  function refocus(origin) {
    if (!origin || !$("console-view").contains(origin)) return;
    const active = document.activeElement;
    if (active && active !== document.body && active !== origin) return;
    if (!origin.disabled) { origin.focus(); return; }
    const buttons = [...$("actions").querySelectorAll("button")];
    const from = buttons.indexOf(origin);
    const order = from < 0 ? buttons : [...buttons.slice(from + 1), ...buttons.slice(0, from)];
    // Tạm nghỉ only when nothing else is left: Enter there would close the counter.
    const next = order.find((b) => !b.disabled && b.dataset.action !== "toggle") || order.find((b) => !b.disabled);
    if (next) next.focus();
  }

  // Every action names the ticket this page shows at the counter (`none` for none): if the
  // counter holds another by the time the server runs it, nothing is done (409
  // ticket_changed) — a click never lands on a citizen the clerk has not seen.
  async function act(action, body, origin, expect) {
    if (busy) return;
    const c = counter();
    if (!c) return;
    const seen = expect !== undefined ? expect : (c.current ? c.current.id : "none");
    const path = (action === "toggle" ? (c.open ? "close" : "open") : action) + "?ticket=" + encodeURIComponent(seen);
    busy = true;
    if (!origin && document.activeElement && $("actions").contains(document.activeElement)) origin = document.activeElement;
    render();
    try {
      const ticket = await Luot.api("POST", `/api/v1/counters/${c.id}/${path}`, body);
      if (action === "call-next") setNotice(ticket ? Luot.t("called_msg", { n: ticket.number }) : Luot.t("nobody_waiting"));
      else if (action === "finish") setNotice(Luot.t("done_msg", { n: ticket.number }));
      else if (action === "no-show") setNotice(Luot.t("noshow_msg", { n: ticket.number }));
      else if (action === "transfer") setNotice(Luot.t("transferred_msg", { n: ticket.number }));
      else setNotice("");
    } catch (e) {
      if (e.status === 401) { setNotice(Luot.t("session_expired"), true); setTimeout(() => Luot.logout(), 1500); }
      else if (e.code === "ticket_changed") setNotice(Luot.t("ticket_changed"), true);
      else setNotice(e.message, true);
    } finally {
      busy = false;
      await refresh();
      refocus(origin);
    }
  }

  const button = (action) => $("actions").querySelector(`button[data-action="${action}"]`);
  /** Whether `action` would end the service of the ticket at the counter. */
  function endsService(action) {
    const c = counter();
    if (!c || !c.current) return false;
    return action === "finish" || action === "no-show" || action === "call-next";
  }

  // A key (a shortcut, or Enter/Space on a focused button) never ends a citizen's service on
  // its own: it asks first, with "keep serving" focused, so a second stray key changes nothing.
  let pending = null;
  let pendingTicket = null;
  function askFirst(action) {
    const c = counter();
    const n = c.current.number;
    pending = action;
    pendingTicket = c.current.id;
    const key = action.replace("-", "_");
    $("confirm-text").textContent = Luot.t("ask_" + key, { n });
    $("confirm-ok").textContent = Luot.t("ok_" + key);
    $("confirm-dialog").showModal();
    $("confirm-cancel").focus();
  }
  $("confirm-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const action = pending;
    const asked = pendingTicket;
    pending = null;
    $("confirm-dialog").close();
    // The question named one ticket: if another is at the counter now (called from elsewhere
    // meanwhile — read afresh, the page's copy may lag), nothing is done to it.
    await refresh();
    const c = counter();
    if (action && (!c || !c.current || c.current.id !== asked)) {
      setNotice(Luot.t("ticket_changed"), true);
      return;
    }
    if (action) act(action, undefined, button(action), asked);
  });
  $("confirm-cancel").addEventListener("click", () => { pending = null; $("confirm-dialog").close(); });
  $("confirm-dialog").addEventListener("close", () => { pending = null; });

  function trigger(b, byKey) {
    const action = b.dataset.action;
    if (action === "transfer") { openTransfer(); return; }
    if (byKey && endsService(action)) { askFirst(action); return; }
    act(action, undefined, b);
  }

  let transferTicket = null;
  function openTransfer() {
    const c = counter();
    if (!c || !c.current) return;
    transferTicket = c.current.id;
    const svc = $("to-service");
    svc.replaceChildren(Luot.el("option", { value: "" }, Luot.t("keep")),
      ...state.services.map((s) => Luot.el("option", { value: s.id }, s.name)));
    const ctr = $("to-counter");
    ctr.replaceChildren(Luot.el("option", { value: "" }, Luot.t("any_counter")),
      ...state.counters.filter((k) => k.id !== c.id).map((k) => Luot.el("option", { value: k.id }, k.name)));
    $("transfer-error").textContent = "";
    $("transfer-dialog").showModal();
  }

  $("transfer-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const body = {};
    if ($("to-service").value) body.service = $("to-service").value;
    if ($("to-counter").value) body.counter = Number($("to-counter").value);
    if (!body.service && !body.counter) { $("transfer-error").textContent = Luot.t("to_service") + " / " + Luot.t("to_counter"); return; }
    $("transfer-dialog").close();
    await act("transfer", body, button("transfer"), transferTicket);
  });
  $("transfer-cancel").addEventListener("click", () => $("transfer-dialog").close());

  // A click from a pointer has a count (detail ≥ 1); Enter or Space on the button has none.
  $("actions").addEventListener("click", (ev) => {
    const b = ev.target.closest("button");
    if (!b || b.disabled) return;
    // The second click of a double click would end the service of the citizen the first one
    // just called: it is ignored.
    if (ev.detail > 1 && endsService(b.dataset.action)) return;
    trigger(b, ev.detail === 0);
  });

  document.addEventListener("keydown", (ev) => {
    if (!shortcutsOn() || ev.ctrlKey || ev.altKey || ev.metaKey || ev.repeat) return;
    if (document.querySelector("dialog[open]") || $("console-view").hidden) return;
    if (/^(INPUT|SELECT|TEXTAREA)$/.test(document.activeElement.tagName)) return;
    const b = $("actions").querySelector(`button[data-key="${ev.key.toLowerCase()}"]`);
    if (b && !b.disabled) { ev.preventDefault(); trigger(b, true); }
  });

  $("change-counter").addEventListener("click", () => {
    counterId = null;
    showPicker();
    const first = $("pick-list").querySelector("button");
    if (first) first.focus();
  });
  document.addEventListener("luot:lang", () => (counterId === null ? showPicker() : render()));

  Luot.follow((s) => { state = s; if (counterId !== null) render(); }, (online) => {
    const conn = $("conn");
    conn.hidden = false;
    conn.textContent = Luot.t(online ? "online" : "offline");
    conn.classList.toggle("down", !online);
  });
  setInterval(renderTimes, 15000);

  const ids = allowed();
  const wanted = Number(new URLSearchParams(location.search).get("counter") || localStorage.getItem("luot.counter"));
  if (ids.includes(wanted)) choose(wanted);
  else if (ids.length === 1) choose(ids[0]);
  else showPicker();
})();
