import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { z } from 'zod';
import type { Fields } from '../config/fields';
import {
  adminMode,
  opStateName,
  parseServersState,
  parseSocketAddress,
  RuntimeApiError,
  runtimeCommand,
  type ServerStateRow,
  type SocketAddress,
} from './haproxy/runtime-api';
import {
  ProviderError,
  type ProviderContext,
  defineProvider,
  type StepOf,
  type StepPlan,
  type StepState,
  type TargetSite,
  type TrafficProvider,
  type VerifyResult,
} from './provider';

/**
 * HAProxy runtime API: the active site's server is `ready`, every other mapped server `maint`
 * (`set server <backend>/<server> state ready|maint`), read back with `show servers state <backend>`.
 *
 * Runtime changes live in the running process only; a reload starts from the config file again, which would
 * quietly send traffic back to whatever the config says. With `stateFile` set, every change is followed by writing
 * `show servers state` (all backends, the format HAProxy reads) to that file, atomically. HAProxy reapplies it on
 * reload when its config has, in `global`, `server-state-file <stateFile>` and, in `defaults` or the backend,
 * `load-server-state-from-file global`. read() also compares the file with the live state, so a file that could
 * not be written (or was overwritten with something else) shows up as a change to make, not as silent drift.
 *
 * The runtime API has no authentication: `set server` needs `level admin`, so the socket must be a unix socket
 * with tight file permissions or a TCP socket bound to loopback (see docs/providers.md).
 */

/**
 * HAProxy proxy and server names are identifiers; ';' would start a second runtime command and a space a new
 * argument, so anything outside this set is rejected instead of being sent.
 */
const HAPROXY_NAME = /^[A-Za-z0-9_.:-]{1,100}$/;
const STATE_FILE_KEY = '@stateFile';

function schema(f: Fields) {
  const name = (what: string) => f.nonEmpty().pipe(z.string().regex(HAPROXY_NAME, `${what} may contain only letters, digits, and _ . : -`));
  return z
    .strictObject({
      kind: z.literal('haproxy'),
      socket: f
        .nonEmpty()
        .pipe(z.string().refine((s) => parseSocketAddress(s) !== undefined, 'must be unix:/absolute/path or tcp:host:port'))
        .describe('Runtime API socket at level admin: unix:/path or tcp:127.0.0.1:9999.'),
      backend: name('backend').describe('Backend whose servers are switched.'),
      servers: z
        .record(z.string(), name('server'))
        .refine((m) => Object.keys(m).length > 0, 'map at least one site to a server')
        .describe('Site name -> server name in backend. The active site\'s server is set ready, the others maint.'),
      stateFile: f.path().optional().describe('Server-state file written after each change, for load-server-state-from-file on reload.'),
      timeout: f.duration(1).prefault('5s').describe('Time limit of one runtime API command.'),
    })
    .superRefine((s, ctx) => {
      const seen = new Map<string, string>();
      for (const [site, server] of Object.entries(s.servers)) {
        const other = seen.get(server);
        // One server cannot be ready for one site and in maintenance for another.
        if (other !== undefined) ctx.addIssue({ code: 'custom', path: ['servers', site], message: `server ${server} is already mapped to site ${other}` });
        seen.set(server, site);
      }
    })
    .transform(({ timeout, ...rest }) => ({ ...rest, timeoutMs: timeout }));
}

export type HaproxyStepConfig = StepOf<ReturnType<typeof schema>>;

const requestSchema = z.strictObject({
  socket: z.string(),
  backend: z.string(),
  commands: z.array(z.string()),
  saveStateFile: z.string().nullable(),
});
type HaproxyRequest = z.infer<typeof requestSchema>;

type Desired = Map<string, 'ready' | 'maint'>;

class HaproxyProvider implements TrafficProvider {
  readonly kind = 'haproxy';
  readonly label: string;
  private readonly address: SocketAddress;
  /** Mapped server names, sorted: the order values are reported in. */
  private readonly serverNames: string[];

  constructor(private readonly cfg: HaproxyStepConfig) {
    this.label = `haproxy ${cfg.backend} via ${cfg.socket}`;
    const address = parseSocketAddress(cfg.socket);
    if (!address) throw new ProviderError(`${this.label}: socket must be unix:/path or tcp:host:port`, false);
    this.address = address;
    this.serverNames = Object.values(cfg.servers).sort();
  }

  private async command(cmd: string, signal?: AbortSignal): Promise<string> {
    try {
      return await runtimeCommand(this.address, cmd, this.cfg.timeoutMs, signal);
    } catch (err) {
      if (!(err instanceof RuntimeApiError)) throw err;
      if (err.code === 'EACCES' || err.code === 'EPERM') {
        throw new ProviderError(`${this.label}: no permission to connect to runtime API socket ${this.cfg.socket} (${err.code}); check the socket's mode/owner`, false);
      }
      // ENOENT (socket file gone), ECONNREFUSED (nobody listening), resets and timeouts: HAProxy restarting.
      throw new ProviderError(`${this.label}: runtime API socket ${this.cfg.socket} is not answering: ${err.message}`, true);
    }
  }

  private async showState(backend?: string): Promise<{ text: string; rows: ServerStateRow[] }> {
    const text = await this.command(backend ? `show servers state ${backend}` : 'show servers state');
    const rows = parseServersState(text);
    if (rows) return { text, rows };
    const reply = text.trim().split('\n')[0] ?? '';
    if (/can't find backend/i.test(reply)) throw new ProviderError(`${this.label}: HAProxy has no backend ${this.cfg.backend}`, false);
    throw new ProviderError(`${this.label}: unexpected answer to show servers state: ${reply.slice(0, 200) || '(empty)'}`, !reply);
  }

  /** Admin mode of each mapped server, as HAProxy reports it; 'missing' when the backend has no such server. */
  private modes(rows: ServerStateRow[]): Map<string, string> {
    const mine = rows.filter((r) => r.backend === this.cfg.backend);
    return new Map(this.serverNames.map((s) => {
      const row = mine.find((r) => r.server === s);
      return [s, row ? adminMode(row.adminState) : 'missing'];
    }));
  }

  async read(): Promise<StepState> {
    const { rows } = await this.showState(this.cfg.backend);
    const live = this.modes(rows);
    const values = [...live].map(([s, m]) => `${s}=${m}`);
    const detail = this.serverNames
      .map((s) => {
        const row = rows.find((r) => r.server === s);
        return row ? `${s} ${adminMode(row.adminState)} (${opStateName(row.opState)})` : `${s} missing`;
      })
      .join(', ');
    if (!this.cfg.stateFile) return { values, detail };
    const fileState = await this.stateFileStatus(live);
    return { values: [...values, `${STATE_FILE_KEY}=${fileState}`], detail: `${detail}; state file ${fileState}` };
  }

  /** in-sync when the state file holds the same mode for every mapped server as HAProxy does now. */
  private async stateFileStatus(live: Map<string, string>): Promise<'in-sync' | 'stale' | 'missing'> {
    const path = this.cfg.stateFile ?? '';
    let text: string;
    try {
      text = await fsp.readFile(path, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return 'missing';
      throw new ProviderError(`${this.label}: cannot read state file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, false);
    }
    const rows = parseServersState(text);
    if (!rows) return 'stale';
    const saved = this.modes(rows);
    return [...live].every(([s, m]) => saved.get(s) === m) ? 'in-sync' : 'stale';
  }

  private desired(site: TargetSite): Desired {
    const target = this.cfg.servers[site.name];
    if (target === undefined) throw new ProviderError(`${this.label}: site ${site.name} has no server in servers`, false);
    return new Map(this.serverNames.map((s) => [s, s === target ? 'ready' : 'maint']));
  }

  plan(current: StepState, site: TargetSite): StepPlan {
    const want = this.desired(site);
    const now = new Map(current.values.map((v) => v.split('=') as [string, string]));
    const missing = this.serverNames.filter((s) => now.get(s) === 'missing');
    if (missing.length > 0) throw new ProviderError(`${this.label}: backend ${this.cfg.backend} has no server ${missing.join(', ')}`, false);
    // Ready the new server before putting the others in maintenance, so the backend never has no server at all.
    const ordered = [...want].sort(([, a], [, b]) => (a === b ? 0 : a === 'ready' ? -1 : 1));
    const commands = ordered.filter(([s, m]) => now.get(s) !== m).map(([s, m]) => `set server ${this.cfg.backend}/${s} state ${m}`);
    const fileStale = this.cfg.stateFile !== undefined && (commands.length > 0 || now.get(STATE_FILE_KEY) !== 'in-sync');
    const request: HaproxyRequest = { socket: this.cfg.socket, backend: this.cfg.backend, commands, saveStateFile: fileStale ? (this.cfg.stateFile ?? null) : null };
    const changes = commands.length > 0 || fileStale;
    const summary = [...want].map(([s, m]) => `${s} ${m}`).join(', ');
    return {
      kind: this.kind,
      target: site.name,
      changes,
      description: changes
        ? [...commands, ...(fileStale ? [`write ${this.cfg.stateFile} from show servers state`] : [])].join('; ')
        : `${this.cfg.backend}: already ${summary}`,
      request,
    };
  }

  private parseRequest(plan: StepPlan): HaproxyRequest {
    const parsed = requestSchema.safeParse(plan.request);
    if (plan.kind !== this.kind || !parsed.success) throw new ProviderError(`${this.label}: not a haproxy plan`, false);
    const req = parsed.data;
    const allowed = new Set(this.serverNames.flatMap((s) => [`set server ${this.cfg.backend}/${s} state ready`, `set server ${this.cfg.backend}/${s} state maint`]));
    const foreign = req.commands.find((c) => !allowed.has(c));
    if (req.socket !== this.cfg.socket || req.backend !== this.cfg.backend || foreign !== undefined || (req.saveStateFile !== null && req.saveStateFile !== this.cfg.stateFile)) {
      throw new ProviderError(`${this.label}: plan is not for this step${foreign ? ` (command "${foreign}")` : ''}`, false);
    }
    return req;
  }

  async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
    if (!plan.changes) return;
    const req = this.parseRequest(plan);
    for (const cmd of req.commands) {
      // Each command is a separate write; a deposed controller must not send the second half of a switch.
      await ctx.fence.assertHeld();
      const reply = (await this.command(cmd, ctx.signal)).trim();
      // Success is an empty line; anything else is HAProxy saying why not ("No such server.", "Permission denied.").
      if (reply !== '') {
        const hint = /permission denied/i.test(reply) ? ' (the socket needs level admin)' : '';
        throw new ProviderError(`${this.label}: "${cmd}" failed: ${reply.split('\n')[0]}${hint}`, false);
      }
      ctx.logger.info('haproxy server state set', { socket: this.cfg.socket, command: cmd });
    }
    if (req.saveStateFile !== null) {
      // Also a write: a deposed controller must not replace the file its successor wrote.
      await ctx.fence.assertHeld();
      await this.saveStateFile(req.saveStateFile, ctx);
    }
  }

  /** `show servers state` for every backend (the file is global), written to a temp file and renamed over. */
  private async saveStateFile(path: string, ctx: ProviderContext): Promise<void> {
    const { text } = await this.showState();
    const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
    try {
      await fsp.writeFile(tmp, text.endsWith('\n') ? text : `${text}\n`, { mode: 0o640, flag: 'wx' });
      await fsp.rename(tmp, path);
    } catch (err) {
      await fsp.unlink(tmp).catch(() => undefined);
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      // The switch itself has happened; read() will report the file as stale, so the next attempt rewrites it.
      throw new ProviderError(`${this.label}: servers switched, but writing state file ${path} failed (${code}); a reload would undo the switch`, true);
    }
    ctx.logger.info('haproxy server-state file written', { path });
  }

  async verify(site: TargetSite): Promise<VerifyResult> {
    const want = this.desired(site);
    const state = await this.read();
    const now = new Map(state.values.map((v) => v.split('=') as [string, string]));
    const wrong = [...want].filter(([s, m]) => now.get(s) !== m).map(([s, m]) => `${s} is ${now.get(s) ?? 'unknown'}, want ${m}`);
    if (this.cfg.stateFile && now.get(STATE_FILE_KEY) !== 'in-sync') wrong.push(`state file ${this.cfg.stateFile} is ${now.get(STATE_FILE_KEY) ?? 'unknown'}`);
    return {
      ok: wrong.length === 0,
      observed: state.values,
      detail: wrong.length === 0 ? `${this.cfg.backend}: ${state.detail}` : `${this.cfg.backend}: ${wrong.join('; ')}`,
    };
  }
}

export const haproxyProvider = defineProvider({
  kind: 'haproxy',
  schema,
  checkSites: (step, sites) => {
    const names = new Set(sites.map((s) => s.name));
    return [
      ...sites.filter((s) => step.servers[s.name] === undefined).map((s) => ({ path: ['servers'], message: `site ${s.name} has no server here; map every site` })),
      ...Object.keys(step.servers).filter((k) => !names.has(k)).map((k) => ({ path: ['servers', k], message: `the portal has no site named ${k}` })),
    ];
  },
  create: (step) => new HaproxyProvider(step),
});
