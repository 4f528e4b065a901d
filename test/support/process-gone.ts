import * as fs from 'node:fs';

/** Gone: no such process, or a zombie nobody has reaped yet (in a container PID 1 may never reap it; it runs nothing). */
export function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return true;
  }
  try {
    return /^\d+ \(.*\) Z/.test(fs.readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return true;
  }
}

/** Whether the process is gone within `ms`: a SIGKILLed process disappears soon, not at once. */
export async function goneWithin(pid: number, ms = 2500): Promise<boolean> {
  for (const end = Date.now() + ms; Date.now() < end && !processGone(pid); ) await new Promise((r) => setTimeout(r, 50));
  return processGone(pid);
}
