import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { goneWithin, processGone } from '../../../test/support/process-gone';
import { runCommand } from './command-runner';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'command-runner-test-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const run = (argv: string[], more: { timeoutMs?: number; maxOutputBytes?: number; env?: NodeJS.ProcessEnv } = {}) =>
  runCommand({ argv, timeoutMs: 5000, maxOutputBytes: 64 * 1024, ...more });

describe('runCommand', () => {
  it('runs an argv without a shell and reports exit status and both streams', async () => {
    const r = await run(['/bin/sh', '-c', 'echo "$0"; echo oops >&2; exit 3', '$(touch pwned) `x` | &']);
    expect(r).toEqual({ end: { kind: 'exited', code: 3 }, stdout: '$(touch pwned) `x` | &\n', stderr: 'oops\n' });
    expect(fs.existsSync('pwned')).toBe(false);
  });

  it('passes exactly the environment it is given', async () => {
    const r = await run(['/usr/bin/env'], { env: { ONLY: 'this' } });
    expect(r.stdout).toBe('ONLY=this\n');
  });

  it('closes stdin, so a command that reads it gets end of file instead of waiting for the time limit', async () => {
    const r = await run(['/bin/cat']);
    expect(r.end).toEqual({ kind: 'exited', code: 0 });
  });

  it('says why a program could not be started', async () => {
    expect((await run([path.join(dir, 'no-such-program')])).end).toEqual({ kind: 'not-started', code: 'ENOENT' });
    const file = path.join(dir, 'not-executable');
    fs.writeFileSync(file, '#!/bin/sh\n', { mode: 0o644 });
    expect((await run([file])).end).toEqual({ kind: 'not-started', code: 'EACCES' });
  });

  it('stops a command that prints more than the limit', async () => {
    const r = await run(['/bin/sh', '-c', 'while :; do echo xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx; done'], { maxOutputBytes: 4096 });
    expect(r.end).toEqual({ kind: 'output-limit' });
    expect(r.stdout.length).toBeLessThanOrEqual(4096);
  });

  it('reports a signal someone else sent', async () => {
    const r = await run(['/bin/sh', '-c', 'kill -TERM $$']);
    expect(r.end).toEqual({ kind: 'signal', signal: 'SIGTERM' });
  });

  it('at the time limit kills the whole process group, grandchildren included', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    // The shell starts a grandchild and waits for it; killing only the shell would leave the sleep running.
    const r = await run(['/bin/sh', '-c', 'sleep 30 & echo $! > "$0"; wait', pidFile], { timeoutMs: 300 });
    expect(r.end).toEqual({ kind: 'timeout' });
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(pid).toBeGreaterThan(1);
    expect(await goneWithin(pid)).toBe(true);
  });

  it('returns once the command exits even when a background process it left holds the output open', async () => {
    const pidFile = path.join(dir, 'daemon.pid');
    // The wait for the held output (1 s) outlasts the time limit, which no longer applies once the command exited.
    const r = await run(['/bin/sh', '-c', 'sleep 3 & echo $! > "$0"; echo started', pidFile], { timeoutMs: 300 });
    expect(r).toEqual({ end: { kind: 'exited', code: 0 }, stdout: 'started\n', stderr: '' });
    // A command may start a daemon on purpose; only a command still running at its time limit takes its group along.
    const pid = Number(fs.readFileSync(pidFile, 'utf8'));
    expect(processGone(pid)).toBe(false);
    process.kill(pid, 'SIGKILL');
  });
});
