import fs from 'node:fs';

/**
 * Fault-injection points for the process tests, unset in production (where this is a no-op).
 * FAILOVER_FAILPOINTS=after-apply makes the process die with SIGKILL right there, exactly as a power cut would;
 * `before-write:stop` makes it stop itself with SIGSTOP there instead (a GC pause, a stalled VM) until the test
 * sends SIGCONT. The line on stderr is written synchronously, so the test sees it before the process stops.
 */
export function failpoint(name: string): void {
  const set = process.env.FAILOVER_FAILPOINTS;
  if (!set) return;
  for (const entry of set.split(',')) {
    const [point, action = 'kill'] = entry.split(':');
    if (point !== name) continue;
    if (action === 'stop') {
      fs.writeSync(2, `failpoint ${name}: stopping (SIGSTOP)\n`);
      process.kill(process.pid, 'SIGSTOP');
    } else process.kill(process.pid, 'SIGKILL');
  }
}
