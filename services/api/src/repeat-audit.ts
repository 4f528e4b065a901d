import type { AuditLog, NewAuditEntry } from '@portal-failover/shared';

/** Distinct kinds of repeat tracked at once; beyond it, repeats fold into one overflow entry per window. */
const MAX_KINDS = 1000;

interface Window {
  entry: NewAuditEntry;
  opened: number;
  last: number;
  repeats: number;
  timer: NodeJS.Timeout;
}

/**
 * Audits repeated identical events (refused requests, blocked alerts) as counts instead of one entry each, so a
 * caller who repeats a refused request cannot grow the audit stream with it. The first of a kind is written at
 * once (`data.count: 1`); identical ones within `windowMs` after it are written as one entry when the window
 * closes (`data.count: n`, `data.repeated: true`, `data.firstAt`/`data.lastAt`). "Identical" is the `kind` key
 * the caller gives: everything in the audit entry except the count.
 */
export class RepeatAudit {
  private readonly open = new Map<string, Window>();
  private overflow?: Window;
  /** Writes run one after another: concurrent appends would only contend for the chain head. */
  private tail: Promise<void> = Promise.resolve();

  constructor(
    private readonly audit: AuditLog,
    private readonly windowMs: number,
    private readonly onError: (e: Error) => void,
    private readonly now: () => number = Date.now,
  ) {}

  note(kind: string, entry: NewAuditEntry): void {
    const w = this.open.get(kind);
    if (w) {
      // The hot path under a flood: count and stamp, build nothing.
      w.repeats++;
      w.last = this.now();
      return;
    }
    if (this.open.size >= MAX_KINDS) {
      if (this.overflow) {
        this.overflow.repeats++;
        this.overflow.last = this.now();
      } else {
        const o: NewAuditEntry = { type: entry.type, actor: 'api', reason: `more than ${MAX_KINDS} distinct kinds of ${entry.type} in one window; counted together` };
        this.overflow = this.openWindow(o, () => (this.overflow = undefined));
        this.overflow.repeats = 1;
      }
      return;
    }
    this.write({ ...entry, data: { ...entry.data, count: 1 } });
    this.open.set(kind, this.openWindow(entry, () => this.open.delete(kind)));
  }

  private openWindow(entry: NewAuditEntry, forget: () => void): Window {
    // The timer's callback closes over the window it ends, so the window is built inside the callback's scope.
    const opened = this.now();
    const w: Window = {
      entry,
      opened,
      last: opened,
      repeats: 0,
      timer: setTimeout(() => {
        forget();
        this.close(w);
      }, this.windowMs),
    };
    w.timer.unref();
    return w;
  }

  private close(w: Window): void {
    if (w.repeats === 0) return;
    this.write({ ...w.entry, data: { ...w.entry.data, count: w.repeats, repeated: true, firstAt: new Date(w.opened).toISOString(), lastAt: new Date(w.last).toISOString() } });
  }

  private write(entry: NewAuditEntry): void {
    this.tail = this.tail.then(
      () => this.audit.append(entry).then(() => undefined),
      () => undefined,
    ).catch((e: unknown) => this.onError(e as Error));
  }

  /** Closes every open window now (writing its count) and waits for the writes: at shutdown, and in tests. */
  async flush(): Promise<void> {
    for (const w of this.open.values()) {
      clearTimeout(w.timer);
      this.close(w);
    }
    this.open.clear();
    if (this.overflow) {
      clearTimeout(this.overflow.timer);
      this.close(this.overflow);
      this.overflow = undefined;
    }
    await this.tail;
  }
}
