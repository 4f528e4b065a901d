import { preconditions, refusal, type PreconditionName, type SwitchRequest } from '../preconditions';
import { feed, INTERVAL, model, result, warmedUp } from './fixtures';

const T0 = 1_700_000_000_000;
const start = T0 + 10 * INTERVAL;
const at = start + 2 * INTERVAL;
const m = model({ cooldownMs: 600_000 });
const healthy = () => warmedUp(m, start);
const standbyDown = () => feed(healthy(), m, [0, 1, 2].map((i) => result('standby', false, start + i * INTERVAL)));
const frozen = { reason: 'drill', actor: 'anna', at: T0 };
const inflight = { operationId: 'x', from: 'primary', to: 'standby', trigger: 'auto' as const, since: T0 };
const req = (over: Partial<SwitchRequest> = {}): SwitchRequest => ({ operationId: 'op-1', trigger: 'manual', to: 'standby', force: false, ...over });

describe('preconditions: the runbook checks, named', () => {
  it('lists every check a manual request is held to, all ok for a healthy standby', () => {
    const r = preconditions(healthy(), m, req(), at);
    expect(r.checks.map((c) => [c.check, c.ok, c.forceable])).toEqual([
      ['no operation in flight', true, false],
      ['target is a known site', true, false],
      ['target is not the active site', true, false],
      ['automation not frozen', true, true],
      ['target healthy by quorum', true, true],
      ['target ready', true, true],
    ]);
    expect(r).toMatchObject({ blocking: [], forcedPast: [], from: 'primary', to: 'standby' });
    expect(refusal(r, req())).toBeUndefined();
  });

  it('alerts are also held to the site they name and to the anti-flap cooldown', () => {
    const r = preconditions(healthy(), m, req({ trigger: 'alert', to: undefined, expectFrom: 'primary' }), at);
    expect(r.checks.map((c) => c.check)).toEqual([
      'no operation in flight',
      'alerted site still active',
      'target is a known site',
      'target is not the active site',
      'automation not frozen',
      'anti-flap cooldown over',
      'target healthy by quorum',
      'target ready',
    ]);
    expect(r.blocking).toEqual([]);
  });

  type Row = { name: string; state: () => ReturnType<typeof healthy> & { waiting?: string }; r: SwitchRequest; first: PreconditionName; detail: RegExp; forceWins: boolean };
  const cooling = () => ({ ...healthy(), cooldownStartedAt: at - 1000 });
  it.each<Row>([
    { name: 'operation running', state: () => ({ ...healthy(), inflight }), r: req(), first: 'no operation in flight', detail: /^operation x is still running$/, forceWins: false },
    { name: 'request waiting', state: () => ({ ...healthy(), waiting: 'y' }), r: req(), first: 'no operation in flight', detail: /^operation y is waiting to run$/, forceWins: false },
    { name: 'unknown site', state: healthy, r: req({ to: 'mars' }), first: 'target is a known site', detail: /^unknown site "mars"$/, forceWins: false },
    { name: 'already active', state: healthy, r: req({ to: 'primary' }), first: 'target is not the active site', detail: /^primary is already the active site$/, forceWins: false },
    { name: 'frozen', state: () => ({ ...healthy(), frozen }), r: req(), first: 'automation not frozen', detail: /^frozen by anna: drill$/, forceWins: true },
    { name: 'target down', state: standbyDown, r: req(), first: 'target healthy by quorum', detail: /^standby is down \(down on v1\)$/, forceWins: true },
    { name: 'alert names a site no longer active', state: healthy, r: req({ trigger: 'alert', expectFrom: 'standby', to: undefined }), first: 'alerted site still active', detail: /^alert is about standby, but primary is active$/, forceWins: false },
    { name: 'alert in cooldown', state: cooling, r: req({ trigger: 'alert', to: undefined }), first: 'anti-flap cooldown over', detail: /^anti-flap cooldown until .*acknowledge to lift it$/, forceWins: false },
    { name: 'alert while frozen (alerts never force)', state: () => ({ ...healthy(), frozen }), r: req({ trigger: 'alert', force: true }), first: 'automation not frozen', detail: /frozen by anna/, forceWins: false },
    { name: 'alert to an unhealthy target (alerts never force)', state: standbyDown, r: req({ trigger: 'alert', to: undefined, force: true }), first: 'target healthy by quorum', detail: /standby is down/, forceWins: false },
  ])('blocks: $name', ({ state, r, first, detail, forceWins }) => {
    const report = preconditions(state(), m, r, at);
    expect(report.blocking[0]).toMatchObject({ check: first, ok: false });
    expect(report.blocking[0].detail).toMatch(detail);
    expect(refusal(report, r)).toBe(`precondition failed: ${first}: ${report.blocking[0].detail}${forceWins ? ' (force: true overrides this)' : ''}`);
    const forced = preconditions(state(), m, { ...r, force: true }, at);
    expect(forced.blocking.length === 0).toBe(forceWins);
    if (forceWins) expect(forced.forcedPast.map((c) => c.check)).toEqual([first]);
  });

  it('a manual request is not held by the cooldown; an acknowledgement lifts it for alerts', () => {
    expect(preconditions(cooling(), m, req(), at).blocking).toEqual([]);
    expect(preconditions({ ...cooling(), ackedAt: at - 500 }, m, req({ trigger: 'alert', to: undefined }), at).blocking).toEqual([]);
    // Once the period has run out (the results are stale by then, so only the cooldown check is looked at).
    const later = preconditions(cooling(), m, req({ trigger: 'alert', to: undefined }), at - 1000 + m.policy.cooldownMs);
    expect(later.checks.find((c) => c.check === 'anti-flap cooldown over')).toMatchObject({ ok: true });
    const justBefore = preconditions(cooling(), m, req({ trigger: 'alert', to: undefined }), at - 1001 + m.policy.cooldownMs);
    expect(justBefore.checks.find((c) => c.check === 'anti-flap cooldown over')).toMatchObject({ ok: false });
  });

  it('without a named target, picks the first healthy other site, else the first other site (then unhealthy)', () => {
    const three = model({}, ['primary', 'standby', 'third']);
    const s = feed(warmedUp(three, start), three, [0, 1, 2].map((i) => result('standby', false, start + i * INTERVAL)));
    expect(preconditions(s, three, req({ to: undefined, trigger: 'alert' }), at).to).toBe('third');
    const allDown = feed(s, three, [0, 1, 2].map((i) => result('third', false, start + i * INTERVAL)));
    const r = preconditions(allDown, three, req({ to: undefined, trigger: 'alert' }), at);
    expect(r.to).toBe('standby');
    expect(r.blocking.map((c) => c.check)).toEqual(['target healthy by quorum']);
  });

  it('reports several failures at once, in order, and force passes only the forceable ones', () => {
    const s = { ...standbyDown(), frozen, inflight };
    const r = preconditions(s, m, req({ force: true }), at);
    expect(r.blocking.map((c) => c.check)).toEqual(['no operation in flight']);
    expect(r.forcedPast.map((c) => c.check)).toEqual(['automation not frozen', 'target healthy by quorum']);
  });
});

describe('preconditions: automation needs a steady target, a person an up one', () => {
  // The standby is up by hysteresis (two good rounds), then its newest probe fails: up, but not steady.
  const wavering = () => feed(healthy(), m, [result('standby', false, at - INTERVAL / 2)]);
  type Row = { name: string; state: () => ReturnType<typeof healthy>; trigger: 'manual' | 'alert'; ok: boolean; detail: RegExp };
  it.each<Row>([
    { name: 'alert, steady standby', state: healthy, trigger: 'alert', ok: true, detail: /^standby is up$/ },
    { name: 'manual, steady standby', state: healthy, trigger: 'manual', ok: true, detail: /^standby is up$/ },
    { name: 'alert, newest probe failed', state: wavering, trigger: 'alert', ok: false, detail: /^standby is up \(up on v1\); its newest probe failed on v1 \[http-0: connection refused\]$/ },
    { name: 'manual, newest probe failed', state: wavering, trigger: 'manual', ok: true, detail: /^standby is up$/ },
    { name: 'alert, standby down', state: standbyDown, trigger: 'alert', ok: false, detail: /^standby is down/ },
    { name: 'manual, standby down', state: standbyDown, trigger: 'manual', ok: false, detail: /^standby is down/ },
  ])('$name', ({ state, trigger, ok, detail }) => {
    const s = state();
    const r = preconditions(s, m, req({ trigger, to: 'standby' }), at);
    const check = r.checks.find((c) => c.check === 'target healthy by quorum')!;
    expect(check).toMatchObject({ ok, forceable: true });
    expect(check.detail).toMatch(detail);
    expect(r.blocking.length === 0).toBe(ok);
    // Alerts never force; a person's force gets past an unsteady or down target.
    expect(preconditions(s, m, req({ trigger, to: 'standby', force: true }), at).blocking.length === 0).toBe(ok || trigger === 'manual');
  });

  it('an alert without a named target picks a steady site over one whose newest probe failed', () => {
    const three = model({}, ['primary', 'standby', 'third']);
    const s = feed(warmedUp(three, start), three, [result('standby', false, at - INTERVAL / 2)]);
    expect(preconditions(s, three, req({ trigger: 'alert', to: undefined }), at).to).toBe('third');
    expect(preconditions(s, three, req({ trigger: 'manual', to: undefined }), at).to).toBe('standby');
  });
});
