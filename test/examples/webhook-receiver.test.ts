import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { ProviderContext } from '@portal-failover/shared';
import { startReceiver, type Receiver } from '../../examples/webhook-receiver/receiver';
import { captureLogger } from '../support/capture-logger';
import { PRIMARY, STANDBY, WEBHOOK_PORTAL, webhookStep } from '../providers/harnesses';
import { rejection } from '../providers/test-kit';

/**
 * The example receiver (examples/webhook-receiver) driven by the real webhook provider: a switch signed with a
 * lower fence than the highest accepted is refused by the receiver itself, also after the receiver restarts,
 * while the current leader's retries (same fence) and newer leaders pass.
 */
const SECRET = `whsec-${randomBytes(16).toString('hex')}`;
const { logger } = captureLogger();
const ctx = (token: number): ProviderContext => ({ fence: { token, assertHeld: async () => undefined }, logger });

let dir: string;
let rx: Receiver;
const start = async () => (rx = await startReceiver({ secret: SECRET, stateFile: path.join(dir, 'fences.json') }));

beforeEach(async () => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-webhook-example-'));
  await start();
});
afterEach(async () => {
  await rx.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

const step = (secret = SECRET) => webhookStep({ url: `${rx.url}/switch`, verifyUrl: `${rx.url}/state?portal=${WEBHOOK_PORTAL}` }, secret, logger);

it('a newer leader switches; a paused older leader\'s write is refused with 409 and changes nothing', async () => {
  const p = step();
  await p.apply(p.plan({ values: [] }, STANDBY), ctx(7));
  expect(rx.state().portals[WEBHOOK_PORTAL]).toMatchObject({ fence: 7, site: 'standby' });
  expect((await p.verify(STANDBY)).ok).toBe(true);

  // The stale leader wakes up and sends what it had planned before it lost the lease.
  const stale = step();
  const err = await rejection(() => stale.apply(stale.plan({ values: ['standby'] }, PRIMARY), ctx(5)));
  expect(err.message).toMatch(/answered 409: .*stale fence 5: a switch with fence 7 was already accepted/);
  expect(err.retryable).toBe(false);
  expect(rx.state().portals[WEBHOOK_PORTAL]).toMatchObject({ fence: 7, site: 'standby' });
  expect((await p.verify(STANDBY)).ok).toBe(true);
});

it('the same fence again (a retry, or the next step of the same operation) and a higher one are accepted', async () => {
  const p = step();
  await p.apply(p.plan({ values: [] }, STANDBY), ctx(7));
  await p.apply(p.plan({ values: [] }, STANDBY), ctx(7));
  await p.apply(p.plan({ values: ['standby'] }, PRIMARY), ctx(8));
  expect(rx.state().portals[WEBHOOK_PORTAL]).toMatchObject({ fence: 8, site: 'primary' });
});

it('the highest fence survives a receiver restart', async () => {
  const p = step();
  await p.apply(p.plan({ values: [] }, STANDBY), ctx(12));
  await rx.close();
  await start();
  const q = step();
  const err = await rejection(() => q.apply(q.plan({ values: ['standby'] }, PRIMARY), ctx(11)));
  expect(err.message).toMatch(/answered 409/);
  expect(rx.state().portals[WEBHOOK_PORTAL]).toMatchObject({ fence: 12, site: 'standby' });
});

it('a body signed with another secret is refused with 401 before its fence is even read', async () => {
  const forged = step(`whsec-wrong-${randomBytes(8).toString('hex')}`);
  const err = await rejection(() => forged.apply(forged.plan({ values: [] }, STANDBY), ctx(99)));
  expect(err.message).toMatch(/answered 401/);
  expect(rx.state().portals[WEBHOOK_PORTAL]).toBeUndefined();
});
