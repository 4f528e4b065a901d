import { waitFor } from '../support/free-port';
import { e2eRawConfig, portalFixture, type PortalFixture } from '../support/e2e';
import { spawnService, writeConfigFile, type ServiceProcess } from '../support/processes';

jest.setTimeout(90_000);

let p: PortalFixture;
const procs: ServiceProcess[] = [];

afterAll(async () => {
  await Promise.all(procs.map((x) => x.stop()));
  await p?.primary.close();
  await p?.standby.close();
});

it('a checker whose environment holds no provider secret starts and probes; a controller with the same environment refuses to start', async () => {
  p = await portalFixture('leastpriv');
  const raw = e2eRawConfig([p]);
  // A provider key that exists nowhere in this environment: only the controller (and the API) may need it.
  const portal = (raw.portals as { traffic: Record<string, unknown>[] }[])[0];
  portal.traffic[0].apiKey = '${PF_TEST_NEVER_SET_PROVIDER_KEY}';
  expect(process.env.PF_TEST_NEVER_SET_PROVIDER_KEY).toBeUndefined();
  const file = writeConfigFile(raw);

  const checker = spawnService('checker', file);
  procs.push(checker);
  const before = { primary: p.primary.requests, standby: p.standby.requests };
  await waitFor(() => p.primary.requests > before.primary + 1 && p.standby.requests > before.standby + 1, {
    timeoutMs: 40_000,
    what: 'probes from the checker',
  });
  expect(checker.child.exitCode).toBeNull();
  expect(checker.output()).toMatch(/checking 2 checks from vantage v1/);
  expect(checker.output()).not.toMatch(/PF_TEST_NEVER_SET_PROVIDER_KEY/);

  const controller = spawnService('controller', file);
  procs.push(controller);
  const exit = await controller.exited;
  expect(exit.code).toBe(2);
  expect(controller.output()).toMatch(/portals\[0\]\.traffic\[0\]\.apiKey: environment variable PF_TEST_NEVER_SET_PROVIDER_KEY is not set/);
});
