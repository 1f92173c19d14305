// Lượt province page: the centers now (refreshed every few seconds) and reports over them.
'use strict';

(function () {
  const $ = (sel) => document.querySelector(sel);
  const el = (tag, attrs, ...children) => {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === 'class') node.className = v; else node.setAttribute(k, v);
    }
    for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    return node;
  };
  const minutes = (s) => (s / 60).toFixed(1).replace('.', ',') + ' ph';
  const pct = (x) => x.toFixed(1).replace('.', ',') + ' %';
  const int = (n) => n.toLocaleString('vi-VN');

  async function api(path, options) {
    const response = await fetch(path, Object.assign({ credentials: 'same-origin' }, options || {}));
    if (response.status === 401) {
      window.location.href = '/province/login';
      throw new Error('unauthorized');
    }
    if (!response.ok) {
      let message = 'Lỗi ' + response.status;
      try { message = (await response.json()).error.message; } catch (_) { /* not JSON */ }
      throw new Error(message);
    }
    return response.status === 204 ? null : response.json();
  }

  // ---- login page ----
  if (document.body.dataset.page === 'login') {
    $('#login-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      $('#login-error').textContent = '';
      const response = await fetch('/api/v1/province/login', {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: $('#username').value, password: $('#password').value }),
      });
      if (response.ok) { window.location.href = '/province'; return; }
      let message = 'Sai tên đăng nhập hoặc mật khẩu';
      if (response.status === 429) message = 'Đăng nhập sai quá nhiều lần; vui lòng thử lại sau ít phút';
      $('#login-error').textContent = message;
      $('#password').select();
    });
    return;
  }

  // ---- the centers now ----
  function feed(site, now) {
    if (site.problem) return ['bad', 'Lỗi dữ liệu', site.problem];
    if (site.missing_from) return ['bad', 'Mất dữ liệu từ sự kiện ' + site.missing_from, 'Các sự kiện này không còn trong luồng dữ liệu của tỉnh'];
    if (site.gap_from) return ['warn', 'Thiếu dữ liệu', 'Đang chờ sự kiện ' + site.gap_from];
    if (!site.last_event_at) return ['warn', 'Chưa có dữ liệu', ''];
    const age = (now - Date.parse(site.last_event_at)) / 1000;
    const when = new Date(site.last_event_at).toLocaleTimeString('vi-VN', { hour: '2-digit', minute: '2-digit' });
    if (site.counters_open > 0 && age > 900) return ['warn', 'Không có tin từ ' + when, 'Có thể mất kết nối'];
    return ['ok', 'Cập nhật ' + when, ''];
  }

  function kpi(value, label) {
    return el('div', { class: 'kpi' }, el('b', {}, value), el('span', {}, label));
  }

  let sitesKnown = '';
  async function refresh() {
    let state;
    try {
      state = await api('/api/v1/province/state');
    } catch (e) {
      $('#feed').textContent = 'Không tải được dữ liệu: ' + e.message;
      return;
    }
    $('#province').textContent = state.province;
    const p = state.projection;
    $('#feed').textContent = p.connected ? '' : 'Máy chủ tỉnh đang mất kết nối tới luồng dữ liệu' + (p.last_error ? ': ' + p.last_error : '');
    const now = Date.parse(state.at);
    const t = state.today;
    const waiting = state.sites.reduce((a, s) => a + s.waiting, 0);
    const open = state.sites.reduce((a, s) => a + s.counters_open, 0);
    $('#kpis').replaceChildren(
      kpi(int(state.sites.length), 'Trung tâm'),
      kpi(int(waiting), 'Đang chờ'),
      kpi(int(open), 'Quầy đang mở'),
      kpi(int(t.issued), 'Số phiếu hôm nay'),
      kpi(int(t.served), 'Đã phục vụ'),
      kpi(t.called ? minutes(t.median_wait_s) : '—', 'Chờ trung vị'),
      kpi(t.ratings ? pct(t.satisfaction_pct) : '—', 'Chỉ số hài lòng'),
    );
    const rows = state.sites.map((s) => {
      const [kind, text, title] = feed(s, now);
      const d = s.today;
      return el('tr', { 'data-site': s.site },
        el('th', { scope: 'row' }, s.name || s.site, el('div', { class: 'muted' }, s.site)),
        el('td', { class: 'num', 'data-field': 'waiting' }, int(s.waiting)),
        el('td', { class: 'num' }, int(s.counters_open)),
        el('td', { class: 'num' }, int(s.counters_serving)),
        el('td', { class: 'num', 'data-field': 'issued' }, int(d.issued)),
        el('td', { class: 'num', 'data-field': 'served' }, int(d.served)),
        el('td', { class: 'num' }, d.called ? minutes(d.median_wait_s) : '—'),
        el('td', { class: 'num' }, d.called ? minutes(d.p90_wait_s) : '—'),
        el('td', { class: 'num' }, d.called ? pct(d.over_target_pct) : '—'),
        el('td', { class: 'num' }, d.ratings ? pct(d.satisfaction_pct) : '—'),
        el('td', {}, el('span', { class: 'badge ' + kind, title: title }, text)));
    });
    $('#now tbody').replaceChildren(...rows);
    $('#updated').textContent = 'Lúc ' + new Date(now).toLocaleTimeString('vi-VN');
    const known = state.sites.map((s) => s.site).join(',');
    if (known !== sitesKnown) {
      sitesKnown = known;
      const select = $('#site');
      const chosen = select.value;
      select.replaceChildren(el('option', { value: '' }, 'Tất cả'),
        ...state.sites.map((s) => el('option', { value: s.site }, s.name || s.site)));
      select.value = chosen;
    }
  }

  // ---- reports ----
  function query() {
    const q = new URLSearchParams({ from: $('#from').value, to: $('#to').value, by: $('#by').value });
    if ($('#site').value) q.set('site', $('#site').value);
    return q;
  }

  function reportRow(r, cells) {
    return el('tr', { 'data-key': r.key },
      el(cells, cells === 'th' ? { scope: 'row' } : {}, r.label),
      el('td', { class: 'num', 'data-field': 'issued' }, int(r.issued)),
      el('td', { class: 'num', 'data-field': 'served' }, int(r.served)),
      el('td', { class: 'num' }, int(r.no_show)),
      el('td', { class: 'num' }, int(r.expired)),
      el('td', { class: 'num' }, r.called ? minutes(r.avg_wait_s) : '—'),
      el('td', { class: 'num' }, r.called ? minutes(r.median_wait_s) : '—'),
      el('td', { class: 'num' }, r.called ? minutes(r.p90_wait_s) : '—'),
      el('td', { class: 'num' }, r.called ? int(r.over_target) + ' (' + pct(r.over_target_pct) + ')' : '—'),
      el('td', { class: 'num' }, r.served ? minutes(r.avg_service_s) : '—'),
      el('td', { class: 'num' }, int(r.ratings)),
      el('td', { class: 'num' }, r.ratings ? pct(r.satisfaction_pct) : '—'));
  }

  async function report() {
    $('#report-error').textContent = '';
    const q = query();
    const csv = new URLSearchParams(q); csv.set('format', 'csv');
    $('#csv').href = '/api/v1/province/reports?' + csv;
    let data;
    try {
      data = await api('/api/v1/province/reports?' + q);
    } catch (e) {
      $('#report-error').textContent = e.message;
      return;
    }
    const by = $('#by').selectedOptions[0].textContent;
    const where = $('#site').value ? $('#site').selectedOptions[0].textContent : 'toàn tỉnh';
    $('#report-caption').textContent = 'Từ ' + data.from + ' đến ' + data.to + ', theo ' + by.toLowerCase() + ', ' + where;
    $('#report tbody').replaceChildren(...data.rows.map((r) => reportRow(r, 'th')));
    $('#report tfoot').replaceChildren(reportRow(data.total, 'td'));
  }

  const today = new Date();
  const iso = (d) => d.getFullYear() + '-' + String(d.getMonth() + 1).padStart(2, '0') + '-' + String(d.getDate()).padStart(2, '0');
  $('#to').value = iso(today);
  $('#from').value = iso(new Date(today.getFullYear(), today.getMonth(), 1));
  $('#controls').addEventListener('submit', (e) => { e.preventDefault(); report(); });
  $('#logout').addEventListener('click', async () => {
    await fetch('/api/v1/province/logout', { method: 'POST', credentials: 'same-origin' });
    window.location.href = '/province/login';
  });

  refresh().then(report);
  setInterval(refresh, 5000);
  document.addEventListener('visibilitychange', () => { if (!document.hidden) refresh(); });
})();
