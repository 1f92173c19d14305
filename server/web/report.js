// Lượt report page (/admin/report): one period's figures at a glance — KPIs, four charts
// (uPlot, vendored) and the full table — printable as the monthly or quarterly report.
// The query lives in the URL (?period=&from=&to=&by=), so a bookmark or a reload shows the
// same report.
"use strict";

Luot.words({
  vi: {
    controls_label: "Kỳ và cách lập báo cáo",
    back_admin: "← Quản trị", period: "Kỳ báo cáo", p_day: "Ngày", p_week: "Tuần", p_month: "Tháng",
    p_quarter: "Quý", p_range: "Tùy chọn", prev_period: "Kỳ trước", next_period: "Kỳ sau",
    from: "Từ ngày", to: "Đến ngày", group_by: "Bảng theo", by_service: "Lĩnh vực", by_counter: "Quầy",
    by_staff: "Nhân viên", by_hour: "Giờ trong ngày", by_day: "Ngày", by_week: "Tuần", by_month: "Tháng",
    by_quarter: "Quý", this_month: "Tháng này", last_month: "Tháng trước", this_quarter: "Quý này",
    last_quarter: "Quý trước", csv: "Tải CSV", print: "In báo cáo",
    report_title: "Báo cáo tình hình tiếp nhận và giải quyết", generated_at: "Lập lúc", loading: "Đang tải…",
    empty: "Không có phiếu nào trong kỳ này ({p}). Hãy chọn kỳ khác.",
    kpi_arrived: "Công dân đến (số phiếu)", kpi_served: "Đã phục vụ", kpi_no_show: "Vắng mặt khi được gọi",
    kpi_median: "Thời gian chờ trung vị", kpi_p90: "90% công dân chờ không quá", kpi_over: "Chờ quá thời hạn",
    kpi_sat: "Chỉ số hài lòng", kpi_est: "Sai số thời gian chờ dự kiến",
    of_issued: "{x} số phiếu", of_called: "{n} / {m} lượt chờ", ratings_n: "{n} lượt đánh giá",
    estimated_n: "trên {n} phiếu", minutes: "phút", min_short: "phút",
    chart_hour: "Số phiếu cấp theo giờ trong ngày", chart_hour_note: "tổng cả kỳ",
    chart_wait: "Thời gian chờ theo lĩnh vực (phút)",
    chart_wait_note: "trung vị · 90% công dân chờ không quá · lâu nhất · mục tiêu",
    chart_counter: "Các quầy", chart_counter_note: "số đã phục vụ, vắng mặt và thời gian phục vụ trung bình",
    chart_sat: "Mức độ hài lòng theo thời gian", sat_note_hour: "theo giờ", sat_note_day: "theo ngày",
    sat_note_week: "theo tuần", sat_note_month: "theo tháng",
    s_issued: "Số phiếu", s_median: "Trung vị", s_p90: "90% không quá", s_max: "Lâu nhất", s_target: "Mục tiêu",
    s_served: "Đã phục vụ", s_no_show: "Vắng mặt", s_service: "Phục vụ TB (phút)", s_sat: "Chỉ số hài lòng (%)",
    s_ratings: "Lượt đánh giá",
    no_waits: "Chưa có lượt gọi nào trong kỳ này.", no_counters: "Chưa quầy nào phục vụ trong kỳ này.",
    no_ratings: "Chưa có đánh giá nào trong kỳ này.",
    level5: "Rất hài lòng", level4: "Hài lòng", level3: "Bình thường", level2: "Không hài lòng",
    level1: "Rất không hài lòng",
    table_title: "Số liệu chi tiết theo {g}", g_service: "lĩnh vực", g_counter: "quầy", g_staff: "nhân viên",
    g_hour: "giờ trong ngày", g_day: "ngày", g_week: "tuần", g_month: "tháng", g_quarter: "quý",
    h_group: "Nhóm", h_counts: "Số lượng", h_wait: "Thời gian chờ (phút)", h_service: "Thời gian phục vụ (phút)",
    h_rating: "Đánh giá", c_issued: "Số phiếu", c_served: "Phục vụ", c_no_show: "Vắng", c_cancelled: "Hủy",
    c_expired: "Hết hạn", c_avg: "TB", c_median: "Trung vị", c_p90: "P90", c_max: "Lâu nhất",
    c_over: "Quá hạn", c_ratings: "Lượt", c_score: "Điểm TB", c_sat: "Hài lòng", c_est: "Sai số dự báo (phút)",
    t_day: "Ngày {d}", t_week: "Tuần {w}/{y} ({a} – {b})", t_month: "Tháng {m}/{y}", t_quarter: "Quý {q}/{y}",
    t_range: "Từ {a} đến {b}", t_until: "{p}, số liệu đến hết {d}",
    bad_range: "Ngày bắt đầu phải trước ngày kết thúc.", axis_tickets: "Số phiếu", axis_minutes: "phút",
    defs: "Chờ: từ lúc lấy số đến lần gọi đầu tiên (chuyển lĩnh vực bắt đầu lượt chờ mới). Phục vụ: từ lúc bắt đầu (hoặc lúc gọi, nếu không bấm bắt đầu) đến lúc hoàn thành. P90: 90% số lượt chờ không quá mức này. Quá hạn: tỷ lệ lượt chờ lâu hơn thời gian chờ tối đa của lĩnh vực. Chỉ số hài lòng: tỷ lệ “Rất hài lòng” và “Hài lòng” trên tổng số đánh giá. Sai số dự báo: chênh lệch trung bình giữa thời gian chờ dự kiến in trên phiếu và thời gian chờ thực tế. Thời gian tính bằng phút, làm tròn một chữ số thập phân.",
  },
  en: {
    controls_label: "Report period and layout",
    back_admin: "← Admin", period: "Period", p_day: "Day", p_week: "Week", p_month: "Month",
    p_quarter: "Quarter", p_range: "Custom", prev_period: "Previous period", next_period: "Next period",
    from: "From", to: "To", group_by: "Table by", by_service: "Service", by_counter: "Counter", by_staff: "Staff",
    by_hour: "Hour of day", by_day: "Day", by_week: "Week", by_month: "Month", by_quarter: "Quarter",
    this_month: "This month", last_month: "Last month", this_quarter: "This quarter", last_quarter: "Last quarter",
    csv: "Download CSV", print: "Print report",
    report_title: "Report on citizens received and served", generated_at: "Generated", loading: "Loading…",
    empty: "No tickets in this period ({p}). Choose another period.",
    kpi_arrived: "Citizens arrived (tickets)", kpi_served: "Served", kpi_no_show: "No-show when called",
    kpi_median: "Median wait", kpi_p90: "90% waited at most", kpi_over: "Waited over target",
    kpi_sat: "Satisfaction index", kpi_est: "Error of the printed wait estimate",
    of_issued: "{x} of tickets", of_called: "{n} / {m} waits", ratings_n: "{n} ratings",
    estimated_n: "over {n} tickets", minutes: "min", min_short: "min",
    chart_hour: "Tickets issued by hour of day", chart_hour_note: "whole period",
    chart_wait: "Wait by service (minutes)", chart_wait_note: "median · 90% waited at most · longest · target",
    chart_counter: "Counters", chart_counter_note: "served, no-shows and mean service time",
    chart_sat: "Satisfaction over time", sat_note_hour: "by hour", sat_note_day: "by day",
    sat_note_week: "by week", sat_note_month: "by month",
    s_issued: "Tickets", s_median: "Median", s_p90: "90% at most", s_max: "Longest", s_target: "Target",
    s_served: "Served", s_no_show: "No-show", s_service: "Mean service (min)", s_sat: "Satisfaction index (%)",
    s_ratings: "Ratings",
    no_waits: "No ticket was called in this period.", no_counters: "No counter served in this period.",
    no_ratings: "No ratings in this period.",
    level5: "Very satisfied", level4: "Satisfied", level3: "Neutral", level2: "Dissatisfied",
    level1: "Very dissatisfied",
    table_title: "Figures by {g}", g_service: "service", g_counter: "counter", g_staff: "staff member",
    g_hour: "hour of day", g_day: "day", g_week: "week", g_month: "month", g_quarter: "quarter",
    h_group: "Group", h_counts: "Counts", h_wait: "Wait (minutes)", h_service: "Service time (minutes)",
    h_rating: "Ratings", c_issued: "Tickets", c_served: "Served", c_no_show: "No-show", c_cancelled: "Cancelled",
    c_expired: "Expired", c_avg: "Mean", c_median: "Median", c_p90: "P90", c_max: "Longest",
    c_over: "Over target", c_ratings: "Count", c_score: "Mean score", c_sat: "Satisfied", c_est: "Estimate error (min)",
    t_day: "Day {d}", t_week: "Week {w}/{y} ({a} – {b})", t_month: "{m}/{y}", t_quarter: "{q} {y}",
    t_range: "{a} to {b}", t_until: "{p}, figures up to {d}",
    bad_range: "The start date must not be after the end date.", axis_tickets: "Tickets", axis_minutes: "min",
    defs: "Wait: from taking the ticket to its first call (a transfer starts a new wait). Service: from start (or from the call, when start was not pressed) to finish. P90: 90% of waits were no longer. Over target: share of waits longer than the service's target. Satisfaction index: share of “Very satisfied” and “Satisfied” among ratings. Estimate error: mean difference between the wait printed on the ticket and the actual wait. Times in minutes, one decimal.",
  },
});

(async function reportPage() {
  const $ = (id) => document.getElementById(id);
  const el = Luot.el;
  const t = Luot.t;
  // What the tests read: the last query and answers, policy violations, script errors.
  const exposed = window.luotReport = { loads: 0, query: null, answers: {}, ready: false, cspViolations: [], errors: [] };
  document.addEventListener("securitypolicyviolation", (e) => exposed.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`));
  // Captured, so that a script or stylesheet that fails to load counts too.
  window.addEventListener("error", (e) => exposed.errors.push(e.message ? String(e.message) : `load ${e.target.src || e.target.href}`), true);
  window.addEventListener("unhandledrejection", (e) => exposed.errors.push(`rejection ${e.reason && (e.reason.message || e.reason)}`));

  const translateTitles = () => document.querySelectorAll("[data-i18n-title]").forEach((e) => { e.title = t(e.dataset.i18nTitle); });
  Luot.translate();
  translateTitles();
  Luot.wireBar();

  const me = await Luot.me().catch(() => null);
  if (!me) { location.href = "/login?next=/admin/report"; return; }
  $("who").textContent = me.name;
  const [state, config] = await Promise.all([Luot.api("GET", "/api/v1/state"), Luot.api("GET", "/api/v1/admin/center")]);
  const today = state.day;

  // ---- dates as "YYYY-MM-DD", computed in UTC so that no local offset moves them
  const toDate = (s) => new Date(s + "T00:00:00Z");
  const iso = (d) => d.toISOString().slice(0, 10);
  const addDays = (s, n) => { const d = toDate(s); d.setUTCDate(d.getUTCDate() + n); return iso(d); };
  const addMonths = (s, n) => { const d = toDate(s.slice(0, 8) + "01"); d.setUTCMonth(d.getUTCMonth() + n); return iso(d); };
  const days = (a, b) => Math.round((toDate(b) - toDate(a)) / 86400000) + 1;
  const dmy = (s) => `${s.slice(8, 10)}/${s.slice(5, 7)}/${s.slice(0, 4)}`;
  /** The period of `kind` holding `day`: [first, last]. */
  function periodOf(kind, day) {
    if (kind === "day") return [day, day];
    if (kind === "week") { const wd = (toDate(day).getUTCDay() + 6) % 7; const a = addDays(day, -wd); return [a, addDays(a, 6)]; }
    if (kind === "month") { const a = day.slice(0, 8) + "01"; return [a, addDays(addMonths(a, 1), -1)]; }
    if (kind === "quarter") {
      const m = Math.floor((Number(day.slice(5, 7)) - 1) / 3) * 3 + 1;
      const a = `${day.slice(0, 4)}-${String(m).padStart(2, "0")}-01`;
      return [a, addDays(addMonths(a, 3), -1)];
    }
    return null;
  }
  /** ISO week number and its year: the week of the Thursday of the week holding `day`. */
  function isoWeek(day) {
    const thursday = toDate(addDays(day, 3 - ((toDate(day).getUTCDay() + 6) % 7)));
    const y = thursday.getUTCFullYear();
    const jan4 = new Date(Date.UTC(y, 0, 4));
    const firstThursday = Date.UTC(y, 0, 4 - ((jan4.getUTCDay() + 6) % 7) + 3);
    return [1 + Math.round((thursday - firstThursday) / 604800000), y];
  }

  // ---- the query: from the URL, else this month
  const form = $("controls");
  const q = new URLSearchParams(location.search);
  const valid = (s) => /^\d{4}-\d{2}-\d{2}$/.test(s || "") && !Number.isNaN(toDate(s).getTime());
  const query = {
    period: ["day", "week", "month", "quarter", "range"].includes(q.get("period")) ? q.get("period") : "month",
    from: valid(q.get("from")) ? q.get("from") : null,
    to: valid(q.get("to")) ? q.get("to") : null,
    by: [...$("by").options].some((o) => o.value === q.get("by")) ? q.get("by") : "service",
  };
  if (!query.from) [query.from, query.to] = periodOf(query.period === "range" ? "month" : query.period, today);
  if (!query.to) query.to = query.from;

  function setPeriod(kind, day) {
    query.period = kind;
    if (kind !== "range") [query.from, query.to] = periodOf(kind, day);
    load();
  }
  function shift(dir) {
    if (query.period === "range") {
      const n = days(query.from, query.to);
      query.from = addDays(query.from, dir * n);
      query.to = addDays(query.to, dir * n);
      load();
    } else if (query.period === "day") setPeriod("day", addDays(query.from, dir));
    else if (query.period === "week") setPeriod("week", addDays(query.from, 7 * dir));
    else setPeriod(query.period, addMonths(query.from, dir * (query.period === "quarter" ? 3 : 1)));
  }
  $("period").addEventListener("change", () => setPeriod($("period").value, query.from));
  $("from").addEventListener("change", () => {
    if (!valid($("from").value)) return;
    if (query.period === "range") { query.from = $("from").value; load(); } else setPeriod(query.period, $("from").value);
  });
  $("to").addEventListener("change", () => {
    if (!valid($("to").value)) return;
    query.period = "range";
    query.to = $("to").value;
    load();
  });
  $("by").addEventListener("change", () => { query.by = $("by").value; load(); });
  $("prev").addEventListener("click", () => shift(-1));
  $("next").addEventListener("click", () => shift(1));
  form.addEventListener("submit", (ev) => { ev.preventDefault(); load(); });
  document.querySelectorAll("[data-shortcut]").forEach((b) => b.addEventListener("click", () => {
    const s = b.dataset.shortcut;
    if (s === "this_month") setPeriod("month", today);
    if (s === "last_month") setPeriod("month", addMonths(today, -1));
    if (s === "this_quarter") setPeriod("quarter", today);
    if (s === "last_quarter") setPeriod("quarter", addMonths(periodOf("quarter", today)[0], -3));
  }));
  $("print").addEventListener("click", () => window.print());

  const api = (params) => "/api/v1/reports?" + new URLSearchParams(params);
  /** The grouping of the satisfaction chart: fine enough to show a trend, coarse enough to read. */
  const timeGrouping = (n) => (n === 1 ? "hour" : n <= 45 ? "day" : n <= 200 ? "week" : "month");

  let data = null;
  let loadNo = 0;
  async function load() {
    $("report-error").textContent = "";
    $("period").value = query.period;
    $("from").value = query.from;
    $("to").value = query.to;
    $("by").value = query.by;
    if (query.from > query.to) { $("report-error").textContent = t("bad_range"); return; }
    const base = { from: query.from, to: query.to };
    $("csv-link").href = api({ ...base, by: query.by, format: "csv" });
    history.replaceState(null, "", "?" + new URLSearchParams({ period: query.period, ...base, by: query.by }));
    const time = timeGrouping(days(query.from, query.to));
    const wanted = [...new Set([query.by, "hour", "service", "counter", time])];
    const mine = ++loadNo;
    exposed.ready = false;
    let answers;
    try {
      answers = await Promise.all(wanted.map((by) => Luot.api("GET", api({ ...base, by }))));
    } catch (e) {
      if (mine === loadNo) $("report-error").textContent = e.message;
      return;
    }
    if (mine !== loadNo) return;
    const by = {};
    wanted.forEach((k, i) => { by[k] = answers[i]; });
    data = { query: { ...query }, time, by, at: new Date() };
    exposed.query = { ...query };
    exposed.answers = by;
    render();
    exposed.loads += 1;
    exposed.ready = true;
  }

  // ---- numbers: minutes with one decimal, shares with one decimal, counts grouped
  const sep = () => (Luot.lang === "vi" ? "," : ".");
  const tenths = (x) => { const s = String(x); return s.length < 2 ? `0${sep()}${s}` : `${s.slice(0, -1)}${sep()}${s.slice(-1)}`; };
  /** Seconds as minutes with one decimal, rounded half up. */
  const mins = (s) => tenths(Math.round(s / 6));
  const pct = (x) => `${x.toFixed(1).replace(".", sep())}%`;
  const count = (n) => n.toLocaleString(Luot.lang === "vi" ? "vi-VN" : "en-GB");
  const share = (a, b) => (b ? Math.round((a * 1000) / b) / 10 : 0);

  function periodTitle(d) {
    const { period, from, to } = d.query;
    const y = from.slice(0, 4);
    let title;
    if (period === "day") title = t("t_day", { d: dmy(from) });
    else if (period === "week") { const [w, wy] = isoWeek(from); title = t("t_week", { w, y: wy, a: dmy(from), b: dmy(to) }); }
    else if (period === "month") {
      title = Luot.lang === "vi" ? t("t_month", { m: from.slice(5, 7), y })
        : toDate(from).toLocaleString("en-GB", { month: "long", year: "numeric", timeZone: "UTC" });
    } else if (period === "quarter") {
      const n = Math.floor((Number(from.slice(5, 7)) - 1) / 3);
      title = t("t_quarter", { q: Luot.lang === "vi" ? ["I", "II", "III", "IV"][n] : `Q${n + 1}`, y });
    }
    else title = t("t_range", { a: dmy(from), b: dmy(to) });
    return period !== "range" && period !== "day" && from <= today && today < to ? t("t_until", { p: title, d: dmy(today) }) : title;
  }

  function stamp(at) {
    return at.toLocaleString(Luot.lang === "vi" ? "vi-VN" : "en-GB",
      { timeZone: state.timezone, day: "2-digit", month: "2-digit", year: "numeric", hour: "2-digit", minute: "2-digit" });
  }

  function render() {
    if (!data) return;
    translateTitles();
    const total = data.by[data.query.by].total;
    $("center-name").textContent = state.center;
    $("period-title").textContent = periodTitle(data);
    $("generated-at").textContent = stamp(data.at);
    document.title = `${t("report_title")} — ${periodTitle(data)} — ${state.center}`;
    $("loading").hidden = true;
    const empty = total.issued === 0;
    $("empty").hidden = !empty;
    $("empty").textContent = empty ? t("empty", { p: periodTitle(data) }) : "";
    $("content").hidden = empty;
    destroyCharts();
    if (empty) return;
    renderKpis(total);
    renderTable(data.by[data.query.by]);
    renderCharts();
  }

  function renderKpis(x) {
    const kpi = (id, value, label, sub) => el("div", { class: "kpi", "data-kpi": id }, el("b", {}, value), el("span", {}, label),
      sub ? el("small", {}, sub) : null);
    const waited = x.called > 0;
    const withUnit = (v) => [v, el("span", { class: "unit" }, ` ${t("min_short")}`)];
    $("kpis").replaceChildren(
      kpi("arrived", count(x.issued), t("kpi_arrived")),
      kpi("served", count(x.served), t("kpi_served"), t("of_issued", { x: pct(share(x.served, x.issued)) })),
      kpi("no_show", pct(share(x.no_show, x.issued)), t("kpi_no_show"), `${count(x.no_show)} / ${count(x.issued)}`),
      kpi("median_wait", waited ? withUnit(mins(x.median_wait_s)) : "—", t("kpi_median")),
      kpi("p90_wait", waited ? withUnit(mins(x.p90_wait_s)) : "—", t("kpi_p90")),
      kpi("over_target", waited ? pct(x.over_target_pct) : "—", t("kpi_over"), t("of_called", { n: count(x.over_target), m: count(x.called) })),
      kpi("satisfaction", x.ratings ? pct(x.satisfaction_pct) : "—", t("kpi_sat"), t("ratings_n", { n: count(x.ratings) })),
      kpi("estimate", x.estimated ? withUnit(`±${mins(x.estimate_error_s)}`) : "—", t("kpi_est"), t("estimated_n", { n: count(x.estimated) })));
  }

  /** Every figure of every row, with its raw value in `data-value`. */
  function renderTable(r) {
    $("table-title").textContent = `${t("table_title", { g: t("g_" + r.by) })} — ${periodTitle(data)}`;
    const cols = [
      ["issued", "c_issued", count], ["served", "c_served", count], ["no_show", "c_no_show", count],
      ["cancelled", "c_cancelled", count], ["expired", "c_expired", count],
      ["avg_wait_s", "c_avg", mins], ["median_wait_s", "c_median", mins], ["p90_wait_s", "c_p90", mins],
      ["max_wait_s", "c_max", mins], ["over_target_pct", "c_over", pct],
      ["avg_service_s", "c_avg", mins], ["median_service_s", "c_median", mins], ["p90_service_s", "c_p90", mins],
      ["max_service_s", "c_max", mins],
      ["ratings", "c_ratings", count], ["avg_rating", "c_score", (v) => v.toFixed(2).replace(".", sep())],
      ["satisfaction_pct", "c_sat", pct], ["estimate_error_s", "c_est", mins],
    ];
    // A figure without its base (no call, no service, no rating) reads "—", not a zero.
    const base = { avg_wait_s: "called", median_wait_s: "called", p90_wait_s: "called", max_wait_s: "called",
      over_target_pct: "called", avg_service_s: "served", median_service_s: "served", p90_service_s: "served",
      max_service_s: "served", avg_rating: "ratings", satisfaction_pct: "ratings", estimate_error_s: "estimated" };
    const groups = [["h_counts", 5], ["h_wait", 5], ["h_service", 4], ["h_rating", 3], ["", 1]];
    const head1 = el("tr", { class: "groups" }, el("th", { rowspan: 2, class: "group-col" }, t("h_group")),
      groups.map(([k, n]) => (k ? el("th", { colspan: n, class: "grp", scope: "colgroup" }, t(k)) : el("td", { colspan: n }))));
    const head2 = el("tr", {}, cols.map(([f, k]) => el("th", { class: "num", "data-field": f }, t(k))));
    const row = (x, isTotal) => el("tr", { "data-key": x.key, class: isTotal ? "total" : "" },
      el("td", { "data-field": "label" }, x.label),
      cols.map(([f, , fmt]) => {
        const shown = base[f] && !x[base[f]] ? "—" : fmt(x[f]);
        return el("td", { class: "num", "data-field": f, "data-value": String(x[f]) }, shown);
      }));
    $("report-table").replaceChildren(el("thead", {}, head1, head2),
      el("tbody", {}, r.rows.map((x) => row(x, false))), el("tfoot", {}, row(r.total, true)));
  }

  // ---- charts
  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => (css.getPropertyValue(name) || "").trim() || fallback;
  const BRAND = color("--brand", "#0b5cab"), WARN = color("--warn", "#b35900"), BAD = color("--bad", "#c62828");
  const OK = color("--ok", "#1a7f37");
  let charts = [];
  function destroyCharts() {
    for (const c of charts) c.plot.destroy();
    charts = [];
  }
  const width = (box) => Math.max(280, Math.floor(box.clientWidth));
  const fromZero = (u, min, max) => [0, max > 0 ? max * 1.12 : 1];
  const axisFont = "12px 'Noto Sans', 'DejaVu Sans', sans-serif";
  const axis = (o) => Object.assign({ font: axisFont, stroke: "#5b6675", grid: { stroke: "#e6e9ef", width: 1 }, ticks: { show: false } }, o);
  /** An axis of counts, written the page's way (8.250 in Vietnamese). */
  const countAxis = (o) => axis(Object.assign({ size: 58, values: (u, s) => s.map((v) => (Number.isInteger(v) ? count(v) : "")) }, o));
  const indexAxis = (labels, o) => axis(Object.assign({
    splits: () => labels.map((_, i) => i),
    values: (u, splits) => splits.map((i) => labels[i] ?? ""),
    grid: { show: false },
  }, o));

  /** Draws a chart into the box `id`, or says plainly that there is nothing to draw. */
  function chart(id, hasData, emptyKey, make) {
    const box = $(id);
    box.replaceChildren();
    box.classList.toggle("nodata", !hasData);
    if (!hasData) { box.append(el("p", { class: "empty-chart" }, t(emptyKey))); return; }
    const [opts, series] = make(width(box));
    const plot = new uPlot(Object.assign({ legend: { live: false }, cursor: { show: false }, select: { show: false } }, opts), series, box);
    charts.push({ plot, box, height: opts.height });
  }

  function renderCharts() {
    const svc = data.by.service.rows.filter((r) => r.called > 0);
    // The two charts of a row are as tall as each other.
    const waitHeight = Math.max(230, 34 * svc.length + 50);
    const hours = data.by.hour.rows.map((r) => Number(r.key));
    const byHour = new Map(data.by.hour.rows.map((r) => [Number(r.key), r.issued]));
    const h0 = Math.min(...hours), h1 = Math.max(...hours);
    const hx = [], hy = [];
    for (let h = h0; h <= h1; h++) { hx.push(h); hy.push(byHour.get(h) || 0); }
    chart("chart-hour", hx.length > 0, "no_waits", (w) => [{
      width: w, height: waitHeight,
      scales: { x: { time: false, range: (u, a, b) => [a - 0.5, b + 0.5] }, y: { range: fromZero } },
      axes: [axis({ splits: () => hx, values: (u, s) => s.map((h) => `${h}h`), grid: { show: false } }), countAxis({})],
      series: [{}, { label: t("s_issued"), fill: BRAND, stroke: BRAND, paths: uPlot.paths.bars({ size: [0.75, 60] }), points: { show: false } }],
    }, [hx, hy]]);

    const target = new Map(config.services.map((s) => [s.id, s.target_wait_min]));
    const m = (s) => Math.round(s / 6) / 10;
    chart("chart-wait", svc.length > 0, "no_waits", (w) => {
      const labels = svc.map((r) => r.label);
      const idx = svc.map((_, i) => i);
      const bar = () => uPlot.paths.bars({ size: [0.7, 26] });
      return [{
        width: w, height: waitHeight,
        scales: { x: { time: false, ori: 1, dir: -1, range: () => [-0.5, svc.length - 0.5] }, y: { ori: 0, range: fromZero } },
        axes: [indexAxis(labels, { side: 3, size: Math.min(230, 14 + 6.6 * Math.max(...labels.map((l) => l.length))) }),
          axis({ side: 2, values: (u, s) => s.map((v) => `${v}′`) })],
        series: [{},
          { label: t("s_max"), fill: "#d3deec", stroke: "#d3deec", paths: bar(), points: { show: false } },
          { label: t("s_p90"), fill: "#7fa7d9", stroke: "#7fa7d9", paths: bar(), points: { show: false } },
          { label: t("s_median"), fill: BRAND, stroke: BRAND, paths: bar(), points: { show: false } },
          { label: t("s_target"), stroke: BAD, fill: BAD, width: 0, paths: () => null, points: { show: true, size: 9, fill: BAD, stroke: BAD } }],
      }, [idx, svc.map((r) => m(r.max_wait_s)), svc.map((r) => m(r.p90_wait_s)), svc.map((r) => m(r.median_wait_s)),
        svc.map((r) => (target.has(r.key) ? target.get(r.key) : null))]];
    });

    const ctr = data.by.counter.rows.filter((r) => r.key !== "-" && (r.served > 0 || r.no_show > 0));
    chart("chart-counter", ctr.length > 0, "no_counters", (w) => {
      const labels = ctr.map((r) => r.label);
      const idx = ctr.map((_, i) => i);
      return [{
        width: w, height: 250,
        scales: { x: { time: false, range: () => [-0.5, ctr.length - 0.5] }, y: { range: fromZero }, min: { range: fromZero } },
        axes: [indexAxis(labels, { rotate: ctr.length > 6 ? -25 : 0, size: ctr.length > 6 ? 56 : 36 }),
          countAxis({ label: t("axis_tickets"), labelSize: 18, labelFont: axisFont }),
          axis({ scale: "min", side: 1, grid: { show: false }, values: (u, s) => s.map((v) => `${v}′`), size: 44,
            label: t("s_service"), labelSize: 18, labelFont: axisFont })],
        series: [{},
          { label: t("s_served"), fill: BRAND, stroke: BRAND, paths: uPlot.paths.bars({ size: [0.36, 40], align: -1 }), points: { show: false } },
          { label: t("s_no_show"), fill: WARN, stroke: WARN, paths: uPlot.paths.bars({ size: [0.36, 40], align: 1 }), points: { show: false } },
          { label: t("s_service"), scale: "min", stroke: OK, fill: OK, width: 0, paths: () => null, points: { show: true, size: 10, fill: OK, stroke: "#fff", width: 2 } }],
      }, [idx, ctr.map((r) => r.served), ctr.map((r) => r.no_show), ctr.map((r) => (r.served ? m(r.avg_service_s) : null))]];
    });

    const time = data.by[data.time];
    $("sat-note").textContent = t("sat_note_" + data.time);
    const rated = time.rows.some((r) => r.ratings > 0);
    chart("chart-sat", rated, "no_ratings", (w) => {
      const rows = time.rows;
      // Short labels: 05/11, T45 (week 45), 11/2026, 9h.
      const short = (k) => ({ day: () => dmy(k).slice(0, 5), hour: () => `${Number(k)}h`,
        week: () => `${Luot.lang === "vi" ? "T" : "W"}${k.slice(6)}`, month: () => `${k.slice(5, 7)}/${k.slice(0, 4)}` })[data.time]();
      const labels = rows.map((r) => short(r.key));
      const idx = rows.map((_, i) => i);
      const step = Math.max(1, Math.ceil((rows.length * 64) / w));
      return [{
        width: w, height: 250,
        scales: { x: { time: false, range: () => [-0.5, rows.length - 0.5] }, pct: { range: () => [0, 100] }, n: { range: fromZero } },
        axes: [indexAxis(labels, { splits: () => idx.filter((i) => i % step === 0) }),
          axis({ scale: "pct", values: (u, s) => s.map((v) => `${v}%`), size: 50 }),
          countAxis({ scale: "n", side: 1, grid: { show: false }, label: t("s_ratings"), labelSize: 18, labelFont: axisFont })],
        series: [{},
          { label: t("s_ratings"), scale: "n", fill: "#dfe6f0", stroke: "#dfe6f0", paths: uPlot.paths.bars({ size: [0.7, 40] }), points: { show: false } },
          { label: t("s_sat"), scale: "pct", stroke: OK, width: 2.5, spanGaps: true, points: { show: true, size: 6, fill: OK, stroke: OK } }],
      }, [idx, rows.map((r) => r.ratings), rows.map((r) => (r.ratings ? r.satisfaction_pct : null))]];
    });
    const total = data.by[data.query.by].total;
    const levels = total.ratings_by_level;
    $("levels").replaceChildren(...(total.ratings ? [5, 4, 3, 2, 1].map((s) => el("span", { class: "level l" + s },
      el("b", {}, count(levels[s - 1])), ` ${t("level" + s)} (${pct(share(levels[s - 1], total.ratings))})`)) : []));
  }

  // Charts follow the width of their card, on screen and on paper.
  let resizeTimer = null;
  const fit = () => { for (const c of charts) c.plot.setSize({ width: width(c.box), height: c.height }); };
  window.addEventListener("resize", () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(fit, 150); });
  // On paper (A4 portrait, 11 mm margins) a chart is about 690 CSS pixels wide; the print
  // stylesheet also scales any chart drawn at another width to the page.
  const PRINT_WIDTH = 690;
  window.addEventListener("beforeprint", () => {
    exposed.prints = (exposed.prints || 0) + 1;
    if (data) $("generated-at").textContent = stamp(new Date());
    for (const c of charts) c.plot.setSize({ width: PRINT_WIDTH, height: Math.round(c.height * 0.8) });
  });
  window.addEventListener("afterprint", fit);
  document.addEventListener("luot:lang", () => { translateTitles(); render(); });

  load();
})();
