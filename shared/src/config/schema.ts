// One file on purpose: the config document is one zod schema whose sections refer to each other (vantages, sites,
// traffic steps, risk windows); split apart, the cross-section refinements would need the whole shape anyway.
import { z } from 'zod';
import { makeFields, type ConfigLoadOptions, type Fields } from './fields';
import { providerDefinition, providerDefinitions } from '../providers/registry';
import type { TargetSite } from '../providers/provider';
import { formatDuration } from './duration';
import { hooksSchema } from '../hooks/hooks';
import { connectHost, spkiPins } from './tls-fields';
import { livenessExpectation } from './liveness-fields';
import { auditSchema, drillSchema, evidenceSchema, statusPageSchema, transparencyRules } from './transparency';
import { declaredVantages, quorumSchema, resolveQuorum, vantageRules, vantagesSchema } from './vantages';
import { LEASE_TRUST_FRACTION, providerCallBudget, stepTimeLimits } from './lease-budget';
import { redisSchema } from './redis-schema';
import { configRiskWindowSchema, riskWindowIssues } from './risk-window-fields';
import { metricsSchema } from './metrics-budget';

const ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;
const idField = (what: string) =>
  z.string().regex(ID, `${what} must be lower-case letters, digits, - or _, starting with a letter or digit`);

function checkSchemas(f: Fields) {
  const common = {
    name: idField('check name').optional(),
    interval: f.duration(100),
    timeout: f.duration(10),
  };
  const http = z.strictObject({
    type: z.literal('http'),
    ...common,
    url: f.url(),
    method: z.enum(['GET', 'HEAD']).default('GET'),
    headers: z.record(z.string(), f.str()).default({}),
    expect: z
      .strictObject({
        status: z.array(z.int().min(100).max(599)).min(1).default([200]),
        bodyIncludes: z.array(f.nonEmpty()).default([]),
        bodyExcludes: z.array(f.nonEmpty()).default([]),
        maxLatency: f.duration().optional(),
        /** https: URLs only: the certificate's issuer (common name or full DN) and SPKI pins, as on `tls` checks. */
        tlsIssuer: f.nonEmpty().optional(),
        spkiSha256: spkiPins().optional(),
        /** The signed token at /.well-known/portal-liveness on the same origin must be fresh and valid. */
        liveness: livenessExpectation(f).optional(),
        /** Readiness only: the content version this check reads may lag `site`'s newest version by at most maxLag. */
        sameVersionAs: z
          .strictObject({ site: idField('site name'), header: f.nonEmpty().optional(), jsonPointer: z.string().regex(/^(\/[^/]*)+$/, 'must be a JSON pointer such as /version').optional(), maxLag: f.duration() })
          .refine((v) => (v.header === undefined) !== (v.jsonPointer === undefined), 'give exactly one of header or jsonPointer')
          .optional(),
      })
      .prefault({}),
    tls: z
      .strictObject({
        verify: z.boolean().default(true),
        serverName: f.str().optional(),
        /** PEM bundle trusted in addition to the system roots (a city's private CA). */
        ca: f.path().optional(),
      })
      .prefault({}),
    redirects: z
      .strictObject({
        follow: z.boolean().default(false),
        allowOtherHost: z.boolean().default(false),
        max: z.int().min(1).max(10).default(5),
      })
      .prefault({}),
    maxBodyBytes: z.int().min(1024).max(16 * 1024 * 1024).default(1024 * 1024),
  });
  const tcp = z.strictObject({
    type: z.literal('tcp'),
    ...common,
    host: f.nonEmpty(),
    port: z.int().min(1).max(65535),
  });
  const tls = z.strictObject({
    type: z.literal('tls'),
    ...common,
    host: connectHost(f),
    port: z.int().min(1).max(65535).default(443),
    serverName: f.str().optional(),
    ca: f.path().optional(),
    expect: z
      .strictObject({
        issuer: f.nonEmpty().optional(),
        spkiSha256: spkiPins().optional(),
        /** Fewer days left raises a warning (metric and alert), never a failover. */
        minDaysLeft: z.int().min(0).max(3650).default(14),
      })
      .prefault({}),
  });
  const dns = z.strictObject({
    type: z.literal('dns'),
    ...common,
    /** The nameserver to ask (usually one of the zone's authoritative servers). */
    server: f.hostPort(),
    name: f.dnsName(),
    recordType: z.enum(['A', 'AAAA', 'CNAME', 'NS', 'SOA', 'MX', 'TXT']),
    expect: z
      .strictObject({
        rcode: z.enum(['NOERROR', 'NXDOMAIN', 'SERVFAIL', 'REFUSED', 'NOTAUTH', 'NOTZONE']).default('NOERROR'),
        authoritative: z.boolean().optional(),
        /** The exact set of records of recordType in the answer, in any order. */
        answers: z.array(f.nonEmpty()).optional(),
        nonEmpty: z.boolean().optional(),
      })
      .prefault({}),
  });
  // Rules inside one check live on the check, so they are reported even when another part of the file is broken.
  return z
    .discriminatedUnion('type', [http, tcp, tls, dns], {
      error: (iss) =>
        iss.code === 'invalid_union' && iss.input && typeof iss.input === 'object'
          ? `unknown check type ${JSON.stringify((iss.input as { type?: unknown }).type)} (known: http, tcp, tls, dns)`
          : undefined,
    })
    .superRefine((c, ctx) => {
      if (c.timeout >= c.interval) {
        ctx.addIssue({ code: 'custom', path: ['timeout'], message: `must be shorter than interval (${formatDuration(c.timeout)} >= ${formatDuration(c.interval)})` });
      }
      if (c.type === 'http' && c.method === 'HEAD' && (c.expect.bodyIncludes.length || c.expect.bodyExcludes.length)) {
        ctx.addIssue({ code: 'custom', path: ['method'], message: 'HEAD has no body, so bodyIncludes/bodyExcludes could never match; use GET' });
      }
      if (c.type === 'http' && c.expect.maxLatency !== undefined && c.expect.maxLatency > c.timeout) {
        ctx.addIssue({ code: 'custom', path: ['expect', 'maxLatency'], message: 'must not be longer than timeout' });
      }
      // The url field has its own issue when it does not parse; refinements still run, so never assume it does.
      if (c.type === 'http' && URL.canParse(c.url) && new URL(c.url).protocol !== 'https:') {
        for (const field of ['tlsIssuer', 'spkiSha256'] as const) {
          if (c.expect[field] !== undefined) {
            ctx.addIssue({ code: 'custom', path: ['expect', field], message: `needs an https: URL; ${c.url} has no certificate to check` });
          }
        }
      }
    });
}

function policySchema(f: Fields) {
  return z
    .strictObject({
      failureThreshold: z.int().min(1).max(100).default(3),
      recoveryThreshold: z.int().min(1).max(100).default(5),
      quorum: quorumSchema,
      cooldown: f.duration().prefault('10m'),
      autoFailover: z.boolean().default(true),
      autoFailback: z.boolean().default(false),
      /** When a later traffic step fails, put the earlier ones back on the site traffic came from. */
      rollbackOnFailure: z.boolean().default(false),
      /** A vantage whose newest result is older than this many check intervals has no verdict. */
      staleAfterIntervals: z.int().min(2).max(100).default(3),
      /** What the leader does when the providers no longer point where the record says: report, or re-apply. */
      onDrift: z.enum(['alert', 'repair']).default('alert'),
    })
      .prefault({});
}

function stepSchema(f: Fields) {
  const [first, ...rest] = providerDefinitions.map((d) => d.schema(f));
  const known = providerDefinitions.map((d) => d.kind).join(', ');
  return z.discriminatedUnion('kind', [first, ...rest], {
    error: (iss) =>
      iss.code === 'invalid_union' && iss.input && typeof iss.input === 'object'
        ? `unknown provider kind ${JSON.stringify((iss.input as { kind?: unknown }).kind)} (known: ${known})`
        : undefined,
  });
}

export function buildConfigSchema(env: NodeJS.ProcessEnv = process.env, baseDir?: string, opts: ConfigLoadOptions = {}) {
  const f = makeFields(env, baseDir, opts);
  const check = checkSchemas(f);
  const site = z.strictObject({
    name: idField('site name'),
    provider: f.nonEmpty(),
    routing: z
      .strictObject({ address: f.ipAddress().optional(), target: f.dnsName().optional() })
      .refine((r) => r.address !== undefined || r.target !== undefined, 'needs address or target'),
    checks: z.array(check).min(1, 'a site needs at least one check'),
    /** Checks that make the site eligible as a switch target (content current, database caught up), never serving. */
    readiness: z.array(check).default([]),
  });
  const portal = z
    .strictObject({
      id: idField('portal id'),
      name: f.nonEmpty(),
      policy: policySchema(f),
      sites: z.array(site).min(2, 'a portal needs at least two sites (primary and standby)'),
      traffic: z.array(stepSchema(f)).min(1, 'a portal needs at least one traffic step'),
      hooks: hooksSchema(f),
      /** false leaves the portal off the public status page. */
      public: z.boolean().default(true),
      /** Announced cuts: TTLs lowered and the standby re-verified ahead of them (core/risk-windows.ts). */
      riskWindows: z.array(configRiskWindowSchema).default([]),
    })
    .superRefine((p, ctx) => {
      const names = new Set<string>();
      p.sites.forEach((s, i) => {
        if (names.has(s.name)) ctx.addIssue({ code: 'custom', path: ['sites', i, 'name'], message: `duplicate site name "${s.name}"` });
        names.add(s.name);
        const checkNames = new Set<string>();
        s.checks.forEach((c, j) => {
          const path = ['sites', i, 'checks', j];
          const name = c.name ?? `${c.type}-${j}`;
          if (checkNames.has(name)) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `duplicate check name "${name}"` });
          checkNames.add(name);
          if (c.type === 'http' && c.expect.sameVersionAs) {
            ctx.addIssue({ code: 'custom', path: [...path, 'expect', 'sameVersionAs'], message: 'belongs in the site\'s readiness checks: a version lag makes a site not ready, never down' });
          }
        });
        s.readiness.forEach((c, j) => {
          const path = ['sites', i, 'readiness', j];
          const name = readinessCheckName(c, j);
          if (checkNames.has(name)) ctx.addIssue({ code: 'custom', path: [...path, 'name'], message: `duplicate check name "${name}" (readiness and serving checks share one namespace per site)` });
          checkNames.add(name);
          const ref = c.type === 'http' ? c.expect.sameVersionAs : undefined;
          if (ref && (ref.site === s.name || !p.sites.some((o) => o.name === ref.site))) {
            ctx.addIssue({ code: 'custom', path: [...path, 'expect', 'sameVersionAs', 'site'], message: `must name another site of this portal (sites: ${p.sites.map((o) => o.name).join(', ')})` });
          }
        });
      });
      const windowNames = new Set<string>();
      p.riskWindows.forEach((w, i) => {
        if (windowNames.has(w.name)) ctx.addIssue({ code: 'custom', path: ['riskWindows', i, 'name'], message: `duplicate risk window name "${w.name}"` });
        windowNames.add(w.name);
        // Whether it already ended is for `validate` to say (endedRiskWindowIssues): a restart after a window must not fail.
        for (const issue of riskWindowIssues(w, p.traffic)) ctx.addIssue({ code: 'custom', path: ['riskWindows', i, ...issue.path], message: issue.message });
      });
      const sites: TargetSite[] = p.sites.map((s) => ({ name: s.name, routing: s.routing }));
      p.traffic.forEach((step, i) => {
        for (const issue of providerDefinition(step.kind)?.checkSites(step, sites) ?? []) {
          ctx.addIssue({ code: 'custom', path: ['traffic', i, ...issue.path], message: issue.message });
        }
      });
    });

  const token = z.strictObject({
    name: idField('token name'),
    role: z.enum(['viewer', 'automation', 'operator', 'admin']),
    sha256: z.string().regex(/^[0-9a-f]{64}$/, 'must be the hex SHA-256 of the token'),
    /** After this instant the token is refused with 401 naming the expiry. */
    expires: z
      .string()
      .regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/, 'must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z')
      .refine((v) => !Number.isNaN(Date.parse(v)), 'must be an ISO 8601 date-time such as 2027-01-31T00:00:00Z')
      .optional(),
  });

  return z
    .strictObject({
      redis: redisSchema(f),
      api: z
        .strictObject({
          listen: f.hostPort().default('127.0.0.1:8080'),
          tokens: z.array(token).default([]),
          /** `name role sha256 [expires]` lines, for tokens kept out of the config (e.g. mounted from a Secret); re-read on change and SIGHUP. */
          tokenFile: f.path().optional(),
          /** Identical refusals (401/403) and blocked alerts within this window are audited as one entry with a count. */
          repeatWindow: f.duration(1000).prefault('1m'),
          /** Express "trust proxy": set when the API sits behind a reverse proxy, so audit entries get the real client. */
          trustProxy: z.union([z.boolean(), z.int().min(0), z.string()]).default(false),
          rateLimit: z
            .strictObject({ window: f.duration(1000).prefault('1m'), max: z.int().min(1).default(300) })
            .prefault({}),
        })
        .prefault({}),
      checker: z
        .strictObject({
          vantage: idField('vantage').default('local'),
          concurrency: z.int().min(1).max(1024).default(64),
          shardSize: z.int().min(1).max(10_000).default(250),
          childProcess: z.union([z.literal('auto'), z.boolean()]).default('auto'),
        })
      .prefault({}),
      vantages: vantagesSchema(f),
      metrics: metricsSchema,
      controller: z
        .strictObject({
          leaseTtl: f.duration(1000).prefault('10s'),
          renewEvery: f.duration(100).prefault('2s'),
          evaluateEvery: f.duration(50).prefault('500ms'),
          stepAttempts: z.int().min(1).max(20).default(4),
          stepBackoff: f.duration().prefault('500ms'),
          /** How often the leader reads every traffic step and compares it with the recorded active site. */
          reconcileEvery: f.duration(1000).prefault('30s'),
        })
      .prefault({}),
      audit: auditSchema(f),
      statusPage: statusPageSchema(f),
      evidence: evidenceSchema(f),
      drills: z.array(drillSchema(f)).default([]),
      portals: z.array(portal).min(1, 'configure at least one portal'),
    })
    .superRefine((c, ctx) => {
      // patroni's rule: a leader must be able to renew at least twice before its lease can expire.
      if (c.controller.renewEvery * 3 > c.controller.leaseTtl) {
        ctx.addIssue({ code: 'custom', path: ['controller', 'renewEvery'], message: `must be at most a third of leaseTtl (${formatDuration(c.controller.leaseTtl)})` });
      }
      // A Redis command that hangs must fail before the lease it renews could lapse (see DESIGN: failsafe when blind).
      if (c.redis.commandTimeout * 2 > c.controller.leaseTtl) {
        ctx.addIssue({ code: 'custom', path: ['redis', 'commandTimeout'], message: `must be at most half of controller.leaseTtl (${formatDuration(c.controller.leaseTtl)})` });
      }
      // Every provider call is aborted at the lease's deadline; a time limit longer than that budget would only
      // ever end in an abort, so it is refused here instead of discovered during an outage.
      const budget = providerCallBudget(c.controller.leaseTtl, c.controller.renewEvery);
      const ids = new Set<string>();
      c.portals.forEach((p, i) => {
        if (ids.has(p.id)) ctx.addIssue({ code: 'custom', path: ['portals', i, 'id'], message: `duplicate portal id "${p.id}"` });
        ids.add(p.id);
        p.traffic.forEach((step, j) => {
          for (const limit of stepTimeLimits(step)) {
            if (limit.ms > budget) {
              ctx.addIssue({
                code: 'custom',
                path: ['portals', i, 'traffic', j, ...limit.field],
                message: `must fit in the leader lease: at most ${formatDuration(Math.max(0, budget))} (controller.leaseTtl × ${LEASE_TRUST_FRACTION} − controller.renewEvery), got ${formatDuration(limit.ms)}`,
              });
            }
          }
        });
      });
      transparencyRules(c, ctx);
      vantageRules(c, ctx);
    })
    .transform(({ vantages, ...c }) => {
      // Consumers see the vantages that vote and each portal's quorum as a number of them.
      const declared = declaredVantages(vantages, c.checker.vantage);
      return {
        ...c,
        vantages: declared,
        portals: c.portals.map((p) => ({ ...p, policy: { ...p.policy, quorum: resolveQuorum(p.policy.quorum, declared.length) } })),
      };
    });
}

export type ConfigSchema = ReturnType<typeof buildConfigSchema>;
export type Config = z.output<ConfigSchema>;
export type PortalConfig = Config['portals'][number];
export type SiteConfig = PortalConfig['sites'][number];
export type CheckConfig = SiteConfig['checks'][number];
export type HttpCheckConfig = Extract<CheckConfig, { type: 'http' }>;
export type TcpCheckConfig = Extract<CheckConfig, { type: 'tcp' }>;
export type TlsCheckConfig = Extract<CheckConfig, { type: 'tls' }>;
export type DnsCheckConfig = Extract<CheckConfig, { type: 'dns' }>;
export type PolicyConfig = PortalConfig['policy'];
export type TrafficStepConfig = PortalConfig['traffic'][number];

export function checkName(check: CheckConfig, index: number): string {
  return check.name ?? `${check.type}-${index}`;
}

/** Readiness checks default to `ready-<type>-<index>`, so they never collide with the serving checks' defaults. */
export function readinessCheckName(check: CheckConfig, index: number): string {
  return check.name ?? `ready-${check.type}-${index}`;
}
