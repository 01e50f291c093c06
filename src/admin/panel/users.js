// mfa-bridge admin panel, the Users page: look a user up, reset all of MFA or one method (each
// reset confirmed in a dialog that names the user and what goes), clear a wait, issue an
// enrolment code. Uses the panel's helpers (window.mfaPanel, from panel.js) and the admin API's
// /api/users routes; every action there is recorded in the attempts log with the token's name.
'use strict';

(function () {
  const $ = (id) => document.getElementById(id);
  const P = window.mfaPanel;

  const state = {
    username: null,   // the user shown
    user: null,       // their lookup, as the API answered it
  };

  function describeMethod(m) {
    return { sms: 'SMS', email: 'email', voice: 'voice call', whatsapp: 'WhatsApp', totp: 'authenticator app', 'sms+email': 'SMS and email' }[m] || m;
  }

  function result(text, kind) {
    const r = $('user-result');
    r.textContent = text || '';
    r.className = 'save-result' + (kind ? ' is-' + kind : '');
  }

  function reset() {
    state.username = null;
    state.user = null;
    P.show($('user-workspace'), false);
    $('user-search-name').value = '';
    $('user-search-error').textContent = '';
    result('');
    P.show($('user-code-card'), false);
    $('user-code').textContent = '';
  }

  // `#users` (the search) or `#users/NAME` (that user).
  async function open(sub) {
    if (!sub) {
      if (!state.username) P.show($('user-workspace'), false);
      return;
    }
    if (sub !== state.username) {
      P.show($('user-code-card'), false);
      $('user-code').textContent = '';
      result('');
    }
    $('user-search-name').value = sub;
    await load(sub);
  }

  async function load(username) {
    const res = await P.api('GET', '/api/users/' + encodeURIComponent(username));
    if (!res.ok) {
      if (res.status === 401) return;
      state.username = null;
      state.user = null;
      P.show($('user-workspace'), false);
      $('user-search-error').textContent = res.status === 404
        ? `No user “${username}”: no enrolment, pending session, wait or logged attempt.`
        : P.errorText(res);
      return;
    }
    $('user-search-error').textContent = '';
    state.username = username;
    state.user = res.data || {};
    render();
  }

  function render() {
    const u = state.user;
    const el = P.el;
    $('user-title').textContent = u.username;
    const wait = u.wait;
    const rows = [
      ['MFA', u.enabled
        ? el('span', { class: 'badge badge-ok', 'data-testid': 'user-enabled' }, 'on')
        : el('span', { class: 'badge badge-bad', 'data-testid': 'user-enabled' }, 'off')],
      ['Methods', u.enabled ? (u.methods || []).map(describeMethod).join(', ') : '–'],
      ['Enrolled', u.enabled ? P.fmtTime(u.enrolledAt) : '–'],
      ['Recovery codes left', u.enabled ? String(u.recoveryCodesRemaining) : '–'],
      ['Enrolment code', u.enrolmentCodeExpiresAt ? 'usable until ' + P.fmtTime(u.enrolmentCodeExpiresAt) : '–'],
      ['User data', u.enabled ? (u.userDataFields || []).join(', ') || '–' : '–'],
      ['Wait', wait
        ? (wait.remainingSeconds > 0
          ? `${wait.remainingSeconds} s left (until ${P.fmtTime(wait.lockedUntil)}), ${wait.failures} wrong attempt(s)`
          : `none in force, ${wait.failures} wrong attempt(s) counted`)
        : 'none'],
    ];
    $('user-summary').replaceChildren(...rows.flatMap(([k, v]) => [
      el('dt', null, k),
      el('dd', { 'data-testid': 'user-field-' + k.toLowerCase().replace(/[^a-z]+/g, '-') }, v),
    ]));

    const methods = u.enabled ? (u.methods || []) : [];
    $('user-methods').replaceChildren(...methods.map((m) => el('button', {
      type: 'button', class: 'btn btn-small', 'data-testid': 'user-reset-method', 'data-method': m,
      onclick: () => confirmReset(m),
    }, `Reset ${describeMethod(m)}…`)));
    $('user-reset-all').disabled = !u.enabled;
    $('user-enrolment-code').disabled = !u.enabled;
    $('user-clear-wait').disabled = !wait;

    const sessions = u.sessions || [];
    $('user-sessions-body').replaceChildren(...sessions.map((s) => el('tr', { 'data-testid': 'user-session' },
      el('td', null, s.kind === 'login' ? 'login' : 'enrolment'),
      el('td', null, s.method ? describeMethod(s.method) : '–'),
      el('td', { class: 'nowrap' }, P.fmtTime(s.createdAt)),
      el('td', { class: 'nowrap' }, P.fmtTime(s.expiresAt)),
      el('td', null, String(s.wrongCodes)))));
    P.show($('user-sessions-empty'), sessions.length === 0);

    const attempts = u.attempts || [];
    $('user-attempts-body').replaceChildren(...attempts.map((a) => el('tr', { 'data-testid': 'user-attempt' },
      el('td', { class: 'nowrap' }, P.fmtTime(a.time)),
      el('td', { class: 'nowrap' }, el('code', null, a.route ?? '')),
      el('td', { class: 'nowrap' }, el('span', { class: 'badge ' + (a.outcome === 'ok' ? 'badge-ok' : 'badge-bad') }, a.outcome ?? '')),
      el('td', { class: 'nowrap' }, a.admin ?? ''))));
    P.show($('user-attempts-empty'), attempts.length === 0);
    P.show($('user-workspace'), true);
  }

  // Opens the dialog; resolves true when the operator confirms.
  function ask(title, text, button) {
    const dialog = $('user-confirm');
    $('user-confirm-title').textContent = title;
    $('user-confirm-text').textContent = text;
    $('user-confirm-ok').textContent = button;
    return new Promise((resolve) => {
      dialog.addEventListener('close', () => resolve(dialog.returnValue === 'confirm'), { once: true });
      dialog.returnValue = '';
      dialog.showModal();
      dialog.querySelector('[data-testid="user-confirm-cancel"]').focus();
    });
  }

  async function confirmReset(method) {
    const u = state.user;
    if (!u) return;
    const name = u.username;
    let text;
    if (method === 'all') {
      text = `Remove every MFA method of “${name}” (${(u.methods || []).map(describeMethod).join(', ')}), `
        + `the ${u.recoveryCodesRemaining} recovery code(s) left and ${(u.sessions || []).length} pending session(s). `
        + 'MFA will be off: the password alone opens the account until the user enrols again.';
    } else {
      const left = (u.methods || []).filter((m) => m !== method);
      text = `Remove the ${describeMethod(method)} method of “${name}”. `
        + (left.length ? `Left: ${left.map(describeMethod).join(', ')}.` : 'It is the last one: MFA will be off.');
    }
    const title = method === 'all' ? `Reset all of MFA for “${name}”?` : `Reset ${describeMethod(method)} for “${name}”?`;
    if (!(await ask(title, text, method === 'all' ? 'Reset all' : `Reset ${describeMethod(method)}`))) {
      result('Nothing was changed.');
      return;
    }
    const res = await P.api('POST', '/api/users/' + encodeURIComponent(name) + '/reset', { json: { method } });
    if (!res.ok) {
      if (res.status !== 401) result('Refused: ' + P.errorText(res), 'error');
      return;
    }
    result(res.data.enabled
      ? `Removed ${describeMethod(method)}; left: ${(res.data.methods || []).map(describeMethod).join(', ')}.`
      : `MFA is off for “${name}”${res.data.sessionsEnded ? `; ${res.data.sessionsEnded} pending session(s) ended` : ''}.`, 'ok');
    await load(name);
  }

  async function clearWait() {
    const name = state.username;
    if (!name) return;
    const res = await P.api('POST', '/api/users/' + encodeURIComponent(name) + '/clear-wait', { json: {} });
    if (!res.ok) {
      if (res.status !== 401) result('Refused: ' + P.errorText(res), 'error');
      return;
    }
    result(res.data.cleared ? `The wait of “${name}” is cleared.` : 'There was no wait to clear.', 'ok');
    await load(name);
  }

  async function enrolmentCode() {
    const name = state.username;
    if (!name) return;
    const res = await P.api('POST', '/api/users/' + encodeURIComponent(name) + '/enrolment-code', { json: {} });
    if (!res.ok) {
      if (res.status !== 401) result('Refused: ' + P.errorText(res), 'error');
      return;
    }
    $('user-code').textContent = res.data.code;
    $('user-code-expires').textContent = P.fmtTime(res.data.expiresAt);
    P.show($('user-code-card'), true);
    result(`Enrolment code issued for “${name}”.`, 'ok');
    await load(name);
  }

  function init() {
    $('user-search').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const name = $('user-search-name').value.trim();
      if (!name) {
        $('user-search-error').textContent = 'Enter a username.';
        $('user-search-name').focus();
        return;
      }
      const target = '#users/' + encodeURIComponent(name);
      if (location.hash === target) load(name);
      else location.hash = target;
    });
    $('user-reset-all').addEventListener('click', () => confirmReset('all'));
    $('user-clear-wait').addEventListener('click', clearWait);
    $('user-enrolment-code').addEventListener('click', enrolmentCode);
    $('user-attempts-all').addEventListener('click', (ev) => {
      ev.preventDefault();
      if (state.username) P.showAttemptsOf(state.username);
    });
  }

  init();
  window.mfaPanelUsers = { open, reset };
  window.dispatchEvent(new Event('mfa-panel-users-ready'));
})();
