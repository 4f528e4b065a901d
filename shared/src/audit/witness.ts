import { appendFile } from 'node:fs/promises';
import type { KeyObject } from 'node:crypto';
import type { ChainHead } from './chain';
import { signCheckpoint, type AuditCheckpoint } from './checkpoint';

/** Where signed checkpoints go: a webhook that receives a POST of the JSON, or a file that gets one JSON line each. */
export type AuditWitness = { kind: 'url'; url: string } | { kind: 'file'; path: string };

/**
 * How a witness is named in metrics and logs: a URL without user info, query or fragment (where a token could
 * hide), a file by its path.
 */
export function witnessLabel(w: AuditWitness): string {
  if (w.kind === 'file') return `file:${w.path}`;
  try {
    const u = new URL(w.url);
    return `${u.protocol}//${u.host}${u.pathname}`;
  } catch {
    return 'url';
  }
}

export interface WitnessDeps {
  key: KeyObject;
  witnesses: AuditWitness[];
  head: () => Promise<ChainHead | undefined>;
  /** Counts one failed delivery attempt to this witness (failover_audit_witness_failures_total). */
  failed: (witness: string) => void;
  warn: (witness: string, message: string) => void;
  now: () => number;
  /** Delivery attempts per checkpoint and witness, and the pause before the second (doubling after). */
  attempts?: number;
  retryDelayMs?: number;
  timeoutMs?: number;
}

/**
 * The leader's checkpoint signer. `maybeCheckpoint` is called from the leader's upkeep; when `everyMs` has passed
 * it signs the head and starts one delivery per witness in the background, so a slow or dead witness never holds
 * up the upkeep, and a witness still busy with an earlier checkpoint is skipped this round (no pile-up).
 */
export class AuditWitnessing {
  private lastAt = Number.NEGATIVE_INFINITY;
  private lastHash: string | undefined;
  private readonly busy = new Set<number>();
  private readonly pending = new Set<Promise<void>>();

  constructor(
    private readonly d: WitnessDeps,
    private readonly everyMs: number,
  ) {}

  async maybeCheckpoint(): Promise<AuditCheckpoint | undefined> {
    const now = this.d.now();
    if (now - this.lastAt < this.everyMs) return undefined;
    const head = await this.d.head();
    if (!head) return undefined;
    this.lastAt = now;
    this.lastHash = head.hash;
    const cp = signCheckpoint(this.d.key, head, new Date(now));
    this.d.witnesses.forEach((w, i) => {
      if (this.busy.has(i)) return;
      this.busy.add(i);
      const p = this.deliver(w, cp).finally(() => {
        this.busy.delete(i);
        this.pending.delete(p);
      });
      this.pending.add(p);
    });
    return cp;
  }

  /** The head hash of the last checkpoint signed (for tests and status). */
  get lastSignedHash(): string | undefined {
    return this.lastHash;
  }

  /** Waits for deliveries under way (shutdown, tests). */
  async settle(): Promise<void> {
    await Promise.all([...this.pending]);
  }

  private async deliver(w: AuditWitness, cp: AuditCheckpoint): Promise<void> {
    const label = witnessLabel(w);
    const attempts = this.d.attempts ?? 3;
    let delay = this.d.retryDelayMs ?? 1000;
    for (let i = 1; i <= attempts; i++) {
      try {
        await this.send(w, cp);
        return;
      } catch (err) {
        this.d.failed(label);
        this.d.warn(label, `audit checkpoint #${cp.count} not delivered to witness ${label} (attempt ${i} of ${attempts}): ${(err as Error).message}`);
        if (i < attempts) await new Promise((r) => setTimeout(r, delay));
        delay *= 2;
      }
    }
  }

  private async send(w: AuditWitness, cp: AuditCheckpoint): Promise<void> {
    if (w.kind === 'file') {
      await appendFile(w.path, `${JSON.stringify(cp)}\n`, { mode: 0o644 });
      return;
    }
    // fetch refuses URLs with user info; a witness written https://user:pass@host/ gets them as Basic auth instead.
    const target = new URL(w.url);
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (target.username || target.password) {
      headers.authorization = `Basic ${Buffer.from(`${decodeURIComponent(target.username)}:${decodeURIComponent(target.password)}`).toString('base64')}`;
      target.username = '';
      target.password = '';
    }
    let res: Response;
    try {
      res = await fetch(target, {
        method: 'POST',
        headers,
        body: JSON.stringify(cp),
        redirect: 'error',
        signal: AbortSignal.timeout(this.d.timeoutMs ?? 5000),
      });
    } catch (err) {
      // fetch's errors can quote the whole URL; keep only the cause's code or name.
      const cause = (err as { cause?: { code?: string } }).cause;
      throw new Error(cause?.code ?? (err as Error).name ?? 'request failed');
    }
    await res.arrayBuffer().catch(() => undefined);
    if (!res.ok) throw new Error(`HTTP ${res.status}`);
  }
}
