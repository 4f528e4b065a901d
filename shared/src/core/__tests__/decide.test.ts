import { decide, settleOperation } from '../decide';
import { applyResult, siteStatus, vantageVerdict } from '../health';
import { initialState } from '../state';
import { feed, INTERVAL, model, result, warmedUp } from './fixtures';

const T0 = 1_700_000_000_000;

describe('hysteresis per vantage (applyResult)', () => {
  const m = model({ failureThreshold: 3, recoveryThreshold: 2 });
  it.each([
    { name: 'two failures are not enough', seq: [true, true, false, false], verdict: 'up' },
    { name: 'three failures in a row mark it down', seq: [true, true, false, false, false], verdict: 'down' },
    { name: 'alternating never reaches a threshold after first up', seq: [true, true, false, true, false, true, false], verdict: 'up' },
    { name: 'one success after down keeps it down', seq: [false, false, false, true], verdict: 'down' },
    { name: 'two successes after down bring it up', seq: [false, false, false, true, true], verdict: 'up' },
    { name: 'nothing decided yet', seq: [true], verdict: 'unknown' },
  ])('$name', ({ seq, verdict }) => {
    const s = feed(initialState(m), m, seq.map((ok, i) => result('primary', ok, T0 + i * INTERVAL)));
    expect(s.health.primary.v1['http-0'].verdict).toBe(verdict);
  });

  it('ignores duplicate and out-of-order results', () => {
    let h = applyResult({}, result('primary', false, T0 + 2000), m.policy);
    h = applyResult(h, result('primary', false, T0 + 2000), m.policy);
    h = applyResult(h, result('primary', false, T0 + 1000), m.policy);
    expect(h.primary.v1['http-0'].failStreak).toBe(1);
  });

  it('remembers when the failure streak started', () => {
    const s = feed(initialState(m), m, [true, false, false, false].map((ok, i) => result('primary', ok, T0 + i * INTERVAL)));
    expect(s.health.primary.v1['http-0'].failingSince).toBe(T0 + INTERVAL);
  });
});

describe('vantage verdicts and quorum', () => {
  const m = model({ quorum: 2 });
  it('a vantage with no result for more than 3 intervals is stale', () => {
    const s = feed(initialState(m), m, [result('primary', true, T0), result('primary', true, T0 + INTERVAL)]);
    expect(vantageVerdict(s.health.primary.v1, ['http-0'], 3, T0 + INTERVAL + 3 * INTERVAL).verdict).toBe('up');
    expect(vantageVerdict(s.health.primary.v1, ['http-0'], 3, T0 + INTERVAL + 3 * INTERVAL + 1).verdict).toBe('stale');
  });
  it('a site with two checks is down when one of them is down', () => {
    const two = { ...m, sites: [{ name: 'primary', checkNames: ['http-0', 'tcp-1'] }, m.sites[1]] };
    let s = initialState(two);
    for (let i = 0; i < 3; i++) {
      s = feed(s, two, [result('primary', true, T0 + i * INTERVAL, 'v1', 'tcp-1'), result('primary', false, T0 + i * INTERVAL, 'v1', 'http-0')]);
    }
    expect(vantageVerdict(s.health.primary.v1, ['http-0', 'tcp-1'], 3, T0 + 3 * INTERVAL).verdict).toBe('down');
  });
  it.each([
    { v1: false, v2: true, status: 'unknown' },
    { v1: false, v2: false, status: 'down' },
    { v1: true, v2: true, status: 'up' },
  ])('quorum 2: v1 ok=$v1, v2 ok=$v2 -> $status', ({ v1, v2, status }) => {
    let s = initialState(m);
    for (let i = 0; i < 3; i++) {
      s = feed(s, m, [result('primary', v1, T0 + i * INTERVAL, 'v1'), result('primary', v2, T0 + i * INTERVAL, 'v2')]);
    }
    expect(siteStatus(s.health, 'primary', ['http-0'], m.policy, T0 + 3 * INTERVAL).status).toBe(status);
  });
});

describe('honest quorum over three vantages', () => {
  /** Three vantages with `ok` per vantage for three rounds; `blind` marks a vantage whose canary failed. */
  function three(oks: boolean[], quorum: number, blind: boolean[] = [false, false, false]) {
    const m3 = model({ quorum });
    let s = initialState(m3);
    for (let i = 0; i < 3; i++) {
      s = feed(s, m3, oks.map((ok, v) => ({ ...result('primary', ok, T0 + i * INTERVAL, `v${v + 1}`), ...(blind[v] ? { blind: true } : {}) })));
    }
    return siteStatus(s.health, 'primary', ['http-0'], m3.policy, T0 + 3 * INTERVAL);
  }
  it.each([
    // majority of three is 2
    { oks: [false, true, true], quorum: 2, status: 'up' },
    { oks: [false, false, true], quorum: 2, status: 'down' },
    { oks: [false, false, false], quorum: 2, status: 'down' },
    { oks: [true, true, true], quorum: 2, status: 'up' },
    // a numeric quorum of 1: one vantage's fault no longer outvotes two that see the site up
    { oks: [false, true, true], quorum: 1, status: 'up' },
    { oks: [false, false, true], quorum: 1, status: 'down' },
    // unanimity
    { oks: [false, false, true], quorum: 3, status: 'unknown' },
    { oks: [true, true, true], quorum: 3, status: 'up' },
  ])('$oks with quorum $quorum -> $status', ({ oks, quorum, status }) => {
    expect(three(oks, quorum).status).toBe(status);
  });

  it('a quorum-1 tie (one up, one down) is unknown, not down', () => {
    const m2 = model({ quorum: 1 });
    let s = initialState(m2);
    for (let i = 0; i < 3; i++) s = feed(s, m2, [result('primary', false, T0 + i * INTERVAL, 'v1'), result('primary', true, T0 + i * INTERVAL, 'v2')]);
    expect(siteStatus(s.health, 'primary', ['http-0'], m2.policy, T0 + 3 * INTERVAL).status).toBe('unknown');
  });

  it('a blind vantage (its canary unreachable) is no witness: two failing of which one is blind is not down', () => {
    const st = three([false, false, true], 2, [true, false, false]);
    expect(st.status).toBe('unknown');
    expect(st.vantages.find((v) => v.vantage === 'v1')?.verdict).toBe('blind');
    expect(st.down).toEqual(['v2']);
    // and it does not count as up either
    expect(three([true, true, false], 2, [true, false, false]).status).toBe('unknown');
  });
});

describe('decide', () => {
  const m = model();
  const start = T0 + 10 * INTERVAL;
  const cut = (s = warmedUp(m, start), n = 3, standbyOk = true) => {
    const rs = [];
    for (let i = 0; i < n; i++) rs.push(result('primary', false, start + i * INTERVAL), result('standby', standbyOk, start + i * INTERVAL));
    return feed(s, m, rs);
  };
  const at = start + 3 * INTERVAL;

  it('healthy when both sites are up', () => {
    const d = decide(warmedUp(m, start), m, start);
    expect(d).toMatchObject({ analysis: 'ActiveHealthy', phase: 'healthy', actions: [] });
  });

  it('switches to the healthy standby when the primary is down by quorum', () => {
    const d = decide(cut(), m, at);
    expect(d.analysis).toBe('ActiveDown');
    expect(d.actions).toEqual([expect.objectContaining({ type: 'switch', from: 'primary', to: 'standby', trigger: 'auto', detectedAt: start })]);
    expect(d.next.inflight?.to).toBe('standby');
    expect(d.phase).toBe('failing_over');
    expect(d.reason).toMatch(/primary is down.*switching primary -> standby/);
  });

  it('does not switch when the standby is down too: both_down', () => {
    const d = decide(cut(undefined, 3, false), m, at);
    expect(d).toMatchObject({ analysis: 'AllDown', phase: 'both_down', actions: [] });
  });

  it.each([1, 2])('does not switch to a standby still up by hysteresis whose newest %i probe(s) failed (cut together)', (failed) => {
    // The primary's third failure lands while the standby, cut at the same moment, has failed only 1 or 2 rounds.
    let s = cut(undefined, 3 - failed, true);
    const rs = [];
    for (let i = 3 - failed; i < 3; i++) rs.push(result('primary', false, start + i * INTERVAL), result('standby', false, start + i * INTERVAL));
    s = feed(s, m, rs);
    expect(s.health.standby.v1['http-0'].verdict).toBe('up');
    const d = decide(s, m, at);
    expect(d).toMatchObject({ analysis: 'AllDown', phase: 'both_down', actions: [] });
    expect(d.reason).toMatch(/standby is up \(up on v1\); its newest probe failed on v1/);
    // One good probe later the standby is steady again and the switch goes ahead.
    const d2 = decide(feed(s, m, [result('standby', true, at)]), m, at);
    expect(d2.actions).toEqual([expect.objectContaining({ from: 'primary', to: 'standby' })]);
  });

  it('does not switch to a standby whose health is not confirmed', () => {
    const fresh = feed(initialState(m), m, [0, 1, 2].flatMap((i) => [result('primary', false, start + i * INTERVAL), result('standby', i > 1, start + i * INTERVAL)]));
    expect(decide(fresh, m, at).actions).toEqual([]);
  });

  it('does not switch while frozen, and says so', () => {
    const s = { ...cut(), frozen: { reason: 'maintenance', actor: 'oncall', at: start } };
    const d = decide(s, m, at);
    expect(d).toMatchObject({ phase: 'frozen', actions: [] });
    expect(d.reason).toMatch(/frozen by oncall/);
  });

  it('an expired freeze lifts itself', () => {
    const s = { ...cut(), frozen: { reason: 'x', actor: 'oncall', at: start, until: at - 1 } };
    const d = decide(s, m, at);
    expect(d.next.frozen).toBeUndefined();
    expect(d.actions).toHaveLength(1);
  });

  it('does not switch when autoFailover is off', () => {
    const off = model({ autoFailover: false });
    const d = decide(cut(), off, at);
    expect(d).toMatchObject({ phase: 'degraded', actions: [] });
  });

  it('blocks a second automatic switch within the cooldown until acknowledged', () => {
    const s = { ...cut(), cooldownStartedAt: at - 1000 };
    const blocked = decide(s, m, at);
    expect(blocked.actions).toEqual([]);
    expect(blocked.reason).toMatch(/cooldown.*acknowledge/);
    expect(decide({ ...s, ackedAt: at - 500 }, m, at).actions).toHaveLength(1);
    expect(decide({ ...s, cooldownStartedAt: at - m.policy.cooldownMs }, m, at).actions).toHaveLength(1);
    expect(decide({ ...s, cooldownStartedAt: at - m.policy.cooldownMs + 1 }, m, at).actions).toHaveLength(0);
  });

  it('does not start a second operation while one is in flight', () => {
    const first = decide(cut(), m, at);
    const again = decide(first.next, m, at + 100);
    expect(again.actions).toEqual([]);
    expect(again.phase).toBe('failing_over');
  });

  it('no results for the active site is no_data, never a switch', () => {
    const d = decide(cut(), m, at + 10 * INTERVAL);
    expect(d).toMatchObject({ analysis: 'NoData', phase: 'no_data', actions: [] });
  });

  it('a recovered primary does not take traffic back without autoFailback', () => {
    const first = decide(cut(), m, at);
    let s = settleOperation(first.next, { operationId: first.actions[0].operationId, to: 'standby', ok: true });
    s = feed(s, m, [0, 1, 2, 3].flatMap((i) => [result('primary', true, at + i * INTERVAL), result('standby', true, at + i * INTERVAL)]));
    const d = decide(s, m, at + 4 * INTERVAL);
    expect(d).toMatchObject({ analysis: 'PreferredRecovered', phase: 'failed_over', actions: [] });
    expect(d.next.activeSite).toBe('standby');
    const auto = model({ autoFailback: true, cooldownMs: 1000 });
    expect(decide(s, auto, at + 4 * INTERVAL).actions).toEqual([expect.objectContaining({ from: 'standby', to: 'primary' })]);
  });

  it('a failed operation leaves the active site unchanged', () => {
    const first = decide(cut(), m, at);
    const s = settleOperation(first.next, { operationId: first.actions[0].operationId, to: 'standby', ok: false });
    expect(s.activeSite).toBe('primary');
    expect(s.inflight).toBeUndefined();
  });

  it('quorum 2: one vantage failing is degraded, both failing switches', () => {
    const q = model({ quorum: 2 });
    const base = warmedUp(q, start, ['v1', 'v2']);
    const oneSide = feed(base, q, [0, 1, 2].flatMap((i) => [
      result('primary', false, start + i * INTERVAL, 'v1'), result('primary', true, start + i * INTERVAL, 'v2'),
      result('standby', true, start + i * INTERVAL, 'v1'), result('standby', true, start + i * INTERVAL, 'v2'),
    ]));
    expect(decide(oneSide, q, at)).toMatchObject({ analysis: 'ActiveDownOnSomeVantages', phase: 'degraded', actions: [] });
    const both = feed(base, q, [0, 1, 2].flatMap((i) => [
      result('primary', false, start + i * INTERVAL, 'v1'), result('primary', false, start + i * INTERVAL, 'v2'),
      result('standby', true, start + i * INTERVAL, 'v1'), result('standby', true, start + i * INTERVAL, 'v2'),
    ]));
    expect(decide(both, q, at).actions).toHaveLength(1);
  });

  it('prefers the highest-priority healthy target', () => {
    const three = model({}, ['primary', 'standby', 'dr']);
    const s = feed(warmedUp(three, start), three, [0, 1, 2].flatMap((i) => [
      result('primary', false, start + i * INTERVAL), result('standby', true, start + i * INTERVAL), result('dr', true, start + i * INTERVAL),
    ]));
    expect(decide(s, three, at).actions[0].to).toBe('standby');
  });
});
