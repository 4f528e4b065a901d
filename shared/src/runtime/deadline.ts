import { performance } from 'node:perf_hooks';

/** A running deadline; `cancel` is safe to call more than once and after it expired. */
export interface Deadline {
  cancel(): void;
}

/**
 * A timeout that measures the other side, not this process. A probe's deadline timer that fires late says this
 * process did not run for that long (a GC pause, a saturated core, a busy neighbour on the machine): for that
 * time nothing could be sent or read, so the timeout would blame the portal for the checker's own stall. One
 * flapping portal that answers every other probe turns into "three failures in a row" by a single such false
 * timeout. So:
 * - a timer that fired later than `slackMs` past its time gives the probe that much time again, up to `timeoutMs`
 *   in all, so a hung portal is still reported, at worst within twice its timeout while the checker is stalled;
 * - on expiry the verdict waits for one turn of the event loop (setImmediate runs after the poll phase), so an
 *   answer that is already in the socket buffer is read before the timeout is declared.
 * `onExpire` gets the milliseconds of stall that were given back.
 */
export function stallAwareDeadline(timeoutMs: number, onExpire: (stalledMs: number) => void, now: () => number = () => performance.now()): Deadline {
  const slackMs = Math.max(25, timeoutMs / 20);
  let given = 0;
  let cancelled = false;
  let timer: NodeJS.Timeout | undefined;
  let immediate: NodeJS.Immediate | undefined;
  const arm = (delay: number) => {
    const due = now() + delay;
    timer = setTimeout(() => {
      timer = undefined;
      const late = now() - due;
      if (late > slackMs && given < timeoutMs) {
        const more = Math.min(late, timeoutMs - given);
        given += more;
        return arm(more);
      }
      immediate = setImmediate(() => {
        immediate = undefined;
        if (!cancelled) onExpire(Math.round(given));
      });
    }, delay);
  };
  arm(timeoutMs);
  return {
    cancel() {
      cancelled = true;
      if (timer) clearTimeout(timer);
      if (immediate) clearImmediate(immediate);
    },
  };
}

/** The timeout detail's suffix that says a stall of this process was given back, if one was. */
export function stallNote(stalledMs: number): string {
  return stalledMs > 0 ? ` (this process was stalled ${stalledMs} ms; the deadline was extended by as much)` : '';
}

const STALL_TICK_MS = 20;
/** Lateness of the stall clock's tick that counts as a stall; below it is the timer's ordinary jitter. */
const STALL_MIN_MS = 10;
let stalledTotal = 0;
let tickDue = 0;
let ticker: NodeJS.Timeout | undefined;

/**
 * How long this process has stalled since the clock was taken, as seen by a cheap periodic timer's lateness. A
 * probe that judges latency (`expect.maxLatency`) subtracts it: the answer may have waited unread for that long, and
 * a portal is never blamed for the checker's own pause. The timer starts at the first use and never holds the
 * process open.
 */
export function stallClock(): { stalledMs(): number } {
  if (ticker === undefined) {
    tickDue = performance.now() + STALL_TICK_MS;
    ticker = setInterval(() => {
      const now = performance.now();
      if (now - tickDue > STALL_MIN_MS) stalledTotal += now - tickDue;
      tickDue = now + STALL_TICK_MS;
    }, STALL_TICK_MS);
    ticker.unref();
  }
  const from = stalledTotal;
  return { stalledMs: () => stalledTotal - from };
}
