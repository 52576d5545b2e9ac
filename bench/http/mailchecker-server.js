// Baseline: a Node.js check server using the mailchecker package, the same
// route and request body as ours, a comparable JSON answer.
'use strict';
const http = require('http');
const path = require('path');
const MailChecker = require(path.join(__dirname, '../../lists/node_modules/mailchecker/platform/node'));

const port = Number(process.argv[2] || 8091);
http.createServer((req, res) => {
  let body = '';
  req.on('data', (c) => { body += c; });
  req.on('end', () => {
    let email = '';
    try { email = JSON.parse(body).email || ''; } catch (e) { res.writeHead(400); res.end(); return; }
    const ok = MailChecker.isValid(email);
    const out = JSON.stringify({ email, domain: email.split('@')[1] || '',
      category: ok ? 'white' : 'black', type: ok ? 'legitimate' : 'disposable' });
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(out);
  });
}).listen(port, '127.0.0.1');
