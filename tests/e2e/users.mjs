// End-to-end test of the admin panel's Users page and the attempts-log filters, in headless
// Chromium (run by scripts/e2e after panel.mjs).
//
// It starts a fake SMS provider on 127.0.0.1:0, writes a temporary platform.yml (standalone,
// single mode, an admin listener opened by two named tokens), starts the daemon built by
// `cargo build` exactly as panel.mjs does, enrols a user through the public API and makes one
// wrong verify, then drives the panel with the token named `helpdesk`: look the user up, issue an
// enrolment code, cancel then confirm a reset in its dialog, filter the attempts log by user,
// route and outcome (the reset shows with the token's name), open the Messages page (the
// message log: no full number, no code; filtered by status and user), and the Events page (the
// events queue: an event delivered to a receiver that answers, one pending for a receiver that
// is down; filtered by status and user; a delivery's details). Nothing goes beyond 127.0.0.1.
//
// Environment: MFA_BRIDGE_BIN (default target/debug/mfa-bridge), CHROMIUM (default
// /usr/bin/chromium), E2E_ARTIFACTS (default target/e2e-artifacts).
// Prints `N passed, M failed` last; exits 1 on any failure.

import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import {
  assert, http_, launchBrowser, log, page, resources, run, sha256, shot, startDaemon,
  startProvider, step, waitFor,
} from './harness.mjs';

const WHOLE_RUN_MS = 240_000;     // the whole run, then everything is torn down

const USER = 'e2e-alice';
const OTHER_USER = 'e2e-bob';
const PHONE = '+41791231212';
const ADMIN_TOKEN = 'admin-' + crypto.randomBytes(16).toString('hex');
const HELPDESK_TOKEN = 'helpdesk-' + crypto.randomBytes(16).toString('hex');
const API_KEY = 'key-' + crypto.randomBytes(16).toString('hex');
const EVENTS_SECRET = 'whsec_' + crypto.randomBytes(32).toString('base64');

// ------------------------------------------------------------------ configuration

// A webhook receiver that answers 204 to everything (the events it gets are delivered).
function startReceiver() {
  const received = [];
  const server = http.createServer((req, res) => {
    req.on('data', () => {});
    req.on('end', () => { received.push(req.url); res.writeHead(204); res.end(); });
  });
  server.unref();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => resolve({ received, port: server.address().port })));
}

// A loopback port nothing listens on (a receiver that is down: its events stay pending).
function closedPort() {
  const server = net.createServer();
  return new Promise((resolve) => server.listen(0, '127.0.0.1', () => {
    const { port } = server.address();
    server.close(() => resolve(port));
  }));
}

function writeConfig(dir, providerPort, receiverPort, downPort) {
  const cfg = `# Written by tests/e2e/users.mjs for one run.
server:
  listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_sha256: ${sha256(ADMIN_TOKEN)}
  tokens:
    - name: helpdesk
      token_sha256: ${sha256(HELPDESK_TOKEN)}
storage:
  backend: sled
  path: ${JSON.stringify(path.join(dir, 'data'))}
api_keys:
  - name: e2e
    key_sha256: ${sha256(API_KEY)}
mfa:
  mode: single
  send_limits: { min_interval_seconds: 0, per_user_per_hour: 100, per_destination_per_day: 100 }
  endpoints:
    single:
      url: 'http://127.0.0.1:${providerPort}/sms'
      method: POST
      headers:
        content-type: application/json
      body: '{"to": "{{ phone }}", "text": "Your code is {{ code }}"}'
events:
  endpoints:
    - name: audit
      url: 'http://127.0.0.1:${receiverPort}/hooks'
      secret: ${EVENTS_SECRET}
      types: [mfa.enrolled]
    - name: down
      url: 'http://127.0.0.1:${downPort}/hooks'
      secret: ${EVENTS_SECRET}
      types: [mfa.enrolled]
`;
  const file = path.join(dir, 'platform.yml');
  fs.writeFileSync(file, cfg);
  return file;
}

// ------------------------------------------------------------------ the test

async function main() {
  resources.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mfa-bridge-e2e-users-'));
  const provider = await startProvider();
  const receiver = await startReceiver();
  const configFile = writeConfig(resources.tmp, provider.port, receiver.port, await closedPort());
  const lastCode = () => {
    const last = provider.received[provider.received.length - 1];
    const m = last && /Your code is ([0-9]+)/.exec(last.body);
    assert(m, 'no code in the last provider request');
    return m[1];
  };

  let urls;
  await step('daemon starts and logs its public and admin addresses', async () => {
    urls = await startDaemon(configFile, resources.tmp);
  }, { critical: true });
  const ADMIN = urls && urls.adminUrl.replace(/\/$/, '');
  const PUBLIC = urls && urls.publicUrl.replace(/\/$/, '');
  const key = { authorization: `Bearer ${API_KEY}` };
  const adminAuth = { authorization: `Bearer ${ADMIN_TOKEN}` };
  const lookup = async (u) => http_('GET', `${ADMIN}/api/users/${u}`, { headers: adminAuth });

  let pendingToken;
  await step('two users enrol through the public API; one makes a wrong verify', async () => {
    for (const u of [USER, OTHER_USER]) {
      const a = await http_('POST', `${PUBLIC}/${u}/mfa/activate`, { headers: key, json: { phone: PHONE } });
      assert(a.status === 302, `activate ${u}: ${a.status} ${a.body}`);
      const c = await http_('POST', `${PUBLIC}/${u}/mfa/confirm`, { headers: { authorization: a.data.mfaToken }, json: { code: lastCode() } });
      assert(c.status === 200, `confirm ${u}: ${c.status} ${c.body}`);
    }
    const l = await http_('POST', `${PUBLIC}/${USER}/login`, { headers: key });
    assert(l.status === 302, `login: ${l.status} ${l.body}`);
    pendingToken = l.data.mfaToken;
    await http_('POST', `${PUBLIC}/${USER}/mfa/challenge`, { headers: { authorization: pendingToken } });
    const wrong = lastCode() === '000000' ? '000001' : '000000';
    const v = await http_('POST', `${PUBLIC}/${USER}/mfa/verify`, { headers: { authorization: pendingToken }, json: { code: wrong } });
    assert(v.status === 400 && v.data.error.id === 'invalid-code', `wrong verify: ${v.status} ${v.body}`);
  }, { critical: true });

  const profile = fs.mkdtempSync(path.join(resources.tmp, 'chromium-'));
  let outside = [];
  let pageErrors = [];
  await step('headless Chromium starts', async () => {
    ({ outside, pageErrors } = await launchBrowser(profile, { height: 900 }));
  }, { critical: true });

  const byId = (id) => page.getByTestId(id);
  const text = async (id) => (await byId(id).textContent()) || '';

  await step('sign in with the helpdesk token and open the Users page', async () => {
    await page.goto(ADMIN + '/', { waitUntil: 'load' });
    await byId('signin-token').fill(HELPDESK_TOKEN);
    await byId('signin-submit').click();
    await byId('status-bar').waitFor({ state: 'visible' });
    await byId('tab-users').click();
    await byId('view-users').waitFor({ state: 'visible' });
  }, { critical: true });

  await step('an unknown user is said so', async () => {
    await byId('user-search-name').fill('e2e-nobody');
    await byId('user-search-submit').click();
    await waitFor('the unknown-user message', async () => /No user “e2e-nobody”/.test(await text('user-search-error')));
    assert(await byId('user-workspace').isHidden(), 'a workspace shows for an unknown user');
  });

  await step('look the user up: MFA on, SMS, recovery codes, the pending login and the wrong code', async () => {
    await byId('user-search-name').fill(USER);
    await byId('user-search-name').press('Enter');
    await byId('user-workspace').waitFor({ state: 'visible' });
    await waitFor('the user title', async () => (await text('user-title')) === USER);
    assert((await text('user-field-mfa')).trim() === 'on', `MFA shows ${await text('user-field-mfa')}`);
    assert((await text('user-methods')).includes('SMS'), 'no SMS reset button');
    assert((await text('user-field-recovery-codes-left')).trim() === '10', `recovery codes: ${await text('user-field-recovery-codes-left')}`);
    assert(/1 wrong attempt/.test(await text('user-field-wait')), `wait shows ${await text('user-field-wait')}`);
    const sessions = page.getByTestId('user-session');
    assert((await sessions.count()) === 1, `${await sessions.count()} pending sessions`);
    assert(/login/.test(await sessions.first().textContent()), 'the pending session is not a login');
    const attempts = await page.getByTestId('user-attempts').textContent();
    assert(attempts.includes('invalid-code') && attempts.includes('/{username}/mfa/verify'), `last attempts: ${attempts}`);
    const all = await page.locator('#view-users').textContent();
    assert(!all.includes(PHONE), 'the phone number shows on the Users page');
    await shot('users-lookup.png');
  }, { critical: true });

  await step('issue an enrolment code: shown once, with its expiry in the summary', async () => {
    await byId('user-enrolment-code').click();
    await byId('user-code-card').waitFor({ state: 'visible' });
    const code = (await text('user-code')).trim();
    assert(/^[0-9a-z]{4}-[0-9a-z]{4}-[0-9a-z]{4}$/.test(code), `code shows ${JSON.stringify(code)}`);
    await waitFor('the enrolment code line', async () => /usable until/.test(await text('user-field-enrolment-code')));
  });

  await step('a reset asks first, naming the user and what goes; cancel changes nothing', async () => {
    await byId('user-reset-all').click();
    await byId('user-confirm').waitFor({ state: 'visible' });
    const asked = await text('user-confirm-text');
    assert(asked.includes(`“${USER}”`) && asked.includes('SMS') && /recovery code/.test(asked) && /1 pending session/.test(asked),
      `the dialog says ${JSON.stringify(asked)}`);
    assert((await text('user-confirm-title')).includes(USER), 'the dialog title does not name the user');
    await shot('users-confirm.png');
    await byId('user-confirm-cancel').click();
    await byId('user-confirm').waitFor({ state: 'hidden' });
    await waitFor('the nothing-changed note', async () => /Nothing was changed/.test(await text('user-result')));
    const r = await lookup(USER);
    assert(r.data && r.data.enabled === true, `after cancel: ${r.body}`);
  });

  await step('a confirmed reset turns MFA off and ends the pending login', async () => {
    await byId('user-reset-all').click();
    await byId('user-confirm').waitFor({ state: 'visible' });
    await byId('user-confirm-ok').click();
    await waitFor('the reset result', async () => /MFA is off/.test(await text('user-result')));
    await waitFor('the summary to show MFA off', async () => (await text('user-field-mfa')).trim() === 'off');
    assert(await byId('user-reset-all').isDisabled(), 'reset stays enabled with MFA off');
    const r = await lookup(USER);
    assert(r.data && r.data.enabled === false && r.data.sessions.length === 0, `after reset: ${r.body}`);
    const c = await http_('POST', `${PUBLIC}/${USER}/mfa/challenge`, { headers: { authorization: pendingToken } });
    assert(c.status === 403, `the old login session still works: ${c.status} ${c.body}`);
  });

  const rows = () => page.getByTestId('attempt-row');
  const applyFilter = async (values) => {
    for (const [id, v] of Object.entries(values)) await byId(id).fill(v);
    await byId('attempts-apply').click();
  };

  await step('the attempts log filters by user and route: the reset shows with the token name', async () => {
    await byId('user-attempts-all').click();
    await byId('view-attempts').waitFor({ state: 'visible' });
    assert((await byId('attempts-user').inputValue()) === USER, 'the user filter is not set from the Users page');
    await waitFor('only the user in the log', async () => {
      const n = await rows().count();
      return n > 0 && (await rows().filter({ hasText: OTHER_USER }).count()) === 0;
    });
    await applyFilter({ 'attempts-route': '/api/users' });
    await waitFor('the two admin actions', async () => (await rows().count()) === 2);
    const first = rows().first();
    const row = await first.textContent();
    assert(row.includes('/api/users/{username}/reset') && row.includes('helpdesk') && row.includes('ok'), `reset row: ${row}`);
    const second = await rows().nth(1).textContent();
    assert(second.includes('/api/users/{username}/enrolment-code'), `second row: ${second}`);
    await shot('users-attempts-filter.png');
  });

  await step('the attempts log filters by outcome and time range, and clears', async () => {
    await applyFilter({ 'attempts-route': '', 'attempts-outcome': 'invalid-code' });
    await waitFor('the one wrong code', async () => (await rows().count()) === 1 && /mfa\/verify/.test(await rows().first().textContent()));
    await applyFilter({ 'attempts-outcome': '', 'attempts-from': '2001-01-01T00:00', 'attempts-to': '2001-01-02T00:00' });
    await waitFor('nothing in 2001', async () => (await rows().count()) === 0 && await byId('attempts-empty').isVisible());
    await byId('attempts-clear').click();
    await waitFor('both users again', async () => (await rows().filter({ hasText: OTHER_USER }).count()) > 0);
  });

  const messageRows = () => page.getByTestId('message-row');
  await step('the Messages page lists the message log, never a full number or a code', async () => {
    await byId('tab-messages').click();
    await byId('view-messages').waitFor({ state: 'visible' });
    // Rows when the delivery engine recorded the sends above, else the empty note.
    await waitFor('the message log or its empty note', async () =>
      (await messageRows().count()) > 0 || await byId('messages-empty').isVisible());
    const shown = await page.locator('#view-messages').textContent();
    assert(!shown.includes(PHONE), 'a full phone number shows on the Messages page');
    for (const r of provider.received) {
      const m = /Your code is ([0-9]+)/.exec(r.body);
      if (m) assert(!shown.includes(m[1]), 'a code shows on the Messages page');
    }
    await shot('messages.png');
  });

  await step('the message log filters by status and user, and clears', async () => {
    await byId('messages-status').selectOption('undelivered');
    await byId('messages-apply').click();
    await waitFor('nothing undelivered', async () => (await messageRows().count()) === 0 && await byId('messages-empty').isVisible());
    await byId('messages-status').selectOption('');
    await byId('messages-user').fill('e2e-nobody');
    await byId('messages-apply').click();
    await waitFor('nothing for an unknown user', async () => (await messageRows().count()) === 0 && await byId('messages-empty').isVisible());
    await byId('messages-clear').click();
    assert((await byId('messages-user').inputValue()) === '', 'the user filter stays after clearing');
  });

  const eventRows = () => page.getByTestId('event-row');
  // The statuses of the rows shown, once the page has loaded them.
  const eventStatuses = async () => page.getByTestId('event-status').allTextContents();
  await step('the Events page lists an event delivered and one pending, with the pending count', async () => {
    await byId('tab-events').click();
    await byId('view-events').waitFor({ state: 'visible' });
    await waitFor('an enrolment delivered to audit and pending for down', async () => {
      await byId('events-refresh').click();
      await page.waitForTimeout(200);
      const rows = await eventRows().allTextContents();
      return rows.some((r) => r.includes('audit') && r.includes('delivered'))
        && rows.some((r) => r.includes('down') && r.includes('pending'));
    }, 20000, 500);
    assert(receiver.received.length > 0, 'the receiver got no event');
    assert(Number(await text('events-pending')) > 0, `pending: ${await text('events-pending')}`);
    const pendingRow = eventRows().filter({ hasText: 'down' }).first();
    assert(/mfa\.enrolled/.test(await pendingRow.textContent()), 'the pending row names its type');
    await shot('events.png');
  });

  await step('the events queue filters by status and user; a row opens its details', async () => {
    await byId('events-status').selectOption('pending');
    await byId('events-apply').click();
    await waitFor('only pending rows', async () => {
      const s = await eventStatuses();
      return s.length > 0 && s.every((x) => x === 'pending');
    });
    await eventRows().first().click();
    await byId('event-detail-card').waitFor({ state: 'visible' });
    const details = await text('event-detail');
    assert(/down/.test(details) && /Next try/.test(details), `details: ${details}`);
    assert(/mfa\.enrolled/.test(await text('event-body')), 'the body sent shows in the details');
    await byId('events-status').selectOption('delivered');
    await byId('events-apply').click();
    await waitFor('only delivered rows', async () => {
      const s = await eventStatuses();
      return s.length > 0 && s.every((x) => x === 'delivered');
    });
    await byId('events-status').selectOption('');
    await byId('events-user').fill('e2e-nobody');
    await byId('events-apply').click();
    await waitFor('nothing for an unknown user', async () => (await eventRows().count()) === 0 && await byId('events-empty').isVisible());
    await byId('events-user').fill(OTHER_USER);
    await byId('events-apply').click();
    await waitFor('only that user\'s rows', async () => {
      const rows = await eventRows().allTextContents();
      return rows.length > 0 && rows.every((r) => r.includes(OTHER_USER));
    });
    await byId('events-clear').click();
    assert((await byId('events-user').inputValue()) === '', 'the user filter stays after clearing');
  });

  await step('no page error, and nothing reached beyond 127.0.0.1', async () => {
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
    assert(outside.length === 0, `requests beyond loopback: ${outside.join(', ')}`);
  });
}

await run(main, { wholeRunMs: WHOLE_RUN_MS, prefix: 'users-', daemonLogFile: 'users-daemon.log' });
