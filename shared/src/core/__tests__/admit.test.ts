import { admitSwitch, type SwitchRequest } from '../decide';
import { feed, INTERVAL, model, result, warmedUp } from './fixtures';

const T0 = 1_700_000_000_000;
const start = T0 + 10 * INTERVAL;
const m = model({ cooldownMs: 600_000 });
const healthy = () => warmedUp(m, start);
const standbyDown = () => feed(healthy(), m, [0, 1, 2].map((i) => result('standby', false, start + i * INTERVAL)));
const at = start + 2 * INTERVAL;
const req = (over: Partial<SwitchRequest> = {}): SwitchRequest => ({ operationId: 'op-1', trigger: 'manual', to: 'standby', force: false, ...over });

describe('admitSwitch: runbook preconditions checked by the leader', () => {
  it('admits a manual switch to a healthy site and marks the operation in flight', () => {
    const a = admitSwitch(healthy(), m, req(), at);
    expect(a).toMatchObject({ ok: true, from: 'primary', to: 'standby' });
    if (!a.ok) throw new Error('expected ok');
    expect(a.next.inflight).toMatchObject({ operationId: 'op-1', to: 'standby', trigger: 'manual' });
    // A manual switch starts the anti-flap cooldown too, so automation does not undo it at once.
    expect(a.next.cooldownStartedAt).toBe(at);
  });

  it.each([
    { name: 'target unhealthy', state: standbyDown, r: req(), why: /target healthy by quorum: standby is down.*force: true overrides this/ },
    { name: 'frozen', state: () => ({ ...healthy(), frozen: { reason: 'drill', actor: 'anna', at: T0 } }), r: req(), why: /frozen by anna/ },
    { name: 'already active', state: healthy, r: req({ to: 'primary' }), why: /already the active site/ },
    { name: 'unknown site', state: healthy, r: req({ to: 'mars' }), why: /unknown site "mars"/ },
    { name: 'operation running', state: () => ({ ...healthy(), inflight: { operationId: 'x', from: 'primary', to: 'standby', trigger: 'auto' as const, since: T0 } }), r: req({ force: true }), why: /operation x is still running/ },
    { name: 'active site changed since the alert', state: healthy, r: req({ trigger: 'alert', expectFrom: 'standby', to: undefined }), why: /alerted site still active: alert is about standby, but primary is active/ },
  ])('rejects: $name', ({ state, r, why }) => {
    const a = admitSwitch(state(), m, r, at);
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.reason).toMatch(why);
  });

  it('force overrides an unhealthy target and a freeze, and says so', () => {
    const frozen = { ...standbyDown(), frozen: { reason: 'drill', actor: 'anna', at: T0 } };
    const a = admitSwitch(frozen, m, req({ force: true }), at);
    expect(a.ok).toBe(true);
    if (a.ok) expect(a.reason).toMatch(/forced past the preconditions/);
  });

  it('alerts never force, obey the cooldown unless acknowledged, and pick the first healthy site', () => {
    expect(admitSwitch(standbyDown(), m, req({ trigger: 'alert', to: undefined, force: true }), at).ok).toBe(false);
    const cooling = { ...healthy(), cooldownStartedAt: at - 1000 };
    const blocked = admitSwitch(cooling, m, req({ trigger: 'alert', to: undefined }), at);
    expect(blocked.ok).toBe(false);
    if (!blocked.ok) expect(blocked.reason).toMatch(/cooldown.*acknowledge/);
    const acked = admitSwitch({ ...cooling, ackedAt: at - 500 }, m, req({ trigger: 'alert', to: undefined }), at);
    expect(acked).toMatchObject({ ok: true, to: 'standby' });
    if (acked.ok) expect(acked.next.cooldownStartedAt).toBe(at);
  });
});
