// mfa-bridge admin panel, the Messages page: the message log (one record per attempt to hand a
// code to a provider), newest first, filtered by user, status, channel, provider and challenge;
// a record's details on click. Uses the panel's helpers (window.mfaPanel, from panel.js) and the
// admin API's /api/messages routes. A record holds the masked destination, never the code.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const P = window.mfaPanel;

  const BADGE = {
    delivered: 'badge-ok', sent: 'badge-ok', queued: '', failed: 'badge-bad', undelivered: 'badge-bad',
  };

  function query() {
    const q = new URLSearchParams();
    for (const [key, id] of [['user', 'messages-user'], ['status', 'messages-status'],
      ['channel', 'messages-channel'], ['provider', 'messages-provider'], ['challenge', 'messages-challenge']]) {
      const v = $(id).value.trim();
      if (v) q.set(key, v);
    }
    q.set('limit', '200');
    return q.toString();
  }

  async function load() {
    $('messages-filter-error').textContent = '';
    const res = await P.api('GET', '/api/messages?' + query());
    if (!res.ok) {
      if (res.status !== 401) $('messages-filter-error').textContent = P.errorText(res);
      return;
    }
    const el = P.el;
    const messages = (res.data && res.data.messages) || [];
    $('messages-body').replaceChildren(...messages.map((m) => el('tr', {
      'data-testid': 'message-row', tabindex: '0', onclick: () => detail(m),
      onkeydown: (ev) => { if (ev.key === 'Enter') detail(m); },
    },
      el('td', { class: 'nowrap' }, P.fmtTime(m.at)),
      el('td', null, m.username),
      el('td', null, m.channel),
      el('td', null, m.provider),
      el('td', null, String(m.attempt)),
      el('td', null, el('span', { class: 'badge ' + (BADGE[m.status] || ''), 'data-testid': 'message-status' }, m.status)),
      el('td', { class: 'nowrap' }, m.latencyMs == null ? '–' : m.latencyMs + ' ms'),
      el('td', null, m.error || '–'),
      el('td', { class: 'nowrap' }, m.destination))));
    P.show($('messages-empty'), messages.length === 0);
    P.show($('message-detail-card'), false);
  }

  function detail(m) {
    const el = P.el;
    const rows = [
      ['Id', m.id], ['Send', m.sendId], ['Attempt', String(m.attempt)], ['Began', P.fmtTime(m.at)],
      ['Last change', P.fmtTime(m.updatedAt)], ['User', m.username], ['Challenge', m.challenge],
      ['Channel', m.channel], ['Provider', m.provider], ['Status', m.status],
      ['Provider message id', m.providerMessageId || '–'], ['HTTP status', m.httpStatus == null ? '–' : String(m.httpStatus)],
      ['Latency', m.latencyMs == null ? '–' : m.latencyMs + ' ms'], ['Error', m.error || '–'], ['Destination', m.destination],
    ];
    $('message-detail').replaceChildren(...rows.flatMap(([k, v]) => [el('dt', null, k), el('dd', null, v)]));
    P.show($('message-detail-card'), true);
    $('message-detail-title').focus({ preventScroll: true });
  }

  // `#messages` (the log) or `#messages/USER` (that user's records).
  async function open(sub) {
    if (sub) $('messages-user').value = sub;
    await load();
  }

  function reset() {
    $('messages-filter').reset();
    $('messages-body').replaceChildren();
    P.show($('message-detail-card'), false);
  }

  function init() {
    $('messages-filter').addEventListener('submit', (ev) => { ev.preventDefault(); load(); });
    $('messages-clear').addEventListener('click', () => { $('messages-filter').reset(); load(); });
    $('messages-refresh').addEventListener('click', load);
  }

  init();
  window.mfaPanelMessages = { open, reset };
  window.dispatchEvent(new Event('mfa-panel-messages-ready'));
})();
