#!/usr/bin/env node
// `npm run compose:init`: the secrets the compose stack reads, written once into deploy/secrets/ (never committed:
// deploy/secrets/.gitignore). Kept on later runs, so the tokens handed out stay valid; the files derived from them
// (env files, api-tokens) are rewritten from the kept ones every run. Nothing secret is printed.
//   --root <dir>   write into <dir>/deploy/secrets instead of this repository's (the tests use a temp copy)
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const args = process.argv.slice(2);
const rootAt = args.indexOf('--root');
const root = rootAt >= 0 ? path.resolve(args[rootAt + 1] ?? '') : path.resolve(__dirname, '..');
const dir = path.join(root, 'deploy', 'secrets');
fs.mkdirSync(dir, { recursive: true });

// The vantages of deploy/demo/failover.yaml and the variables its ${...} references name (a test keeps them equal).
const VANTAGES = [
  { name: 'hn-1', env: 'VANTAGE_HN1_KEY' },
  { name: 'hcm-1', env: 'VANTAGE_HCM1_KEY' },
];

const created = [];
const written = [];

/** A secret made once: the existing file wins. `mode` 0644 for files a container's own user must read. */
function keep(name, make, mode) {
  const file = path.join(dir, name);
  const now = fs.existsSync(file) ? fs.readFileSync(file, 'utf8').trim() : '';
  if (now) return now;
  const value = make();
  fs.writeFileSync(file, `${value}\n`, { mode });
  fs.chmodSync(file, mode);
  created.push(name);
  return value;
}

function write(name, text, mode) {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text, { mode });
  fs.chmodSync(file, mode);
  written.push(name);
}

const hex = (bytes) => () => crypto.randomBytes(bytes).toString('hex');
// The API's own token format (services/api/src/auth.ts createToken): only its SHA-256 goes into the token file.
const apiToken = () => `pf_${crypto.randomBytes(24).toString('base64url')}`;
const sha256 = (text) => crypto.createHash('sha256').update(text).digest('hex');

// Read by you (the CLI's --token-file) and by Alertmanager's container user: Alertmanager and Grafana read theirs
// through compose `secrets:`, which bind-mounts the file as it is.
const operatorToken = keep('operator-token', apiToken, 0o600);
const alertmanagerToken = keep('alertmanager-token', apiToken, 0o644);
keep('grafana-admin-password', () => crypto.randomBytes(18).toString('base64url'), 0o644);
const pdnsKey = keep('pdns-api-key', hex(24), 0o600);
const vantageKeys = VANTAGES.map((v) => ({ ...v, key: keep(`vantage-${v.name}-key`, hex(32), 0o600) }));

// env files are read by docker compose on this host, not mounted: only you need to read them.
const env = (pairs) => pairs.map(([k, v]) => `${k}=${v}\n`).join('');
// PowerDNS reads its API settings from a file in its include-dir, not from PDNS_AUTH_API_KEY: the image's start-up
// script prints the config it renders from that variable, key included, into the container log.
write(
  'pdns-api.conf',
  ['# Written by npm run compose:init: the API of the stack\'s PowerDNS, for the other containers (the key guards it).', 'webserver=yes', 'api=yes', `api-key=${pdnsKey}`, 'webserver-address=0.0.0.0', 'webserver-allow-from=0.0.0.0/0,::/0', ''].join('\n'),
  0o644,
);
// The zone one-shot needs the PowerDNS key and nothing else.
write('pdns.env', env([['PDNS_API_KEY', pdnsKey]]), 0o600);
// The controllers and the API resolve every secret of the config; each checker holds only its own vantage's key.
write('services.env', env([['PDNS_API_KEY', pdnsKey], ...vantageKeys.map((v) => [v.env, v.key])]), 0o600);
for (const v of vantageKeys) write(`checker-${v.name}.env`, env([[v.env, v.key]]), 0o600);

// Redis ACL users per role (scripts/gen-redis-acl.js, prefixes pf as in config/failover.yaml and pf-demo as in
// deploy/demo/failover.yaml): each service logs in as its own user through the env file of its role (REDIS_USERNAME,
// REDIS_PASSWORD), each vantage's checkers as checker-<vantage> (only their own queue and key; the shared `checker`
// user stays off).
// users.acl holds only SHA-256 hashes; it and redis-replication.conf are read by the redis container's own user.
const REDIS_SERVICES = ['controller', 'api', ...VANTAGES.map((v) => `checker-${v.name}`)];
const REDIS_ROLES = [...REDIS_SERVICES, 'replica', 'sentinel'];
const redisPasswords = Object.fromEntries(REDIS_ROLES.map((r) => [r, keep(`redis-${r}-password`, hex(24), 0o600)]));
write('users.acl', require('./gen-redis-acl.js').aclFile(['pf', 'pf-demo'], redisPasswords, VANTAGES.map((v) => v.name)), 0o644);
for (const r of REDIS_SERVICES) write(`redis-${r}.env`, env([['REDIS_USERNAME', r], ['REDIS_PASSWORD', redisPasswords[r]]]), 0o600);
// Profile sentinel: a replica (and a primary demoted after a promotion) syncs as `replica`; the Sentinels log in as
// `sentinel` (sentinel-auth.conf, appended to each Sentinel's own copy of deploy/sentinel/sentinel.conf).
write('redis-replication.conf', `masteruser replica\nmasterauth ${redisPasswords.replica}\n`, 0o644);
write('sentinel-auth.conf', `sentinel auth-user pf-master sentinel\nsentinel auth-pass pf-master ${redisPasswords.sentinel}\n`, 0o644);
write(
  'api-tokens',
  [
    '# Written by npm run compose:init from operator-token and alertmanager-token: "name role sha256" per line.',
    `operator operator ${sha256(operatorToken)}`,
    `alertmanager automation ${sha256(alertmanagerToken)}`,
    '',
  ].join('\n'),
  0o644,
);

const rel = path.relative(process.cwd(), dir) || '.';
process.stdout.write(
  [
    `${rel}: ${created.length ? `created ${created.join(', ')}` : 'kept every existing secret'}; wrote ${written.join(', ')}.`,
    'Next: docker compose --profile demo up --build',
    `Then: npx portal-failover status --url http://127.0.0.1:8080 --token-file ${path.join(rel, 'operator-token')}`,
    '',
  ].join('\n'),
);
