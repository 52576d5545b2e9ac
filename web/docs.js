// The API reference at /docs: renders /openapi.json (this server's own copy)
// with no other origin and no inline script. Every value is inserted as text.
'use strict';

const $ = (sel) => document.querySelector(sel);

function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  for (const c of children) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

let doc;

// Descriptions mark code with backticks: text and <code> nodes, never HTML.
const rich = (text) => String(text || '').split('`').map((part, i) => (i % 2 ? el('code', {}, part) : part));
const refName = (ref) => ref.split('/').pop();
const schemaOf = (s) => (s && s.$ref ? doc.components.schemas[refName(s.$ref)] : s);

// A short type for people, as text and links: "string", "integer ≥ 1",
// "CheckResult", "array of Key", "string | null".
function typeParts(s) {
  if (!s) return ['any'];
  if (s.$ref) return [el('a', { href: '#schema-' + refName(s.$ref) }, refName(s.$ref))];
  if (s.oneOf) return s.oneOf.flatMap((x, i) => (i ? [' | ', ...typeParts(x)] : typeParts(x)));
  if (s.type === 'array') return ['array of ', ...typeParts(s.items)];
  let t = Array.isArray(s.type) ? s.type.join(' | ') : (s.type || 'any');
  if (s.enum) t += ': ' + s.enum.map((x) => JSON.stringify(x)).join(', ');
  if (s.format) t += ' (' + s.format + ')';
  if (s.minimum !== undefined && s.maximum !== undefined) t += ' ' + s.minimum + '–' + s.maximum;
  else if (s.minimum !== undefined) t += ' ≥ ' + s.minimum;
  return [t];
}

function fieldsTable(schema) {
  const s = schemaOf(schema);
  if (!s || s.type !== 'object' || !s.properties) return el('p', {}, 'Type: ', ...typeParts(schema));
  const required = new Set(s.required || []);
  const tbody = el('tbody');
  for (const [name, prop] of Object.entries(s.properties)) {
    tbody.append(el('tr', {}, el('td', { 'data-label': 'Field' }, el('code', {}, name), required.has(name) ? '' : ' (optional)'),
      el('td', { 'data-label': 'Type' }, ...typeParts(prop)),
      el('td', { 'data-label': 'Meaning' }, ...rich(prop.description || (schemaOf(prop) || {}).description))));
  }
  return el('div', { class: 'scroll' }, el('table', { class: 'cards' },
    el('thead', {}, el('tr', {}, el('th', {}, 'Field'), el('th', {}, 'Type'), el('th', {}, 'Meaning'))), tbody));
}

function example(content) {
  return content && content.example !== undefined ? el('pre', {}, JSON.stringify(content.example, null, 2)) : null;
}

function operation(path, method, op) {
  const id = 'op-' + (op.operationId || method + path);
  const sec = el('section', { class: 'op', id });
  sec.append(el('h3', {}, el('span', { class: 'method ' + method }, method.toUpperCase()), ' ', el('code', {}, path)));
  sec.append(el('p', {}, ...rich(op.summary + (op.description ? '. ' + op.description : ''))));
  if (op.security && op.security.length) sec.append(el('p', { class: 'hint' }, 'Key: Authorization: Bearer … or X-API-Key.'));
  if (op.parameters && op.parameters.length) {
    const ul = el('ul');
    for (const p of op.parameters) ul.append(el('li', {}, el('code', {}, p.name), ' (' + p.in + (p.required ? ', required' : '') + '): ', ...typeParts(p.schema), p.description ? ' — ' : '', ...rich(p.description)));
    sec.append(el('h4', {}, 'Parameters'), ul);
  }
  if (op.requestBody) {
    const [type, c] = Object.entries(op.requestBody.content)[0];
    sec.append(el('h4', {}, 'Body (' + type + ')'), fieldsTable(c.schema));
    const ex = example(c);
    if (ex) sec.append(ex);
  }
  const dl = el('dl', { class: 'responses' });
  for (const [status, r] of Object.entries(op.responses)) {
    const content = r.content ? Object.entries(r.content)[0] : null;
    dl.append(el('dt', {}, status), el('dd', {}, ...rich(r.description), content ? ' ' : '', ...(content ? [content[0] + ': ', ...typeParts(content[1].schema)] : [])));
    const ex = content ? example(content[1]) : null;
    if (ex) dl.append(el('dd', {}, ex));
  }
  sec.append(el('h4', {}, 'Responses'), dl);
  return [sec, el('a', { href: '#' + id }, el('span', { class: 'method ' + method }, method.toUpperCase()), ' ' + path)];
}

function render() {
  document.title = doc.info.title + ' API ' + doc.info.version;
  $('#docs-summary').textContent = doc.info.summary + ' (OpenAPI ' + doc.openapi + ', version ' + doc.info.version + ')';
  $('#docs-description').replaceChildren(...rich(doc.info.description));
  const byTag = new Map(doc.tags.map((t) => [t.name, []]));
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) byTag.get(op.tags[0]).push(operation(path, method, op));
  }
  for (const tag of doc.tags) {
    const ops = byTag.get(tag.name);
    $('#docs-ops').append(el('h2', { id: 'tag-' + tag.name }, tag.name), el('p', { class: 'hint' }, ...rich(tag.description)), ...ops.map(([sec]) => sec));
    $('#docs-toc').append(el('h2', {}, tag.name), el('ul', {}, ...ops.map(([, link]) => el('li', {}, link))));
  }
  for (const [name, s] of Object.entries(doc.components.schemas)) {
    $('#docs-schema-list').append(el('section', { id: 'schema-' + name }, el('h3', {}, name), s.description ? el('p', {}, ...rich(s.description)) : '', fieldsTable(s)));
  }
}

fetch('/openapi.json').then((r) => r.json()).then((d) => { doc = d; render(); })
  .catch((e) => { $('#docs-summary').textContent = 'The API description could not be loaded: ' + e.message; });
