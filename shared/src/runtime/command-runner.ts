import { spawn } from 'node:child_process';

/**
 * The one way this project runs an operator's command (switch hooks, a zone file's reload command): an argv
 * without a shell, stdin closed, output collected up to a limit, and a time limit that ends the command's whole
 * process group, so a hook's `sleep 600 &` or a wrapper script's child cannot outlive it.
 */

export interface CommandSpec {
  argv: readonly string[];
  /** The complete environment; callers pass only what the command should see (hooks get a minimal one). */
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Per stream; a command that prints more is killed. */
  maxOutputBytes: number;
}

export type CommandEnd =
  | { kind: 'exited'; code: number }
  /** Killed by a signal someone else sent (ours at the time limit is `timeout`). */
  | { kind: 'signal'; signal: string }
  | { kind: 'timeout' }
  | { kind: 'output-limit' }
  /** The program could not be started: ENOENT, EACCES, ... */
  | { kind: 'not-started'; code: string };

export interface CommandResult {
  end: CommandEnd;
  stdout: string;
  stderr: string;
}

/** How long to keep reading after the command exited: a background process it left may hold our pipes open. */
const PIPE_GRACE_MS = 1000;

function killGroup(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    // detached made the child a process group leader with the group id of its pid; -pid names the whole group.
    process.kill(-pid, 'SIGKILL');
  } catch {
    // ESRCH: the group is gone already.
  }
}

export function runCommand(spec: CommandSpec): Promise<CommandResult> {
  const [file, ...args] = spec.argv;
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const size = { out: 0, err: 0 };
    let forced: CommandEnd | undefined;
    let exited: CommandEnd | undefined;
    let settled = false;
    let grace: NodeJS.Timeout | undefined;

    const child = spawn(file, args, { env: spec.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true, windowsHide: true });
    const finish = (end: CommandEnd) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      clearTimeout(grace);
      child.stdout?.destroy();
      child.stderr?.destroy();
      resolve({ end, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') });
    };
    const force = (end: CommandEnd) => {
      forced ??= end;
      killGroup(child.pid);
    };
    const collect = (chunks: Buffer[], key: 'out' | 'err') => (chunk: Buffer) => {
      size[key] += chunk.length;
      if (size[key] > spec.maxOutputBytes) {
        force({ kind: 'output-limit' });
        return;
      }
      chunks.push(chunk);
    };
    child.stdout?.on('data', collect(out, 'out'));
    child.stderr?.on('data', collect(err, 'err'));

    const timer = setTimeout(() => force({ kind: 'timeout' }), spec.timeoutMs);
    child.once('error', (e: NodeJS.ErrnoException) => {
      // 'error' without a pid: the program never ran. With a pid it is a failed kill, which 'exit' follows.
      if (child.pid === undefined) finish({ kind: 'not-started', code: e.code ?? e.message });
    });
    child.once('exit', (code, signal) => {
      // The time limit is the command's; what it left running in the background is its business, so the group
      // is not killed once the command itself has ended (only its output is waited for, briefly).
      clearTimeout(timer);
      exited = forced ?? (code !== null ? { kind: 'exited', code } : { kind: 'signal', signal: signal ?? 'unknown' });
      if (forced) {
        finish(exited);
        return;
      }
      grace = setTimeout(() => exited && finish(exited), PIPE_GRACE_MS);
    });
    // All pipes closed: every process that held them is done (or let go), so the output is complete.
    child.once('close', () => exited && finish(exited));
  });
}
