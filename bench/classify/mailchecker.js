// Baseline: the mailchecker npm package doing the same lookups, one per line of
// the file in argv[2]. Prints the count of addresses it calls invalid/disposable.
'use strict';
const fs = require('fs');
const path = require('path');
const MailChecker = require(path.join(__dirname, '../../lists/node_modules/mailchecker/platform/node'));

const lines = fs.readFileSync(process.argv[2], 'utf8').split('\n');
let rejected = 0;
for (const line of lines) {
  if (line && !MailChecker.isValid(line)) rejected++;
}
console.log(rejected);
