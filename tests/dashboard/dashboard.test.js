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
  // shown, and its loader done: a form filled by a late load would undo what a test types
  await page.waitForSelector(`#page-${section}[data-loaded]:not([hidden])`);
}

before(async () => {
  fs.rmSync(SHOTS, { recursive: true, force: true }); // this run's screenshots only
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

test('sign in: no menu before it; a wrong key is refused in words, the admin key opens the dashboard', async () => {
  await page.goto(base + '/');  // the server's address leads to the dashboard
  assert.equal(new URL(page.url()).pathname, '/dashboard/');
  await page.waitForSelector('#page-signin:not([hidden])');
  assert.equal(await page.isVisible('#nav'), false); // no menu, no "Sign out" yet
  assert.equal(await page.isVisible('#signout'), false);
  const nav = await page.$eval('#nav', (e) => getComputedStyle(e).display);
  assert.equal(nav, 'none');
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
  assert.equal(await page.isVisible('#signout'), true);
  // the admin key's "Last used" follows admin calls
  const mine = page.locator('#keys-table tr', { hasText: '(signed in with it)' });
  await mine.waitFor();
  assert.match(await mine.locator('td[data-label="Last used"]').textContent(), /^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC$/);
  // the favicon is there
  assert.equal(await page.$eval('link[rel=icon]', (l) => l.href), base + '/dashboard/favicon.svg');
  const icon = await fetch(base + '/dashboard/favicon.svg');
  assert.equal(icon.status, 200);
  assert.equal(icon.headers.get('content-type'), 'image/svg+xml');
  assert.equal((await fetch(base + '/favicon.ico')).status, 200);
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

test('a ban made through the check API shows up; the section says what it lists and filters it; unbanning lets the IP back', async () => {
  const ip = '203.0.113.66', counting = '203.0.113.67';
  for (let i = 0; i < 5; i++) await check('x@mailinator.com', ip);
  assert.equal((await check('jane@gmail.com', ip)).status, 403);
  await check('x@mailinator.com', counting); // one attempt: counting, not banned
  await go('keys');
  assert.equal(await page.textContent('#bans-title'), 'IP bans and attempts');
  await page.click('#ban-refresh');
  const row = page.locator('#bans-table tr', { hasText: ip });
  await row.waitFor();
  assert.match(await row.locator('td[data-label="Status"]').textContent(), /^banned$/);
  const other = page.locator('#bans-table tr', { hasText: counting });
  assert.match(await other.locator('td[data-label="Status"]').textContent(), /^counting$/);
  assert.equal(await other.locator('td[data-label="Left before a ban"]').textContent(), '4');
  assert.match(await page.textContent('#bans-count'), /1 banned, 1 counting/);
  await page.selectOption('#ban-filter', 'banned');
  assert.equal(await other.count(), 0);
  assert.equal(await row.count(), 1);
  await page.selectOption('#ban-filter', 'counting');
  assert.equal(await row.count(), 0);
  assert.equal(await other.count(), 1);
  await page.selectOption('#ban-filter', 'all');
  await page.fill('#ban-search', '203.0.113.66');
  await shot('03-banned-ips');
  await row.locator('button', { hasText: 'Unban' }).click();
  await page.waitForFunction((x) => !document.querySelector('#bans-table').textContent.includes(x), ip);
  const again = await check('jane@gmail.com', ip);
  assert.equal(again.status, 200);
  assert.equal(again.body.remaining_attempts_before_ban, 5);
});

test('an IPv6 ban is unbanned from the UI by the key the list shows', async () => {
  const ip = '2001:db8:1:2::7';
  for (let i = 0; i < 5; i++) await check('x@mailinator.com', ip);
  assert.equal((await check('jane@gmail.com', '2001:db8:1:2::99')).status, 403);
  await go('keys');
  await page.fill('#ban-search', '2001:db8:1:2::');
  const row = page.locator('#bans-table tr', { hasText: '2001:db8:1:2::/64' });
  await row.waitFor();
  await row.locator('button', { hasText: 'Unban' }).click();
  await page.waitForFunction(() => /Unbanned 2001:db8:1:2::\/64/.test(document.querySelector('#flash').textContent));
  assert.equal((await check('jane@gmail.com', ip)).body.remaining_attempts_before_ban, 5);
  await page.fill('#ban-search', '');
});

test('threshold and colours changed in the UI are followed by the check API', async () => {
  await go('colors');
  // the page's loader fills the form: typing before it does would mix "5" and "2"
  await page.waitForFunction(() => document.querySelector('#ban-threshold').value === '5');
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

test('a domain added to the black list is classified black; bad lines are reported per line, as domains', async () => {
  await go('lists');
  await page.selectOption('#list-color', 'black');
  // what the placeholder suggests is accepted as it is
  const placeholder = await page.getAttribute('#list-bulk', 'placeholder');
  assert.doesNotMatch(placeholder, /\.example\b|\.test\b|\.invalid\b/);
  await page.fill('#list-bulk', placeholder);
  await page.click('#list-add button[type=submit]');
  await page.waitForFunction((n) => document.querySelectorAll('#list-results li').length === n, placeholder.split('\n').length);
  assert.equal(await page.locator('#list-results li.bad').count(), 0, await page.textContent('#list-results'));
  await page.fill('#list-bulk', 'spammy-corp.example.com\nbad..domain\nco.uk\nspam.example');
  await page.click('#list-add button[type=submit]');
  await page.waitForSelector('#list-results li.bad >> nth=2');
  const results = await page.textContent('#list-results');
  assert.match(results, /Line 1: spammy-corp\.example\.com added/);
  assert.match(results, /Line 2 \(bad\.\.domain\): A domain cannot have two periods in a row\./);
  assert.match(results, /Line 3 \(co\.uk\): .*public suffix/);
  assert.match(results, /Line 4 \(spam\.example\): The domain is a special-use or reserved name/);
  assert.doesNotMatch(results, /@-sign/);
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

test('usage shows banned answers; the legend has the colors of the bars', async () => {
  await adminApi('PATCH', '/settings', { colors: { 'multi-alias services': 'grey' } }); // a grey answer today
  assert.equal((await check('me@duck.com', 'unknown')).body.category, 'grey');
  await go('usage');
  await page.waitForSelector('#usage-chart svg rect');
  assert.match(await page.textContent('#usage-keys thead'), /Banned/);
  const u = (await adminApi('GET', '/usage?days=30')).body;
  assert.ok(u.total.banned >= 1); // the 403s of the ban test
  assert.equal(await page.textContent('#usage-keys tbody tr:last-child th[data-label="Banned"]'), String(u.total.banned));
  for (const cat of ['white', 'grey', 'black', 'banned']) {
    const bar = await page.$eval(`#usage-chart rect.${cat}`, (r) => getComputedStyle(r).fill);
    const swatch = await page.$eval(`#usage-legend .sw.${cat}`, (e) => getComputedStyle(e).backgroundColor);
    assert.equal(bar, swatch, cat);
  }
  assert.match(await page.textContent('#usage-keys'), /All keys/);
  await shot('06-usage');
});

test('try it needs no check key and counts nothing', async () => {
  const before = (await adminApi('GET', '/usage?days=1')).body.total.total;
  await go('try');
  assert.equal(await page.locator('#try-key').count(), 0);
  await page.fill('#try-email', 'john@gmial.com');
  await page.fill('#try-ip', '198.51.100.222');
  for (let i = 0; i < 6; i++) { // more than the threshold: still no ban
    await page.click('#try-form button[type=submit]');
    await page.waitForSelector('#try-result:not([hidden])');
  }
  assert.match(await page.textContent('#try-verdict'), /BLACK — disposable/);
  assert.match(await page.textContent('#try-explain'), /Did you mean john@gmail\.com\?/);
  const threshold = (await adminApi('GET', '/settings')).body.ban_threshold;
  assert.match(await page.textContent('#try-explain'), new RegExp('Attempts left for this IP: ' + threshold + '\\.'));
  await shot('07-try-it');
  assert.equal((await adminApi('GET', '/usage?days=1')).body.total.total, before);
  const bans = (await adminApi('GET', '/bans')).body.bans;
  assert.equal(bans.filter((b) => b.ip === '198.51.100.222').length, 0);
  await page.fill('#try-email', 'not an address');
  await page.click('#try-form button[type=submit]');
  await page.waitForSelector('#flash.error:not([hidden])');
  assert.match(await page.textContent('#flash'), /value is not a valid email address: An email address must have an @-sign/);
});

test('activity shows the last checks live: domains only unless the account shows addresses', async () => {
  await go('activity');
  await page.waitForSelector('#activity-table tbody tr');
  const sandbox = (await adminApi('POST', '/keys', { name: 'activity sandbox', type: 'sandbox' })).body.key;
  await check('someone.live@fresh-activity.com', '192.0.2.77'); // arrives while the page is open
  const row = page.locator('#activity-table tbody tr', { hasText: 'fresh-activity.com' });
  await row.waitFor({ timeout: 15000 });
  assert.equal(await row.locator('td[data-label="Domain"]').textContent(), 'fresh-activity.com');
  assert.equal(await row.locator('td[data-label="Category"]').textContent(), 'white');
  assert.equal(await row.locator('td[data-label="IP"]').textContent(), '192.0.2.77');
  assert.doesNotMatch(await page.textContent('#activity-table'), /someone\.live@/);
  await check('test@disposable.com', 'unknown', sandbox);
  await page.locator('#activity-table tbody tr', { hasText: 'activity sandbox (sandbox)' }).waitFor({ timeout: 15000 });
  assert.match(await page.textContent('#top-domains'), /mailinator\.com: \d+/);
  assert.match(await page.textContent('#top-ips'), /203\.0\.113\.66: \d+/);
  await shot('09-activity');
  // whole addresses once the account says so (Color Configuration)
  await go('colors');
  await page.check('#activity-emails');
  await saveColors();
  await go('activity');
  await check('second.live@fresh-activity.com', '192.0.2.78');
  await page.locator('#activity-table tbody tr', { hasText: 'second.live@fresh-activity.com' }).waitFor({ timeout: 15000 });
  assert.match(await page.textContent('#activity-shown'), /whole addresses/);
  await adminApi('PATCH', '/settings', { activity_emails: false });
  // pausing stops the refresh; resuming catches up
  const rows = () => page.locator('#activity-table tbody tr').count();
  await page.click('#activity-pause');
  assert.equal(await page.textContent('#activity-state'), 'Paused');
  const before = await rows();
  await check('third.live@fresh-activity.com', '192.0.2.79');
  await new Promise((r) => setTimeout(r, 5000)); // more than two refresh periods
  assert.equal(await rows(), before);
  await page.click('#activity-pause');
  await page.waitForFunction((n) => document.querySelectorAll('#activity-table tbody tr').length === n + 1, before);
});

test('the ban list pages on the server, searches there, and unbans all with all=true', async () => {
  // After the Activity test (these 210 checks would fill its feed of 200) and from no bans.
  assert.equal((await adminApi('DELETE', '/bans?all=true')).status, 200);
  for (let i = 0; i < 105; i++) await check('x@mailinator.com', '10.9.' + Math.floor(i / 100) + '.' + (i % 100));
  await go('keys');
  await page.click('#ban-refresh');
  await page.waitForFunction(() => document.querySelectorAll('#bans-table tbody tr').length === 100);
  assert.equal(await page.isVisible('#ban-more'), true);
  await page.click('#ban-more');
  await page.waitForFunction(() => document.querySelectorAll('#bans-table tbody tr').length === 105);
  assert.equal(await page.isVisible('#ban-more'), false);
  await page.fill('#ban-search', '10.9.1.');
  await page.waitForFunction(() => document.querySelectorAll('#bans-table tbody tr').length === 5);
  await page.fill('#ban-search', '');
  await page.waitForFunction(() => document.querySelectorAll('#bans-table tbody tr').length === 100);
  await page.click('#ban-all'); // confirm() is accepted
  await page.waitForFunction(() => /Unbanned \d+ IP\(s\)/.test(document.querySelector('#flash').textContent));
  await page.waitForSelector('#bans-empty:not([hidden])');
  assert.deepEqual((await adminApi('GET', '/bans')).body.bans, []);
});

test('a late answer to an older ban search never replaces a newer list', async () => {
  for (let i = 0; i < 105; i++) await check('x@mailinator.com', '10.8.' + Math.floor(i / 100) + '.' + (i % 100));
  await go('keys');
  let release;
  const held = new Promise((r) => { release = r; });
  const stale = /\/v1\/admin\/bans\?.*q=10\.8\.1\./;
  await page.route(stale, async (route) => { const r = await route.fetch(); await held; await route.fulfill({ response: r }); });
  const asked = page.waitForRequest(stale);
  await page.fill('#ban-search', '10.8.1.'); // its answer (5 rows) is held back
  await asked;
  await page.fill('#ban-search', '');
  await page.waitForFunction(() => document.querySelectorAll('#bans-table tbody tr').length === 100);
  const answered = page.waitForResponse(stale);
  release();
  await answered;
  await page.evaluate(() => new Promise((r) => setTimeout(r, 50))); // the page handles it
  await page.unroute(stale);
  assert.equal(await page.$$eval('#bans-table tbody tr', (rows) => rows.length), 100);
  assert.equal((await adminApi('DELETE', '/bans?all=true')).status, 200);
});

// Every page at 1280 and at 360 px: screenshots of each, and at 360 nothing
// wider than the screen and no cell squeezed to a letter per line.
const PAGES = ['keys', 'colors', 'lists', 'usage', 'batch', 'activity', 'try'];

async function squeezed() {
  return page.evaluate(() => {
    const bad = [];
    for (const cell of document.querySelectorAll('main td, main th')) {
      const r = cell.getBoundingClientRect();
      const text = cell.textContent.trim();
      if (!r.width || !text || cell.offsetParent === null) continue;
      const lineHeight = parseFloat(getComputedStyle(cell).lineHeight) || 20;
      if (text.length > 3 && r.height > 4 * lineHeight && r.width < 60) bad.push(text.slice(0, 20) + ' ' + Math.round(r.width) + 'x' + Math.round(r.height));
    }
    return bad;
  });
}

const overflowing = () => page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1);

test('every page at 1280 and 360 px: screenshots; at 360 nothing overflows or squeezes', async () => {
  for (const width of [1280, 360]) {
    await page.setViewportSize({ width, height: 800 });
    for (const p of PAGES) {
      await go(p);
      await page.waitForTimeout(300); // its loader's rows
      await shot(`page-${p}-${width}`);
      if (width === 360) {
        assert.equal(await overflowing(), false, p + ' is wider than 360 px');
        assert.deepEqual(await squeezed(), [], p);
        for (const b of await page.locator('main button:visible').all()) {
          const box = await b.boundingBox();
          assert.ok(box.height < 48 && box.x + box.width <= 360, p + ': ' + JSON.stringify(box));
        }
      }
    }
    const docs = await browser.newPage({ viewport: { width, height: 800 } });
    await docs.goto(base + '/docs');
    await docs.waitForSelector('#docs-ops .op');
    await docs.screenshot({ path: path.join(SHOTS, `page-docs-${width}.png`), fullPage: false });
    if (width === 360) assert.equal(await docs.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1), false);
    await docs.close();
  }
  // the sign-in page too
  await page.evaluate(() => sessionStorage.removeItem('uc_admin_key'));
  await page.goto(base + '/dashboard/#signin');
  await page.waitForSelector('#page-signin:not([hidden])');
  await shot('page-signin-360');
  assert.equal(await overflowing(), false);
  await page.setViewportSize({ width: 1280, height: 800 });
  await shot('page-signin-1280');
  await page.fill('#signin-key', adminKey);
  await page.click('#signin-form button');
  await page.waitForSelector('#page-keys:not([hidden])');
});

test('keyboard, labels, spelling, assets and headers', async () => {
  await page.setViewportSize({ width: 360, height: 800 });
  await go('keys');
  await page.fill('#key-name', 'narrow');
  await page.click('#key-create button[type=submit]');
  await page.waitForSelector('#key-new:not([hidden])');
  assert.equal(await overflowing(), false);
  // each key's buttons stay readable (a row, not one letter per line) and on screen
  const box = await page.locator('#keys-table tr', { hasText: 'narrow' }).locator('button', { hasText: 'Make active' }).boundingBox();
  assert.ok(box.height < 40 && box.x + box.width <= 360, JSON.stringify(box));
  await shot('08b-narrow-360-keys');
  await page.setViewportSize({ width: 1200, height: 900 });
  // every input has a label
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('input, select, textarea')]
    .filter((e) => !e.labels || !e.labels.length).map((e) => e.id));
  assert.deepEqual(unlabelled, []);
  // the hosted spelling, everywhere
  const html = await (await fetch(base + '/dashboard/')).text();
  const js = await (await fetch(base + '/dashboard/app.js')).text();
  assert.doesNotMatch(html + js, /[Cc]olour/);
  const r = await fetch(base + '/dashboard/app.js');
  assert.equal(r.headers.get('content-type'), 'text/javascript; charset=utf-8');
  assert.match(r.headers.get('content-security-policy'), /script-src 'self'/);
  const etag = r.headers.get('etag');
  assert.equal((await fetch(base + '/dashboard/app.js', { headers: { 'If-None-Match': etag } })).status, 304);
  assert.equal((await fetch(base + '/dashboard/nope.js')).status, 404);
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
