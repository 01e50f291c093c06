// mfa-bridge admin panel, the Events page: the events queue (`events:` in platform.yml), one row
// per delivery of an event to a webhook endpoint, newest first, with its status, attempts, last
// error and, while pending, when it is tried next; filtered by status and user; a delivery's
// details (and the body sent) on click. Uses the panel's helpers (window.mfaPanel, from panel.js)
// and the admin API's GET /api/events.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const P = window.mfaPanel;

  const BADGE = { delivered: 'badge-ok', pending: '', given_up: 'badge-bad' };

  function query() {
    const q = new URLSearchParams();
    for (const [key, id] of [['user', 'events-user'], ['status', 'events-status']]) {
      const v = $(id).value.trim();
      if (v) q.set(key, v);
    }
    q.set('limit', '200');
    return q.toString();
  }

  async function load() {
    $('events-filter-error').textContent = '';
    const res = await P.api('GET', '/api/events?' + query());
    if (!res.ok) {
      if (res.status !== 401) $('events-filter-error').textContent = P.errorText(res);
      return;
    }
    const el = P.el;
    const events = (res.data && res.data.events) || [];
    $('events-pending').textContent = String((res.data && res.data.pending) || 0);
    $('events-body').replaceChildren(...events.map((e) => el('tr', {
      'data-testid': 'event-row', tabindex: '0', onclick: () => detail(e),
      onkeydown: (ev) => { if (ev.key === 'Enter') detail(e); },
    },
      el('td', { class: 'nowrap' }, P.fmtTime(e.createdAt)),
      el('td', null, e.type),
      el('td', null, e.username || '–'),
      el('td', null, e.endpoint),
      el('td', null, el('span', { class: 'badge ' + (BADGE[e.status] || ''), 'data-testid': 'event-status' }, e.status)),
      el('td', null, String(e.attempts)),
      el('td', null, e.lastError || '–'),
      el('td', { class: 'nowrap' }, e.nextAt ? P.fmtTime(e.nextAt) : '–'))));
    P.show($('events-empty'), events.length === 0);
    P.show($('event-detail-card'), false);
  }

  function detail(e) {
    const el = P.el;
    const rows = [
      ['Id', e.id], ['Order', String(e.seq)], ['Type', e.type], ['User', e.username || '–'],
      ['Endpoint', e.endpoint], ['Status', e.status], ['Attempts', String(e.attempts)],
      ['Happened', P.fmtTime(e.createdAt)], ['Last attempt', P.fmtTime(e.updatedAt)],
      ['Next try', e.nextAt ? P.fmtTime(e.nextAt) : '–'], ['Last error', e.lastError || '–'],
    ];
    $('event-detail').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', null, k), el('dd', null, v)]));
    $('event-body').textContent = JSON.stringify(e.event, null, 2);
    P.show($('event-detail-card'), true);
    $('event-detail-title').focus({ preventScroll: true });
  }

  // `#events` (the queue) or `#events/USER` (that user's deliveries).
  async function open(sub) {
    if (sub) $('events-user').value = sub;
    await load();
  }

  function reset() {
    $('events-filter').reset();
    $('events-body').replaceChildren();
    $('events-pending').textContent = '–';
    P.show($('event-detail-card'), false);
  }

  function init() {
    $('events-filter').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
    $('events-clear').addEventListener('click', () => { $('events-filter').reset(); load(); });
    $('events-refresh').addEventListener('click', load);
  }

  init();
  window.mfaPanelEvents = { open, reset };
  window.dispatchEvent(new Event('mfa-panel-events-ready'));
})();
