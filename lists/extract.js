// Writes each pinned npm list as plain text (one entry per line) into the
// directory given as argv[2], so the C snapshot builder reads one format only.
'use strict';
const fs = require('fs');
const path = require('path');

const out = process.argv[2];
if (!out) {
  console.error('usage: node extract.js OUTDIR');
  process.exit(2);
}
fs.mkdirSync(out, { recursive: true });

function write(name, entries) {
  const list = Array.from(entries, (e) => String(e).trim()).filter(Boolean);
  fs.writeFileSync(path.join(out, name), list.join('\n') + '\n');
  console.log(`${name}: ${list.length}`);
}

const dir = (pkg) => path.dirname(require.resolve(`${pkg}/package.json`));

write('disposable-email-domains.txt', require('disposable-email-domains'));
write('disposable-email-domains-wildcard.txt',
  require(path.join(dir('disposable-email-domains'), 'wildcard.json')));
write('mailchecker.txt', require('mailchecker/platform/node').blacklist());
write('disposable-email-domains-js.txt',
  require('disposable-email-domains-js').disposableEmailBlocklist());
write('freemail-free.txt',
  fs.readFileSync(path.join(dir('freemail'), 'data', 'free.txt'), 'utf8').split('\n'));
write('role-based-email-addresses.txt', require('role-based-email-addresses'));
