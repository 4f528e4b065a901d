#!/usr/bin/env node
// Committed shim so `npm ci` can link the command before the TypeScript is built (npm links only existing files).
'use strict';
const path = require('node:path');
const fs = require('node:fs');
const main = path.join(__dirname, '..', 'dist', 'main.js');
if (!fs.existsSync(main)) {
  process.stderr.write('portal-failover is not built yet: run `npm run build` (npm ci does it) in the repository first.\n');
  process.exit(1);
}
require(main);
