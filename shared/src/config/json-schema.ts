import { z } from 'zod';
import { buildConfigSchema } from './schema';
import { Secret } from './secret';

export type JsonSchema = z.core.JSONSchema.BaseSchema;

export const CONFIG_SCHEMA_ID = 'https://portal-failover.dev/schema/failover.schema.json';

/** Same grammar as parseDuration (duration.ts), which also trims surrounding blanks; the schema asks for none. */
export const DURATION_PATTERN = '^\\d+(\\.\\d+)?(ms|s|m|h|d)$';
/** Same grammar as resolveSecretRef (secret.ts): exactly one `${ENV}` reference, or a file: path. */
export const SECRET_PATTERN = '^(\\$\\{[A-Za-z_][A-Za-z0-9_]*\\}|file:.+)$';

const DURATION_NOTE = 'A duration: a number and a unit (ms, s, m, h or d), e.g. 500ms, 10s, 1.5m, 2h, 90d.';
const SECRET_NOTE = 'A secret reference: ${ENV_VAR} or file:/path/to/file (the file content, trimmed). Literal values are rejected.';

/**
 * The only variable in the environment the schema is built with: a `${PF_JSON_SCHEMA_PROBE}` probe turns into a
 * Secret only in a secret field, so those are recognised by what they produce, not by how they are built.
 */
const PROBE_VAR = 'PF_JSON_SCHEMA_PROBE';

/**
 * Descriptions keyed by a readable path: `.` for properties, `[]` for array items, `[type=http]` for the member
 * of a discriminated union. Every key must match a node (configJsonSchema throws otherwise), so a renamed field
 * cannot leave its description behind unnoticed. docs/configuration.md has the long form.
 */
function annotations(): Record<string, JsonSchema> {
  const d = (description: string): JsonSchema => ({ description });
  const a: Record<string, JsonSchema> = {
    redis: d('Where the services keep state, queues and the controller lease.'),
    'redis.url': {
      description: 'redis:// or rediss:// URL of a single Redis. The REDIS_URL environment variable overrides it. Not used (and refused) together with sentinels.',
      // Filled in by the validator only when sentinels is not set, so zod cannot carry the default over.
      default: 'redis://127.0.0.1:6379',
    },
    'redis.sentinels': d('Redis Sentinel addresses (host:port, three in production). With sentinels, every connection asks them for the master and follows a promotion.'),
    'redis.name': d('The master set name the Sentinels monitor (`sentinel monitor <name> ...`); required with sentinels.'),
    'redis.username': d('Redis ACL user to log in as (AUTH username password); ${VAR} expands. With a url, a user in the URL works too. `npm run redis:acl` writes one user per process role.'),
    'redis.password': d('Password of the Redis servers (AUTH), as a secret reference.'),
    'redis.sentinelPassword': d('Password of the Sentinels, as a secret reference; only with sentinels.'),
    'redis.tls': d('TLS to Redis and to the Sentinels (with a url, rediss:// does the same).'),
    'redis.connectTimeout': d('How long connecting to Redis (or asking a Sentinel) may take before it counts as a failure.'),
    'redis.commandTimeout': d('How long one Redis command may wait for its answer; at most half of controller.leaseTtl, so a paused Redis cannot hold the lease loop.'),
    'redis.prefix': d('Prefix of every Redis key, so several installations can share one Redis.'),
    api: d('The HTTP API.'),
    'api.listen': d('host:port the API listens on.'),
    'api.tokens': d('Bearer tokens, stored as the hex SHA-256 of the token.'),
    'api.tokens[].role': d('viewer reads; automation (Alertmanager) also sends alerts, never forces, freezes or switches by hand; operator also switches, forces and freezes; admin also lists tokens and reloads the token file.'),
    'api.tokens[].expires': d('ISO 8601 date-time after which the token is refused with 401 naming the expiry.'),
    'api.tokenFile': d('More tokens, one `name role sha256 [expires]` per line; re-read when it changes and on SIGHUP.'),
    'api.repeatWindow': d('Identical refusals (401/403) and identical blocked alerts within this window are audited as one entry with a count.'),
    'api.tokens[].sha256': d('Hex SHA-256 of the token text, e.g. `printf %s "$TOKEN" | sha256sum`.'),
    'audit.signingKey': d('Ed25519 private key (PEM, as a secret reference) the leader signs checkpoints of the audit chain head with; requires witnesses.'),
    'audit.checkpointEvery': d('How often the leader signs a checkpoint of the audit chain head and sends it to the witnesses (at least 10s).'),
    'audit.witnesses': d('Who keeps the signed checkpoints: an http(s) URL (a POST of the JSON) or file:/absolute/path (one JSON line appended each); requires signingKey.'),
    checker: d('The checker service (runs the probes of one vantage).'),
    'checker.vantage': d('Name of the place the probes run from. FAILOVER_VANTAGE overrides it per checker process.'),
    'checker.concurrency': d('Probes run at the same time by one checker process.'),
    'checker.childProcess': d('All-in-one (`npm start`) only: run the checker in a process of its own (true), in the same process (false), or decide by size (auto).'),
    'checker.shardSize': d('Checks per job scheduler; each shard job starts its checks spread over its share of the interval.'),
    metrics: d('Prometheus metrics: the cardinality budget.'),
    'metrics.perCheckHistograms': d('Per-check duration histograms (14 series per check); auto: only up to 1,000 checks.'),
    controller: d('The controller service (decides and switches; one leader at a time).'),
    'controller.leaseTtl': d('How long a leader lease lasts without renewal.'),
    'controller.renewEvery': d('How often the leader renews its lease; at most a third of leaseTtl.'),
    'controller.evaluateEvery': d("How often the leader's evaluation tick runs; a portal nothing happened to is re-evaluated once its last evaluation is older than half its shortest check interval (at most 5 s)."),
    'controller.stepAttempts': d('Attempts per traffic step before the switchover fails.'),
    'controller.reconcileEvery': d('How often the leader reads every traffic step and compares it with the recorded active site (at least 1s). It also reads them on taking the lease.'),
    'controller.stepBackoff': d('Wait before the second attempt of a step; doubles on each further attempt.'),
    portals: d('The portals to watch and fail over.'),
    'portals[].id': d('Stable identifier used in the API, metrics and Redis keys.'),
    'portals[].name': d('Human-readable name.'),
    'portals[].policy': d('When to call a site down or up and when to switch automatically.'),
    'portals[].policy.failureThreshold': d('Consecutive failed results before a vantage calls a check down.'),
    'portals[].policy.recoveryThreshold': d('Consecutive good results before a vantage calls a check up again.'),
    'portals[].policy.quorum': d('Declared vantages that must agree before a site counts as down (or up): a number, or majority (the default) of the declared vantages. At most the number of declared vantages.'),
    'portals[].policy.cooldown': d('No second automatic switch within this time of the last one, unless it was acknowledged.'),
    'portals[].policy.autoFailover': d('Switch away from a site that is down by quorum to a site that is up.'),
    'portals[].policy.autoFailback': d('Switch back to a more preferred site once it is up again. Off: failback is a manual switchover.'),
    'portals[].policy.onDrift': d('When the traffic steps no longer route to the recorded active site: alert (report drift: failover_traffic_in_sync 0, audit drift.detected) or repair (also re-apply the recorded site through a normal fenced, verified operation).'),
    'portals[].policy.staleAfterIntervals': d('A vantage whose newest result is older than this many check intervals has no verdict.'),
    'portals[].sites': d('At least two sites, in order of preference: the first is the primary.'),
    'portals[].sites[].name': d('Unique within the portal.'),
    'portals[].sites[].provider': d('Free text naming the hosting provider (shown in the API and logs).'),
    'portals[].sites[].routing': {
      description: 'What traffic steps write for this site: address for A/AAAA records, target for CNAME records.',
      // The validator's refinement "needs address or target", which zod cannot express in JSON Schema.
      anyOf: [{ required: ['address'] }, { required: ['target'] }],
    },
    'portals[].sites[].routing.address': d('IPv4 or IPv6 address of the site.'),
    'portals[].sites[].routing.target': d('DNS name of the site, for CNAME records.'),
    'portals[].sites[].checks': d('Probes of this site; the site is up from a vantage only when all of them are.'),
    'portals[].sites[].checks[type=http].url': d('http:// or https:// URL to request.'),
    'portals[].sites[].checks[type=http].headers': d('Extra request headers.'),
    'portals[].sites[].checks[type=http].expect.status': d('Accepted status codes.'),
    'portals[].sites[].checks[type=http].expect.bodyIncludes': d('Texts the body must contain (case-insensitive, Unicode-normalised).'),
    'portals[].sites[].checks[type=http].expect.bodyExcludes': d('Texts the body must not contain, e.g. a hosting provider\'s "suspended" page.'),
    'portals[].sites[].checks[type=http].expect.maxLatency': d('Slower answers count as failures; at most timeout.'),
    'portals[].sites[].checks[type=http].tls.verify': d('Verify the server certificate.'),
    'portals[].sites[].checks[type=http].tls.serverName': d('SNI / certificate name to use, e.g. when url names an IP address.'),
    'portals[].sites[].checks[type=http].redirects.follow': d('Follow redirects; otherwise the redirect itself is judged.'),
    'portals[].sites[].checks[type=http].redirects.allowOtherHost': d('Accept redirects to another host (off: such a redirect is a failure).'),
    'portals[].sites[].checks[type=http].redirects.max': d('Most redirects followed.'),
    'portals[].sites[].checks[type=http].maxBodyBytes': d('Largest body, after decompression, that bodyIncludes/bodyExcludes are checked against; a larger one fails the check.'),
    'portals[].sites[].checks[type=tcp].host': d('Host name or address to connect to.'),
    'portals[].sites[].checks[type=tcp].port': d('TCP port.'),
    'portals[].traffic': d('Steps that move traffic to the new active site, run in order.'),
    'portals[].traffic[kind=powerdns].apiUrl': d('Base URL of the PowerDNS Authoritative HTTP API.'),
    'portals[].traffic[kind=powerdns].serverId': d('PowerDNS server id.'),
    'portals[].traffic[kind=powerdns].zone': d('Zone that holds the record.'),
    'portals[].traffic[kind=powerdns].record': d('Record name, inside zone.'),
    'portals[].traffic[kind=powerdns].timeout': d('Time limit of one API call.'),
    'portals[].traffic[kind=zonefile].path': d('BIND-format zone file; a relative path is taken from the config file\'s folder.'),
    'portals[].traffic[kind=zonefile].zone': d('Origin of the zone file.'),
    'portals[].traffic[kind=zonefile].record': d('Owner name: absolute with the trailing dot, or relative to zone without it.'),
    'portals[].traffic[kind=zonefile].reloadCommand': d('argv of the command that makes the DNS server load the file (run without a shell).'),
    'portals[].traffic[kind=zonefile].reloadTimeout': d('Time limit of reloadCommand.'),
  };
  for (const type of ['http', 'tcp']) {
    a[`portals[].sites[].checks[type=${type}].name`] = d('Unique within the site; defaults to <type>-<index>.');
    a[`portals[].sites[].checks[type=${type}].interval`] = d('Time between probes.');
    a[`portals[].sites[].checks[type=${type}].timeout`] = d('Time limit of one probe; shorter than interval.');
  }
  return a;
}

/** The value a probe of `schema` gives, or undefined when the probe is rejected. */
function probe(schema: z.core.$ZodType, input: string): unknown {
  const r = z.safeParse(schema, input);
  return r.success ? r.data : undefined;
}

/**
 * Adds what zod's generator leaves out of the input schema. Durations and secrets are recognised by what they
 * produce, so this keeps working however schema.ts and the providers compose them.
 */
function override({ zodSchema, jsonSchema: json }: { zodSchema: z.core.$ZodTypes; jsonSchema: JsonSchema }): void {
  if (json.type === 'string') {
    if (probe(zodSchema, '1.5m') === 90_000) {
      json.pattern = DURATION_PATTERN;
      json.description ??= DURATION_NOTE;
    } else if (probe(zodSchema, `\${${PROBE_VAR}}`) instanceof Secret) {
      json.pattern = SECRET_PATTERN;
      json.description ??= SECRET_NOTE;
    }
  }
  // zod drops `default` in input mode when the inner schema transforms (the default is an output value). Ours are
  // plain strings, arrays and records that are also valid inputs, and users want to see them; keep only those.
  if (zodSchema instanceof z.core.$ZodDefault && json.default === undefined) {
    const value: unknown = zodSchema._zod.def.defaultValue;
    if (z.safeParse(zodSchema._zod.def.innerType, value).success && isJsonValue(value)) json.default = value;
  }
  // z.int() carries the safe-integer range; as a limit in a config file it is noise.
  if (json.maximum === Number.MAX_SAFE_INTEGER) delete json.maximum;
  if (json.minimum === Number.MIN_SAFE_INTEGER) delete json.minimum;
}

function isJsonValue(v: unknown): boolean {
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return true;
  if (typeof v === 'number') return Number.isFinite(v);
  if (Array.isArray(v)) return v.every(isJsonValue);
  if (typeof v === 'object') return Object.getPrototypeOf(v) === Object.prototype && Object.values(v).every(isJsonValue);
  return false;
}

function isSchema(v: unknown): v is JsonSchema {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Calls `visit` with the readable path (see annotations()) of every property and array item schema. */
function walk(node: JsonSchema, path: string, visit: (path: string, node: JsonSchema) => void): void {
  visit(path, node);
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    if (isSchema(child)) walk(child, path ? `${path}.${key}` : key, visit);
  }
  const items = node.items;
  if (!isSchema(items)) return;
  if (items.oneOf) {
    for (const member of items.oneOf) {
      const tag = Object.entries(member.properties ?? {}).find(([, p]) => isSchema(p) && typeof p.const === 'string');
      const label = tag && isSchema(tag[1]) ? `[${tag[0]}=${String(tag[1].const)}]` : '[]';
      walk(member, `${path}${label}`, visit);
    }
  } else {
    walk(items, `${path}[]`, visit);
  }
}

/**
 * JSON Schema (draft 2020-12) of config/failover.yaml as users write it, generated from the zod validator so the
 * two cannot drift: durations and secrets are strings, defaults are shown. It cannot express the rules that span
 * fields (timeout < interval, unique names, record type vs routing, ...); the validator (`portal-failover
 * validate`) remains the authority, and the schema never rejects a config the validator accepts except for
 * blanks around a duration.
 */
export function configJsonSchema(): JsonSchema {
  // The environment and folder only feed transforms, which the input schema does not show; fixed values keep the
  // output the same on every machine.
  const schema = buildConfigSchema({ [PROBE_VAR]: 'probe' }, '/');
  const generated = z.toJSONSchema(schema, {
    target: 'draft-2020-12',
    io: 'input',
    // Nothing on the input side is unrepresentable today (transforms sit on the output side of pipes). Should
    // something appear, an unconstrained {} keeps the schema permissive instead of breaking generation.
    unrepresentable: 'any',
    override,
  });
  const { $schema, ...body } = generated;

  const notes = annotations();
  const unused = new Set(Object.keys(notes));
  walk(body, '', (path, node) => {
    const note = notes[path];
    if (!note) return;
    unused.delete(path);
    const { description, ...rest } = note;
    Object.assign(node, rest);
    if (description !== undefined) node.description = node.description ? `${description} ${node.description}` : description;
  });
  if (unused.size) throw new Error(`configJsonSchema: annotations for paths the schema does not have: ${[...unused].join(', ')}`);

  return {
    $schema,
    $id: CONFIG_SCHEMA_ID,
    title: 'portal-failover configuration',
    description: 'config/failover.yaml of portal-failover. Rules that span fields are checked by `portal-failover validate`; see docs/configuration.md.',
    ...body,
  };
}

/**
 * Every property path of the config schema in the readable notation of annotations() (`portals[].sites[].
 * checks[type=http].url`), for tests that hold the documentation to the schema.
 */
export function configSchemaPaths(): { path: string; leaf: boolean }[] {
  const out: { path: string; leaf: boolean }[] = [];
  walk(configJsonSchema(), '', (path, node) => {
    if (!path || path.endsWith(']')) return;
    const items = isSchema(node.items) ? node.items : undefined;
    const nested = node.properties !== undefined || (items !== undefined && (items.properties !== undefined || items.oneOf !== undefined));
    out.push({ path, leaf: !nested });
  });
  return out;
}

/** The committed form of docs/failover.schema.json: 2-space JSON and a final newline, so diffs stay readable. */
export function configJsonSchemaText(): string {
  return `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
}
