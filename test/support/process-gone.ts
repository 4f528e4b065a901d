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

/** The live processes whose parent is `pid` (field 4 of /proc/<pid>/stat; the command name, field 2, may hold spaces). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const d of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${d}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid && !processGone(Number(d))) out.push(Number(d));
    } catch {
      // gone meanwhile
    }
  }
  return out;
}
