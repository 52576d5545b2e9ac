// Browser tests of the dashboard: the real server, Debian's chromium driven by
// playwright-core, and the check API called over HTTP to see the effects.
'use strict';
const { test, before, after } = require('node:test');
const assert = require('node:assert/strict');
const { spawn } = require('node:child_process');
const fs = require('node:fs');
const os = require('node:os');
const path = require('node:path');
const { chromium } = require('playwright-core');

const ROOT = path.resolve(__dirname, '..', '..');
const BIN = process.env.UC_BIN || path.join(ROOT, 'build', 'usercleaning');
const SHOTS = path.join(ROOT, 'build', 'dashboard-screenshots');
const XSS = '<img src=x onerror="window.__xss=1">';

let server, base, adminKey, liveKey, browser, page;
const dialogs = []; // the text of every alert/confirm/prompt, newest last
let dismissDialogs = false; // answer "Cancel" instead of "OK"
let promptAnswer = 'renamed key'; // what a prompt is answered

function startServer() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uc-dash-'));
  // A copy of the snapshot with a sync state beside it, as `lists update` leaves one: a
  // living source that was updated once and failed since.
  const snap = path.join(dir, 'lists.snap');
  fs.copyFileSync(path.join(ROOT, 'build', 'lists.snap'), snap);
  fs.mkdirSync(snap + '.d');
  fs.writeFileSync(path.join(snap + '.d', 'sync.json'), JSON.stringify({
    format: 1,
    sources: [{ name: 'mailchecker', url: 'https://lists.example/mailchecker.txt', entries: 56333,
      outcome: 'failed', last_attempt: 1785000000, last_success: 1784000000, last_error_at: 1785000000,
      last_error: 'fetch failed, the previous copy stays: HTTP 503 <b>x</b>' }],
  }));
  const proc = spawn(BIN, ['serve', '--listen', '127.0.0.1:0', '--db', path.join(dir, 'store.db'),
    '--batch-dir', path.join(dir, 'batch'),
    '--lists', snap, '--access-log', 'off', '--no-dns',
    '--no-domain-age'], { stdio: ['ignore', 'pipe', 'inherit'] });
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => reject(new Error('server did not start: ' + out)), 20000);
    proc.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/listening on (http:\/\/[0-9.]+:\d+)/);
      if (m) {
        clearTimeout(timer);
        resolve({ proc, url: m[1], admin: out.match(/admin key:\s+(\S+)/)[1], live: out.match(/active key:\s+(\S+)/)[1] });
      }
    });
    proc.on('exit', (code) => reject(new Error('server exited ' + code)));
  });
}

async function check(email, ip, key = liveKey) {
  const r = await fetch(base + '/v1/email/check', {
    method: 'POST', headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email, ip }),
  });
  return { status: r.status, body: await r.json() };
}

async function adminApi(method, p, body) {
  const r = await fetch(base + '/v1/admin' + p, {
    method, headers: { Authorization: 'Bearer ' + adminKey, 'Content-Type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  return { status: r.status, body: await r.json() };
}

async function shot(name) {
  await page.screenshot({ path: path.join(SHOTS, name + '.png'), fullPage: true });
}

async function go(section) {
  await page.click(`#nav a[data-page="${section}"]`);
  await page.waitForSelector(`#page-${section}:not([hidden])`);
}

before(async () => {
  fs.mkdirSync(SHOTS, { recursive: true });
  ({ proc: server, url: base, admin: adminKey, live: liveKey } = await startServer());
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync'],
  });
  page = await browser.newPage({ viewport: { width: 1200, height: 900 }, acceptDownloads: true });
  page.on('dialog', (d) => {
    dialogs.push(d.message());
    return dismissDialogs ? d.dismiss() : d.accept(d.type() === 'prompt' ? promptAnswer : undefined);
  });
  page.on('pageerror', (e) => { throw e; });
});

after(async () => {
  if (browser) await browser.close();
  if (server) server.kill('SIGTERM');
});

test('sign in: a wrong key is refused in words, the admin key opens the dashboard', async () => {
  await page.goto(base + '/dashboard/');
  await shot('01-signin');
  await page.fill('#signin-key', 'ucl_admin_wrong');
  await page.click('#signin-form button');
  await page.waitForSelector('#flash.error:not([hidden])');
  assert.match(await page.textContent('#flash'), /not an admin key/);
  await page.fill('#signin-key', liveKey); // a check key is not an admin key either
  await page.click('#signin-form button');
  await page.waitForFunction(() => /not an admin key/.test(document.querySelector('#flash').textContent));
  await page.fill('#signin-key', adminKey);
  await page.click('#signin-form button');
  await page.waitForSelector('#page-keys:not([hidden])');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('uc_admin_key')), adminKey);
});

test('create a key in the UI and use it over HTTP', async () => {
  await go('keys');
  await page.fill('#key-name', 'from the browser');
  await page.selectOption('#key-type', 'active');
  await page.click('#key-create button[type=submit]');
  await page.waitForSelector('#key-new:not([hidden])');
  const key = (await page.textContent('#key-new-value')).trim();
  assert.match(key, /^ucl_live_/);
  const r = await check('someone@mailinator.com', 'unknown', key);
  assert.equal(r.status, 200);
  assert.equal(r.body.category, 'black');
  await page.waitForSelector('#keys-table td:text("from the browser")');
  await shot('02-api-settings');
});

test('a ban made through the check API shows up; unbanning in the UI lets the IP back', async () => {
  const ip = '203.0.113.66';
  for (let i = 0; i < 5; i++) await check('x@mailinator.com', ip);
  assert.equal((await check('jane@gmail.com', ip)).status, 403);
  await go('keys');
  await page.click('#ban-refresh');
  const row = page.locator('#bans-table tr', { hasText: ip });
  await row.waitFor();
  assert.match(await row.textContent(), /yes/);
  await page.fill('#ban-search', '203.0.113.');
  await shot('03-banned-ips');
  await row.locator('button', { hasText: 'Unban' }).click();
  await page.waitForFunction((x) => !document.querySelector('#bans-table').textContent.includes(x), ip);
  const again = await check('jane@gmail.com', ip);
  assert.equal(again.status, 200);
  assert.equal(again.body.remaining_attempts_before_ban, 5);
});

test('threshold and colours changed in the UI are followed by the check API', async () => {
  await go('colors');
  await page.fill('#ban-threshold', '2');
  await page.selectOption('select[data-type="multi-alias services"]', 'black');
  await page.selectOption('select[data-type="suspicious signs"]', 'white');
  await shot('04-color-configuration');
  await page.click('#colors-form button[type=submit]');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('#flash').textContent));
  const relay = await check('me@duck.com', '198.51.100.5');
  assert.equal(relay.body.category, 'black');
  assert.equal(relay.body.remaining_attempts_before_ban, 1);
  assert.equal((await check('j+x@gmail.com', 'unknown')).body.category, 'white');
  await check('x@mailinator.com', '198.51.100.5');
  assert.equal((await check('jane@gmail.com', '198.51.100.5')).status, 403);
  // errors come back in words
  await page.fill('#ban-threshold', '0');
  await page.$eval('#ban-threshold', (e) => e.removeAttribute('min')); // past the browser's own check
  await page.click('#colors-form button[type=submit]');
  await page.waitForSelector('#flash.error:not([hidden])');
  assert.match(await page.textContent('#flash'), /ban_threshold: must be an integer from 1 to 100/);
});

test('rate limits set in the UI: the account\'s, then a key\'s own; 429 with Retry-After', async () => {
  const key = (await adminApi('POST', '/keys', { name: 'limited', type: 'active' })).body.key;
  await go('keys');
  await go('colors'); // afresh: the form shows what is stored
  await page.waitForFunction(() => document.querySelector('#rate-per-second').value === '0');
  await page.fill('#rate-per-second', '2');
  await page.fill('#rate-burst', '2');
  await shot('10-rate-limit');
  await page.click('#colors-form button[type=submit]');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('#flash').textContent));
  assert.equal((await adminApi('GET', '/settings')).body.rate_limit_per_second, 2);
  const t0 = Date.now();
  const statuses = [];
  for (let i = 0; i < 8; i++) statuses.push((await check('jane@gmail.com', 'unknown', key)).status);
  const seconds = (Date.now() - t0) / 1000;
  const ok = statuses.filter((x) => x === 200).length;
  assert.deepEqual(statuses.slice(0, 2), [200, 200]); // the burst
  assert.ok(ok <= 2 + Math.floor(seconds * 2), statuses.join(' ')); // plus what refilled meanwhile
  const r = await fetch(base + '/v1/email/check', {
    method: 'POST', headers: { Authorization: 'Bearer ' + key, 'Content-Type': 'application/json' },
    body: JSON.stringify({ email: 'jane@gmail.com' }),
  });
  if (r.status === 429) {
    assert.deepEqual(await r.json(), { detail: 'Rate limit exceeded.' });
    assert.ok(Number(r.headers.get('retry-after')) >= 1);
  }
  // The key's own limit, from API Settings, wins over the account's.
  await go('keys');
  const row = page.locator('#keys-table tr', { hasText: 'limited' });
  promptAnswer = '1000/1000';
  await row.locator('button', { hasText: 'Limit' }).click();
  promptAnswer = 'renamed key';
  await page.waitForFunction(() => /1000\/s, 1000 at once/.test(document.querySelector('#keys-table').textContent));
  for (let i = 0; i < 6; i++) assert.equal((await check('jane@gmail.com', 'unknown', key)).status, 200);
  // Off again for the tests after this one.
  await go('colors');
  await page.fill('#rate-per-second', '0');
  await page.fill('#rate-burst', '0');
  await page.click('#colors-form button[type=submit]');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('#flash').textContent));
  assert.equal((await adminApi('GET', '/settings')).body.rate_limit_per_second, 0);
});

// Opens Color Configuration afresh (its loader runs) and waits for the ban lift it shows.
async function colorsShowing(amount, unit, never = false) {
  await go('keys');
  await go('colors');
  await page.waitForFunction(([a, u, n]) => document.querySelector('#ban-lift').value === a &&
    document.querySelector('#ban-lift-unit').value === u && document.querySelector('#ban-lift-never').checked === n,
  [amount, unit, never]);
}

async function saveColors() {
  // the "Saved" of a save before must not count for this one (a slow server lost that race)
  await page.$eval('#flash', (f) => { f.textContent = ''; });
  await page.click('#colors-form button[type=submit]');
  await page.waitForFunction(() => /Saved/.test(document.querySelector('#flash').textContent));
}

test('ban lift is an amount and a unit in the UI, seconds in the API; never is 0', async () => {
  assert.equal((await adminApi('PATCH', '/settings', { ban_lift_seconds: 3 * 86400 })).status, 200);
  await colorsShowing('3', '86400');
  // 2 hours in the UI is 7200 in the API, and reads back as 2 hours after a reload
  await page.fill('#ban-lift', '2');
  await page.selectOption('#ban-lift-unit', { label: 'hours' });
  await saveColors();
  assert.equal((await adminApi('GET', '/settings')).body.ban_lift_seconds, 7200);
  await page.reload();
  await page.waitForSelector('#page-colors:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#ban-lift').value === '2');
  assert.equal(await page.$eval('#ban-lift-unit', (e) => e.selectedOptions[0].textContent), 'hours');
  assert.equal(await page.isChecked('#ban-lift-never'), false);
  // the browser refuses what the server would, in words, and sends nothing
  for (const [amount, unit, why] of [['367', 'days', /whole number of days from 1 to 366/],
    ['1.5', 'hours', /whole number of hours/], ['0', 'minutes', /from 1 to 527040/]]) {
    await page.fill('#ban-lift', amount);
    await page.selectOption('#ban-lift-unit', { label: unit });
    await page.click('#colors-form button[type=submit]');
    const [valid, message] = await page.$eval('#ban-lift', (e) => [e.validity.valid, e.validationMessage]);
    assert.equal(valid, false);
    assert.match(message, why);
  }
  assert.equal((await adminApi('GET', '/settings')).body.ban_lift_seconds, 7200);
  // past the browser's own check, the server's 422 is shown in the message area
  await page.$eval('#colors-form', (f) => { f.noValidate = true; });
  await page.fill('#ban-lift', '400');
  await page.selectOption('#ban-lift-unit', { label: 'days' });
  await page.click('#colors-form button[type=submit]');
  await page.waitForSelector('#flash.error:not([hidden])');
  assert.match(await page.textContent('#flash'), /ban_lift_seconds: must be an integer from 0 \(never\) to 31622400/);
  await page.$eval('#colors-form', (f) => { f.noValidate = false; });
  assert.equal((await adminApi('GET', '/settings')).body.ban_lift_seconds, 7200);
  // a value set through the API that is no whole number of minutes shows, and saves, as it is
  assert.equal((await adminApi('PATCH', '/settings', { ban_lift_seconds: 90 })).status, 200);
  await colorsShowing('90', '1');
  assert.equal(await page.$eval('#ban-lift-unit', (e) => e.selectedOptions[0].textContent), 'seconds');
  await saveColors();
  assert.equal((await adminApi('GET', '/settings')).body.ban_lift_seconds, 90);
  // never
  await page.check('#ban-lift-never');
  assert.equal(await page.isDisabled('#ban-lift'), true);
  assert.equal(await page.isDisabled('#ban-lift-unit'), true);
  await shot('04b-ban-lift-never');
  await saveColors();
  assert.equal((await adminApi('GET', '/settings')).body.ban_lift_seconds, 0);
  await page.reload();
  await page.waitForSelector('#page-colors:not([hidden])');
  await page.waitForFunction(() => document.querySelector('#ban-lift-never').checked);
  // and back to a time: 1 day is offered, 90 seconds is not a unit any more
  await page.uncheck('#ban-lift-never');
  assert.equal(await page.locator('#ban-lift-unit option[value="1"]').count(), 0);
  await page.fill('#ban-lift', '45');
  await page.selectOption('#ban-lift-unit', { label: 'minutes' });
  await saveColors();
  assert.equal((await adminApi('GET', '/settings')).body.ban_lift_seconds, 2700);
  await adminApi('PATCH', '/settings', { ban_lift_seconds: 0 });
});

test('a key switched between sandbox and active gets new text, shown once; the old text stops working', async () => {
  await go('keys');
  await page.fill('#key-name', 'retype me');
  await page.selectOption('#key-type', 'sandbox');
  await page.click('#key-create button[type=submit]');
  await page.waitForSelector('#key-new:not([hidden])');
  const oldKey = (await page.textContent('#key-new-value')).trim();
  assert.match(oldKey, /^ucl_test_/);
  assert.equal((await check('test@disposable.com', 'unknown', oldKey)).status, 200);
  const row = page.locator('#keys-table tr', { hasText: 'retype me' });
  await row.waitFor();

  // Cancel at the warning: nothing changes
  dismissDialogs = true;
  const asked = dialogs.length;
  try {
    await row.locator('button', { hasText: 'Make active' }).click(); // returns once the dialog is answered
  } finally { dismissDialogs = false; }
  assert.equal(dialogs.length, asked + 1);
  assert.equal((await check('test@disposable.com', 'unknown', oldKey)).status, 200);
  assert.equal(await page.textContent('#key-new-value'), oldKey);

  // The warning comes before, the new text after
  const before = dialogs.length;
  await row.locator('button', { hasText: 'Make active' }).click();
  await page.waitForFunction(() => /^ucl_live_/.test(document.querySelector('#key-new-value').textContent));
  assert.equal(dialogs.length, before + 1);
  assert.match(dialogs[before], /Make "retype me" active\?/);
  assert.match(dialogs[before], /new text starting ucl_live_/);
  assert.match(dialogs[before], /stops working at once/);
  const newKey = (await page.textContent('#key-new-value')).trim();
  assert.notEqual(newKey, oldKey);
  const note = await page.textContent('#key-new-note');
  assert.match(note, /shown this once/);
  assert.match(note, /store it now/);
  assert.match(note, /update your integration/);
  assert.match(note, /old text .* no longer works/);
  assert.equal(await page.isVisible('#key-copy'), true);
  assert.match(await page.textContent('#flash'), /"retype me" is now active/);
  await page.waitForFunction(() => [...document.querySelectorAll('#keys-table tbody tr')].map((tr) => tr.cells)
    .some((c) => c[0].textContent === 'retype me' && c[1].textContent === 'active' && /^ucl_live_/.test(c[2].textContent)));
  await shot('02b-key-retyped');

  // over HTTP: the new text checks (live: a disposable domain is black), the old one is refused
  const r = await check('someone@mailinator.com', 'unknown', newKey);
  assert.equal(r.status, 200);
  assert.equal(r.body.category, 'black');
  assert.equal((await check('someone@mailinator.com', 'unknown', oldKey)).status, 401);

  // the copy button copies that text
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write'], { origin: base });
  await page.click('#key-copy');
  await page.waitForFunction(() => /Copied/.test(document.querySelector('#flash').textContent));
  assert.equal(await page.evaluate(() => navigator.clipboard.readText()), newKey);

  // a rename keeps the text; leaving the page forgets the shown key
  await row.locator('button', { hasText: 'Rename' }).click();
  await page.waitForSelector('#keys-table td:text("renamed key")');
  assert.equal((await check('jane@gmail.com', 'unknown', newKey)).status, 200);
  await go('usage');
  await go('keys');
  assert.equal(await page.isHidden('#key-new'), true);
});

test('server refusals on keys are shown in words in the message area', async () => {
  await go('usage');
  await go('keys');
  // the key this session signed in with: the server refuses, the session stays
  const mine = page.locator('#keys-table tr', { hasText: '(signed in with it)' });
  await mine.waitFor();
  assert.equal(await mine.locator('button', { hasText: /Make (active|sandbox)/ }).count(), 0); // admin keys keep their type
  await mine.locator('button', { hasText: 'Revoke' }).click();
  await page.waitForSelector('#flash.error:not([hidden])');
  assert.match(await page.textContent('#flash'), /A key cannot revoke itself/);
  assert.equal(await page.evaluate(() => sessionStorage.getItem('uc_admin_key')), adminKey);
  // the last admin key cannot be demoted either (the API answers 409 in words)
  const me = (await adminApi('GET', '/keys')).body.keys.find((k) => adminKey.startsWith(k.prefix));
  const demote = await adminApi('PATCH', '/keys/' + me.id, { type: 'active' });
  assert.equal(demote.status, 409);
  assert.match(demote.body.detail, /last admin key/);
  // a key revoked elsewhere since the page was drawn
  const made = await adminApi('POST', '/keys', { name: 'stale row', type: 'sandbox' });
  await go('usage');
  await go('keys');
  const row = page.locator('#keys-table tr', { hasText: 'stale row' });
  await row.waitFor();
  assert.equal((await adminApi('DELETE', '/keys/' + made.body.id)).status, 200);
  await row.locator('button', { hasText: 'Make active' }).click();
  await page.waitForFunction(() => /no live key with that id/.test(document.querySelector('#flash').textContent));
  assert.equal(await page.isHidden('#key-new'), true);
});

test('a domain added to the black list is classified black; bad lines are reported per line', async () => {
  await go('lists');
  await page.selectOption('#list-color', 'black');
  await page.fill('#list-bulk', 'spammy-corp.example.com\nbad..domain\nco.uk');
  await page.click('#list-add button[type=submit]');
  await page.waitForSelector('#list-results li.bad >> nth=1');
  const results = await page.textContent('#list-results');
  assert.match(results, /Line 1: spammy-corp\.example\.com added/);
  assert.match(results, /Line 2 \(bad\.\.domain\)/);
  assert.match(results, /Line 3 \(co\.uk\): .*public suffix/);
  await page.waitForSelector('#list-domains li:has-text("spammy-corp.example.com")');
  await shot('05-custom-lists');
  const r = await check('a@mail.spammy-corp.example.com', 'unknown');
  assert.equal(r.body.category, 'black');
  assert.equal(r.body.type, 'black');
});

test('built-in lists: each source with its version, size, last update and last error', async () => {
  await go('lists');
  await page.waitForSelector('#sources-table tbody tr:has-text("mailchecker")');
  const row = await page.textContent('#sources-table tbody tr:has-text("mailchecker")');
  assert.match(row, /disposable/);
  assert.match(row, /6\.0\.21/);
  assert.match(row, /[0-9],[0-9]{3}/); // its size
  assert.match(row, /2026-07-14 0[0-9]:[0-9]{2}:[0-9]{2} UTC/); // last success (1784000000)
  assert.match(row, /HTTP 503 <b>x<\/b> \(2026-07-25/); // the error, as text
  assert.equal(await page.$$eval('#sources-table b', (b) => b.length), 0);
  const guard = await page.textContent('#sources-table tbody tr:has-text("guard")');
  assert.match(guard, /offline \(2026-11-24\)/);
  assert.match(await page.textContent('#sources-version'), /^Snapshot \d{4}\.\d\d\.\d\d-[0-9a-f]{8}: [0-9,]+ domains\.$/);
  await shot('07-built-in-lists');
});

test('young domain: a colour and a number of days in the UI, followed by the API', async () => {
  await go('colors');
  assert.equal(await page.inputValue('#young-days'), '30');
  assert.equal(await page.inputValue('select[data-type="young domain"]'), 'white');
  await page.fill('#young-days', '90');
  await page.selectOption('select[data-type="young domain"]', 'grey');
  await saveColors();
  const s = (await adminApi('GET', '/settings')).body;
  assert.equal(s.young_domain_days, 90);
  assert.equal(s.colors['young domain'], 'grey');
});

test('hostile names render as text, never as HTML', async () => {
  await page.evaluate(() => { window.__xss = 0; });
  await go('keys');
  await page.fill('#key-name', XSS);
  await page.click('#key-create button[type=submit]');
  await page.locator('#keys-table td', { hasText: XSS }).waitFor();
  await go('lists');
  await page.fill('#list-bulk', XSS);
  await page.click('#list-add button[type=submit]');
  await page.waitForSelector('#list-results li.bad');
  assert.equal(await page.evaluate(() => window.__xss), 0);
  assert.equal(await page.locator('main img').count(), 0);
  assert.match(await page.textContent('#list-results'), /<img src=x/);
});

test('usage chart and try it', async () => {
  await go('usage');
  await page.waitForSelector('#usage-chart svg rect');
  assert.ok(await page.locator('#usage-chart rect').count() >= 1);
  assert.match(await page.textContent('#usage-keys'), /All keys/);
  await shot('06-usage');
  await go('try');
  await page.fill('#try-key', liveKey);
  await page.fill('#try-email', 'john@gmial.com');
  await page.click('#try-form button[type=submit]');
  await page.waitForSelector('#try-result:not([hidden])');
  assert.match(await page.textContent('#try-verdict'), /BLACK — disposable/);
  assert.match(await page.textContent('#try-explain'), /Did you mean …@gmail\.com\?/);
  await shot('07-try-it');
});

test('360 px wide, keyboard, assets and headers', async () => {
  await page.setViewportSize({ width: 360, height: 800 });
  await go('colors');
  await page.uncheck('#ban-lift-never');
  const overflow = () => page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);
  assert.equal(await overflow(), false);
  await shot('08-narrow-360');
  await go('keys');
  await page.fill('#key-name', 'narrow');
  await page.click('#key-create button[type=submit]');
  await page.waitForSelector('#key-new:not([hidden])');
  assert.equal(await overflow(), false);
  // each key's buttons stay readable (a row, not one letter per line) and on screen
  const box = await page.locator('#keys-table tr', { hasText: 'narrow' }).locator('button', { hasText: 'Make active' }).boundingBox();
  assert.ok(box.height < 40 && box.x + box.width <= 360, JSON.stringify(box));
  await shot('08b-narrow-360-keys');
  await page.setViewportSize({ width: 1200, height: 900 });
  // every input has a label
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => !e.labels || !e.labels.length).map((e) => e.id));
  assert.deepEqual(unlabelled, []);
  const r = await fetch(base + '/dashboard/app.js');
  assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
  const etag = r.headers.get('etag');
  assert.equal((await fetch(base + '/dashboard/app.js', { headers: { 'If-None-Match': etag } })).status, 304);
  assert.equal((await fetch(base + '/dashboard/nope.js')).status, 404);
  const html = await (await fetch(base + '/dashboard/')).text();
  assert.doesNotMatch(html, /<script>|onclick=|style=/); // no inline script or style
});

test('batch: upload a CSV in the UI, watch it complete, download it and compare; delete it', async () => {
  await go('batch');
  assert.equal(await page.isVisible('#batch-empty'), true);
  await page.evaluate(() => { window.__xss = 0; });
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'uc-dash-batch-'));
  const file = path.join(dir, 'subscribers.csv');
  fs.writeFileSync(file, '\ufeffname;email;note\r\n"Doe; J";j@gmail.com;"two\r\nlines"\r\n' +
    'Al;al@mailinator.com;\r\n\r\nAL;AL@mailinator.com;last\r\n');
  await page.setInputFiles('#batch-file', file);
  await page.fill('#batch-project', 'Dash ' + XSS); // 46 characters: under the 50 allowed
  await page.uncheck('#batch-dedupe');
  await page.click('#batch-form button[type=submit]');
  await page.waitForFunction(() => /Processing started/.test(document.querySelector('#flash').textContent));
  const row = page.locator('#batch-table tr', { hasText: 'Dash ' });
  await row.locator('td.status.completed').waitFor(); // the page follows the task until it is done
  assert.match(await row.textContent(), /4 \/ 4/);
  assert.equal(await page.evaluate(() => window.__xss), 0); // the project name is text
  assert.ok((await row.textContent()).includes(XSS));
  await shot('09-batch');
  const [download] = await Promise.all([page.waitForEvent('download'),
    row.locator('button', { hasText: 'Download' }).click()]);
  assert.equal(download.suggestedFilename(), 'subscribers_cleaned.csv');
  const got = fs.readFileSync(await download.path(), 'utf8');
  assert.equal(got, '\ufeffname;email;note;category;domain_type;mx_record;did_you_mean\r\n' +
    '"Doe; J";j@gmail.com;"two\r\nlines";white;legitimate;unknown;\r\n' +
    'Al;al@mailinator.com;;black;disposable;unknown;\r\n' +
    ';;;;blank;;\r\n' +
    'AL;AL@mailinator.com;last;black;disposable;unknown;\r\n'); // no dedupe: both kept
  // the same task over the API, with a check key of the same account
  const r = await fetch(base + '/v1/external-api-requests/batch-check-emails', { headers: { Authorization: 'Bearer ' + liveKey } });
  const { tasks } = await r.json();
  assert.equal(tasks.length, 1);
  assert.equal(tasks[0].deduplicate, false);
  assert.equal(tasks[0].counts.black, 2);
  // a wrong extension is refused in words
  const bad = path.join(dir, 'list.pdf');
  fs.writeFileSync(bad, 'x');
  await page.setInputFiles('#batch-file', bad);
  await page.fill('#batch-project', 'bad');
  await page.click('#batch-form button[type=submit]');
  await page.waitForFunction(() => /Invalid file extension/.test(document.querySelector('#flash').textContent));
  await row.locator('button', { hasText: 'Delete' }).click();
  await page.waitForSelector('#batch-empty:not([hidden])');
  const after = await (await fetch(base + '/v1/external-api-requests/batch-check-emails/' + tasks[0].task_id,
    { headers: { Authorization: 'Bearer ' + liveKey } })).json();
  assert.equal(after.detail, 'Task does not exist or has not started');
});

test('signing out clears the key; a refused key sends back to sign-in', async () => {
  await page.click('#signout');
  await page.waitForSelector('#page-signin:not([hidden])');
  assert.equal(await page.evaluate(() => sessionStorage.getItem('uc_admin_key')), null);
  await page.evaluate(() => sessionStorage.setItem('uc_admin_key', 'ucl_admin_revoked'));
  await page.goto(base + '/dashboard/#usage');
  await page.waitForSelector('#page-signin:not([hidden])');
  assert.match(await page.textContent('#flash'), /sign in again/);
});
