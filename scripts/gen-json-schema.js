#!/usr/bin/env node
// Writes docs/failover.schema.json from the zod validator (run `tsc -b` first; `npm run schema` does both).
// `--check` only compares, and exits 1 when the committed file is missing or stale (for CI).
'use strict';

const { existsSync, mkdirSync, readFileSync, writeFileSync } = require('node:fs');
const { dirname, join, relative } = require('node:path');

const root = join(__dirname, '..');
const target = join(root, 'docs', 'failover.schema.json');
const shown = relative(process.cwd(), target) || target;

let configJsonSchemaText;
try {
  // The built file, not the package index: the index also loads Redis, BullMQ and the rest of the runtime.
  ({ configJsonSchemaText } = require('../shared/dist/config/json-schema.js'));
} catch (err) {
  process.stderr.write(`gen-json-schema: cannot load shared/dist/config/json-schema.js (${err.code ?? err.message}); run \`npx tsc -b\` first\n`);
  process.exit(2);
}

const text = configJsonSchemaText();

if (process.argv.includes('--check')) {
  const current = existsSync(target) ? readFileSync(target, 'utf8') : undefined;
  if (current === text) {
    process.stdout.write(`${shown} is up to date\n`);
    process.exit(0);
  }
  process.stderr.write(
    `${shown} ${current === undefined ? 'is missing' : 'is out of date with the config validator'}; ` +
      'run `npm run schema` and commit the result\n',
  );
  process.exit(1);
}

mkdirSync(dirname(target), { recursive: true });
writeFileSync(target, text);
process.stdout.write(`wrote ${shown}\n`);
