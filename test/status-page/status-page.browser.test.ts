import path from 'node:path';
import type { Browser } from 'playwright-core';
import { createMetrics, parseConfig } from '@portal-failover/shared';
import { createToken } from '@portal-failover/api';
import { startAllInOne, type AllInOne } from '../../cli/src/all-in-one';
import { artifactDir, axeViolations, launchChromium } from '../support/browser';
import { waitFor } from '../support/free-port';
import { sharedPowerDns } from '../support/powerdns-server';
import { e2eRawConfig, portalFixture, testLogger, type PortalFixture } from '../support/e2e';

/**
 * The public status page in a real browser after a real failover on real PowerDNS: Debian's chromium through
 * playwright-core, axe-core for accessibility, screenshots at 360 and 1280 px before and after the cut.
 */
jest.setTimeout(120_000);

let shown: PortalFixture;
let hidden: PortalFixture;
let app: AllInOne;
let browser: Browser;
const operator = createToken('ops-nguyen-van-a', 'operator');
const shots = artifactDir('status-page');
/** Three days ahead at 00:00 in Hà Nội, as the data-centre's notice would say it. */
const WINDOW_START = `${new Date(Date.now() + 3 * 86_400_000).toISOString().slice(0, 10)}T00:00:00+07:00`;

async function screenshots(label: string): Promise<void> {
  for (const width of [360, 1280]) {
    const ctx = await browser.newContext({ viewport: { width, height: 900 }, locale: 'vi-VN' });
    const page = await ctx.newPage();
    await page.goto(`${app.apiUrl}/status?lang=vi`);
    await page.screenshot({ path: path.join(shots, `${label}-${width}.png`), fullPage: true });
    // Usable at this width: nothing wider than the viewport, so nothing needs sideways scrolling.
    expect(await page.$eval('html', (el) => el.scrollWidth)).toBeLessThanOrEqual(width);
    await ctx.close();
  }
}

beforeAll(async () => {
  [shown, hidden] = await Promise.all([portalFixture('status-shown'), portalFixture('status-hidden')]);
  const raw = e2eRawConfig([shown, hidden]);
  const portals = raw.portals as Record<string, unknown>[];
  portals[0].name = 'Cổng dịch vụ công Hà Nội';
  portals[1].public = false;
  // An announced cut in the config: shown as planned maintenance with its times, nothing else about it.
  portals[0].riskWindows = [{ name: 'dc-notice', start: WINDOW_START, duration: '6h', leadTime: '1h', lowerTtlTo: '5s' }];
  raw.api = { listen: '127.0.0.1:0', tokens: [operator.record] };
  raw.statusPage = { title: 'Tình trạng dịch vụ công', timeZone: 'Asia/Ho_Chi_Minh' };
  const { REDIS_URL: _ignored, ...env } = process.env;
  app = await startAllInOne(parseConfig(raw, 'status-page-test', env), testLogger(), createMetrics(undefined, { defaultMetrics: false }));
  browser = await launchChromium();
  await waitFor(() => app.controller.state(shown.id)?.phase === 'healthy', { timeoutMs: 20_000, what: 'portal healthy' });
  process.stdout.write(`status page screenshots: ${shots}\n`);
});

afterAll(async () => {
  await browser?.close();
  await app?.stop();
  await Promise.all([shown, hidden].filter(Boolean).flatMap((p) => [p.primary.close(), p.standby.close()]));
});

it('shows the portal, the provider serving now and the incident, in Vietnamese and English, and nothing internal', async () => {
  type StatusDoc = { portals: { id: string; state: string; provider: string }[] };
  const readStatus = async (): Promise<StatusDoc> => (await (await fetch(`${app.apiUrl}/status.json`)).json()) as StatusDoc;
  // The controller's healthy phase in memory can be ahead of the state the API reads from Redis, and the page caches
  // what it read for 5 s: a page built in that gap honestly says "not known yet". Wait until it has caught up.
  await waitFor(async () => (await readStatus()).portals[0]?.state === 'operational', { timeoutMs: 20_000, what: 'status.json operational' });
  const before = await readStatus();
  expect(before.portals.map((p) => p.id)).toEqual([shown.id]);
  expect(before.portals[0]).toMatchObject({ state: 'operational', provider: 'hosting-a' });
  // A second window announced through the API with an internal reason, and one marked public.
  const announce = (name: string, reason: string, day: number) =>
    fetch(`${app.apiUrl}/api/v1/portals/${shown.id}/risk-windows`, {
      method: 'POST',
      headers: { authorization: `Bearer ${operator.token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name, start: `${new Date(Date.now() + day * 86_400_000).toISOString().slice(0, 10)}T22:00:00Z`, duration: '2h', leadTime: '1h', lowerTtlTo: 5, reason }),
    });
  expect((await announce('billing', 'billing dispute with hosting-a, invoice 4711', 4)).status).toBe(201);
  expect((await announce('dc-work', 'public: Nhà cung cấp bảo trì trung tâm dữ liệu', 5)).status).toBe(201);
  type Maintenance = { from: string; until: string | null; note: string | null }[];
  const maintenance = await waitFor(async () => {
    const m = ((await (await fetch(`${app.apiUrl}/status.json`)).json()) as { portals: { maintenance: Maintenance }[] }).portals[0].maintenance;
    return m.length === 3 ? m : undefined;
  }, { timeoutMs: 15_000, what: 'three maintenance entries on the page' });
  expect(maintenance[0]).toEqual({ from: new Date(Date.parse(WINDOW_START)).toISOString(), until: new Date(Date.parse(WINDOW_START) + 6 * 3_600_000).toISOString(), note: null });
  expect(maintenance.map((m) => m.note)).toEqual([null, null, 'Nhà cung cấp bảo trì trung tâm dữ liệu']);
  await screenshots('before');

  // The provider cuts the primary with a 200 "suspended" page: the controller moves the real DNS record.
  await shown.primary.setMode({ kind: 'suspended' });
  await waitFor(async () => (await shown.answer())[0] === shown.standbyAddress, { timeoutMs: 30_000, what: 'DNS answer on the standby' });
  await waitFor(() => app.controller.state(shown.id)?.phase === 'failed_over', { timeoutMs: 15_000, what: 'phase failed_over' });
  // The page is cached for a few seconds: wait until it shows the new provider.
  await waitFor(async () => (await readStatus()).portals[0].provider === 'hosting-b', { timeoutMs: 15_000, what: 'status.json on hosting-b' });

  const jsonText = await (await fetch(`${app.apiUrl}/status.json`)).text();
  const doc = JSON.parse(jsonText) as { portals: { state: string; provider: string; incidents: { kind: string; firstFailureAt: string | null; switchStartedAt: string; restoredAt: string | null }[] }[] };
  expect(doc.portals[0]).toMatchObject({ state: 'standby', provider: 'hosting-b' });
  const inc = doc.portals[0].incidents[0];
  expect(inc.kind).toBe('outage');
  expect(Date.parse(inc.firstFailureAt ?? '')).toBeLessThanOrEqual(Date.parse(inc.switchStartedAt));
  expect(Date.parse(inc.restoredAt ?? '')).toBeGreaterThanOrEqual(Date.parse(inc.switchStartedAt));

  const pdns = sharedPowerDns();
  const forbidden = [
    shown.primary.url,
    shown.standby.url,
    new URL(shown.primary.url).host,
    shown.primaryAddress,
    shown.standbyAddress,
    '127.0.0.1',
    shown.zone.replace(/\.$/, ''),
    pdns.apiUrl,
    pdns.apiKey,
    operator.token,
    operator.record.sha256,
    'ops-nguyen-van-a',
    'controller:',
    hidden.id,
    'billing dispute',
    'invoice 4711',
    'dc-notice',
  ];
  const leaks = (text: string) => forbidden.filter((s) => text.includes(s));

  const expected = {
    vi: { state: 'Đang phục vụ từ nhà cung cấp dự phòng', incident: 'Sự cố tại nhà cung cấp', restored: 'Khôi phục phục vụ' },
    en: { state: 'Served from the standby provider', incident: 'Outage at the provider', restored: 'Service restored' },
  };
  for (const lang of ['vi', 'en'] as const) {
    for (const javaScriptEnabled of [true, false]) {
      // bypassCSP only so axe-core can be injected: the page itself runs no script under its strict CSP.
      const ctx = await browser.newContext({ javaScriptEnabled, bypassCSP: javaScriptEnabled, viewport: { width: 1280, height: 900 } });
      const page = await ctx.newPage();
      const res = await page.goto(`${app.apiUrl}/status?lang=${lang}`);
      expect(res?.status()).toBe(200);
      const html = await res!.text();
      expect(leaks(html)).toEqual([]);
      expect(await page.getAttribute('html', 'lang')).toBe(lang);
      const text = await page.innerText('main');
      expect(text).toContain('Cổng dịch vụ công Hà Nội');
      expect(text).toContain('hosting-b');
      expect(text).toContain(expected[lang].state);
      expect(text).toContain(expected[lang].incident);
      expect(text).toContain(expected[lang].restored);
      expect(await page.$$eval('.portal li time', (els) => els.map((e) => e.getAttribute('datetime')))).toEqual(expect.arrayContaining([new Date(Date.parse(WINDOW_START)).toISOString()]));
      // The incident's times are real <time> elements carrying the instants from the JSON.
      const times = await page.$$eval('.incident time', (els) => els.map((e) => e.getAttribute('datetime')));
      expect(times).toEqual(expect.arrayContaining([inc.firstFailureAt, inc.switchStartedAt, inc.restoredAt]));
      if (javaScriptEnabled) {
        const serious = (await axeViolations(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
        expect(serious).toEqual([]);
      }
      await ctx.close();
    }
  }
  expect(leaks(jsonText)).toEqual([]);

  // Without ?lang the reader's Accept-Language decides; without either, statusPage.defaultLanguage (vi).
  const en = await fetch(`${app.apiUrl}/status`, { headers: { 'accept-language': 'en-US,en;q=0.9,vi;q=0.5' } });
  expect(en.headers.get('content-language')).toBe('en');
  expect(await en.text()).toContain(expected.en.state);
  const vi = await fetch(`${app.apiUrl}/status`);
  expect(vi.headers.get('content-language')).toBe('vi');

  await screenshots('after');
});
