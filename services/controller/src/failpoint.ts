/**
 * Crash-injection points for the restart tests: FAILOVER_FAILPOINTS=after-apply makes the process die with SIGKILL
 * right there, exactly as a power cut would. Unset in production, where this is a no-op.
 */
export function failpoint(name: string): void {
  const set = process.env.FAILOVER_FAILPOINTS;
  if (set && set.split(',').includes(name)) process.kill(process.pid, 'SIGKILL');
}
