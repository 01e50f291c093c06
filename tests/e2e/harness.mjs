// What every browser test of tests/e2e/ shares (one test per process, run by scripts/e2e): the
// steps and their summary, a fake SMS provider that records what it receives, the daemon built
// by `cargo build` started on a temporary platform.yml with both listening addresses read from
// its log, headless Chromium kept on loopback, and a teardown that runs whatever happens
// (failure, SIGINT/SIGTERM, the whole-run watchdog).
//
// Environment: MFA_BRIDGE_BIN (default target/debug/mfa-bridge), CHROMIUM (default
// /usr/bin/chromium), E2E_ARTIFACTS (default target/e2e-artifacts).

import { spawn } from 'node:child_process';
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium } from 'playwright-core';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const BIN = process.env.MFA_BRIDGE_BIN || path.join(ROOT, 'target', 'debug', 'mfa-bridge');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const ARTIFACTS = path.resolve(ROOT, process.env.E2E_ARTIFACTS || path.join('target', 'e2e-artifacts'));

export const WAIT_MS = 10_000;    // one UI expectation
export const START_MS = 60_000;   // daemon start (ports in its log)

export const sha256 = (s) => crypto.createHash('sha256').update(s).digest('hex');
export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
export function log(...args) { console.log(...args); }
export function assert(cond, msg) { if (!cond) throw new Error(msg); }
function slug(s) { return s.toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 50); }

// ------------------------------------------------------------------ the run

// What a teardown closes; the test sets `tmp` (removed at the end) and `provider`.
export const resources = { daemon: null, context: null, provider: null, tmp: null, daemonLog: [] };
// The browser page, once `launchBrowser` has opened it.
export let page = null;

const results = [];
let skipRest = false;
let cleaningUp = null;
// Set by `run`: names the artifacts of this test.
let settings = { prefix: '', daemonLogFile: 'daemon.log' };

export async function shot(file) {
  if (!page) return;
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  await page.screenshot({ path: path.join(ARTIFACTS, file), timeout: WAIT_MS });
}

// Runs one named step; a failure is recorded (with a screenshot) and, for a critical step,
// every later step is skipped.
export async function step(name, fn, { critical = false } = {}) {
  if (skipRest) {
    results.push({ name, outcome: 'skipped' });
    log(`SKIP  ${name}`);
    return;
  }
  const started = Date.now();
  try {
    await fn();
    results.push({ name, outcome: 'passed' });
    log(`PASS  ${name} (${Date.now() - started} ms)`);
  } catch (err) {
    results.push({ name, outcome: 'failed', error: err });
    log(`FAIL  ${name} (${Date.now() - started} ms)\n      ${String(err && err.stack || err).split('\n').slice(0, 6).join('\n      ')}`);
    await shot(`${settings.prefix}failure-${results.length}-${slug(name)}.png`).catch(() => {});
    if (critical) skipRest = true;
  }
}

// Polls `fn` until it returns a truthy value, at most `timeout` ms.
export async function waitFor(what, fn, timeout = WAIT_MS, interval = 100) {
  const deadline = Date.now() + timeout;
  let last;
  let lastErr;
  while (Date.now() < deadline) {
    try {
      last = await fn();
      if (last) return last;
    } catch (err) { lastErr = err; }
    await sleep(interval);
  }
  throw new Error(`timed out after ${timeout} ms waiting for ${what}` +
    (lastErr ? ` (last error: ${lastErr.message})` : last !== undefined ? ` (last value: ${JSON.stringify(last)})` : ''));
}

function summary() {
  const passed = results.filter((r) => r.outcome === 'passed').length;
  const failed = results.filter((r) => r.outcome === 'failed').length;
  const skipped = results.filter((r) => r.outcome === 'skipped').length;
  return { passed, failed, skipped };
}

async function cleanup() {
  if (cleaningUp) return cleaningUp;
  cleaningUp = (async () => {
    if (resources.context) {
      await Promise.race([resources.context.close().catch(() => {}), sleep(10_000)]);
      resources.context = null;
    }
    await stopDaemon().catch(() => {});
    if (resources.provider) {
      resources.provider.server.closeAllConnections?.();
      await Promise.race([new Promise((r) => resources.provider.server.close(r)), sleep(3000)]);
    }
    try {
      fs.mkdirSync(ARTIFACTS, { recursive: true });
      fs.writeFileSync(path.join(ARTIFACTS, settings.daemonLogFile), resources.daemonLog.join(''));
    } catch (_) { /* best effort */ }
    if (resources.tmp) fs.rmSync(resources.tmp, { recursive: true, force: true });
  })();
  return cleaningUp;
}

// Runs `main` as the whole test, bounded by `wholeRunMs`, tears everything down, prints
// `N passed, M failed` last and exits 1 on any failure. `prefix` and `daemonLogFile` name this
// test's artifacts.
export async function run(main, { wholeRunMs, prefix = '', daemonLogFile = 'daemon.log' }) {
  settings = { prefix, daemonLogFile };
  for (const sig of ['SIGINT', 'SIGTERM']) {
    process.on(sig, async () => {
      log(`\n${sig}: stopping`);
      await cleanup();
      const s = summary();
      log(`${s.passed} passed, ${Math.max(1, s.failed)} failed`);
      process.exit(1);
    });
  }
  const watchdog = setTimeout(async () => {
    log(`\nthe whole run took more than ${wholeRunMs / 1000} s: stopping`);
    await cleanup();
    const s = summary();
    log(`${s.passed} passed, ${s.failed + 1} failed`);
    process.exit(1);
  }, wholeRunMs);

  let crashed = null;
  try {
    assert(fs.existsSync(BIN), `no daemon binary at ${BIN} (cargo build first)`);
    assert(fs.existsSync(CHROMIUM), `no Chromium at ${CHROMIUM}`);
    await main();
  } catch (err) {
    crashed = err;
    log(`ERROR ${String(err && err.stack || err)}`);
  } finally {
    clearTimeout(watchdog);
    await cleanup();
  }
  const s = summary();
  log(`\nscreenshots and daemon log in ${path.relative(process.cwd(), ARTIFACTS) || ARTIFACTS}`);
  const failed = s.failed + (crashed ? 1 : 0);
  log(`${s.passed} passed, ${failed} failed` + (s.skipped ? `, ${s.skipped} skipped` : ''));
  process.exit(failed > 0 || s.passed === 0 ? 1 : 0);
}

// ------------------------------------------------------------------ fake provider

// An HTTP server on a random loopback port that answers 200 to everything and records each
// request (method, url, headers, body).
export function startProvider() {
  const received = [];
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, headers: req.headers, body: Buffer.concat(chunks).toString('utf8') });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ status: 'sent', id: `msg-${received.length}` }));
    });
  });
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      resources.provider = { server, received, port: server.address().port };
      resolve(resources.provider);
    });
  });
}

// ------------------------------------------------------------------ daemon

// The daemon's environment: no proxy (its provider is on loopback), plain logs, and `extra`.
function daemonEnv(extra) {
  const env = { ...process.env, RUST_LOG: process.env.RUST_LOG || 'info', NO_COLOR: '1', NO_PROXY: '127.0.0.1,localhost', no_proxy: '127.0.0.1,localhost', ...extra };
  for (const k of ['HTTP_PROXY', 'http_proxy', 'HTTPS_PROXY', 'https_proxy', 'ALL_PROXY', 'all_proxy']) delete env[k];
  return env;
}

// `mfa-bridge serve --config configFile` in `cwd`; resolves to `{ publicUrl, adminUrl }` once
// its log shows both listening addresses.
export function startDaemon(configFile, cwd, extraEnv = {}) {
  const child = spawn(BIN, ['serve', '--config', configFile], { cwd, env: daemonEnv(extraEnv), stdio: ['ignore', 'pipe', 'pipe'] });
  resources.daemon = child;
  let publicUrl = null;
  let adminUrl = null;
  let buffered = '';
  const onData = (chunk) => {
    const text = chunk.toString('utf8');
    resources.daemonLog.push(text);
    buffered += text;
    let nl;
    while ((nl = buffered.indexOf('\n')) >= 0) {
      // eslint-disable-next-line no-control-regex
      const line = buffered.slice(0, nl).replace(/\x1b\[[0-9;]*m/g, '');
      buffered = buffered.slice(nl + 1);
      const admin = line.match(/admin listening on (http:\/\/[^\s"]+)/);
      const pub = line.match(/(?<!admin )listening on (http:\/\/[^\s"]+)/);
      if (admin) adminUrl = admin[1];
      else if (pub) publicUrl = pub[1];
    }
  };
  child.stderr.on('data', onData);
  child.stdout.on('data', onData);
  let exited = null;
  child.on('exit', (code, signal) => { exited = { code, signal }; });
  const tail = () => resources.daemonLog.join('').slice(-3000);
  return waitFor('the daemon to log both listening addresses', () => {
    if (exited) throw new Error(`the daemon exited (${JSON.stringify(exited)}) before listening:\n${tail()}`);
    return publicUrl && adminUrl ? { publicUrl, adminUrl } : null;
  }, START_MS).catch((err) => {
    if (exited) throw new Error(`the daemon exited (${JSON.stringify(exited)}) before listening:\n${tail()}`);
    throw new Error(`${err.message}\n${tail()}`);
  });
}

// SIGTERM, then SIGKILL after 5 s.
export async function stopDaemon() {
  const child = resources.daemon;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const gone = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const t = await Promise.race([gone.then(() => 'exited'), sleep(5000).then(() => 'timeout')]);
  if (t === 'timeout') {
    child.kill('SIGKILL');
    await Promise.race([gone, sleep(2000)]);
  }
}

// ------------------------------------------------------------------ HTTP (node side)

// One request; redirects are not followed. `{ status, headers, body, data (JSON or null) }`.
export async function http_(method, url, { headers = {}, json, text } = {}) {
  const init = { method, headers: { ...headers }, redirect: 'manual', signal: AbortSignal.timeout(WAIT_MS) };
  if (json !== undefined) { init.headers['content-type'] = 'application/json'; init.body = JSON.stringify(json); }
  if (text !== undefined) { init.headers['content-type'] = 'text/plain'; init.body = text; }
  const res = await fetch(url, init);
  const body = await res.text();
  let data = null;
  try { data = JSON.parse(body); } catch (_) { /* not JSON */ }
  return { status: res.status, headers: res.headers, body, data };
}

// ------------------------------------------------------------------ browser

// Headless Chromium on a fresh profile in `profileDir`, kept on loopback: a request elsewhere
// is aborted and recorded in `outside`; errors of the page (and console errors other than the
// 4xx answers the panel asked for, such as a refused save) go to `pageErrors`. Sets `page`.
export async function launchBrowser(profileDir, { height = 768 } = {}) {
  const outside = [];
  const pageErrors = [];
  resources.context = await chromium.launchPersistentContext(profileDir, {
    executablePath: CHROMIUM,
    headless: true,
    viewport: { width: 1366, height },
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking',
      '--disable-component-update', '--disable-sync', '--disable-domain-reliability', '--no-pings',
      '--disable-client-side-phishing-detection',
      // Belt and braces: anything not on loopback would go to a dead proxy on loopback.
      '--proxy-server=http://127.0.0.1:9'],
    timeout: 30_000,
  });
  resources.context.setDefaultTimeout(WAIT_MS);
  await resources.context.route('**/*', (route) => {
    const u = new URL(route.request().url());
    if (['http:', 'https:', 'ws:', 'wss:'].includes(u.protocol) && u.hostname !== '127.0.0.1') {
      outside.push(u.href);
      return route.abort('blockedbyclient');
    }
    return route.continue();
  });
  page = resources.context.pages()[0] || await resources.context.newPage();
  page.on('pageerror', (e) => pageErrors.push(String(e)));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/^Failed to load resource: the server responded with a status of 4\d\d/.test(m.text())) {
      pageErrors.push('console: ' + m.text());
    }
  });
  return { outside, pageErrors };
}
