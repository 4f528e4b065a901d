import {
  createLogger,
  LeaseLostError,
  ProviderError,
  runHooks,
  type FenceGuard,
  type Operation,
  type ProviderContext,
  type StepPlan,
  type StepPropagation,
  type StepState,
  type TargetSite,
  type TrafficProvider,
} from '@portal-failover/shared';
import { executeOperation, StaleWriteError } from './executor';

/**
 * An in-memory record standing in for a provider so the executor's orchestration (order, retries, resume,
 * fencing) can be checked exhaustively; the real providers are tested against real servers elsewhere.
 */
class MemoryProvider implements TrafficProvider {
  readonly kind = 'memory';
  value = '192.0.2.10';
  applies = 0;
  failApplies: ProviderError[] = [];
  /** When set, apply reports success but the value does not change (a change that did not stick). */
  ignoreWrites = false;
  constructor(readonly label: string) {}
  async read(): Promise<StepState> {
    return { values: [this.value] };
  }
  plan(current: StepState, site: TargetSite): StepPlan {
    const want = site.routing.address!;
    return { kind: this.kind, target: site.name, changes: current.values[0] !== want, description: `set ${want}`, request: { value: want } };
  }
  async apply(plan: StepPlan, ctx: { fence: { assertHeld(): Promise<void> } }): Promise<void> {
    if (!plan.changes) return;
    await ctx.fence.assertHeld();
    this.applies++;
    const err = this.failApplies.shift();
    if (err) throw err;
    if (!this.ignoreWrites) this.value = String(plan.request.value);
  }
  async verify(site: TargetSite) {
    return { ok: this.value === site.routing.address, observed: [this.value], detail: `value ${this.value}` };
  }
}

const standby: TargetSite = { name: 'standby', routing: { address: '198.51.100.20' } };
const logger = createLogger({ silent: true });
const fence = { token: 7, assertHeld: async () => undefined };

function op(steps: number): Operation {
  return {
    id: 'op-1',
    portal: 'dvc',
    from: 'primary',
    to: 'standby',
    trigger: 'auto',
    reason: 'test',
    actor: 'test',
    status: 'running',
    fence: 7,
    decidedAt: 1000,
    resumedCount: 0,
    steps: Array.from({ length: steps }, (_, index) => ({ index, kind: 'memory', label: `step${index}`, status: 'pending' as const, attempts: 0 })),
  };
}

function run(o: Operation, providers: TrafficProvider[], f = fence) {
  const saved: string[] = [];
  const sleeps: number[] = [];
  const result = executeOperation(o, providers, standby, f, {
    attempts: 3,
    backoffMs: 100,
    logger,
    save: async (x) => void saved.push(x.steps.map((s) => s.status).join(',')),
    sleep: async (ms) => void sleeps.push(ms),
    now: () => 5000,
  });
  return { result, saved, sleeps };
}

describe('executeOperation', () => {
  it('runs every step in order, verifies each and succeeds', async () => {
    const ps = [new MemoryProvider('a'), new MemoryProvider('b')];
    const { result, saved } = run(op(2), ps);
    const done = await result;
    expect(done.status).toBe('succeeded');
    expect(done.steps.map((s) => s.status)).toEqual(['verified', 'verified']);
    expect(ps.map((p) => p.value)).toEqual(['198.51.100.20', '198.51.100.20']);
    expect(saved).toEqual(['applying,pending', 'verified,pending', 'verified,applying', 'verified,verified']);
  });

  it('retries a retryable failure with exponential backoff, then succeeds', async () => {
    const p = new MemoryProvider('a');
    p.failApplies = [new ProviderError('503', true), new ProviderError('503', true)];
    const { result, sleeps } = run(op(1), [p]);
    const done = await result;
    expect(done.status).toBe('succeeded');
    expect(done.steps[0].attempts).toBe(3);
    expect(sleeps).toEqual([100, 200]);
  });

  it('marks the operation failed with the reason after the last attempt', async () => {
    const p = new MemoryProvider('a');
    p.failApplies = [1, 2, 3].map(() => new ProviderError('PowerDNS answered 500', true));
    const done = await run(op(2), [p, new MemoryProvider('b')]).result;
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/step 1 \(a\) failed after 3 attempt\(s\): PowerDNS answered 500/);
    expect(done.steps[1].status).toBe('pending');
  });

  it('does not retry a non-retryable failure', async () => {
    const p = new MemoryProvider('a');
    p.failApplies = [new ProviderError('401 bad key', false)];
    const done = await run(op(1), [p]).result;
    expect(done).toMatchObject({ status: 'failed' });
    expect(p.applies).toBe(1);
  });

  it('a change that does not stick fails verification and is retried, then fails', async () => {
    const p = new MemoryProvider('a');
    p.ignoreWrites = true;
    const done = await run(op(1), [p]).result;
    expect(done.status).toBe('failed');
    expect(done.error).toMatch(/verify failed: value 192\.0\.2\.10/);
    expect(p.applies).toBe(3);
  });

  it('resumes after a crash: verified steps are skipped, applied-but-unverified ones are not re-sent', async () => {
    const a = new MemoryProvider('a');
    const b = new MemoryProvider('b');
    a.value = standby.routing.address!;
    b.value = standby.routing.address!; // applied before the crash, never verified
    const o = op(2);
    o.steps[0].status = 'verified';
    o.steps[1].status = 'applying';
    o.steps[1].attempts = 1;
    const done = await run(o, [a, b]).result;
    expect(done.status).toBe('succeeded');
    expect(a.applies + b.applies).toBe(0);
    expect(done.steps[1]).toMatchObject({ status: 'verified', attempts: 2, plan: { changes: false } });
  });

  it('stops at once when the lease is lost, leaving the operation running for the next leader', async () => {
    const p = new MemoryProvider('a');
    const lost = { token: 7, assertHeld: async () => Promise.reject(new LeaseLostError()) };
    const o = op(1);
    await expect(run(o, [p], lost).result).rejects.toBeInstanceOf(LeaseLostError);
    expect(o.status).toBe('running');
    expect(p.applies).toBe(0);
  });
});

describe('multi-step operations: partial failure and rollback', () => {
  const primary: TargetSite = { name: 'primary', routing: { address: '192.0.2.10' } };

  function runWith(o: Operation, providers: TrafficProvider[], extra: Partial<Parameters<typeof executeOperation>[4]> = {}) {
    return executeOperation(o, providers, standby, fence, {
      attempts: 2,
      backoffMs: 1,
      logger,
      save: async () => undefined,
      sleep: async () => undefined,
      now: () => 5000,
      ...extra,
    });
  }

  it('reports exactly which steps applied when a later one fails, and leaves them without a rollback policy', async () => {
    const lb = new MemoryProvider('haproxy');
    const dns = new MemoryProvider('powerdns');
    dns.failApplies = [new ProviderError('401 bad key', false)];
    const done = await runWith(op(3), [lb, dns, new MemoryProvider('never')]);
    expect(done.status).toBe('failed');
    expect(done.steps.map((s) => s.status)).toEqual(['verified', 'failed', 'pending']);
    expect(done.error).toMatch(/step 2 \(powerdns\) failed.*applied before it: step 1 \(haproxy\) left in place/);
    expect(lb.value).toBe('198.51.100.20');
  });

  it('rolls the applied steps back to the site traffic came from when the policy says so', async () => {
    const lb = new MemoryProvider('haproxy');
    const cache = new MemoryProvider('cdn');
    const dns = new MemoryProvider('powerdns');
    dns.failApplies = [new ProviderError('422 bad zone', false)];
    const done = await runWith(op(3), [lb, cache, dns], { rollbackTo: primary });
    expect(done.steps.map((s) => s.status)).toEqual(['rolled_back', 'rolled_back', 'failed']);
    expect([lb.value, cache.value, dns.value]).toEqual(['192.0.2.10', '192.0.2.10', '192.0.2.10']);
    expect(done.error).toMatch(/step 1 \(haproxy\) rolled back, step 2 \(cdn\) rolled back/);
  });

  it('a step that cannot be rolled back is marked, never hidden', async () => {
    const lb = new MemoryProvider('haproxy');
    const dns = new MemoryProvider('powerdns');
    dns.failApplies = [new ProviderError('422', false)];
    lb.failApplies = [];
    const done = runWith(op(2), [lb, dns], { rollbackTo: primary });
    // The rollback write of step 1 fails: only its second apply is made to fail.
    const original = lb.apply.bind(lb);
    let calls = 0;
    lb.apply = async (plan, ctx) => {
      calls++;
      if (calls === 2) throw new ProviderError('socket gone', true);
      return original(plan, ctx);
    };
    const result = await done;
    expect(result.steps[0]).toMatchObject({ status: 'rollback_failed', error: expect.stringMatching(/rollback to primary failed: socket gone/) });
    expect(result.error).toMatch(/ROLLBACK FAILED/);
  });
});

describe('pre- and post-switch hooks', () => {
  const hooksRun = (pre: string[][], post: string[][] = []) => ({
    preSwitch: pre.map((command, i) => ({ name: `pre${i}`, command, timeoutMs: 5000 })),
    postSwitch: post.map((command, i) => ({ name: `post${i}`, command, timeoutMs: 5000 })),
  });
  const exec = (o: Operation, p: MemoryProvider, hooks: ReturnType<typeof hooksRun>) =>
    executeOperation(o, [p], standby, fence, { attempts: 1, backoffMs: 1, logger, save: async () => undefined, hooks });

  it('a pre-switch hook that exits non-zero vetoes the switch before any write', async () => {
    const p = new MemoryProvider('dns');
    const done = await exec(op(1), p, hooksRun([['/bin/sh', '-c', 'echo "change freeze in effect" >&2; exit 3']]));
    expect(done).toMatchObject({ status: 'rejected' });
    expect(done.error).toMatch(/vetoed by pre-switch hook "pre0": exit 3: change freeze in effect/);
    expect(p.applies).toBe(0);
    expect(p.value).toBe('192.0.2.10');
  });

  it('passing pre hooks see the switch in PF_* variables; post hooks run after the verified switch and do not fail it', async () => {
    const p = new MemoryProvider('dns');
    const done = await exec(
      op(1),
      p,
      hooksRun([['/bin/sh', '-c', 'echo "$PF_PORTAL $PF_FROM->$PF_TO $PF_TRIGGER"']], [['/bin/sh', '-c', 'exit 1'], ['/bin/true']]),
    );
    expect(done.status).toBe('succeeded');
    expect(done.preHooksPassed).toBe(true);
    expect(done.hooks).toEqual([
      expect.objectContaining({ phase: 'pre', hook: 'pre0', ok: true, detail: 'dvc primary->standby auto' }),
      expect.objectContaining({ phase: 'post', hook: 'post0', ok: false, detail: 'exit 1' }),
      expect.objectContaining({ phase: 'post', hook: 'post1', ok: true }),
    ]);
  });

  it('a resumed operation does not run its pre hooks again', async () => {
    const o = op(1);
    o.preHooksPassed = true;
    const done = await exec(o, new MemoryProvider('dns'), hooksRun([['/bin/false']]));
    expect(done.status).toBe('succeeded');
  });
});

describe('lease-bounded provider calls', () => {
  /** A provider whose write hangs until its signal aborts, as a provider stuck in an SDK's retries would. */
  class HangingProvider extends MemoryProvider {
    sawSignal: AbortSignal | undefined;
    override async apply(plan: StepPlan, ctx: ProviderContext): Promise<void> {
      await ctx.fence.assertHeld();
      this.applies++;
      this.sawSignal = ctx.signal;
      await new Promise<void>((_resolve, reject) => {
        if (!ctx.signal) return; // never settles: the test then times out, which is the failure it should be
        ctx.signal.addEventListener('abort', () => reject(new ProviderError('request aborted', true)), { once: true });
      });
    }
  }

  function runAt(o: Operation, providers: TrafficProvider[], f: FenceGuard) {
    return executeOperation(o, providers, standby, f, { attempts: 3, backoffMs: 1, logger, save: async () => undefined, sleep: async () => undefined, now: Date.now });
  }

  it('aborts a write at the lease deadline and reports that it may have landed, instead of retrying it', async () => {
    const p = new HangingProvider('slow');
    const deadline = Date.now() + 150;
    const o = op(1);
    const err = await runAt(o, [p], { token: 7, assertHeld: async () => undefined, deadline: () => deadline }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleWriteError);
    expect(err).toBeInstanceOf(LeaseLostError);
    expect((err as StaleWriteError).message).toMatch(/lease lost while writing slow \(aborted at the lease deadline\): the write "set 198\.51\.100\.20" may have landed/);
    expect(p.sawSignal?.aborted).toBe(true);
    expect(Date.now()).toBeGreaterThanOrEqual(deadline);
    expect(p.applies).toBe(1);
    expect(o.status).toBe('running');
  });

  it('re-checks the lease after each write: a write that finished after the lease was lost is reported', async () => {
    const p = new MemoryProvider('a');
    let checks = 0;
    const fence: FenceGuard = {
      token: 7,
      assertHeld: async () => {
        if (++checks > 2) throw new LeaseLostError('lease with fencing token 7 is no longer held');
      },
      deadline: () => Date.now() + 60_000,
    };
    const err = await runAt(op(1), [p], fence).catch((e: unknown) => e);
    expect(p.applies).toBe(1);
    expect(err).toBeInstanceOf(StaleWriteError);
    expect((err as StaleWriteError).step).toBe('a');
    expect((err as Error).message).toMatch(/may have landed after a newer leader took over/);
  });

  it('a write that failed without an answer after the lease deadline passed is reported as stale, not retried', async () => {
    // As after a pause (SIGSTOP, a VM stall): the call's own timeout fired before the lease signal did.
    const p = new MemoryProvider('a');
    let deadline = Date.now() + 60_000;
    p.apply = async () => {
      p.applies++;
      deadline = 0;
      throw new ProviderError('a: PATCH failed: no answer within 1000ms', true);
    };
    const o = op(1);
    const err = await runAt(o, [p], { token: 7, assertHeld: async () => undefined, deadline: () => deadline }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(StaleWriteError);
    expect((err as Error).message).toMatch(/lease lost while writing a \(a: PATCH failed: no answer within 1000ms; the lease deadline has passed\): the write "set 198\.51\.100\.20" may have landed/);
    expect(p.applies).toBe(1);
    expect(o.status).toBe('running');
  });

  it('a final refusal after the lease deadline is not reported as a write that may have landed', async () => {
    const p = new MemoryProvider('a');
    let deadline = Date.now() + 60_000;
    p.apply = async () => {
      p.applies++;
      deadline = 0;
      throw new ProviderError('a: refused by the server: a newer leader wrote', false);
    };
    const err = await runAt(op(1), [p], { token: 7, assertHeld: async () => undefined, deadline: () => deadline }).then(
      (o) => o.error,
      (e: unknown) => e,
    );
    expect(err).not.toBeInstanceOf(StaleWriteError);
    expect(String(err)).toMatch(/refused by the server/);
    expect(p.applies).toBe(1);
  });

  it('does not start a write once the deadline has passed', async () => {
    const p = new MemoryProvider('a');
    const err = await runAt(op(1), [p], { token: 7, assertHeld: async () => undefined, deadline: () => Date.now() - 1 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(LeaseLostError);
    expect(err).not.toBeInstanceOf(StaleWriteError);
    expect(p.applies).toBe(0);
  });
});

describe('hook isolation', () => {
  it('a command hook sees only PATH, PF_* and the variables its config names', async () => {
    process.env.PF_TEST_HOOK_ALLOWED = 'yes';
    process.env.PF_TEST_HOOK_SECRET = 'provider-key-should-not-leak';
    const [r] = await runHooks([{ name: 'env', command: ['/bin/sh', '-c', 'env | grep -v ^PATH= | sort'], env: ['PF_TEST_HOOK_ALLOWED'], timeoutMs: 5000 }], { portal: 'dvc', operationId: 'op', from: 'a', to: 'b', trigger: 'manual', reason: 'r', phase: 'pre' }, true);
    expect(r.ok).toBe(true);
    expect(r.detail).toContain('PF_TEST_HOOK_ALLOWED=yes');
    expect(r.detail).not.toContain('PF_TEST_HOOK_SECRET');
    expect(r.detail).not.toContain('provider-key-should-not-leak');
  });
});

describe('executeOperation: propagation checks of DNS steps', () => {
  /** A step whose propagation check resolves when the test says, so the order of events is the test's to choose. */
  class WatchedProvider extends MemoryProvider {
    calls: { site: string; applied: { at: number; oldTtl?: number }; signal?: AbortSignal }[] = [];
    release!: (p: StepPropagation) => void;
    private readonly result = new Promise<StepPropagation>((r) => (this.release = r));
    override async read(): Promise<StepState> {
      return { values: [this.value], ttl: 300 };
    }
    propagation(site: TargetSite, applied: { at: number; oldTtl?: number }, signal?: AbortSignal): Promise<StepPropagation> {
      this.calls.push({ site: site.name, applied, signal });
      return this.result;
    }
  }
  const report = (appliedAt: number): StepPropagation => ({
    record: 'www.portal.example.',
    type: 'A',
    value: '198.51.100.20',
    appliedAt,
    timeoutMs: 1000,
    oldTtl: 300,
    oldAnswerUntil: appliedAt + 300_000,
    servers: [{ server: '127.0.0.1:5300', role: 'authoritative', propagated: false, detail: 'not serving 198.51.100.20 within 1000ms: no answer' }],
  });

  it('starts after the step verifies with the old TTL, lets later steps run meanwhile, and records the result before success', async () => {
    const dns = new WatchedProvider('dns');
    const later = new MemoryProvider('lb');
    const { result } = run(op(2), [dns, later]);
    // The later step is applied while the check is still waiting.
    while (later.applies === 0) await new Promise((r) => setImmediate(r));
    expect(dns.calls).toEqual([{ site: 'standby', applied: { at: 5000, oldTtl: 300 }, signal: expect.any(AbortSignal) }]);
    dns.release(report(5000));
    const done = await result;
    // A lagging nameserver does not fail the switch.
    expect(done.status).toBe('succeeded');
    expect(done.steps[0].propagation).toEqual(report(5000));
    expect(done.steps[1].propagation).toBeUndefined();
  });

  it('a resumed operation checks the propagation of a step the previous leader verified but did not report on', async () => {
    const dns = new WatchedProvider('dns');
    dns.value = standby.routing.address!;
    const o = op(1);
    o.resumedCount = 1;
    o.steps[0] = { ...o.steps[0], status: 'verified', attempts: 1, finishedAt: 4200 };
    const { result } = run(o, [dns]);
    while (dns.calls.length === 0) await new Promise((r) => setImmediate(r));
    expect(dns.calls).toEqual([{ site: 'standby', applied: { at: 4200 }, signal: expect.any(AbortSignal) }]);
    dns.release(report(4200));
    const done = await result;
    expect(done.status).toBe('succeeded');
    expect(done.steps[0].propagation).toEqual(report(4200));
    expect(dns.applies).toBe(0);
  });

  it('a resumed operation whose verified step already has its propagation report does not check again', async () => {
    const dns = new WatchedProvider('dns');
    dns.value = standby.routing.address!;
    const o = op(1);
    o.resumedCount = 1;
    o.steps[0] = { ...o.steps[0], status: 'verified', attempts: 1, finishedAt: 4200, propagation: report(4200) };
    const done = await run(o, [dns]).result;
    expect(done.status).toBe('succeeded');
    expect(dns.calls).toEqual([]);
  });

  it('stops the check when a later step fails, and records nothing from it', async () => {
    const dns = new WatchedProvider('dns');
    const later = new MemoryProvider('lb');
    later.failApplies = [new ProviderError('403', false)];
    const done = await run(op(2), [dns, later]).result;
    expect(done.status).toBe('failed');
    expect(dns.calls[0].signal?.aborted).toBe(true);
    dns.release(report(5000));
    await new Promise((r) => setImmediate(r));
    expect(done.steps[0].propagation).toBeUndefined();
  });
});
