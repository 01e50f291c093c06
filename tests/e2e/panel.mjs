// End-to-end test of the mfa-bridge admin panel in headless Chromium (run by scripts/e2e).
//
// It starts a fake SMS provider on 127.0.0.1:0 that records what it receives, writes a temporary
// platform.yml (standalone mode, single mode, an api key, an admin listener) pointing at it,
// starts the daemon built by `cargo build`, reads both ports from its log, then drives the panel:
// sign in, edit the single endpoint's body with a live preview, save, activate a user through the
// public API and check the provider received the new body (no restart), type a broken template
// and check the inline problem and the refused save, the attempts log, the template files, a test
// send; then a preset configuration with a second channel (the preset shown and edited, the email
// channel previewed and test-sent, a test send without an address refused) and sign out. Nothing goes beyond 127.0.0.1: the browser aborts any other request.
//
// Environment: MFA_BRIDGE_BIN (default target/debug/mfa-bridge), CHROMIUM (default
// /usr/bin/chromium), E2E_ARTIFACTS (default target/e2e-artifacts), E2E_UPDATE_SCREENSHOTS=1 to
// copy the three README screenshots to docs/screenshots/.
// Prints `N passed, M failed` last; exits 1 on any failure.

import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import {
  ARTIFACTS, ROOT, assert, http_, launchBrowser, log, page, resources, run, sha256, shot, sleep,
  startDaemon, startProvider, step, waitFor,
} from './harness.mjs';

const UPDATE_SCREENSHOTS = process.env.E2E_UPDATE_SCREENSHOTS === '1';
const SCREENSHOTS_DIR = path.join(ROOT, 'docs', 'screenshots');
// artifact -> the name README.md shows it under, in docs/screenshots/
const README_SHOTS = { 'endpoint-editor.png': 'panel-editor.png', 'inline-problem.png': 'panel-problem.png', 'attempts-log.png': 'panel-attempts.png' };

const WHOLE_RUN_MS = 300_000;     // the whole run, then everything is torn down

const USER = 'e2e-user';
const OTHER_USER = 'e2e-other';
const PHONE = '+41791231212';
const MARKER = 'E2E-' + crypto.randomBytes(4).toString('hex');
const ADMIN_TOKEN = 'admin-' + crypto.randomBytes(16).toString('hex');
// Secrets the preset configuration reads from ${ENV} references: never shown by the panel.
const HOOK_TOKEN = 'hook-' + crypto.randomBytes(12).toString('hex');
const POSTMARK_TOKEN = 'pm-' + crypto.randomBytes(12).toString('hex');
const API_KEY = 'key-' + crypto.randomBytes(16).toString('hex');

// ------------------------------------------------------------------ configurations

function writeConfig(dir, providerPort) {
  const cfg = `# Written by tests/e2e/panel.mjs for one run.
server:
  listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_sha256: ${sha256(ADMIN_TOKEN)}
storage:
  backend: sled
  path: ${JSON.stringify(path.join(dir, 'data'))}
api_keys:
  - name: e2e
    key_sha256: ${sha256(API_KEY)}
mfa:
  mode: single
  user_data:
    required: [phone]
    allowed: [phone, language]
    phone_fields: [phone]
  endpoints:
    single:
      url: 'http://127.0.0.1:${providerPort}/sms'
      method: POST
      headers:
        content-type: application/json
      body: '{"to": "{{ phone }}", "text": "Your code is {{ code }}"}'
`;
  const file = path.join(dir, 'platform.yml');
  fs.writeFileSync(file, cfg);
  fs.mkdirSync(path.join(dir, 'templates', 'messages'), { recursive: true });
  fs.writeFileSync(path.join(dir, 'templates', 'messages', 'sms.en.txt'), 'Your verification code is {{ code }}.\n');
  return file;
}

// The same daemon, now with a preset as mfa.endpoints and a second channel (email, a preset too).
function presetConfig(dir, providerPort) {
  return `# Written by tests/e2e/panel.mjs: a preset and a second channel.
server:
  listen: 127.0.0.1:0
admin:
  listen: 127.0.0.1:0
  token_sha256: ${sha256(ADMIN_TOKEN)}
storage:
  backend: sled
  path: ${JSON.stringify(path.join(dir, 'data'))}
api_keys:
  - name: e2e
    key_sha256: ${sha256(API_KEY)}
mfa:
  user_data:
    required: []
    allowed: [phone, email, language]
  endpoints:
    preset: generic-json-webhook
    base_url: 'http://127.0.0.1:${providerPort}/hook'
    vars:
      bearer_token: '\${E2E_HOOK_TOKEN}'
  channels:
    email:
      preset: postmark-email
      base_url: 'http://127.0.0.1:${providerPort}'
      vars:
        server_token: '\${E2E_POSTMARK_TOKEN}'
        from: no-reply@example.com
`;
}

// ------------------------------------------------------------------ the test

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  for (const f of fs.readdirSync(ARTIFACTS)) if (f.endsWith('.png')) fs.rmSync(path.join(ARTIFACTS, f));

  resources.tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'mfa-bridge-e2e-'));
  const provider = await startProvider();
  const providerUrl = `http://127.0.0.1:${provider.port}/sms`;
  const configFile = writeConfig(resources.tmp, provider.port);

  let urls;
  await step('daemon starts and logs its public and admin addresses', async () => {
    urls = await startDaemon(configFile, resources.tmp, { E2E_HOOK_TOKEN: HOOK_TOKEN, E2E_POSTMARK_TOKEN: POSTMARK_TOKEN });
    for (const u of Object.values(urls)) assert(new URL(u).hostname === '127.0.0.1', `not on loopback: ${u}`);
    log(`      public ${urls.publicUrl}, admin ${urls.adminUrl}, provider ${providerUrl}`);
  }, { critical: true });
  const ADMIN = urls && urls.adminUrl.replace(/\/$/, '');
  const PUBLIC = urls && urls.publicUrl.replace(/\/$/, '');
  const adminAuth = { authorization: `Bearer ${ADMIN_TOKEN}` };

  await step('panel assets are served without a token; the API needs one', async () => {
    for (const [p, type] of [['/', 'text/html'], ['/panel.js', 'javascript'], ['/panel.css', 'text/css']]) {
      const r = await http_('GET', ADMIN + p);
      assert(r.status === 200, `GET ${p}: ${r.status}`);
      assert((r.headers.get('content-type') || '').includes(type), `GET ${p}: content-type ${r.headers.get('content-type')}`);
    }
    const r = await http_('GET', ADMIN + '/api/status');
    assert(r.status === 401, `GET /api/status without a token: ${r.status} ${r.body}`);
    assert(r.data && r.data.error && r.data.error.id === 'unauthorized', `401 body: ${r.body}`);
  }, { critical: true });

  // The browser: a fresh profile, loopback only.
  const profile = fs.mkdtempSync(path.join(resources.tmp, 'chromium-'));
  let outside = [];
  let pageErrors = [];
  await step('headless Chromium starts', async () => {
    ({ outside, pageErrors } = await launchBrowser(profile));
  }, { critical: true });

  const byId = (id) => page.getByTestId(id);
  const text = async (id) => (await byId(id).textContent()) || '';

  await step('a wrong token is refused', async () => {
    await page.goto(ADMIN + '/', { waitUntil: 'load' });
    await byId('signin-token').fill('not-the-token');
    await byId('signin-submit').click();
    await waitFor('the sign-in error', async () => /not the admin token/i.test(await text('signin-error')));
    assert(await byId('status-bar').isHidden(), 'the status bar shows without a valid token');
    // 401s on the API are expected here: forget the console error they cause.
    pageErrors.length = 0;
  });

  await step('sign in with the admin token; the status bar shows version, mode and config hash', async () => {
    await byId('signin-token').fill(ADMIN_TOKEN);
    await byId('signin-token').press('Enter');
    await byId('status-bar').waitFor({ state: 'visible' });
    await waitFor('the status bar to fill', async () => (await text('status-version')).trim() !== '–');
    const mode = await text('status-mode');
    assert(/standalone/.test(mode) && /single/.test(mode), `mode shows ${JSON.stringify(mode)}`);
    const hash = (await text('status-config-hash')).trim();
    assert(/^[0-9a-z]{6,}$/i.test(hash), `config hash shows ${JSON.stringify(hash)}`);
    const stored = await page.evaluate(() => sessionStorage.getItem('mfa-bridge-admin-token'));
    assert(stored === ADMIN_TOKEN, 'the token is not in sessionStorage');
  }, { critical: true });

  await step('open the single endpoint: the form shows it and the preview renders it', async () => {
    await byId('endpoint-single').click();
    await waitFor('the url field', async () => (await byId('ep-url').inputValue()) === providerUrl);
    assert((await byId('ep-method').inputValue()) === 'POST', 'method is not POST');
    assert((await byId('ep-body').inputValue()).includes('Your code is {{ code }}'), 'body is not the configured one');
    await waitFor('the preview of the configured request', async () => {
      const t = await text('preview');
      return t.includes(`POST ${providerUrl}`) && t.includes(PHONE) && t.includes('Your code is 123456');
    });
  }, { critical: true });

  await step('sample data is editable and drives the preview', async () => {
    const value = page.getByTestId('sample-rows').getByTestId('sample-value').first();
    await value.fill('+41790000001');
    await waitFor('the preview with the new phone', async () => (await text('preview')).includes('+41790000001'));
    await value.fill(PHONE);
    await waitFor('the preview with the default phone', async () => (await text('preview')).includes(PHONE));
  });

  await step('a variable missing from the sample data is flagged under the preview', async () => {
    const key = page.getByTestId('sample-rows').getByTestId('sample-key').first();
    await key.fill('fax');
    await waitFor('the missing-variable warning', async () =>
      (await byId('preview-warnings').isVisible()) && (await text('preview-warnings')).includes('{{ phone }}'));
    await key.fill('phone');
    await waitFor('the warning to go', async () => !(await byId('preview-warnings').isVisible()));
  });

  await step('a body with {{ message }} shows the text in the preview and what the SMS costs', async () => {
    await byId('ep-body').fill('{"to": "{{ phone }}", "text": "{{ message }}"}');
    await waitFor('the message text in the preview', async () =>
      (await text('preview')).includes('verification code is 123456'));
    await waitFor('the SMS cost line', async () =>
      (await byId('preview-sms').isVisible()) && /GSM-7, \d+ units, 1 segment/.test(await text('preview-sms')));
  });

  const newBody = `{"to": "{{ phone }}", "text": "${MARKER} your code is {{ code }}"}`;
  await step('edit the body template: the preview follows as you type', async () => {
    await byId('ep-body').fill(newBody);
    await waitFor('the new text in the preview', async () => (await text('preview')).includes(`${MARKER} your code is 123456`));
    assert(await byId('dirty-flag').isVisible(), 'no "unsaved changes" flag');
    assert((await page.getByTestId('problem').count()) === 0, 'problems shown for a valid template');
    await page.mouse.move(0, 0);
    await shot('endpoint-editor.png');
  }, { critical: true });

  await step('save: the endpoint is written and applied', async () => {
    await byId('ep-save').click();
    await waitFor('the save confirmation', async () => /saved/i.test(await text('save-result')));
    assert(await byId('dirty-flag').isHidden(), 'still flagged as unsaved');
    const r = await http_('GET', ADMIN + '/api/endpoints/single', { headers: adminAuth });
    assert(r.status === 200, `GET /api/endpoints/single: ${r.status} ${r.body}`);
    const ep = r.data && (r.data.endpoint || r.data);
    assert(ep.body === newBody, `saved body is ${JSON.stringify(ep.body)}`);
    assert(fs.readFileSync(configFile, 'utf8').includes(MARKER), 'platform.yml does not hold the new body');
  }, { critical: true });

  let activationBody = null;
  let mfaToken = null;
  const activationCode = () => (activationBody && (JSON.parse(activationBody).text.match(/\d{6}$/) || [])[0]) || '';
  await step('an activation through the public API sends the saved body (no restart)', async () => {
    const before = provider.received.length;
    const r = await http_('POST', `${PUBLIC}/${USER}/mfa/activate`, {
      headers: { authorization: `Bearer ${API_KEY}` }, json: { phone: PHONE, language: 'en' },
    });
    assert(r.status === 302, `activate: ${r.status} ${r.body}`);
    assert(r.data && typeof r.data.mfaToken === 'string', `activate body: ${r.body}`);
    await waitFor('the provider to receive the message', async () => provider.received.length > before, 5000);
    const got = provider.received[provider.received.length - 1];
    assert(got.method === 'POST' && got.url === '/sms', `provider got ${got.method} ${got.url}`);
    const json = JSON.parse(got.body);
    assert(json.to === PHONE, `provider got to=${json.to}`);
    assert(new RegExp(`^${MARKER} your code is \\d{6}$`).test(json.text), `provider got text ${JSON.stringify(json.text)}`);
    activationBody = got.body;
    mfaToken = r.data.mfaToken;
  });

  await step('refused public requests are logged too (a wrong code, a bad phone number)', async () => {
    const wrong = await http_('POST', `${PUBLIC}/${USER}/mfa/confirm`, {
      headers: { authorization: mfaToken }, json: { code: '000000' === activationCode() ? '111111' : '000000' },
    });
    assert(wrong.status === 400 && wrong.data.error.id === 'invalid-code', `confirm with a wrong code: ${wrong.status} ${wrong.body}`);
    const bad = await http_('POST', `${PUBLIC}/${OTHER_USER}/mfa/activate`, {
      headers: { authorization: `Bearer ${API_KEY}` }, json: { phone: '12' },
    });
    assert(bad.status === 400 && bad.data.error.id === 'invalid-parameters-format', `activate with a bad phone: ${bad.status} ${bad.body}`);
  });

  await step('a template with an unknown variable: inline problem with its path, save refused', async () => {
    const sentBefore = provider.received.length;
    await byId('ep-body').fill('{"to": "{{ phone }}", "text": "{{ nope }}"}');
    const problem = await waitFor('a problem on the body', async () => {
      const items = page.locator('[data-testid="problem"][data-path*="body"]');
      return (await items.count()) > 0 ? items.first() : null;
    });
    const path_ = await problem.getAttribute('data-path');
    assert(/single\.body$|(^|\.)body$/.test(path_), `problem path ${path_}`);
    assert((await problem.textContent()).includes(path_), 'the problem does not show its path');
    const inline = page.locator('#err-body [data-testid="inline-problem"]');
    assert((await inline.count()) > 0, 'no inline problem next to the body field');
    assert((await byId('ep-body').getAttribute('aria-invalid')) === 'true', 'the body field is not marked invalid');
    await byId('ep-save').click();
    await waitFor('the refusal', async () => /refused/i.test(await text('save-result')));
    const saveProblem = page.locator('[data-testid="problem"][data-source="save"][data-path*="body"], [data-testid="problem"][data-path*="body"]');
    assert((await saveProblem.count()) > 0, 'no problem after the refused save');
    const r = await http_('GET', ADMIN + '/api/endpoints/single', { headers: adminAuth });
    const ep = r.data && (r.data.endpoint || r.data);
    assert(ep.body === newBody, `a refused save changed the endpoint: ${JSON.stringify(ep.body)}`);
    assert(fs.readFileSync(configFile, 'utf8').includes(MARKER), 'a refused save changed platform.yml');
    assert(provider.received.length === sentBefore, 'something was sent');
    await page.mouse.move(0, 0);
    await shot('inline-problem.png');
  });

  await step('a block helper ({{#if}}) is a problem too', async () => {
    await byId('ep-body').fill('{"to": "{{ phone }}", "text": "{{#if code}}x{{/if}}"}');
    await waitFor('a problem on the body', async () =>
      (await page.locator('[data-testid="problem"][data-path*="body"]').count()) > 0);
  });

  await step('revert brings back the saved endpoint and clears the problems', async () => {
    await byId('ep-revert').click();
    await waitFor('the saved body', async () => (await byId('ep-body').inputValue()) === newBody);
    await waitFor('no problem', async () => (await page.getByTestId('problem').count()) === 0);
    await waitFor('the preview of the saved body', async () => (await text('preview')).includes(`${MARKER} your code is 123456`));
  });

  await step('test send goes through the saved endpoint and shows the result', async () => {
    const before = provider.received.length;
    await byId('test-send').click();
    await waitFor('the test send result', async () => /sent: true/.test(await text('test-send-result')));
    assert(/provider status: 200/.test(await text('test-send-result')), `result: ${await text('test-send-result')}`);
    await waitFor('the provider to receive the test message', async () => provider.received.length > before, 5000);
    assert(provider.received[provider.received.length - 1].body.includes(MARKER), 'test send did not use the saved body');
  });

  await step('the attempts log shows the activation; a row opens its details', async () => {
    await byId('tab-attempts').click();
    const row = await waitFor('an activation row', async () => {
      const rows = page.locator('[data-testid="attempt-row"]', { hasText: USER }).filter({ hasText: 'activate' });
      return (await rows.count()) > 0 ? rows.first() : null;
    });
    const outcome = ((await row.locator('td').nth(3).textContent()) || '').trim();
    assert(outcome === 'ok', `outcome of the activation: ${JSON.stringify(outcome)}`);
    const refused = page.locator('[data-testid="attempt-row"]', { hasText: 'invalid-code' });
    assert((await refused.count()) > 0, 'the wrong code is not in the log');
    const badPhone = page.locator('[data-testid="attempt-row"]', { hasText: OTHER_USER });
    assert((await badPhone.count()) > 0 && /invalid-parameters-format/.test(await badPhone.first().textContent()),
      'the refused activation is not in the log');
    await row.click();
    await byId('attempt-detail-card').waitFor({ state: 'visible' });
    await waitFor('the detail', async () => (await text('attempt-detail-username')) === USER);
    const method = await byId('attempt-detail-method').textContent().catch(() => '');
    assert(method === 'POST', `detail method ${method}`);
    // nothing secret in the log: no code, no token, no api key
    const all = await page.locator('#view-attempts').textContent();
    assert(!all.includes(API_KEY) && !all.includes(ADMIN_TOKEN), 'a secret shows in the attempts log');
    const code = activationCode();
    assert(code && !all.includes(code), 'the code shows in the attempts log');
    await page.mouse.move(0, 0);
    await shot('attempts-log.png');
  });

  await step('template files: list, open, edit and save one', async () => {
    await byId('tab-templates').click();
    const item = page.locator('[data-testid="template-item"][data-path="messages/sms.en.txt"]');
    await item.waitFor({ state: 'visible' });
    await item.click();
    await waitFor('the file in the editor', async () => (await byId('template-text').inputValue()).includes('Your verification code is {{ code }}.'));
    const changed = `Your ${MARKER} code is {{ code }}.\n`;
    await byId('template-text').fill(changed);
    await byId('template-save').click();
    await waitFor('the save confirmation', async () => /saved/i.test(await text('template-result')));
    const onDisk = fs.readFileSync(path.join(resources.tmp, 'templates', 'messages', 'sms.en.txt'), 'utf8');
    assert(onDisk === changed, `file on disk: ${JSON.stringify(onDisk)}`);
    await shot('templates.png');
  });

  await step('a template file that does not parse is refused with its path', async () => {
    const file = path.join(resources.tmp, 'templates', 'messages', 'sms.en.txt');
    const before = fs.readFileSync(file, 'utf8');
    await byId('template-text').fill('Your code is {{#if code}} never closed');
    await byId('template-save').click();
    await waitFor('the refusal', async () => /refused/i.test(await text('template-result')));
    const problem = page.locator('[data-testid="template-problems"] [data-testid="problem"]');
    await waitFor('a problem naming the file', async () => (await problem.count()) > 0 &&
      (await problem.first().textContent()).includes('messages/sms.en.txt'));
    assert(fs.readFileSync(file, 'utf8') === before, 'the refused template was written');
  });

  await step('an invalid platform.yml edited on disk is refused: the status bar says why', async () => {
    const good = fs.readFileSync(configFile, 'utf8');
    assert(/mode: single/.test(good), 'platform.yml has no "mode: single"');
    const writeAtomically = (text) => {
      const tmpFile = configFile + '.e2e-tmp';
      fs.writeFileSync(tmpFile, text);
      fs.renameSync(tmpFile, configFile);
    };
    writeAtomically(good.replace(/mode: single/, 'mode: sometimes'));
    await waitFor('the refused reload in the status bar', async () => {
      await byId('status-refresh').click();
      await sleep(200);
      return /refused/.test(await text('status-reload')) && await byId('reload-problems').isVisible();
    });
    assert(/mfa\.mode/.test(await text('reload-problems')), `reload problems: ${await text('reload-problems')}`);
    await shot('reload-refused.png');
    writeAtomically(good);
    await waitFor('the applied reload in the status bar', async () => {
      await byId('status-refresh').click();
      await sleep(200);
      return /applied/.test(await text('status-reload')) && await byId('reload-problems').isHidden();
    });
  });

  await step('every form control has a label; the panel is keyboard reachable', async () => {
    await byId('tab-endpoints').click();
    await byId('ep-body').waitFor({ state: 'visible' });
    const unlabeled = await page.evaluate(() => Array.from(document.querySelectorAll('input, select, textarea, button'))
      .filter((e) => e.offsetParent !== null)
      .filter((e) => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !(e.textContent || '').trim())
      .map((e) => e.id || e.outerHTML.slice(0, 80)));
    assert(unlabeled.length === 0, `controls without a label: ${unlabeled.join(', ')}`);
    const landmarks = await page.evaluate(() => ['header', 'nav', 'main'].filter((t) => !document.querySelector(t)));
    assert(landmarks.length === 0, `missing landmarks: ${landmarks}`);
    // Tab from the URL field reaches the next controls in order.
    await byId('ep-url').focus();
    await page.keyboard.press('Tab');
    const next = await page.evaluate(() => document.activeElement && document.activeElement.dataset.testid);
    assert(next === 'header-key', `Tab from the url went to ${next}`);
  });

  // ---------------------------------------------------------------- a preset and two channels

  const hookBase = `http://127.0.0.1:${provider.port}/hook`;
  await step('a preset configuration with a second channel, written on disk, is applied', async () => {
    const tmpFile = configFile + '.e2e-tmp';
    fs.writeFileSync(tmpFile, presetConfig(resources.tmp, provider.port));
    fs.renameSync(tmpFile, configFile);
    await waitFor('the preset in force', async () => {
      const r = await http_('GET', ADMIN + '/api/endpoints', { headers: adminAuth });
      // The file is read as written at once; its requests are rendered by the configuration in
      // force, which the reload swaps in a moment later (after the watcher's debounce).
      return r.status === 200 && r.data && r.data.preset && r.data.preset.name === 'generic-json-webhook'
        && JSON.stringify(r.data.requests || {}).includes('/hook/send');
    });
  }, { critical: true });

  await step('the panel shows the preset as a preset: name, base_url, vars as written, values masked, its request', async () => {
    await page.reload({ waitUntil: 'load' });
    await byId('preset-workspace').waitFor({ state: 'visible' });
    await waitFor('the preset name', async () => (await byId('preset-name').inputValue()) === 'generic-json-webhook');
    assert((await byId('preset-base-url').inputValue()) === hookBase, `base_url ${await byId('preset-base-url').inputValue()}`);
    const varRow = page.getByTestId('preset-vars').getByTestId('var-row').first();
    assert((await varRow.getByTestId('var-key').inputValue()) === 'bearer_token', 'the var name');
    assert((await varRow.getByTestId('var-value').inputValue()) === '${E2E_HOOK_TOKEN}', 'the var as written');
    assert((await text('preset-value-bearer_token')) === '***', `value in force: ${await text('preset-value-bearer_token')}`);
    const request = await text('preset-request-single');
    assert(request.includes(`POST ${hookBase}/send`), `request: ${request}`);
    assert(/authorization: \*\*\*/i.test(request), `the credential header is masked: ${request}`);
    assert(await byId('endpoint-workspace').isHidden(), 'the endpoint editor shows for a preset');
    for (const wrong of ['base_url', 'preset', 'vars']) {
      assert((await page.getByTestId('endpoint-' + wrong).count()) === 0, `"${wrong}" is shown as an endpoint`);
    }
    assert(!/unknown endpoint/i.test(await text('global-message')), `message: ${await text('global-message')}`);
    const all = await page.locator('#view-endpoints').textContent();
    assert(!all.includes(HOOK_TOKEN) && !all.includes(POSTMARK_TOKEN), 'a secret shows in the panel');
  });

  await step('edit the preset: saved with the ${ENV} reference kept, applied; a wrong var is refused with its path', async () => {
    await byId('preset-base-url').fill(hookBase + '2');
    await byId('preset-save').click();
    await waitFor('the save confirmation', async () => /saved/i.test(await text('preset-result')));
    await waitFor('the new request', async () => (await text('preset-request-single')).includes(`POST ${hookBase}2/send`));
    const file = fs.readFileSync(configFile, 'utf8');
    assert(file.includes(hookBase + '2'), 'platform.yml does not hold the new base_url');
    assert(file.includes('${E2E_HOOK_TOKEN}') && !file.includes(HOOK_TOKEN), 'the ${ENV} reference was not kept as written');
    await byId('preset-var-add').click();
    const row = page.getByTestId('preset-vars').getByTestId('var-row').last();
    await row.getByTestId('var-key').fill('colour');
    await row.getByTestId('var-value').fill('blue');
    await byId('preset-save').click();
    await waitFor('the refusal', async () => /refused/i.test(await text('preset-result')));
    const problem = page.locator('[data-testid="preset-problems"] [data-testid="problem"][data-path="mfa.endpoints.vars.colour"]');
    assert((await problem.count()) === 1, `problems: ${await text('preset-problems')}`);
    assert(fs.readFileSync(configFile, 'utf8') === file, 'a refused preset save changed platform.yml');
  });

  await step('the channels card lists sms and email; email is previewed and test-sent; no address is refused', async () => {
    await byId('channel-sms').waitFor({ state: 'visible' });
    await byId('channel-email').click();
    await waitFor('the email channel', async () => /mfa\.channels\.email: single mode, preset postmark-email/.test(await text('channel-summary')));
    await waitFor('its request for the sample address', async () => {
      const t = await text('channel-request-single');
      return t.includes(`POST http://127.0.0.1:${provider.port}/email`) && t.includes('user@example.com');
    });
    assert(/x-postmark-server-token: \*\*\*/.test(await text('channel-request-single')), 'the token header is masked');
    const value = page.getByTestId('channel-sample-rows').getByTestId('channel-sample-value').first();
    await value.fill('e2e@example.com');
    await byId('channel-preview').click();
    await waitFor('the preview for the new address', async () => (await text('channel-request-single')).includes('e2e@example.com'));
    await page.mouse.move(0, 0);
    await shot('preset-and-channels.png');
    const before = provider.received.length;
    await byId('channel-test-send').click();
    await waitFor('the test send result', async () => /sent by email: true/.test(await text('channel-test-send-result')));
    await waitFor('the provider to receive the email', async () => provider.received.length > before, 5000);
    const got = provider.received[provider.received.length - 1];
    assert(got.url === '/email', `provider got ${got.method} ${got.url}`);
    assert(JSON.parse(got.body).To === 'e2e@example.com', `provider got ${got.body}`);
    assert(got.headers['x-postmark-server-token'] === POSTMARK_TOKEN, 'the secret did not reach the provider');
    await value.fill('');
    const sent = provider.received.length;
    await byId('channel-test-send').click();
    await waitFor('the refusal naming the field', async () => /invalid-parameters-format: data\.email: missing/.test(await text('channel-test-send-result')));
    assert(provider.received.length === sent, 'a test send without an address sent something');
  });

  await step('sign out forgets the token', async () => {
    await byId('sign-out').click();
    await byId('view-signin').waitFor({ state: 'visible' });
    const stored = await page.evaluate(() => sessionStorage.getItem('mfa-bridge-admin-token'));
    assert(stored === null, 'the token is still in sessionStorage');
    await page.reload({ waitUntil: 'load' });
    await byId('view-signin').waitFor({ state: 'visible' });
    assert(await byId('status-bar').isHidden(), 'the status bar shows after sign out');
  });

  await step('no page error, and nothing reached beyond 127.0.0.1', async () => {
    assert(pageErrors.length === 0, `page errors: ${pageErrors.join(' | ')}`);
    assert(outside.length === 0, `requests beyond loopback: ${outside.join(', ')}`);
  });

  if (UPDATE_SCREENSHOTS) {
    await step('copy the README screenshots to docs/screenshots/', async () => {
      fs.mkdirSync(SCREENSHOTS_DIR, { recursive: true });
      for (const [from, to] of Object.entries(README_SHOTS)) fs.copyFileSync(path.join(ARTIFACTS, from), path.join(SCREENSHOTS_DIR, to));
    });
  }
}

await run(main, { wholeRunMs: WHOLE_RUN_MS });
