// The dashboard: a single page over the admin API. Every value from the
// server is inserted as text (textContent / createTextNode), never as HTML.
'use strict';

const $ = (sel) => document.querySelector(sel);
const KEY = 'uc_admin_key';

// el('td', {class: 'x'}, 'text', childNode): children strings become text nodes.
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') node.addEventListener('click', v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

let pending = null; // a message that must survive the next navigation

function flash(message, isError) {
  const f = $('#flash');
  f.textContent = message;
  f.className = isError ? 'error' : '';
  f.hidden = !message;
}

// Shows an error unless it was already dealt with (a refused key signs out).
function report(e) {
  if (!e.handled) flash(e.message, true);
}

// Turns an API error body into words for people.
function explain(status, body) {
  if (body && typeof body.detail === 'string') return body.detail;
  if (body && Array.isArray(body.detail) && body.detail.length) {
    const d = body.detail[0];
    const where = (d.loc || []).filter((x) => x !== 'body' && x !== 'path').join('.');
    // "domain: A domain cannot ..." says it twice: the field is named only when the words do not
    const named = where && d.msg.toLowerCase().includes(where.toLowerCase());
    return (where && !named ? where + ': ' : '') + d.msg;
  }
  return 'The server answered ' + status + '.';
}

class ApiError extends Error {
  constructor(status, body) { super(explain(status, body)); this.status = status; this.body = body; }
}

async function api(method, path, body, key) {
  const headers = { Authorization: 'Bearer ' + (key || sessionStorage.getItem(KEY) || '') };
  if (body !== undefined) headers['Content-Type'] = 'application/json';
  let res;
  try {
    res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  } catch (e) {
    throw new ApiError(0, { detail: 'The server cannot be reached: ' + e.message });
  }
  let data = null;
  try { data = await res.json(); } catch (e) { data = null; }
  if (!res.ok) {
    const err = new ApiError(res.status, data);
    if (res.status === 401 && !key) { // the stored admin key stopped working
      err.handled = true;
      signOut('Your key was refused; sign in again.');
    }
    throw err;
  }
  return data;
}
const admin = (method, path, body) => api(method, '/v1/admin' + path, body);

// Labels each body cell with its column's heading: a narrow screen shows every
// row of a "cards" table as a card of "Heading: value" lines.
function labelCells(table) {
  const heads = [...table.querySelectorAll('thead th')].map((th) => th.textContent.trim());
  for (const tr of table.querySelectorAll('tbody tr')) {
    [...tr.cells].forEach((cell, i) => { if (heads[i] && !cell.dataset.label) cell.dataset.label = heads[i]; });
  }
}

// ---- navigation ----

const pages = ['signin', 'keys', 'colors', 'lists', 'usage', 'batch', 'activity', 'try'];
const loaders = {};
const leavers = {}; // what a page stops when another is shown

function show(page) {
  const signedIn = !!sessionStorage.getItem(KEY);
  if (!signedIn) page = 'signin';
  else if (page === 'signin' || !pages.includes(page)) page = 'keys';
  for (const p of pages) {
    if (p !== page && leavers[p]) leavers[p]();
    $('#page-' + p).hidden = p !== page;
  }
  $('#nav').hidden = !signedIn;
  for (const a of document.querySelectorAll('#nav a')) {
    if (a.dataset.page === page) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  // data-loaded: the page's loader is done (tests wait for it before typing into a form)
  const shown = $('#page-' + page);
  delete shown.dataset.loaded;
  const loaded = () => { shown.dataset.loaded = ''; };
  if (loaders[page]) loaders[page]().catch((e) => report(e)).finally(loaded);
  else loaded();
}

function route() {
  flash(pending ? pending : '', !!pending);
  pending = null;
  show(location.hash.slice(1) || 'keys');
}

function signOut(message) {
  sessionStorage.removeItem(KEY);
  pending = message || null;
  if (location.hash !== '#signin') location.hash = '#signin'; // route() runs on hashchange
  else route();
}

$('#signin-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const key = $('#signin-key').value.trim();
  try {
    await api('GET', '/v1/admin/settings', undefined, key);
    sessionStorage.setItem(KEY, key);
    $('#signin-key').value = '';
    location.hash = '#keys';
    route();
  } catch (e) {
    flash(e.status === 401 || e.status === 403 ? 'That is not an admin key of this server.' : e.message, true);
  }
});
$('#signout').addEventListener('click', () => signOut(''));
window.addEventListener('hashchange', route);

// ---- API Settings: keys and bans ----

const fmtTime = (iso) => (iso ? iso.replace('T', ' ').replace('Z', ' UTC') : '—');

const PREFIX = { active: 'ucl_live_', sandbox: 'ucl_test_', admin: 'ucl_admin_' };

async function loadKeys() {
  const { keys } = await admin('GET', '/keys');
  const mine = sessionStorage.getItem(KEY) || '';
  const tbody = $('#keys-table tbody');
  tbody.replaceChildren();
  for (const k of keys) {
    // Admin keys keep their type: the server refuses promotions, and demoting one
    // from here could end this very session.
    const actions = el('td', {}, el('button', { type: 'button', class: 'small', onclick: () => renameKey(k) }, 'Rename'), ' ');
    if (k.type !== 'admin') {
      actions.append(el('button', { type: 'button', class: 'small', onclick: () => switchKey(k) },
        k.type === 'active' ? 'Make sandbox' : 'Make active'), ' ');
    }
    actions.append(el('button', { type: 'button', class: 'small', onclick: () => limitKey(k) }, 'Limit'), ' ');
    actions.append(el('button', { type: 'button', class: 'small danger', onclick: () => revokeKey(k) }, 'Revoke'));
    const name = el('td', {}, k.name);
    if (mine.startsWith(k.prefix)) name.append(' ', el('span', { class: 'hint' }, '(signed in with it)'));
    tbody.append(el('tr', {}, name, el('td', {}, k.type), el('td', {}, el('code', {}, k.prefix + '…')),
      el('td', {}, fmtTime(k.created_at)), el('td', {}, fmtTime(k.last_used_at)), el('td', {}, rateText(k)),
      actions));
  }
  labelCells($('#keys-table'));
}

const rateText = (k) => (k.rate_limit_per_second
  ? k.rate_limit_per_second + '/s, ' + (k.rate_limit_burst || k.rate_limit_per_second) + ' at once'
  : "the account's");

// A key's own rate limit: "10" or "10/20" (a second / at once); 0 gives it the account's back.
async function limitKey(k) {
  const text = prompt('Checks a second for "' + k.name + '", and optionally how many at once after a "/" ' +
    '(e.g. 10 or 10/20). 0: the account\'s limit (Color Configuration).',
  k.rate_limit_per_second ? k.rate_limit_per_second + '/' + k.rate_limit_burst : '0');
  if (text === null) return;
  const m = /^\s*(\d+)\s*(?:\/\s*(\d+))?\s*$/.exec(text);
  if (!m) { flash('Enter a whole number, or two separated by "/" (e.g. 10/20).', true); return; }
  const body = { rate_limit_per_second: Number(m[1]), rate_limit_burst: Number(m[2] || 0) };
  try { await admin('PATCH', '/keys/' + k.id, body); flash('Rate limit of "' + k.name + '" saved.'); await loadKeys(); } catch (e) { report(e); }
}

// Shows key text the server will never show again, in the one place for it.
function showNewKey(key, note) {
  $('#key-new-note').textContent = note;
  $('#key-new-value').textContent = key;
  $('#key-new').hidden = false;
  $('#key-copy').focus();
}

async function renameKey(k) {
  const name = prompt('New name for "' + k.name + '"', k.name);
  if (name === null) return;
  try { await admin('PATCH', '/keys/' + k.id, { name }); flash('Renamed.'); await loadKeys(); } catch (e) { report(e); }
}

// A retype gives the key new text (its prefix tells its type): say so before, show it once after.
async function switchKey(k) {
  const type = k.type === 'active' ? 'sandbox' : 'active';
  const what = type === 'active' ? 'An active key classifies every address and counts in usage.'
    : 'A sandbox key classifies only the three test addresses and counts nothing.';
  if (!confirm('Make "' + k.name + '" ' + type + '?\n\n' + what + '\n\nThe key gets new text starting ' +
    PREFIX[type] + ', shown once on this page. Its current text (' + k.prefix + '…) stops working at once: ' +
    'every integration using it is refused until it has the new text.')) return;
  let r;
  try { r = await admin('PATCH', '/keys/' + k.id, { type }); } catch (e) { report(e); return; }
  flash('"' + r.name + '" is now ' + r.type + '.');
  if (r.key) {
    showNewKey(r.key, 'New text of "' + r.name + '", now ' + r.type + '. It is shown this once: store it now and ' +
      'update your integration. The old text (' + k.prefix + '…) no longer works.');
  }
  await loadKeys().catch((e) => report(e));
}

async function revokeKey(k) {
  if (!confirm('Revoke "' + k.name + '"? Requests with it will be refused at once.')) return;
  try { await admin('DELETE', '/keys/' + k.id); flash('Revoked "' + k.name + '".'); await loadKeys(); } catch (e) { report(e); }
}

$('#key-create').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  try {
    const k = await admin('POST', '/keys', { name: $('#key-name').value, type: $('#key-type').value });
    showNewKey(k.key, 'Your new key. It is shown this once: copy it now.');
    $('#key-name').value = '';
    await loadKeys();
  } catch (e) { report(e); }
});

$('#key-copy').addEventListener('click', async () => {
  try { await navigator.clipboard.writeText($('#key-new-value').textContent); flash('Copied.'); } catch (e) { flash('Copy failed: select the key and copy it by hand.', true); }
});

// Banned IPs, a page at a time (GET /v1/admin/bans?limit=&cursor=&q=): an
// account under attack can have hundreds of thousands.
const BAN_PAGE = 100;
let bans = [];
let banCursor = null;
let banLoads = 0; // loads started: only the latest one's answer is shown
async function loadBans(more) {
  const q = $('#ban-search').value.trim();
  let path = '/bans?limit=' + BAN_PAGE + (q ? '&q=' + encodeURIComponent(q) : '');
  if (more && banCursor) path += '&cursor=' + encodeURIComponent(banCursor);
  const mine = ++banLoads;
  const page = await admin('GET', path);
  // Answers can arrive out of order (a search typed, then Refresh, then Show more):
  // one that a later load superseded would show an older list, or another query's.
  if (mine !== banLoads) return;
  bans = more ? bans.concat(page.bans) : page.bans;
  banCursor = page.next_cursor;
  renderBans();
}

function renderBans() {
  const want = $('#ban-filter').value; // the search (q) is the server's; the status filter the page's
  const tbody = $('#bans-table tbody');
  tbody.replaceChildren();
  const shown = bans.filter((b) => want === 'all' || (want === 'banned') === b.banned);
  for (const b of shown) {
    const ip = el('td', {}, el('code', {}, b.ip));
    if (b.aggregate) ip.append(' ', el('span', { class: 'hint' }, '(a /48: enough prefixes inside it were banned)'));
    tbody.append(el('tr', {}, ip, el('td', {}, b.banned ? 'banned' : 'counting'),
      el('td', {}, b.attempts), el('td', {}, b.banned ? '—' : b.remaining), el('td', {}, fmtTime(b.banned_at)),
      el('td', {}, el('button', { type: 'button', class: 'small', onclick: () => unban(b.ip) }, b.banned ? 'Unban' : 'Reset count'))));
  }
  labelCells($('#bans-table'));
  const banned = bans.filter((b) => b.banned).length;
  $('#bans-count').textContent = banned + ' banned, ' + (bans.length - banned) + ' counting' +
    (banCursor ? ' loaded (Show more for the rest)' : '') +
    (shown.length !== bans.length ? '; ' + shown.length + ' shown' : '') + '.';
  $('#bans-empty').hidden = bans.length > 0;
  $('#ban-more').hidden = !banCursor;
}

async function unban(ip) {
  // The IP as listed, IPv6 prefixes included ("2001:db8::/64"): encoded, its "/" is part of the item.
  try { await admin('DELETE', '/bans/' + encodeURIComponent(ip)); flash('Unbanned ' + ip + '.'); await loadBans(); } catch (e) { report(e); }
}

let banSearchTimer = null;
$('#ban-search').addEventListener('input', () => {
  clearTimeout(banSearchTimer);
  banSearchTimer = setTimeout(() => loadBans().catch((e) => report(e)), 250);
});
$('#ban-filter').addEventListener('change', renderBans);
$('#ban-refresh').addEventListener('click', () => loadBans().catch((e) => report(e)));
$('#ban-more').addEventListener('click', () => loadBans(true).catch((e) => report(e)));
$('#ban-all').addEventListener('click', async () => {
  if (!confirm('Unban every IP of this account?')) return;
  try { const r = await admin('DELETE', '/bans?all=true'); flash('Unbanned ' + r.unbanned + ' IP(s).'); await loadBans(); } catch (e) { report(e); }
});

loaders.keys = async () => { $('#key-new').hidden = true; await Promise.all([loadKeys(), loadBans()]); };

// ---- Color Configuration ----

const TYPES = [
  ['masked legitimate', ['black', 'grey'], 'The domain is not listed, but its mail servers are those of disposable services.'],
  ['no website', ['black', 'grey'], 'The domain does not resolve at all, or refuses mail (null MX).'],
  ['multi-alias services', ['grey', 'white', 'black'], 'Forwarding aliases (Apple Hide My Email, SimpleLogin, Firefox Relay, ...): a real person behind each.'],
  ['suspicious signs', ['grey', 'white', 'black'], 'A +tag in the mailbox, or more than three dots in it.'],
  ['young domain', ['white', 'grey', 'black'], 'Registered recently (RDAP), and nothing above fired. White: only the young_domain signal says so.'],
];

function buildColorRows() {
  const box = $('#color-rows');
  box.replaceChildren();
  TYPES.forEach(([type, allowed, help], i) => {
    const select = el('select', { id: 'color-' + i, 'data-type': type });
    for (const c of allowed) select.append(el('option', { value: c }, c));
    box.append(el('div', { class: 'color-row' }, el('label', { for: 'color-' + i }, type), select, el('span', { class: 'hint' }, help)));
  });
}

// Ban lift: the API keeps seconds (0 = never); people pick an amount and a unit.
const LIFT_MAX = 366 * 86400; // the server's limit, 31622400 seconds
const LIFT_UNITS = [86400, 3600, 60, 1];

// Shows seconds in the largest unit that divides them exactly. Seconds are offered only
// for a stored value that is no whole number of minutes (set through the API), so that
// saving the form leaves it as it was.
function showLift(seconds) {
  const never = !seconds;
  const unit = never ? 86400 : LIFT_UNITS.find((u) => seconds % u === 0);
  const select = $('#ban-lift-unit');
  const odd = select.querySelector('option[value="1"]');
  if (unit === 1 && !odd) select.append(el('option', { value: '1' }, 'seconds'));
  if (unit !== 1 && odd) odd.remove();
  select.value = String(unit);
  $('#ban-lift').value = never ? 1 : seconds / unit;
  $('#ban-lift-never').checked = never;
  syncLift();
}

// Disables the amount under "never" and words the browser's own check for the unit chosen.
function syncLift() {
  const input = $('#ban-lift'), select = $('#ban-lift-unit');
  const never = $('#ban-lift-never').checked;
  const max = Math.floor(LIFT_MAX / Number(select.value));
  input.disabled = select.disabled = never;
  input.max = max;
  const ok = /^\d+$/.test(input.value) && Number(input.value) >= 1 && Number(input.value) <= max;
  input.setCustomValidity(never || ok ? '' : 'Enter a whole number of ' + select.selectedOptions[0].textContent +
    ' from 1 to ' + max + ': bans lift after 366 days at most.');
}

const liftSeconds = () => ($('#ban-lift-never').checked ? 0 : Number($('#ban-lift').value) * Number($('#ban-lift-unit').value));

for (const [id, ev] of [['#ban-lift', 'input'], ['#ban-lift-unit', 'change'], ['#ban-lift-never', 'change']]) {
  $(id).addEventListener(ev, syncLift);
}

loaders.colors = async () => {
  const s = await admin('GET', '/settings');
  $('#ban-enabled').checked = s.ban_enabled;
  $('#ban-threshold').value = s.ban_threshold;
  showLift(s.ban_lift_seconds);
  $('#ipv6-prefix').value = s.ipv6_prefix;
  $('#ipv6-aggregate').value = s.ipv6_aggregate;
  $('#ban-loopback').checked = s.ban_loopback;
  $('#never-ban').value = s.never_ban.join('\n');
  $('#rate-per-second').value = s.rate_limit_per_second;
  $('#rate-burst').value = s.rate_limit_burst;
  $('#count-typos').checked = s.count_typos;
  $('#activity-emails').checked = s.activity_emails;
  for (const select of document.querySelectorAll('#color-rows select')) select.value = s.colors[select.dataset.type];
  $('#young-days').value = s.young_domain_days;
};

$('#colors-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const colors = {};
  for (const select of document.querySelectorAll('#color-rows select')) colors[select.dataset.type] = select.value;
  const body = {
    ban_enabled: $('#ban-enabled').checked,
    ban_threshold: Number($('#ban-threshold').value),
    ban_lift_seconds: liftSeconds(),
    ipv6_prefix: Number($('#ipv6-prefix').value),
    ipv6_aggregate: Number($('#ipv6-aggregate').value),
    ban_loopback: $('#ban-loopback').checked,
    never_ban: $('#never-ban').value.split('\n').map((x) => x.trim()).filter(Boolean),
    rate_limit_per_second: Number($('#rate-per-second').value),
    rate_limit_burst: Number($('#rate-burst').value),
    young_domain_days: Number($('#young-days').value),
    count_typos: $('#count-typos').checked,
    activity_emails: $('#activity-emails').checked,
    colors,
  };
  try {
    const s = await admin('PATCH', '/settings', body);
    if (s && typeof s.ban_lift_seconds === 'number') showLift(s.ban_lift_seconds);
    flash('Saved. The next check follows these settings.');
  } catch (e) { report(e); }
});

// ---- Custom lists ----

let listDomains = [];
loaders.lists = async () => {
  listDomains = (await admin('GET', '/lists/' + $('#list-color').value)).domains;
  renderList();
  await loadSources();
};

// The built-in lists: what is in use, and how each living source's updates went.
async function loadSources() {
  const s = await admin('GET', '/sources');
  $('#sources-version').textContent = 'Snapshot ' + s.version + ': ' + s.domains.toLocaleString('en') + ' domains.';
  const tbody = $('#sources-table tbody');
  tbody.replaceChildren();
  for (const src of s.sources) {
    const update = src.url ? fmtTime(src.last_success) : 'offline (' + src.date + ')';
    const error = src.last_error ? src.last_error + ' (' + fmtTime(src.last_error_at) + ')' : '—';
    tbody.append(el('tr', {}, el('td', {}, src.name), el('td', {}, src.kind), el('td', {}, src.version),
      el('td', { class: 'num' }, src.entries.toLocaleString('en')), el('td', {}, update),
      el('td', { class: src.last_error ? 'bad' : '' }, error)));
  }
  labelCells($('#sources-table'));
}

function renderList() {
  const q = $('#list-search').value.trim().toLowerCase();
  const ul = $('#list-domains');
  ul.replaceChildren();
  for (const d of listDomains.filter((x) => x.includes(q))) {
    ul.append(el('li', {}, el('span', {}, d), el('button', { type: 'button', class: 'small danger', onclick: () => removeDomain(d) }, 'Remove')));
  }
  $('#list-empty').hidden = listDomains.length > 0;
}

async function removeDomain(d) {
  const color = $('#list-color').value;
  try { await admin('DELETE', '/lists/' + color + '/' + encodeURIComponent(d)); flash('Removed ' + d + '.'); await loaders.lists(); } catch (e) { report(e); }
}

$('#list-color').addEventListener('change', () => loaders.lists().catch((e) => report(e)));
$('#list-search').addEventListener('input', renderList);
$('#list-add').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const color = $('#list-color').value;
  const lines = $('#list-bulk').value.split('\n').map((x) => x.trim()).filter(Boolean);
  const results = $('#list-results');
  results.replaceChildren();
  const failed = [];
  for (const [i, line] of lines.entries()) {
    try {
      const r = await admin('PUT', '/lists/' + color + '/' + encodeURIComponent(line));
      results.append(el('li', {}, 'Line ' + (i + 1) + ': ' + r.domain + ' added to ' + color + '.'));
    } catch (e) {
      failed.push(line);
      results.append(el('li', { class: 'bad' }, 'Line ' + (i + 1) + ' (' + line + '): ' + e.message));
    }
  }
  $('#list-bulk').value = failed.join('\n'); // what is left to fix
  await loaders.lists();
});

// ---- Usage ----

function chart(days) {
  const NS = 'http://www.w3.org/2000/svg';
  const W = 600, H = 220, pad = 30, n = 30;
  const svg = document.createElementNS(NS, 'svg');
  svg.setAttribute('viewBox', '0 0 ' + W + ' ' + H);
  svg.setAttribute('role', 'img');
  const byDate = new Map(days.map((d) => [d.date, d]));
  const today = new Date();
  const series = [];
  for (let i = n - 1; i >= 0; i--) {
    const d = new Date(Date.UTC(today.getUTCFullYear(), today.getUTCMonth(), today.getUTCDate() - i));
    const key = d.toISOString().slice(0, 10);
    series.push(byDate.get(key) || { date: key, white: 0, grey: 0, black: 0, banned: 0, total: 0 });
  }
  const max = Math.max(1, ...series.map((d) => d.total));
  const bw = (W - pad) / n;
  const title = document.createElementNS(NS, 'title');
  title.textContent = 'Checks per day, ' + series[0].date + ' to ' + series[n - 1].date + '; most in a day: ' + max;
  svg.append(title);
  series.forEach((d, i) => {
    let y = H - pad;
    for (const cat of ['white', 'grey', 'black', 'banned']) {
      const h = (d[cat] / max) * (H - 2 * pad);
      if (h <= 0) continue;
      const r = document.createElementNS(NS, 'rect');
      r.setAttribute('x', pad + i * bw + 1);
      r.setAttribute('y', y - h);
      r.setAttribute('width', Math.max(1, bw - 2));
      r.setAttribute('height', h);
      r.setAttribute('class', cat); // filled by style.css, as its legend swatch is
      const t = document.createElementNS(NS, 'title');
      t.textContent = d.date + ': ' + d[cat] + ' ' + cat;
      r.append(t);
      svg.append(r);
      y -= h;
    }
  });
  const axis = document.createElementNS(NS, 'text');
  axis.setAttribute('x', 2); axis.setAttribute('y', pad - 8); axis.setAttribute('font-size', '12');
  axis.textContent = String(max);
  svg.append(axis);
  for (const [i, label] of [[0, series[0].date], [n - 1, series[n - 1].date]]) {
    const t = document.createElementNS(NS, 'text');
    t.setAttribute('x', pad + i * bw); t.setAttribute('y', H - 8); t.setAttribute('font-size', '12');
    if (i) t.setAttribute('text-anchor', 'end'), t.setAttribute('x', W - 2);
    t.textContent = label;
    svg.append(t);
  }
  return svg;
}

loaders.usage = async () => {
  const u = await admin('GET', '/usage?days=30');
  $('#usage-chart').replaceChildren(chart(u.by_day));
  const tbody = $('#usage-keys tbody');
  tbody.replaceChildren();
  const cells = (tag, c) => ['white', 'grey', 'black', 'banned', 'total'].map((x) => el(tag, {}, c[x]));
  for (const k of u.by_key) tbody.append(el('tr', {}, el('td', {}, k.name || ('#' + k.id)), ...cells('td', k)));
  tbody.append(el('tr', {}, el('th', {}, 'All keys'), ...cells('th', u.total)));
  const heads = [...$('#usage-keys').querySelectorAll('thead th')].map((th) => th.textContent);
  for (const tr of tbody.rows) [...tr.cells].forEach((c, i) => { c.dataset.label = heads[i]; });
};

// ---- Batch ----

const BATCH = '/v1/external-api-requests/batch-check-emails';
let batchTimer = null;

// The batch routes take the admin key too (the dashboard's session); uploads are multipart.
async function batchCall(method, path, form) {
  const headers = { Authorization: 'Bearer ' + (sessionStorage.getItem(KEY) || '') };
  let res;
  try {
    res = await fetch(BATCH + path, { method, headers, body: form });
  } catch (e) {
    throw new ApiError(0, { detail: 'The server cannot be reached: ' + e.message });
  }
  if (!res.ok) {
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    const err = new ApiError(res.status, data);
    if (res.status === 401) { // the stored admin key stopped working
      err.handled = true;
      signOut('Your key was refused; sign in again.');
    }
    throw err;
  }
  return res;
}

function statusCell(t) {
  const td = el('td', { 'data-label': 'Status', class: 'status ' + t.status });
  if (t.status === 'processing') {
    const pct = t.rows_total ? Math.floor((100 * t.rows_done) / t.rows_total) : 0;
    td.append(el('progress', { max: '100', value: String(pct), 'aria-label': 'Progress of ' + t.project_name }),
      ' ', t.rows_total ? pct + '%' : 'counting rows…');
  } else {
    td.append(t.status);
    if (t.failure_reason) td.append(el('div', { class: 'hint' }, t.failure_reason));
  }
  return td;
}

function batchRow(t) {
  const actions = el('td', {});
  if (t.status === 'completed') {
    actions.append(el('button', { type: 'button', class: 'small', onclick: () => downloadTask(t) }, 'Download'), ' ');
  }
  actions.append(el('button', { type: 'button', class: 'small danger', onclick: () => deleteTask(t) }, 'Delete'));
  const c = t.counts || {};
  const tr = el('tr', { 'data-task': t.task_id }, el('td', {}, t.project_name), el('td', {}, t.file_name), statusCell(t),
    el('td', {}, t.rows_done + ' / ' + t.rows_total), el('td', {}, c.white || 0), el('td', {}, c.grey || 0),
    el('td', {}, c.black || 0), el('td', {}, fmtTime(t.created_at)), actions);
  return tr;
}

loaders.batch = async () => {
  clearTimeout(batchTimer);
  const { tasks } = await (await batchCall('GET', '')).json();
  const tbody = $('#batch-table tbody');
  tbody.replaceChildren(...tasks.map(batchRow));
  labelCells($('#batch-table'));
  $('#batch-empty').hidden = tasks.length > 0;
  // live progress: poll while something runs and this page is shown
  if (tasks.some((t) => t.status === 'processing') && !$('#page-batch').hidden) {
    batchTimer = setTimeout(() => loaders.batch().catch((e) => report(e)), 1000);
  }
};

async function downloadTask(t) {
  try {
    const res = await batchCall('GET', '/' + t.task_id + '/download');
    const m = /filename="([^"]+)"/.exec(res.headers.get('Content-Disposition') || '');
    const url = URL.createObjectURL(await res.blob());
    const a = el('a', { href: url, download: m ? m[1] : 'cleaned' });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (e) { report(e); }
}

async function deleteTask(t) {
  if (!confirm('Delete "' + t.project_name + '" and its files?')) return;
  try { await batchCall('DELETE', '/' + t.task_id); flash('Deleted "' + t.project_name + '".'); await loaders.batch(); } catch (e) { report(e); }
}

$('#batch-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const file = $('#batch-file').files[0];
  if (!file) return;
  const form = new FormData();
  form.append('file', file, file.name);
  form.append('project_name', $('#batch-project').value);
  form.append('deduplicate', $('#batch-dedupe').checked ? 'true' : 'false');
  const button = $('#batch-form button[type=submit]');
  button.disabled = true;
  try {
    const r = await (await batchCall('POST', '', form)).json();
    flash(r.message);
    $('#batch-form').reset();
    await loaders.batch();
  } catch (e) { report(e); } finally { button.disabled = false; }
});
$('#batch-refresh').addEventListener('click', () => loaders.batch().catch((e) => report(e)));

// ---- Activity: the account's last checks, polled while the page is shown ----

const activity = { last: 0, timer: null, paused: false, rows: 0 };
const ACTIVITY_EVERY = 2000; // ms between polls

function checkRow(c, fresh) {
  const type = c.category === 'banned' ? '403: IP banned' : c.type;
  return el('tr', fresh ? { class: 'fresh' } : {}, el('td', {}, fmtTime(c.at).replace(' UTC', '')),
    el('td', {}, c.email || c.domain), el('td', {}, el('span', { class: 'badge ' + c.category }, c.category)),
    el('td', {}, type), el('td', {}, (c.key.name || '#' + c.key.id) + (c.key.type === 'active' ? '' : ' (' + c.key.type + ')')),
    el('td', {}, c.ip || '—'));
}

function renderTops(list, items, what) {
  list.replaceChildren(...items.map((t) => el('li', {}, t[what] + ': ' + t.count + (t.over ? ' (at most ' + t.over + ' too many)' : ''))));
  if (!items.length) list.replaceChildren(el('li', { class: 'hint' }, 'nothing blocked yet'));
}

// force: also while paused (the Resume button's own poll).
async function pollActivity(force) {
  const first = activity.last === 0 && activity.rows === 0;
  const a = await admin('GET', '/activity?since=' + activity.last);
  if (activity.paused && !force) return; // paused while this poll was on its way
  const tbody = $('#activity-table tbody');
  for (const tr of tbody.querySelectorAll('tr.fresh')) tr.classList.remove('fresh');
  const rows = a.checks.map((c) => checkRow(c, !first));
  tbody.prepend(...rows);
  activity.rows += rows.length;
  while (tbody.rows.length > 200) tbody.lastElementChild.remove();
  activity.last = Math.max(activity.last, a.last_seq);
  labelCells($('#activity-table'));
  renderTops($('#top-domains'), a.top_domains, 'domain');
  renderTops($('#top-ips'), a.top_ips, 'ip');
  $('#activity-shown').textContent = a.emails_shown ? 'whole addresses' : 'domains only';
  $('#activity-table thead th:nth-child(2)').textContent = a.emails_shown ? 'Address' : 'Domain';
  $('#activity-empty').hidden = tbody.rows.length > 0;
  $('#activity-state').textContent = activity.paused ? 'Paused' : 'Live: updated ' + new Date().toLocaleTimeString();
}

function scheduleActivity() {
  clearTimeout(activity.timer);
  if (activity.paused || $('#page-activity').hidden) return;
  activity.timer = setTimeout(() => pollActivity().catch((e) => report(e)).finally(scheduleActivity), ACTIVITY_EVERY);
}

loaders.activity = async () => {
  activity.last = 0, activity.rows = 0;
  $('#activity-table tbody').replaceChildren();
  await pollActivity(true);
  scheduleActivity();
};
leavers.activity = () => clearTimeout(activity.timer);

$('#activity-pause').addEventListener('click', () => {
  activity.paused = !activity.paused;
  $('#activity-pause').textContent = activity.paused ? 'Resume' : 'Pause';
  $('#activity-state').textContent = activity.paused ? 'Paused' : 'Live';
  if (!activity.paused) pollActivity(true).catch((e) => report(e)).finally(scheduleActivity);
});

// ---- Try it ----

$('#try-form').addEventListener('submit', async (ev) => {
  ev.preventDefault();
  const body = { email: $('#try-email').value };
  if ($('#try-ip').value.trim()) body.ip = $('#try-ip').value.trim();
  const out = $('#try-result');
  try {
    const r = await admin('POST', '/try', body);
    const verdict = $('#try-verdict');
    verdict.textContent = r.category.toUpperCase() + ' — ' + r.type;
    verdict.className = 'verdict ' + r.category;
    const ul = $('#try-explain');
    ul.replaceChildren();
    const what = { white: 'accept the sign-up', grey: 'ask for more verification', black: 'block the sign-up' };
    ul.append(el('li', {}, 'What to do: ' + what[r.category] + '.'));
    if (r.details.matched) ul.append(el('li', {}, 'Because: ' + r.details.matched.entry + ' (' + (r.details.matched.list || 'rule') + ').'));
    const on = Object.entries(r.details.signals).filter(([, v]) => v).map(([k]) => k);
    ul.append(el('li', {}, 'Signals: ' + (on.length ? on.join(', ') : 'none') + '.'));
    if (r.details.normalized) ul.append(el('li', {}, 'Mailbox: ' + r.details.normalized));
    if (r.details.did_you_mean) {
      const local = r.email.includes('@') ? r.email.slice(0, r.email.lastIndexOf('@')).trim() : '';
      ul.append(el('li', {}, 'Did you mean ' + local + '@' + r.details.did_you_mean + '?'));
    }
    if (r.remaining_attempts_before_ban !== null) ul.append(el('li', {}, 'Attempts left for this IP: ' + r.remaining_attempts_before_ban + '.'));
    $('#try-json').textContent = JSON.stringify(r, null, 2);
    out.hidden = false;
    flash('');
  } catch (e) {
    out.hidden = true;
    report(e);
  }
});

buildColorRows();
route();
