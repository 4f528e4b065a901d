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
