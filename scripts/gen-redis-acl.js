#!/usr/bin/env node
// `npm run redis:acl -- --prefix pf`: prints a Redis ACL file (aclfile) with one user per process role, each
// limited to the keys that role really touches under the installation's prefix (shared/src/runtime/keys.ts and the
// stores that build keys from config.redis.prefix). test/e2e/redis-acl.e2e.test.ts runs the three roles on a Redis
// started with this file and checks both that a failover works and that the refusals hold.
//   --prefix <p>        config.redis.prefix (default pf); repeat it for installations sharing one Redis
//   --password-dir <d>  read each role's password from <d>/redis-<role>-password (compose:init writes them)
//   --vantage <v>       also a user checker-<v> that reaches only vantage <v>'s queue and implied key (repeatable;
//                       its password from redis-checker-<v>-password or REDIS_CHECKER_<V>_PASSWORD, - as _)
//   otherwise REDIS_CHECKER_PASSWORD, REDIS_CONTROLLER_PASSWORD, REDIS_API_PASSWORD (and _REPLICA_, _SENTINEL_)
// Passwords go into the file only as SHA-256 (#<hex>), so the file itself is no secret. A role without a password
// is written `off` (it cannot log in) and named on stderr. Nothing secret is printed.
'use strict';
const crypto = require('node:crypto');
const fs = require('node:fs');
const path = require('node:path');

const ROLES = ['checker', 'controller', 'api', 'replica', 'sentinel'];

// Every command except the dangerous ones (FLUSHALL, FLUSHDB, CONFIG, KEYS, DEBUG, SHUTDOWN, ACL, MONITOR,
// REPLICAOF, MIGRATE, SORT, CLIENT KILL/LIST, ...), plus INFO back: ioredis's ready check and BullMQ's version
// check send it, and the API's memory gauges read it. Key and channel patterns do the real separation, and Redis 7
// checks them for the commands a Lua script (EVAL, BullMQ's scripts) runs too.
const SERVICE_COMMANDS = '+@all -@dangerous +info +client|setname +client|getname +client|id';

/** The key patterns per role for one prefix: `~p` read+write, `%R~p` read only. */
function rolePatterns(prefix) {
  const p = prefix;
  return {
    // BullMQ's queues it consumes (checks-<vantage>) and produces to (results), its evidence captures, and the
    // implied HMAC key of its vantage (SET NX on first start), the claims that run each shard slot once across the
    // vantage's processes; the announced risk windows read-only (their probeInterval). Nothing of the controller's: no lease, fence, state, operations, intents or audit.
    checker: [`~${p}:checks-*`, `~${p}:results:*`, `~${p}:capture:*`, `~${p}:portal:*:captures`, `~${p}:vantage:*:key`, `~${p}:checker:*:claim:*`, `%R~${p}:portal:*:risk-windows`],
    // The leader owns everything under the prefix (state, lease, fence, operations, audit, drills, probes,
    // availability, both queues).
    controller: [`~${p}:*`],
    // Reads everything (views, evidence bundles, status page, queue board and metrics) but writes only what the
    // API is for: intents and pending operations, freeze, ack, risk windows (and the counter their writes bump), the
    // audit chain, idempotency records.
    api: [
      `%R~${p}:*`,
      `~${p}:portal:*:intent`,
      `~${p}:portal:*:freeze`,
      `~${p}:portal:*:ack`,
      `~${p}:portal:*:risk-windows`,
      `~${p}:control:changed`,
      `~${p}:portal:*:operations`,
      `~${p}:operation:*`,
      `~${p}:audit`,
      `~${p}:audit:head`,
      `~${p}:idempotency:*`,
    ],
  };
}

/**
 * Redis checks every key an EVAL or EVALSHA names as if the script wrote it, so a read-only pattern is not enough for
 * a script that only reads: BullMQ's getJobCounts/getWaiting (queue metrics, queue board) and the API's switchover
 * script, which names the portal state to refuse a request while an operation runs. This selector lets EVAL and
 * EVALSHA alone name any key under the prefix; every command the script then calls is checked against the root
 * rules above, so the state, the lease and the queues stay read-only for the API (the test checks it).
 */
function apiScriptSelector(prefixes) {
  return `(${prefixes.map((p) => `~${p}:*`).join(' ')} resetchannels -@all +eval +evalsha)`;
}
/**
 * A checker of one vantage: the shared `checker` user's rights narrowed to its own checks queue and implied key, so
 * it can neither remove another vantage's job schedulers nor read the key another vantage signs with.
 */
function vantageCheckerPatterns(prefix, vantage) {
  const p = prefix;
  return [`~${p}:checks-${vantage}:*`, `~${p}:results:*`, `~${p}:capture:*`, `~${p}:portal:*:captures`, `~${p}:vantage:${vantage}:key`, `~${p}:checker:${vantage}:claim:*`, `%R~${p}:portal:*:risk-windows`];
}

/**
 * The ACL file text for one or more prefixes. `passwords` maps role -> password (`checker-<vantage>` for the
 * per-vantage users of `vantages`); a role without one is `off`.
 */
function aclFile(prefixes, passwords, vantages = []) {
  const list = Array.isArray(prefixes) ? prefixes : [prefixes];
  if (list.length === 0) throw new Error('--prefix: give at least one');
  for (const prefix of list) {
    if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(prefix)) {
      throw new Error(`--prefix: must be lower-case letters, digits, - or _, starting with a letter or digit (the redis.prefix rule); got ${JSON.stringify(prefix)}`);
    }
  }
  for (const v of vantages) {
    if (!/^[a-z0-9][a-z0-9_-]{0,62}$/.test(v)) throw new Error(`--vantage: must be a vantage name (lower-case letters, digits, - or _); got ${JSON.stringify(v)}`);
  }
  const cred = (role) => {
    const pw = passwords[role];
    return pw ? `on #${crypto.createHash('sha256').update(pw).digest('hex')}` : 'off nopass';
  };
  const per = list.map(rolePatterns);
  const patterns = Object.fromEntries(['checker', 'controller', 'api'].map((r) => [r, per.flatMap((x) => x[r])]));
  // Redis refuses comment lines in an aclfile, so the why lives here. Unauthenticated connections (the default
  // user) may only PING: health checks work, nothing else does.
  const lines = ['user default on nopass resetkeys resetchannels -@all +ping'];
  for (const role of ['checker', 'controller', 'api']) {
    const selector = role === 'api' ? ` ${apiScriptSelector(list)}` : '';
    lines.push(`user ${role} ${cred(role)} resetkeys ${patterns[role].join(' ')} resetchannels ${SERVICE_COMMANDS}${selector}`);
  }
  for (const v of vantages) {
    const role = `checker-${v}`;
    lines.push(`user ${role} ${cred(role)} resetkeys ${list.flatMap((p) => vantageCheckerPatterns(p, v)).join(' ')} resetchannels ${SERVICE_COMMANDS}`);
  }
  // Replication and Sentinel (only with Sentinel): the commands Redis documents for masteruser and auth-user.
  lines.push(
    `user replica ${cred('replica')} resetkeys resetchannels -@all +psync +replconf +ping`,
    `user sentinel ${cred('sentinel')} resetkeys allchannels -@all +multi +slaveof +ping +exec +subscribe +config|rewrite +role +publish +info +client|setname +client|kill +script|kill`,
    '',
  );
  return lines.join('\n');
}

function passwordsFrom(env, dir, vantages) {
  const out = {};
  for (const role of [...ROLES, ...vantages.map((v) => `checker-${v}`)]) {
    if (dir) {
      const file = path.join(dir, `redis-${role}-password`);
      if (fs.existsSync(file)) out[role] = fs.readFileSync(file, 'utf8').trim();
    } else {
      const v = env[`REDIS_${role.toUpperCase().replace(/-/g, '_')}_PASSWORD`];
      if (v) out[role] = v;
    }
  }
  return out;
}

function main(argv) {
  const opt = (name) => {
    const i = argv.indexOf(name);
    if (i < 0) return undefined;
    const v = argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new Error(`${name}: needs a value`);
    return v;
  };
  const known = new Set(['--prefix', '--password-dir', '--vantage']);
  const prefixes = [];
  const vantages = [];
  for (let i = 0; i < argv.length; i += 2) {
    if (!known.has(argv[i])) throw new Error(`${argv[i]}: unknown option (known: ${[...known].join(', ')})`);
    if (argv[i] === '--prefix') {
      if (argv[i + 1] === undefined || argv[i + 1].startsWith('--')) throw new Error('--prefix: needs a value');
      prefixes.push(argv[i + 1]);
    }
    if (argv[i] === '--vantage') {
      if (argv[i + 1] === undefined || argv[i + 1].startsWith('--')) throw new Error('--vantage: needs a value');
      vantages.push(argv[i + 1]);
    }
  }
  const dir = opt('--password-dir');
  const passwords = passwordsFrom(process.env, dir, vantages);
  const missing = ['checker', 'controller', 'api', ...vantages.map((v) => `checker-${v}`)].filter((r) => !passwords[r]);
  if (missing.length) process.stderr.write(`no password for ${missing.join(', ')}: written as off (cannot log in)\n`);
  process.stdout.write(aclFile(prefixes.length ? prefixes : ['pf'], passwords, vantages));
}

if (require.main === module) {
  try {
    main(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`gen-redis-acl: ${err.message}\n`);
    process.exit(2);
  }
}

module.exports = { aclFile, rolePatterns, SERVICE_COMMANDS };
