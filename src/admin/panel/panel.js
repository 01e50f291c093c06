// mfa-bridge admin panel: plain JavaScript, no dependency, no build step.
// Talks to the admin API of the listener that served it (same origin), with the admin token
// kept in sessionStorage and sent as `Authorization: Bearer`.
'use strict';

(function () {
  const TOKEN_KEY = 'mfa-bridge-admin-token';
  const ENDPOINT_NAMES = ['single', 'challenge', 'verify'];
  const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'];
  const PREVIEW_DELAY_MS = 250;
  const STATUS_EVERY_MS = 20000;
  const REQUEST_TIMEOUT_MS = 15000;
  const DEFAULT_SAMPLE = { phone: '+41791231212' };
  const VIEWS = ['endpoints', 'templates', 'attempts', 'users', 'messages', 'events'];

  const $ = (id) => document.getElementById(id);

  const state = {
    token: null,
    status: null,
    endpoints: {},        // name -> object as the server returned it
    current: null,        // name of the endpoint being edited
    original: null,       // the server's object for it
    baseline: '',         // JSON of the form right after loading (dirty check)
    previewProblems: [],
    saveProblems: [],
    localProblems: [],
    previewTimer: null,
    previewSeq: 0,
    previewAbort: null,
    statusTimer: null,
    templatePath: null,
    templateBaseline: '',
    attemptsLoaded: false,
    presetChannel: null,  // the channel whose preset the preset form edits
    channel: null,        // the channel shown under Channels
    channelInfo: null,    // GET /api/channels/{channel}
  };

  // ---------------------------------------------------------------- helpers

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    if (attrs) {
      for (const [k, v] of Object.entries(attrs)) {
        if (v === undefined || v === null || v === false) continue;
        if (k === 'class') node.className = v;
        else if (k === 'text') node.textContent = v;
        else if (k.startsWith('on') && typeof v === 'function') node.addEventListener(k.slice(2), v);
        else node.setAttribute(k, v === true ? '' : String(v));
      }
    }
    for (const c of children) {
      if (c === null || c === undefined || c === false) continue;
      node.append(c instanceof Node ? c : document.createTextNode(String(c)));
    }
    return node;
  }

  function show(node, visible) { node.hidden = !visible; }

  function message(text, kind) {
    const m = $('global-message');
    m.textContent = text || '';
    m.className = 'global-message' + (kind ? ' is-' + kind : '');
  }

  function fmtTime(v) {
    if (v === null || v === undefined || v === '') return '–';
    let d;
    if (typeof v === 'number' || /^\d+(\.\d+)?$/.test(String(v))) {
      const n = Number(v);
      d = new Date(n < 1e11 ? n * 1000 : n);
    } else {
      d = new Date(String(v));
    }
    if (isNaN(d.getTime())) return String(v);
    const p = (x) => String(x).padStart(2, '0');
    return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
  }

  function errorText(res) {
    const e = res && res.data && res.data.error;
    if (e) return `${e.id || 'error'}: ${e.message || ''}`.trim();
    if (res && res.networkError) return res.networkError;
    if (res && res.text) return `HTTP ${res.status}: ${res.text.slice(0, 300)}`;
    return `HTTP ${res ? res.status : '?'}`;
  }

  // ---------------------------------------------------------------- API

  async function api(method, path, opts) {
    opts = opts || {};
    const headers = { Accept: 'application/json' };
    if (state.token) headers.Authorization = 'Bearer ' + state.token;
    let body;
    if (opts.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.json);
    } else if (opts.text !== undefined) {
      headers['Content-Type'] = 'text/plain; charset=utf-8';
      body = opts.text;
    }
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), REQUEST_TIMEOUT_MS);
    if (opts.signal) opts.signal.addEventListener('abort', () => ctrl.abort(), { once: true });
    let res;
    try {
      res = await fetch(path, { method, headers, body, signal: ctrl.signal, cache: 'no-store', credentials: 'omit' });
    } catch (err) {
      clearTimeout(timer);
      const aborted = err && err.name === 'AbortError';
      if (aborted && opts.signal && opts.signal.aborted) return { ok: false, status: 0, aborted: true };
      return { ok: false, status: 0, networkError: aborted ? 'The admin API did not answer in time.' : 'Cannot reach the admin API: ' + err.message };
    }
    clearTimeout(timer);
    const text = await res.text().catch(() => '');
    let data = null;
    if ((res.headers.get('content-type') || '').includes('json') && text) {
      try { data = JSON.parse(text); } catch (_) { data = null; }
    }
    const out = { ok: res.ok, status: res.status, data, text };
    if (res.status === 401 && !opts.signingIn) {
      signOut('The admin token was refused (401). Please sign in again.');
    }
    return out;
  }

  // ---------------------------------------------------------------- sign in / out

  async function signIn(token, fromStorage) {
    state.token = token;
    const res = await api('GET', '/api/status', { signingIn: true });
    if (res.status === 200 && res.data) {
      sessionStorage.setItem(TOKEN_KEY, token);
      enterApp(res.data, !fromStorage);
      return true;
    }
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    const err = $('signin-error');
    if (res.status === 401) err.textContent = fromStorage ? 'Your session has expired: please sign in again.' : 'This token is not the admin token.';
    else err.textContent = 'Sign-in failed: ' + errorText(res);
    showSignIn();
    return false;
  }

  function signOut(why) {
    state.token = null;
    sessionStorage.removeItem(TOKEN_KEY);
    clearInterval(state.statusTimer);
    state.statusTimer = null;
    clearTimeout(state.previewTimer);
    if (state.previewAbort) state.previewAbort.abort();
    state.endpoints = {};
    state.current = null;
    state.original = null;
    state.attemptsLoaded = false;
    if (window.mfaPanelUsers) window.mfaPanelUsers.reset();
    if (window.mfaPanelMessages) window.mfaPanelMessages.reset();
    if (window.mfaPanelEvents) window.mfaPanelEvents.reset();
    $('signin-error').textContent = why || '';
    message(why ? '' : 'Signed out.', why ? '' : 'ok');
    showSignIn();
  }

  function showSignIn() {
    show($('status-bar'), false);
    show($('reload-problems'), false);
    show($('nav'), false);
    for (const v of VIEWS) show($('view-' + v), false);
    show($('view-signin'), true);
    $('signin-token').value = '';
    $('signin-token').focus();
  }

  function enterApp(status, moveFocus) {
    show($('view-signin'), false);
    show($('status-bar'), true);
    show($('nav'), true);
    message('');
    renderStatus(status);
    clearInterval(state.statusTimer);
    state.statusTimer = setInterval(refreshStatus, STATUS_EVERY_MS);
    if (!location.hash || location.hash === '#') history.replaceState(null, '', '#endpoints');
    // After an interactive sign-in the focused field is gone: put focus on the view's heading.
    route(!moveFocus);
  }

  // ---------------------------------------------------------------- status bar

  async function refreshStatus() {
    if (!state.token) return;
    const res = await api('GET', '/api/status');
    if (res.ok && res.data) renderStatus(res.data);
  }

  function renderStatus(s) {
    state.status = s;
    $('status-version').textContent = s.version || '–';
    const mode = [s.mode, s.smsMode].filter(Boolean).join(' · ');
    $('status-mode').textContent = mode || '–';
    const hash = $('status-config-hash');
    hash.textContent = s.configHash ? String(s.configHash).slice(0, 12) : '–';
    hash.title = s.configHash ? `${s.configHash}${s.configPath ? ' — ' + s.configPath : ''}` : '';
    renderSharedVersion(s.configVersion);
    renderProviders(s.providers);
    const reload = $('status-reload');
    const banner = $('reload-problems');
    reload.replaceChildren();
    banner.replaceChildren();
    const lr = s.lastReload;
    if (!lr) {
      reload.textContent = 'none since start';
      show(banner, false);
      return;
    }
    const problems = Array.isArray(lr.problems) ? lr.problems : [];
    reload.append(
      fmtTime(lr.at), ' ',
      el('span', { class: 'badge ' + (lr.applied ? 'badge-ok' : 'badge-bad'), 'data-testid': 'status-reload-result' },
        lr.applied ? 'applied' : 'refused'),
      problems.length ? ` ${problems.length} problem${problems.length > 1 ? 's' : ''}` : '');
    if (problems.length) {
      banner.append(
        el('strong', null, lr.applied ? 'The last reload had problems:' : 'The last reload was refused; the running configuration stays:'),
        el('ul', null, ...problems.map((p) => el('li', null, el('code', null, p.path || '(file)'), ' ', p.message || ''))));
      show(banner, true);
    } else {
      show(banner, false);
    }
  }

  // Each provider with its circuit breaker: closed (ok), half-open (probing), open (skipped).
  function renderProviders(list) {
    const dd = $('status-providers');
    dd.replaceChildren();
    if (!Array.isArray(list) || !list.length) { dd.textContent = '–'; return; }
    list.forEach((p, i) => {
      const cls = p.breaker === 'closed' ? 'badge-ok' : 'badge-bad';
      const until = p.openUntil ? ` until ${fmtTime(p.openUntil)}` : '';
      dd.append(i ? ' ' : '', el('span', {
        class: 'badge ' + cls,
        title: `${p.channel} · ${p.breaker}${until} · ${p.consecutiveFailures} failure(s) in a row`,
        'data-testid': 'status-provider',
      }, `${p.name}: ${p.breaker}`));
    });
  }

  // ---------------------------------------------------------------- shared configuration

  // With storage.backend postgres: the version this instance runs ("version N, by X at T"),
  // and, on a click, the history with a rollback per version.
  function renderSharedVersion(v) {
    show($('status-shared'), !!v);
    if (!v) { show($('config-history'), false); return; }
    $('status-config-version').textContent = `version ${v.version}, by ${v.author} at ${fmtTime(v.at)}`;
    if (!$('config-history').hidden) loadHistory();
  }

  async function toggleHistory() {
    const box = $('config-history');
    const open = box.hidden;
    show(box, open);
    $('status-config-version').setAttribute('aria-expanded', String(open));
    if (open) await loadHistory();
  }

  async function loadHistory() {
    const box = $('config-history');
    const res = await api('GET', '/api/config/versions?limit=50');
    if (!res.ok || !res.data) { box.replaceChildren(errorText(res)); return; }
    const running = res.data.running;
    box.replaceChildren(el('strong', null, 'Configuration versions (newest first)'),
      el('ul', { class: 'config-history', 'data-testid': 'config-history-list' }, ...res.data.versions.map((v) =>
        el('li', null, `${v.version} · ${fmtTime(v.at)} · ${v.author}${v.note ? ' · ' + v.note : ''} `,
          v.version === running
            ? el('span', { class: 'badge badge-ok' }, 'running')
            : el('button', { type: 'button', class: 'btn btn-small', 'data-testid': 'rollback-' + v.version,
              onclick: () => rollback(v.version) }, 'Roll back to this')))));
  }

  async function rollback(n) {
    if (!window.confirm(`Make a new version equal to version ${n}, on every instance?`)) return;
    const res = await api('POST', `/api/config/versions/${n}/rollback`);
    message(res.ok ? `Rolled back: version ${res.data.version} is version ${n} again.` : errorText(res), res.ok ? 'ok' : 'error');
    await refreshStatus();
  }

  // ---------------------------------------------------------------- routing

  function route(initial) {
    if (!state.token) return;
    const hash = decodeURIComponent(location.hash.replace(/^#/, ''));
    const [view, ...rest] = hash.split('/');
    const sub = rest.join('/');
    const name = VIEWS.includes(view) ? view : 'endpoints';
    for (const v of VIEWS) {
      show($('view-' + v), v === name);
      const tab = $('tab-' + v);
      if (v === name) tab.setAttribute('aria-current', 'page');
      else tab.removeAttribute('aria-current');
    }
    if (name === 'endpoints') openEndpointsView(sub);
    else if (name === 'templates') openTemplatesView(sub);
    else if (name === 'users') openUsersView(sub);
    else if (name === 'messages') openMessagesView(sub);
    else if (name === 'events') openEventsView(sub);
    else openAttemptsView(sub);
    if (!initial) {
      const h = $(name + '-title');
      h.setAttribute('tabindex', '-1');
      h.focus({ preventScroll: true });
    }
  }

  // ---------------------------------------------------------------- endpoints

  async function openEndpointsView(sub) {
    const res = await api('GET', '/api/endpoints');
    if (!res.ok) {
      if (res.status !== 401) message('Cannot list the endpoints: ' + errorText(res), 'error');
      return;
    }
    loadChannels();
    // A preset: its endpoints are the preset's, shown rendered; its name, base_url and vars edited.
    const preset = res.data && res.data.preset ? res.data : null;
    show($('preset-workspace'), !!preset);
    if (preset) {
      state.endpoints = {};
      state.current = null;
      state.original = null;
      renderEndpointList();
      show($('endpoints-empty'), false);
      show($('endpoint-workspace'), false);
      renderPreset(preset);
      return;
    }
    state.endpoints = (res.data && res.data.endpoints) || {};
    renderEndpointList();
    const names = Object.keys(state.endpoints);
    show($('endpoints-empty'), names.length === 0);
    show($('endpoint-workspace'), names.length > 0);
    if (!names.length) return;
    let want = sub && state.endpoints[sub] ? sub : (state.current && state.endpoints[state.current] ? state.current : names[0]);
    if (want !== state.current || !state.original) loadEndpoint(want, state.endpoints[want]);
    else renderEndpointList();
  }

  function renderEndpointList() {
    const list = $('endpoint-list');
    const names = ENDPOINT_NAMES.filter((n) => n in state.endpoints)
      .concat(Object.keys(state.endpoints).filter((n) => !ENDPOINT_NAMES.includes(n)));
    list.replaceChildren(...names.map((n) => el('button', {
      type: 'button',
      class: 'segment',
      id: 'endpoint-' + n,
      'data-testid': 'endpoint-' + n,
      'aria-pressed': n === state.current ? 'true' : 'false',
      onclick: () => selectEndpoint(n),
    }, n)));
  }

  function selectEndpoint(name) {
    if (name === state.current) return;
    if (isDirty() && !window.confirm(`Discard the unsaved changes to "${state.current}"?`)) return;
    location.hash = '#endpoints/' + encodeURIComponent(name);
  }

  function loadEndpoint(name, ep) {
    state.current = name;
    state.original = ep || {};
    state.saveProblems = [];
    state.previewProblems = [];
    $('endpoint-name').textContent = name;
    fillForm(state.original);
    state.baseline = JSON.stringify(buildEndpoint());
    $('save-result').textContent = '';
    $('save-result').className = 'save-result';
    $('test-send-result').hidden = true;
    renderEndpointList();
    updateDirty();
    renderProblems();
    schedulePreview(0);
  }

  function fillForm(ep) {
    $('ep-url').value = ep.url == null ? '' : String(ep.url);
    const method = String(ep.method || 'POST').toUpperCase();
    const sel = $('ep-method');
    if (!METHODS.includes(method)) sel.append(el('option', null, method));
    sel.value = method;
    $('ep-body').value = ep.body == null ? '' : String(ep.body);
    const rows = $('ep-headers');
    rows.replaceChildren();
    const headers = ep.headers && typeof ep.headers === 'object' ? ep.headers : {};
    for (const [k, v] of Object.entries(headers)) rows.append(kvRow('header', k, v == null ? '' : String(v)));
    const s = ep.success && typeof ep.success === 'object' ? ep.success : {};
    const status = Array.isArray(s.status) ? s.status : (s.status != null ? [s.status] : []);
    $('ep-success-status').value = status.join(', ');
    $('ep-success-json-path').value = s.json_path == null ? '' : String(s.json_path);
    $('ep-success-equals').value = s.equals === undefined || s.equals === null ? ''
      : (typeof s.equals === 'string' ? s.equals : JSON.stringify(s.equals));
  }

  let kvCounter = 0;
  function kvRow(kind, key, value) {
    const n = ++kvCounter;
    const label = { header: 'Header', var: 'Var' }[kind] || 'Field';
    const row = el('div', { class: 'kv-row', 'data-testid': kind + '-row' });
    const keyInput = el('input', { type: 'text', id: `${kind}-key-${n}`, class: 'kv-key', spellcheck: 'false', autocomplete: 'off', 'data-testid': kind + '-key', placeholder: kind === 'header' || kind === 'var' ? 'name' : 'field' });
    const valInput = el('input', { type: 'text', id: `${kind}-value-${n}`, class: 'kv-value', spellcheck: 'false', autocomplete: 'off', 'data-testid': kind + '-value', placeholder: 'value' });
    keyInput.value = key || '';
    valInput.value = value || '';
    const remove = el('button', {
      type: 'button', class: 'btn btn-small btn-quiet kv-remove', 'data-testid': kind + '-remove',
      'aria-label': `Remove ${label.toLowerCase()} ${key || ''}`.trim(),
      onclick: () => {
        const container = row.parentNode;
        const next = row.nextElementSibling || row.previousElementSibling;
        row.remove();
        const adder = { header: 'ep-header-add', var: 'preset-var-add', 'channel-sample': 'channel-sample-add' }[kind] || 'sample-add';
        const focusTarget = next ? next.querySelector('input') : $(adder);
        if (focusTarget) focusTarget.focus();
        if (container) container.dispatchEvent(new Event('input', { bubbles: true }));
      },
    }, '✕');
    keyInput.addEventListener('input', () => remove.setAttribute('aria-label', `Remove ${label.toLowerCase()} ${keyInput.value}`.trim()));
    row.append(
      el('label', { for: keyInput.id, class: 'visually-hidden' }, `${label} name`), keyInput,
      el('label', { for: valInput.id, class: 'visually-hidden' }, `${label} value`), valInput,
      remove);
    return row;
  }

  function readRows(container) {
    const out = [];
    for (const row of container.querySelectorAll('.kv-row')) {
      const k = row.querySelector('.kv-key').value.trim();
      const v = row.querySelector('.kv-value').value;
      if (k) out.push([k, v]);
    }
    return out;
  }

  // The endpoint object the form describes; keys the form does not know are kept as they came.
  function buildEndpoint() {
    state.localProblems = [];
    const base = state.original || {};
    const ep = {};
    for (const [k, v] of Object.entries(base)) {
      if (!['url', 'method', 'body', 'headers', 'success'].includes(k)) ep[k] = v;
    }
    ep.url = $('ep-url').value;
    ep.method = $('ep-method').value;
    const headers = readRows($('ep-headers'));
    if (headers.length) ep.headers = Object.fromEntries(headers);
    const body = $('ep-body').value;
    if (body !== '') ep.body = body;

    const success = {};
    const baseSuccess = base.success && typeof base.success === 'object' ? base.success : {};
    for (const [k, v] of Object.entries(baseSuccess)) {
      if (!['status', 'json_path', 'equals'].includes(k)) success[k] = v;
    }
    const statusText = $('ep-success-status').value.trim();
    if (statusText) {
      const parts = statusText.split(/[\s,;]+/).filter(Boolean);
      const codes = [];
      for (const p of parts) {
        const n = Number(p);
        if (/^\d{3}$/.test(p) && n >= 100 && n <= 599) codes.push(n);
        else state.localProblems.push({ path: `mfa.endpoints.${state.current}.success.status`, message: `"${p}" is not an HTTP status (100 to 599)` });
      }
      success.status = codes;
    }
    const jsonPath = $('ep-success-json-path').value.trim();
    if (jsonPath) success.json_path = jsonPath;
    const equalsText = $('ep-success-equals').value;
    if (equalsText !== '') {
      let equals = equalsText;
      if (baseSuccess.equals !== undefined && typeof baseSuccess.equals !== 'string') {
        try { equals = JSON.parse(equalsText); } catch (_) { equals = equalsText; }
      }
      success.equals = equals;
    }
    if (Object.keys(success).length) ep.success = success;
    return ep;
  }

  function sampleData() {
    return Object.fromEntries(readRows($('sample-rows')));
  }

  function isDirty() {
    if (!state.current) return false;
    return JSON.stringify(buildEndpoint()) !== state.baseline;
  }

  function updateDirty() {
    show($('dirty-flag'), isDirty());
  }

  function onFormInput() {
    state.saveProblems = [];
    updateDirty();
    renderProblems();
    schedulePreview(PREVIEW_DELAY_MS);
  }

  // ---------------------------------------------------------------- preview

  function schedulePreview(delay) {
    clearTimeout(state.previewTimer);
    $('preview-state').textContent = '(updating…)';
    state.previewTimer = setTimeout(runPreview, delay);
  }

  async function runPreview() {
    if (!state.current || !state.token) return;
    const seq = ++state.previewSeq;
    if (state.previewAbort) state.previewAbort.abort();
    const ctrl = new AbortController();
    state.previewAbort = ctrl;
    const endpoint = buildEndpoint();
    const res = await api('POST', '/api/preview', { json: { endpoint, name: state.current, data: sampleData() }, signal: ctrl.signal });
    if (seq !== state.previewSeq || res.aborted) return;
    const pre = $('preview');
    const warnings = res.ok && res.data && Array.isArray(res.data.warnings) ? res.data.warnings : [];
    $('preview-warnings').textContent = warnings.join(' ');
    show($('preview-warnings'), warnings.length > 0);
    const sms = res.ok && res.data ? res.data.sms : null;
    const message = res.ok && res.data ? res.data.message : null;
    if (sms) {
      const segments = sms.segments === 1 ? '1 segment' : sms.segments + ' segments';
      $('preview-sms').textContent = 'SMS in ' + (message && message.language ? message.language : '?') +
        ': ' + sms.encoding + ', ' + sms.units + ' units, ' + segments + '.';
    } else if (message && message.subject) {
      $('preview-sms').textContent = 'Email in ' + message.language + ': “' + message.subject + '”.';
    } else {
      $('preview-sms').textContent = '';
    }
    show($('preview-sms'), $('preview-sms').textContent !== '');
    if (res.ok && res.data) {
      state.previewProblems = Array.isArray(res.data.problems) ? res.data.problems : [];
      const req = res.data.request;
      if (req) {
        pre.textContent = describeRequest(req);
        pre.classList.remove('is-stale');
        $('preview-state').textContent = '';
      } else {
        pre.classList.add('is-stale');
        $('preview-state').textContent = '(cannot render: see the problems)';
        if (!pre.textContent) pre.textContent = '—';
      }
    } else {
      state.previewProblems = problemsOf(res);
      pre.classList.add('is-stale');
      $('preview-state').textContent = '(preview failed: ' + errorText(res) + ')';
    }
    renderProblems();
  }

  function headerPairs(h) {
    if (!h) return [];
    if (Array.isArray(h)) {
      return h.map((x) => Array.isArray(x) ? [x[0], x[1]] : [x.name ?? x.key, x.value]);
    }
    return Object.entries(h);
  }

  function describeRequest(req) {
    const lines = [`${req.method || '?'} ${req.url || ''}`];
    for (const [k, v] of headerPairs(req.headers)) lines.push(`${k}: ${v}`);
    if (req.body !== undefined && req.body !== null && req.body !== '') {
      lines.push('', typeof req.body === 'string' ? req.body : JSON.stringify(req.body, null, 2));
    }
    return lines.join('\n');
  }

  function problemsOf(res) {
    const e = res && res.data && res.data.error;
    if (e && Array.isArray(e.problems) && e.problems.length) return e.problems;
    return [{ path: '', message: errorText(res) }];
  }

  // ---------------------------------------------------------------- problems

  // The form field a problem's path points at (`mfa.endpoints.single.body` -> `body`).
  function fieldOf(path) {
    if (!path) return null;
    const p = String(path).replace(/\[(\d+)\]/g, '.$1');
    const m = p.match(/(?:^|\.)(?:endpoints\.[A-Za-z_-]+|endpoint)\.(.+)$/);
    const parts = (m ? m[1] : p).split('.');
    if (['url', 'method', 'body', 'headers'].includes(parts[0])) return parts[0];
    if (parts[0] === 'success') {
      return ['status', 'json_path', 'equals'].includes(parts[1]) ? 'success.' + parts[1] : 'success';
    }
    return null;
  }

  function allProblems() {
    const seen = new Set();
    const out = [];
    const add = (list, source) => {
      for (const p of list) {
        const key = `${p.path}\u0000${p.message}`;
        if (seen.has(key)) continue;
        seen.add(key);
        out.push({ path: p.path || '', message: p.message || '', source });
      }
    };
    add(state.localProblems, 'form');
    add(state.saveProblems, 'save');
    add(state.previewProblems, 'preview');
    return out;
  }

  function renderProblems() {
    const problems = allProblems();
    const list = $('problems');
    list.replaceChildren();
    for (const node of document.querySelectorAll('[data-error-for]')) node.replaceChildren();
    for (const node of document.querySelectorAll('#endpoint-form [aria-invalid]')) node.removeAttribute('aria-invalid');
    for (const p of problems) {
      const field = fieldOf(p.path);
      const item = el('li', { class: 'problem', 'data-testid': 'problem', 'data-path': p.path, 'data-source': p.source },
        el('code', { class: 'problem-path' }, p.path || '(endpoint)'), ' ',
        el('span', { class: 'problem-message' }, p.message));
      if (field) {
        const target = fieldTarget(field);
        if (target) {
          item.append(' ', el('button', { type: 'button', class: 'btn btn-small btn-quiet', onclick: () => target.focus() }, 'Go to field'));
          target.setAttribute('aria-invalid', 'true');
        }
        const slot = document.querySelector(`[data-error-for="${field}"]`);
        if (slot) slot.append(el('span', { class: 'inline-problem', 'data-testid': 'inline-problem', 'data-path': p.path },
          el('code', null, p.path), ': ', p.message));
      }
      list.append(item);
    }
    show($('problems-none'), problems.length === 0);
  }

  function fieldTarget(field) {
    switch (field) {
      case 'url': return $('ep-url');
      case 'method': return $('ep-method');
      case 'body': return $('ep-body');
      case 'headers': return $('ep-headers').querySelector('input') || $('ep-header-add');
      case 'success.status': return $('ep-success-status');
      case 'success.json_path': return $('ep-success-json-path');
      case 'success.equals': return $('ep-success-equals');
      case 'success': return $('ep-success-status');
      default: return null;
    }
  }

  // ---------------------------------------------------------------- save / revert / test send

  async function save(ev) {
    ev.preventDefault();
    if (!state.current) return;
    const name = state.current;
    const endpoint = buildEndpoint();
    const result = $('save-result');
    if (state.localProblems.length) {
      result.textContent = 'Not saved: fix the problems first.';
      result.className = 'save-result is-error';
      renderProblems();
      return;
    }
    const button = $('ep-save');
    button.disabled = true;
    result.textContent = 'Saving…';
    result.className = 'save-result';
    const res = await api('PUT', '/api/endpoints/' + encodeURIComponent(name), { json: endpoint });
    button.disabled = false;
    if (res.ok) {
      const saved = (res.data && res.data.endpoint) || endpoint;
      state.endpoints[name] = saved;
      state.original = saved;
      state.saveProblems = [];
      fillForm(saved);
      state.baseline = JSON.stringify(buildEndpoint());
      updateDirty();
      renderProblems();
      result.textContent = `Saved and applied at ${fmtTime(Date.now())}.`;
      result.className = 'save-result is-ok';
      refreshStatus();
      schedulePreview(0);
    } else if (res.status !== 401) {
      state.saveProblems = problemsOf(res);
      renderProblems();
      const e = res.data && res.data.error;
      const n = e && Array.isArray(e.problems) ? e.problems.length : 0;
      result.textContent = n
        ? `Save refused: ${n} problem${n > 1 ? 's' : ''} (listed under Problems); nothing was changed.`
        : 'Save refused: ' + errorText(res);
      result.className = 'save-result is-error';
    }
  }

  function revert() {
    if (!state.current) return;
    loadEndpoint(state.current, state.original);
    $('save-result').textContent = 'Reverted to the saved endpoint.';
  }

  async function testSend() {
    const out = $('test-send-result');
    const button = $('test-send');
    button.disabled = true;
    out.hidden = false;
    out.className = 'code-block';
    out.textContent = 'Sending…';
    const res = await api('POST', '/api/test-send', { json: { data: sampleData() } });
    button.disabled = false;
    if (res.ok && res.data) {
      const d = res.data;
      const lines = [`sent: ${d.sent}   provider status: ${d.status ?? '?'}`];
      if (d.request) lines.push('', describeRequest(d.request));
      out.textContent = lines.join('\n');
      out.classList.add('is-ok');
    } else if (res.status !== 401) {
      const e = res.data && res.data.error;
      const lines = [`HTTP ${res.status}  ${errorText(res)}`];
      if (e && e.remainingDelay !== undefined) lines.push(`retry in ${e.remainingDelay} s`);
      if (e && Array.isArray(e.problems)) for (const p of e.problems) lines.push(`${p.path}: ${p.message}`);
      out.textContent = lines.join('\n');
      out.classList.add('is-error');
    }
  }

  // ---------------------------------------------------------------- presets

  // One rendered request per endpoint (`{name: {request, warnings, problems}}`) into `container`.
  function renderRequests(container, requests, testidPrefix) {
    container.replaceChildren(...Object.entries(requests || {}).map(([name, r]) => {
      const lines = r && r.request ? describeRequest(r.request)
        : 'Cannot render: ' + ((r && r.problems) || []).map((p) => `${p.path}: ${p.message}`).join('; ');
      const warnings = r && Array.isArray(r.warnings) && r.warnings.length
        ? el('p', { class: 'warn-text' }, r.warnings.join(' ')) : null;
      return el('div', { class: 'rendered', 'data-testid': `${testidPrefix}-${name}` },
        el('h3', null, name),
        el('pre', { class: 'code-block', tabindex: '0', 'aria-label': `Request of ${name}`, 'data-testid': `${testidPrefix}-request-${name}` }, lines),
        warnings);
    }));
  }

  function renderPreset(shown) {
    const p = shown.preset || {};
    state.presetChannel = shown.channel || 'sms';
    $('preset-path').textContent = 'mfa.endpoints';
    $('preset-description').textContent = [p.description, p.reference].filter(Boolean).join(' — ');
    $('preset-file').textContent = `templates/providers/${p.name}.yml`;
    $('preset-name').value = p.name || '';
    $('preset-base-url').value = p.base_url == null ? '' : String(p.base_url);
    const rows = $('preset-vars');
    rows.replaceChildren();
    for (const [k, v] of Object.entries(p.vars || {})) rows.append(kvRow('var', k, v == null ? '' : String(v)));
    $('preset-values').replaceChildren(...Object.entries(p.values || {}).flatMap(([k, v]) => [
      el('dt', null, k), el('dd', { 'data-testid': 'preset-value-' + k }, v === '' ? '(empty)' : v)]));
    $('preset-data').textContent = JSON.stringify(shown.data || {});
    renderRequests($('preset-requests'), shown.requests, 'preset');
    $('preset-problems').replaceChildren();
  }

  async function savePreset(ev) {
    ev.preventDefault();
    const body = { name: $('preset-name').value.trim(), vars: Object.fromEntries(readRows($('preset-vars'))) };
    const baseUrl = $('preset-base-url').value.trim();
    if (baseUrl) body.base_url = baseUrl;
    const result = $('preset-result');
    const button = $('preset-save');
    button.disabled = true;
    result.textContent = 'Saving…';
    result.className = 'save-result';
    const res = await api('PUT', `/api/channels/${encodeURIComponent(state.presetChannel || 'sms')}/preset`, { json: body });
    button.disabled = false;
    const list = $('preset-problems');
    list.replaceChildren();
    if (res.ok && res.data) {
      renderPreset(res.data);
      result.textContent = `Saved and applied at ${fmtTime(Date.now())}.`;
      result.className = 'save-result is-ok';
      refreshStatus();
      loadChannels();
    } else if (res.status !== 401) {
      for (const p of problemsOf(res)) {
        list.append(el('li', { class: 'problem', 'data-testid': 'problem', 'data-path': p.path || '' },
          el('code', { class: 'problem-path' }, p.path || '(preset)'), ' ', el('span', { class: 'problem-message' }, p.message)));
      }
      result.textContent = 'Save refused; nothing was changed.';
      result.className = 'save-result is-error';
    }
  }

  // ---------------------------------------------------------------- channels

  async function loadChannels() {
    const res = await api('GET', '/api/channels');
    if (!res.ok || !res.data) return;
    const channels = res.data.channels || [];
    show($('channels-card'), channels.length > 0);
    if (!channels.some((c) => c.channel === state.channel)) state.channel = channels.length ? channels[0].channel : null;
    $('channel-list').replaceChildren(...channels.map((c) => el('button', {
      type: 'button',
      class: 'segment',
      'data-testid': 'channel-' + c.channel,
      'aria-pressed': c.channel === state.channel ? 'true' : 'false',
      onclick: () => openChannel(c.channel),
    }, c.channel)));
    if (state.channel) openChannel(state.channel);
  }

  async function openChannel(name) {
    state.channel = name;
    for (const b of $('channel-list').querySelectorAll('.segment')) {
      b.setAttribute('aria-pressed', b.dataset.testid === 'channel-' + name ? 'true' : 'false');
    }
    const res = await api('GET', '/api/channels/' + encodeURIComponent(name));
    if (!res.ok || !res.data) {
      if (res.status !== 401) message('Cannot read the channel: ' + errorText(res), 'error');
      return;
    }
    const c = res.data;
    state.channelInfo = c;
    const how = c.preset ? `preset ${c.preset.name}` : 'endpoints written out';
    const to = c.destination && c.destination.length ? `; sends to ${c.destination.join(' or ')}` : '';
    $('channel-summary').textContent = `${c.path}: ${c.mode} mode, ${how}${to}.`;
    const rows = $('channel-sample-rows');
    rows.replaceChildren();
    for (const [k, v] of Object.entries(c.data || {})) rows.append(kvRow('channel-sample', k, String(v)));
    renderRequests($('channel-requests'), c.requests, 'channel');
    $('channel-test-send-result').hidden = true;
    show($('channel-detail'), true);
  }

  async function previewChannel() {
    const c = state.channelInfo;
    if (!c) return;
    const data = Object.fromEntries(readRows($('channel-sample-rows')));
    const requests = {};
    for (const name of c.endpoints || []) {
      const res = await api('POST', '/api/preview', { json: { channel: c.channel, endpoint: name, data } });
      requests[name] = res.ok && res.data ? res.data : { request: null, problems: problemsOf(res) };
    }
    renderRequests($('channel-requests'), requests, 'channel');
  }

  async function testSendChannel() {
    const c = state.channelInfo;
    if (!c) return;
    const out = $('channel-test-send-result');
    const button = $('channel-test-send');
    button.disabled = true;
    out.hidden = false;
    out.className = 'code-block';
    out.textContent = 'Sending…';
    const data = Object.fromEntries(readRows($('channel-sample-rows')));
    const res = await api('POST', '/api/test-send', { json: { channel: c.channel, data } });
    button.disabled = false;
    if (res.ok && res.data) {
      const d = res.data;
      out.textContent = [`sent by ${d.channel}: ${d.sent}   provider status: ${d.status ?? '?'}`, '', describeRequest(d.request || {})].join('\n');
      out.classList.add('is-ok');
    } else if (res.status !== 401) {
      out.textContent = `HTTP ${res.status}  ${errorText(res)}`;
      out.classList.add('is-error');
    }
  }

  // ---------------------------------------------------------------- templates

  function templateUrl(path) {
    return '/api/templates/' + path.split('/').map(encodeURIComponent).join('/');
  }

  async function openTemplatesView(sub) {
    await loadTemplateList();
    if (sub && sub !== state.templatePath) openTemplate(sub);
  }

  async function loadTemplateList() {
    const res = await api('GET', '/api/templates');
    const list = $('template-list');
    if (!res.ok) {
      if (res.status !== 401) message('Cannot list the template files: ' + errorText(res), 'error');
      return;
    }
    const files = (res.data && res.data.templates) || [];
    list.replaceChildren(...files.map((f) => el('li', null, el('a', {
      href: '#templates/' + f,
      class: 'file-link',
      'data-testid': 'template-item',
      'data-path': f,
      'aria-current': f === state.templatePath ? 'true' : undefined,
    }, f))));
    show($('template-list-empty'), files.length === 0);
  }

  async function openTemplate(path) {
    const text = $('template-text');
    if (state.templatePath && text.value !== state.templateBaseline &&
        !window.confirm(`Discard the unsaved changes to ${state.templatePath}?`)) return;
    const res = await api('GET', templateUrl(path));
    $('template-error').replaceChildren();
    $('template-result').textContent = '';
    if (res.status === 404) {
      state.templatePath = path;
      state.templateBaseline = '';
      text.value = '';
      $('template-result').textContent = 'New file: it is created when you save.';
    } else if (!res.ok) {
      if (res.status !== 401) message(`Cannot open ${path}: ${errorText(res)}`, 'error');
      return;
    } else {
      state.templatePath = path;
      state.templateBaseline = res.text;
      text.value = res.text;
    }
    $('template-path').textContent = path;
    show($('template-form'), true);
    for (const a of document.querySelectorAll('#template-list a')) {
      if (a.dataset.path === path) a.setAttribute('aria-current', 'true');
      else a.removeAttribute('aria-current');
    }
  }

  async function saveTemplate(ev) {
    ev.preventDefault();
    const path = state.templatePath;
    if (!path) return;
    const value = $('template-text').value;
    const result = $('template-result');
    const problems = $('template-error');
    problems.replaceChildren();
    result.textContent = 'Saving…';
    result.className = 'save-result';
    const res = await api('PUT', templateUrl(path), { text: value });
    if (res.ok) {
      state.templateBaseline = value;
      result.textContent = `Saved at ${fmtTime(Date.now())}.`;
      result.className = 'save-result is-ok';
      loadTemplateList();
      // The daemon reloads templates/ ~200 ms after a change: show what the reload said.
      setTimeout(refreshStatus, 800);
    } else if (res.status !== 401) {
      result.textContent = 'Save refused: ' + errorText(res);
      result.className = 'save-result is-error';
      for (const p of problemsOf(res)) {
        problems.append(el('li', { class: 'problem', 'data-testid': 'problem', 'data-path': p.path || '' },
          el('code', { class: 'problem-path' }, p.path || path), ' ', el('span', { class: 'problem-message' }, p.message || '')));
      }
    }
  }

  // ---------------------------------------------------------------- attempts

  async function openAttemptsView(sub) {
    await loadAttempts();
    if (sub) openAttempt(sub);
  }

  // A datetime-local value (the browser's time zone) as seconds since 1970; '' stays ''.
  function localSeconds(value) {
    if (!value) return '';
    const ms = new Date(value).getTime();
    return isNaN(ms) ? null : String(Math.floor(ms / 1000));
  }

  // The query of the filter form, or null (with the problem shown) when a time is unreadable.
  function attemptsQuery() {
    const q = new URLSearchParams({ limit: '200' });
    for (const [param, id] of [['user', 'attempts-user'], ['outcome', 'attempts-outcome'], ['route', 'attempts-route']]) {
      const v = $(id).value.trim();
      if (v) q.set(param, v);
    }
    for (const [param, id] of [['from', 'attempts-from'], ['to', 'attempts-to']]) {
      const v = localSeconds($(id).value);
      if (v === null) {
        $('attempts-filter-error').textContent = `“${param}” is not a date and time.`;
        return null;
      }
      if (v) q.set(param, v);
    }
    $('attempts-filter-error').textContent = '';
    return q;
  }

  async function loadAttempts() {
    const q = attemptsQuery();
    if (!q) return;
    const res = await api('GET', '/api/attempts?' + q.toString());
    const body = $('attempts-body');
    if (!res.ok) {
      if (res.status === 400) $('attempts-filter-error').textContent = errorText(res);
      else if (res.status !== 401) message('Cannot read the attempts log: ' + errorText(res), 'error');
      return;
    }
    const attempts = (res.data && res.data.attempts) || [];
    body.replaceChildren(...attempts.map((a) => {
      const ok = a.outcome === 'ok';
      const open = el('button', { type: 'button', class: 'linkish', 'data-testid': 'attempt-open', 'aria-label': `Details of the attempt at ${fmtTime(a.time)} by ${a.username}` }, fmtTime(a.time));
      const tr = el('tr', { class: 'attempt-row', 'data-testid': 'attempt-row', 'data-id': a.id },
        el('td', null, open),
        el('td', { class: 'nowrap' }, a.username ?? ''),
        el('td', { class: 'nowrap' }, el('code', null, a.route ?? '')),
        el('td', { class: 'nowrap' }, el('span', { class: 'badge ' + (ok ? 'badge-ok' : 'badge-bad') }, a.outcome ?? '')),
        el('td', { class: 'reason' }, a.reason ?? ''),
        el('td', { class: 'nowrap', 'data-testid': 'attempt-admin' }, a.admin ?? ''));
      tr.addEventListener('click', () => openAttempt(String(a.id)));
      return tr;
    }));
    show($('attempts-empty'), attempts.length === 0);
    state.attemptsLoaded = true;
  }

  // The attempts log of one user (the Users page links it).
  function showAttemptsOf(username) {
    $('attempts-filter').reset();
    $('attempts-user').value = username;
    if (location.hash === '#attempts') loadAttempts();
    else location.hash = '#attempts';
  }

  // The Messages page (messages.js) opens once its script has run.
  function openMessagesView(sub) {
    if (window.mfaPanelMessages) window.mfaPanelMessages.open(sub);
    else window.addEventListener('mfa-panel-messages-ready', () => window.mfaPanelMessages.open(sub), { once: true });
  }

  // The Events page (events.js) opens once its script has run.
  function openEventsView(sub) {
    if (window.mfaPanelEvents) window.mfaPanelEvents.open(sub);
    else window.addEventListener('mfa-panel-events-ready', () => window.mfaPanelEvents.open(sub), { once: true });
  }

  // The Users page (users.js) opens once its script has run.
  function openUsersView(sub) {
    if (window.mfaPanelUsers) window.mfaPanelUsers.open(sub);
    else window.addEventListener('mfa-panel-users-ready', () => window.mfaPanelUsers.open(sub), { once: true });
  }

  async function openAttempt(id) {
    const res = await api('GET', '/api/attempts/' + encodeURIComponent(id));
    const card = $('attempt-detail-card');
    const dl = $('attempt-detail');
    for (const tr of document.querySelectorAll('#attempts-body tr')) {
      if (tr.dataset.id === id) tr.setAttribute('aria-selected', 'true');
      else tr.removeAttribute('aria-selected');
    }
    if (!res.ok) {
      if (res.status !== 401) {
        dl.replaceChildren(el('dt', null, 'Error'), el('dd', null, errorText(res)));
        show(card, true);
      }
      return;
    }
    const d = res.data || {};
    const order = ['id', 'time', 'username', 'method', 'route', 'status', 'outcome', 'reason', 'admin', 'durationMs'];
    const labels = { id: 'Id', time: 'Time', username: 'User', method: 'Method', route: 'Route', status: 'HTTP status', outcome: 'Outcome', reason: 'Reason', admin: 'Admin token', durationMs: 'Duration' };
    const keys = order.filter((k) => k in d).concat(Object.keys(d).filter((k) => !order.includes(k)));
    dl.replaceChildren(...keys.flatMap((k) => {
      let v = d[k];
      if (k === 'time') v = fmtTime(v);
      else if (k === 'durationMs' && typeof v === 'number') v = `${Math.round(v * 10) / 10} ms`;
      else if (v !== null && typeof v === 'object') v = JSON.stringify(v);
      return [el('dt', null, labels[k] || k), el('dd', { 'data-testid': 'attempt-detail-' + k }, v === null || v === undefined || v === '' ? '–' : String(v))];
    }));
    show(card, true);
  }

  // What the Users page (users.js) uses of the panel.
  window.mfaPanel = { api, el, show, message, fmtTime, errorText, showAttemptsOf };

  // ---------------------------------------------------------------- wiring

  function init() {
    $('signin-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const token = $('signin-token').value.trim();
      if (!token) {
        $('signin-error').textContent = 'Enter the admin token.';
        $('signin-token').focus();
        return;
      }
      $('signin-error').textContent = '';
      signIn(token, false);
    });
    $('sign-out').addEventListener('click', () => {
      if (isDirty() && !window.confirm('Sign out and discard the unsaved changes?')) return;
      signOut();
    });
    $('status-refresh').addEventListener('click', refreshStatus);
    $('status-config-version').addEventListener('click', toggleHistory);

    const form = $('endpoint-form');
    // `input` covers typing, the method select and removed rows; `change` would also fire on
    // blur (when Save is clicked) and wipe the problems of a refused save.
    form.addEventListener('input', onFormInput);
    form.addEventListener('submit', save);
    $('ep-revert').addEventListener('click', revert);
    $('ep-header-add').addEventListener('click', () => {
      const row = kvRow('header', '', '');
      $('ep-headers').append(row);
      row.querySelector('input').focus();
    });

    const samples = $('sample-rows');
    for (const [k, v] of Object.entries(DEFAULT_SAMPLE)) samples.append(kvRow('sample', k, v));
    samples.addEventListener('input', () => schedulePreview(PREVIEW_DELAY_MS));
    $('sample-add').addEventListener('click', () => {
      const row = kvRow('sample', '', '');
      samples.append(row);
      row.querySelector('input').focus();
    });
    $('test-send').addEventListener('click', testSend);

    $('preset-form').addEventListener('submit', savePreset);
    $('preset-var-add').addEventListener('click', () => {
      const row = kvRow('var', '', '');
      $('preset-vars').append(row);
      row.querySelector('input').focus();
    });
    $('channel-sample-add').addEventListener('click', () => {
      const row = kvRow('channel-sample', '', '');
      $('channel-sample-rows').append(row);
      row.querySelector('input').focus();
    });
    $('channel-preview').addEventListener('click', previewChannel);
    $('channel-test-send').addEventListener('click', testSendChannel);

    $('templates-refresh').addEventListener('click', loadTemplateList);
    $('template-form').addEventListener('submit', saveTemplate);
    $('template-new-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      const p = $('template-new-path').value.trim().replace(/^\/+/, '');
      if (!p) return;
      location.hash = '#templates/' + p;
    });

    $('attempts-refresh').addEventListener('click', loadAttempts);
    $('attempts-filter').addEventListener('submit', (ev) => { ev.preventDefault(); loadAttempts(); });
    $('attempts-clear').addEventListener('click', () => { $('attempts-filter').reset(); loadAttempts(); });

    window.addEventListener('hashchange', () => route(false));
    window.addEventListener('beforeunload', (ev) => {
      if (isDirty()) { ev.preventDefault(); ev.returnValue = ''; }
    });

    const saved = sessionStorage.getItem(TOKEN_KEY);
    if (saved) signIn(saved, true);
    else showSignIn();
  }

  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', init);
  else init();
})();
