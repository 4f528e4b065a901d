import { execAll } from './control';
import type { Redis } from 'ioredis';
import { parseRecord } from '../core/records';
import { RiskWindowSchema, sortWindows, type RiskWindow } from '../core/risk-windows';
import type { Keys } from '../runtime/keys';
import { readRecord, type ReportInvalidRecord } from './records';

/** Announced windows per portal are few; a cap keeps a script or a stuck client from filling Redis with them. */
export const MAX_API_WINDOWS_PER_PORTAL = 50;

// Add only under a new name and below the cap: the check and the write are one step, so two clients announcing
// the same window at once get one 201 and one 409.
const ADD = `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 1 then return 'exists' end
if redis.call('HLEN', KEYS[1]) >= tonumber(ARGV[3]) then return 'full' end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('INCR', KEYS[2])
return 'ok'`;

/**
 * The risk windows announced through the API (a hash per portal, one field per window name); the API writes,
 * the leader reads them every evaluation tick. Config windows are not stored: they are in the config file.
 */
export class RiskWindowStore {
  constructor(
    private readonly redis: Redis,
    private readonly k: Keys,
    private readonly report: ReportInvalidRecord = () => undefined,
  ) {}

  async list(portal: string): Promise<RiskWindow[]> {
    return this.parse(portal, await this.redis.hgetall(this.k.portalRiskWindows(portal)));
  }

  /** A portal's every window, in start order: those of its config and those announced through the API. */
  async forPortal(p: { id: string; riskWindows: readonly RiskWindow[] }): Promise<RiskWindow[]> {
    return sortWindows([...p.riskWindows, ...(await this.list(p.id))]);
  }

  /** Every portal's API windows in one round trip. */
  async listMany(portals: readonly string[]): Promise<Map<string, RiskWindow[]>> {
    const out = new Map<string, RiskWindow[]>();
    if (!portals.length) return out;
    const pipe = this.redis.pipeline();
    for (const p of portals) pipe.hgetall(this.k.portalRiskWindows(p));
    const replies = (await pipe.exec()) ?? [];
    portals.forEach((p, i) => {
      const [err, value] = replies[i] ?? [new Error('no reply'), null];
      if (err) throw err;
      out.set(p, this.parse(p, value as Record<string, string>));
    });
    return out;
  }

  async add(portal: string, w: RiskWindow): Promise<'ok' | 'exists' | 'full'> {
    const r = String(await this.redis.eval(ADD, 2, this.k.portalRiskWindows(portal), this.k.controlChanged, w.name, JSON.stringify(w), String(MAX_API_WINDOWS_PER_PORTAL)));
    return r === 'exists' || r === 'full' ? r : 'ok';
  }

  /** Removes a window; returns it, or undefined when there was none by that name. */
  async remove(portal: string, name: string): Promise<RiskWindow | undefined> {
    const key = this.k.portalRiskWindows(portal);
    const [raw, removed] = (await execAll(this.redis.multi().hget(key, name).hdel(key, name).incr(this.k.controlChanged))) as [string | null, number];
    if (!removed) return undefined;
    return readRecord(raw, 'risk-window', `${key}#${name}`, (v) => parseRecord(RiskWindowSchema, v), this.report);
  }

  private parse(portal: string, hash: Record<string, string>): RiskWindow[] {
    const key = this.k.portalRiskWindows(portal);
    const windows = Object.entries(hash).flatMap(([name, raw]) => {
      const w = readRecord(raw, 'risk-window', `${key}#${name}`, (v) => parseRecord(RiskWindowSchema, v), this.report);
      return w ? [w] : [];
    });
    return sortWindows(windows);
  }
}
