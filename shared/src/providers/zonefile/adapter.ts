import { promises as fsp } from 'node:fs';
import { z } from 'zod';
import { canonicalName, type Fields } from '../../config/fields';
import { runCommand } from '../../runtime/command-runner';
import type { Logger } from '../../runtime/logger';
import { DNS_RECORD_TYPES, dnsRecordFields, dnsSiteIssues, dnsTtlField, MAX_DNS_TTL, recordInZoneIssues } from '../dns-record';
import {
  defineProvider,
  dnsValueFor,
  ProviderError,
  type ProviderContext,
  type StepOf,
  type StepPlan,
  type StepState,
  type TargetSite,
  type TrafficProvider,
  type VerifyResult,
} from '../provider';
import { io, replaceFile } from './atomic-file';
import { normaliseValue, parseZone, resolveName, rrsetOf, rrsetValues, type ParsedZone } from './parser';
import { nextSerial, rewriteZone, type RecordChange } from './rewrite';

/**
 * A BIND-format zone file edited in place: read parses it, apply rewrites the one RRset and bumps the SOA serial
 * (every other byte kept), replaces the file atomically and runs the reload command, verify parses it again.
 */

const RELOAD_OUTPUT_LIMIT = 1024 * 1024;

function ownerName(record: string, zone: string): string {
  return resolveName(record, canonicalName(zone));
}

const requestSchema = z.strictObject({
  path: z.string(),
  record: z.string(),
  type: z.enum(DNS_RECORD_TYPES),
  ttl: z.int().min(0).max(MAX_DNS_TTL),
  value: z.string().min(1),
  serialBump: z.literal(true),
});

class ZonefileProvider implements TrafficProvider {
  readonly kind = 'zonefile';
  readonly label: string;
  private readonly zone: string;
  private readonly owner: string;

  constructor(private readonly cfg: ZonefileStepConfig) {
    this.zone = canonicalName(cfg.zone);
    this.owner = ownerName(cfg.record, cfg.zone);
    this.label = `zonefile ${cfg.path} ${this.owner}/${cfg.type}`;
  }

  private async load(): Promise<ParsedZone> {
    const text = await io(this.cfg.path, 'read', () => fsp.readFile(this.cfg.path, 'latin1'));
    return parseZone(text, this.zone, this.cfg.path);
  }

  private desired(site: TargetSite): { value?: string; error?: string } {
    const { value, error } = dnsValueFor(this.cfg.type, site);
    if (value === undefined) return { error: `site ${site.name} ${error ?? 'has no value for this record'}` };
    const normalised = normaliseValue(this.cfg.type, value, '.');
    return normalised === undefined ? { error: `site ${site.name}: "${value}" is not a valid ${this.cfg.type} value` } : { value: normalised };
  }

  async read(): Promise<StepState> {
    const zone = await this.load();
    const values = rrsetValues(zone, this.owner, this.cfg.type, this.cfg.path);
    const rrset = rrsetOf(zone, this.owner, this.cfg.type);
    return {
      values,
      // The TTL caches may hold the current answer for (the propagation check's horizon); plan() compares values only.
      ttl: rrset[0]?.ttl,
      detail: rrset.length > 0 ? `ttl ${rrset[0].ttl}, serial ${zone.serial}` : `no ${this.cfg.type} record, serial ${zone.serial}`,
    };
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const { value, error } = this.desired(site);
    if (value === undefined) throw new ProviderError(`${this.label}: ${error}`, false);
    // A right value with another TTL is rewritten too, as on every DNS provider: a risk window lowers TTLs this way.
    const changes = !(current.values.length === 1 && current.values[0] === value && (current.ttl === undefined || current.ttl === this.cfg.ttl));
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? `rewrite ${this.cfg.path}: ${this.owner} ${this.cfg.type} [${current.values.join(', ')}] -> ${value} (ttl ${this.cfg.ttl}), bump SOA serial`
        : `${this.owner} ${this.cfg.type} already ${value} (ttl ${this.cfg.ttl}) in ${this.cfg.path}`,
      request: { path: this.cfg.path, record: this.owner, type: this.cfg.type, ttl: this.cfg.ttl, value, serialBump: true },
    };
  }

  private parseRequest(plan: StepPlan): RecordChange {
    const parsed = requestSchema.safeParse(plan.request);
    if (plan.kind !== this.kind || !parsed.success) throw new ProviderError(`${this.label}: not a zonefile plan`, false);
    const req = parsed.data;
    if (req.path !== this.cfg.path || req.record !== this.owner || req.type !== this.cfg.type) {
      throw new ProviderError(`${this.label}: plan is for ${req.path} ${req.record}/${req.type}, not this step`, false);
    }
    const value = normaliseValue(req.type, req.value, '.');
    if (value === undefined) throw new ProviderError(`${this.label}: plan value "${req.value}" is not a valid ${req.type} value`, false);
    return { owner: req.record, type: req.type, ttl: req.ttl, value };
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    await ctx.fence.assertHeld();
    const change = this.parseRequest(plan);
    const path = this.cfg.path;
    // Edit the file a symlink points at, so the link itself survives the rename.
    const real = await io(path, 'resolve path', () => fsp.realpath(path));
    const original = await io(path, 'read', () => fsp.readFile(real));
    // latin1 maps every byte to one character and back, so bytes we do not touch are written back unchanged.
    const text = original.toString('latin1');
    const zone = parseZone(text, this.zone, path);
    const current = rrsetValues(zone, change.owner, change.type, path);
    const ttl = zone.records.find((r) => r.owner === change.owner && r.type === change.type)?.ttl;
    // The same test plan() uses, so a dry run that says "no change" is never followed by a rewrite.
    const upToDate = current.length === 1 && current[0] === change.value && (ttl === undefined || ttl === change.ttl);

    if (upToDate) {
      ctx.logger.debug('zone file already has the record', { path, record: change.owner, type: change.type, value: change.value });
    } else {
      this.checkConflicts(zone, change);
      const serial = nextSerial(zone.serial, new Date());
      const updated = rewriteZone(text, zone, change, serial, path);
      await replaceFile({
        source: path,
        real,
        original,
        updated: Buffer.from(updated, 'latin1'),
        // The lease can lapse while we write; checking again keeps a deposed controller from having the last word.
        beforeRename: () => ctx.fence.assertHeld(),
      });
      ctx.logger.info('zone file rewritten', {
        path,
        record: change.owner,
        type: change.type,
        from: current,
        to: change.value,
        serial: { from: zone.serial, to: serial },
      });
    }
    // A change was planned but the file already has it: an earlier attempt may have written it and then failed to
    // reload, so the server may still serve the old data.
    if (this.cfg.reloadCommand && (!upToDate || plan.changes)) await this.reload(ctx.logger);
  }

  private checkConflicts(zone: ParsedZone, change: RecordChange): void {
    const others = zone.records.filter((r) => r.owner === change.owner && r.type !== change.type);
    const clash =
      change.type === 'CNAME'
        ? others.find((r) => !['RRSIG', 'NSEC', 'NSEC3'].includes(r.type))
        : others.find((r) => r.type === 'CNAME');
    if (clash) {
      throw new ProviderError(
        `${this.label}: ${change.owner} also has a ${clash.type} record (line ${clash.line}); a CNAME cannot share its name`,
        false,
      );
    }
  }

  private async reload(logger: Logger): Promise<void> {
    const argv = this.cfg.reloadCommand ?? [];
    const timeout = this.cfg.reloadTimeout;
    const { end, stdout, stderr } = await runCommand({ argv, timeoutMs: timeout, maxOutputBytes: RELOAD_OUTPUT_LIMIT });
    const output = (stderr.trim() || stdout.trim()).slice(-500);
    if (end.kind === 'exited' && end.code === 0) {
      logger.info('zone reload command finished', { command: argv[0], output });
      return;
    }
    let why: string;
    let retryable = true;
    switch (end.kind) {
      case 'not-started':
        why = `cannot be started (${end.code})`;
        retryable = end.code !== 'ENOENT' && end.code !== 'EACCES';
        break;
      case 'output-limit':
        why = 'printed more than 1 MiB of output';
        break;
      case 'timeout':
        why = `did not finish within ${timeout}ms`;
        break;
      case 'exited':
        why = `exited with status ${end.code}`;
        break;
      case 'signal':
        why = `was killed by ${end.signal}`;
        break;
    }
    throw new ProviderError(`${this.label}: reload command ${argv[0]} ${why}${output ? `: ${output}` : ''}`, retryable);
  }

  async verify(site: TargetSite): Promise<VerifyResult> {
    const { value, error } = this.desired(site);
    const { values } = await this.read();
    if (value === undefined) return { ok: false, observed: values, detail: error ?? 'no value' };
    const ok = values.length === 1 && values[0] === value;
    return {
      ok,
      observed: values,
      detail: ok
        ? `${this.owner} ${this.cfg.type} is ${value} in ${this.cfg.path}`
        : `expected ${value}, ${this.cfg.path} has [${values.join(', ')}]`,
    };
  }
}

function schema(f: Fields) {
  return z
    .strictObject({
      kind: z.literal('zonefile'),
      // Relative paths are resolved against the config file's folder by f.path().
      path: f.path(),
      zone: f.dnsName(),
      // Owner name, absolute ("www.portal.example.") or relative to the zone ("www").
      ...dnsRecordFields(f),
      ttl: dnsTtlField({ min: 0, max: MAX_DNS_TTL, default: 30 }),
      // argv of a command that makes the DNS server load the file (e.g. rndc reload zone); run without a shell.
      reloadCommand: z.array(f.nonEmpty()).min(1, 'needs at least the program to run').optional(),
      reloadTimeout: f.duration().pipe(z.number().positive('must be longer than 0')).prefault('5s'),
    })
    .superRefine((s, ctx) => {
      const zone = canonicalName(s.zone);
      for (const issue of recordInZoneIssues(ownerName(s.record, zone), zone, s.type)) ctx.addIssue({ code: 'custom', ...issue });
    });
}

export type ZonefileStepConfig = StepOf<ReturnType<typeof schema>>;

export const zonefileProvider = defineProvider({
  kind: 'zonefile',
  schema,
  checkSites: dnsSiteIssues,
  create: (step) => new ZonefileProvider(step),
});