import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { goneWithin } from '../../../test/support/process-gone';
import { runHooks, type HookContext } from './hooks';

const ctx: HookContext = { portal: 'dvc', operationId: 'op-1', from: 'primary', to: 'standby', trigger: 'manual', reason: 'drill', phase: 'pre' };

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hooks-test-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('command hooks', () => {
  it('a hook that outlives its timeout fails the hook, and nothing it started survives it', async () => {
    const pidFile = path.join(dir, 'grandchild.pid');
    const [r] = await runHooks([{ name: 'slow', command: ['/bin/sh', '-c', 'sleep 30 & echo $! > "$0"; wait', pidFile], timeoutMs: 300 }], ctx, true);
    expect(r).toMatchObject({ hook: 'slow', ok: false, detail: 'timed out after 300ms' });
    expect(await goneWithin(Number(fs.readFileSync(pidFile, 'utf8')))).toBe(true);
  });

  it('stops at the first failing pre hook and reports its exit status and stderr', async () => {
    const marker = path.join(dir, 'second-ran');
    const results = await runHooks(
      [
        { name: 'freeze', command: ['/bin/sh', '-c', 'echo "change freeze" >&2; exit 4'], timeoutMs: 5000 },
        { name: 'second', command: ['/bin/touch', marker], timeoutMs: 5000 },
      ],
      ctx,
      true,
    );
    expect(results).toEqual([expect.objectContaining({ hook: 'freeze', ok: false, detail: 'exit 4: change freeze' })]);
    expect(fs.existsSync(marker)).toBe(false);
  });

  it('a program that cannot be started names the reason', async () => {
    const [r] = await runHooks([{ name: 'missing', command: [path.join(dir, 'nope')], timeoutMs: 5000 }], ctx, false);
    expect(r).toMatchObject({ ok: false, detail: 'ENOENT' });
  });
});
