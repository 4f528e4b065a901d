import { judgeRouting, reconcileRouting, type StepReading } from '../routing';

const SITES = ['primary', 'standby'];
const at = (step: string, ...sites: string[]): StepReading => ({ step, pointsAt: sites, observed: sites.length ? `value of ${sites.join('/')}` : '203.0.113.9' });
const unreadable = (step: string): StepReading => ({ step, observed: 'ECONNREFUSED' });

describe('judgeRouting: what a set of step readings says', () => {
  it.each<[string, StepReading[], string | undefined, RegExp]>([
    ['one step on the standby', [at('dns', 'standby')], 'standby', /every traffic step points to standby/],
    ['two steps agree', [at('dns', 'primary'), at('lb', 'primary')], 'primary', /dns points to primary.*lb points to primary/],
    ['a value shared by both sites: the first in priority order', [at('dns', 'primary', 'standby'), at('lb', 'standby')], 'standby', /points to standby/],
    ['steps disagree', [at('dns', 'primary'), at('lb', 'standby')], undefined, /the traffic steps disagree: dns points to primary .*; lb points to standby/],
    ['a step points to no configured site', [at('dns')], undefined, /points to no configured site: dns points to no configured site \(203\.0\.113\.9\)/],
    ['a step cannot be read', [at('dns', 'primary'), unreadable('lb')], undefined, /cannot tell where traffic goes: .*lb could not be read \(ECONNREFUSED\)/],
    ['no steps', [], undefined, /no traffic step/],
  ])('%s', (_name, readings, site, reason) => {
    const t = judgeRouting(readings, SITES);
    expect(t.kind === 'agreed' ? t.site : undefined).toBe(site);
    expect(t.reason).toMatch(reason);
  });
});

describe('reconcileRouting: what the leader does with the readings', () => {
  const base = { sitesInPriority: SITES, onDrift: 'alert' as const };

  it.each<[string, string | undefined, StepReading[], 'alert' | 'repair', string, (0 | 1 | -1)[]]>([
    ['no record, steps agree on the standby: adopt it', undefined, [at('dns', 'standby')], 'alert', 'adopt', [1]],
    ['no record, steps disagree: unknown routing', undefined, [at('dns', 'primary'), at('lb', 'standby')], 'alert', 'unknown_routing', [0, 0]],
    ['no record, a step unreadable: unknown routing', undefined, [unreadable('dns')], 'alert', 'unknown_routing', [-1]],
    ['record matches every step', 'standby', [at('dns', 'standby'), at('lb', 'standby')], 'alert', 'in_sync', [1, 1]],
    ['record matches, one step unreadable: nothing concluded', 'standby', [at('dns', 'standby'), unreadable('lb')], 'alert', 'unreadable', [1, -1]],
    ['record differs from one step: drift, report only', 'primary', [at('dns', 'standby'), at('lb', 'primary')], 'alert', 'drift', [0, 1]],
    ['record differs, onDrift repair: drift with repair', 'primary', [at('dns')], 'repair', 'drift', [0]],
  ])('%s', (_name, recorded, readings, onDrift, kind, sync) => {
    const v = reconcileRouting({ ...base, recorded, readings, onDrift });
    expect(v.kind).toBe(kind);
    expect(v.sync).toEqual(sync);
  });

  it('a drift names the recorded and the observed value, and repairs only when asked', () => {
    const alert = reconcileRouting({ ...base, recorded: 'primary', readings: [at('dns', 'standby')] });
    expect(alert).toMatchObject({ kind: 'drift', recorded: 'primary', observed: 'standby', repair: false });
    expect(alert.kind === 'drift' && alert.reason).toMatch(/drifted from the recorded site primary: dns points to standby/);
    const repair = reconcileRouting({ ...base, onDrift: 'repair', recorded: 'primary', readings: [at('dns')] });
    expect(repair).toMatchObject({ kind: 'drift', observed: '203.0.113.9', repair: true });
  });

  it('adopting says where it read the site from; unknown routing says why nothing switches', () => {
    const a = reconcileRouting({ ...base, recorded: undefined, readings: [at('dns', 'standby')] });
    expect(a).toMatchObject({ kind: 'adopt', site: 'standby' });
    expect(a.kind === 'adopt' && a.reason).toMatch(/no recorded routing; adopting standby: every traffic step points to standby/);
    const u = reconcileRouting({ ...base, recorded: undefined, readings: [at('dns', 'primary'), at('lb', 'standby')] });
    expect(u.kind === 'unknown_routing' && u.reason).toMatch(/not switching automatically/);
  });
});
