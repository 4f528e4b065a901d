import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { setTimeout as delay } from 'node:timers/promises';
import { freePort } from '../test/support/free-port';

/**
 * What the checker is compared with on the same target in the same run: Prometheus's blackbox exporter driven as
 * fast as it goes, and a bare Node `http.request` loop (a fresh connection per request, like a probe). Both answer
 * "how many HTTP probes a second can this machine do against this target", the ceiling a checker is measured by.
 */

export interface Rate {
  /** Probes that succeeded per second over the window. */
  perSecond: number;
  /** Probes that failed (probe_success 0, or an error) in the window. */
  failed: number;
  concurrency: number;
}

const BLACKBOX = '/usr/bin/prometheus-blackbox-exporter';

/**
 * Keeps `concurrency` requests in flight for `seconds` and counts how many `one()` calls succeeded. Counting
 * starts after a one-second ramp, so connection set-up of the driver itself is not in the figure.
 */
async function drive(seconds: number, concurrency: number, one: () => Promise<boolean>): Promise<Rate> {
  let counting = false;
  let ok = 0;
  let failed = 0;
  let stop = false;
  const worker = async () => {
    while (!stop) {
      const success = await one().catch(() => false);
      if (!counting) continue;
      if (success) ok++;
      else failed++;
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  await delay(1_000);
  counting = true;
  const t0 = Date.now();
  await delay(seconds * 1000);
  counting = false;
  const elapsed = (Date.now() - t0) / 1000;
  stop = true;
  await Promise.all(workers);
  return { perSecond: ok / elapsed, failed, concurrency };
}

function get(agent: http.Agent | false, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.get(url, { agent, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.setTimeout(5_000, () => req.destroy(new Error('timeout')));
  });
}

/** Blackbox exporter's `/probe` (module http_2xx) against the target, driven over one keep-alive pool. */
export async function blackboxRate(targetUrl: string, seconds: number, concurrency: number): Promise<Rate | string> {
  if (!fs.existsSync(BLACKBOX)) return `not installed (${BLACKBOX}; scripts/install-test-deps.sh installs it)`;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-bench-blackbox-'));
  const config = path.join(dir, 'blackbox.yml');
  // The recipe's module: its probe opens a fresh connection per probe, as the checker does.
  fs.writeFileSync(config, ['modules:', '  http_2xx:', '    prober: http', '    timeout: 2s', '    http:', '      preferred_ip_protocol: ip4', ''].join('\n'));
  const check = spawnSync(BLACKBOX, [`--config.file=${config}`, '--config.check'], { encoding: 'utf8' });
  if (check.status !== 0) return `config refused: ${check.stderr || check.stdout}`;
  const port = await freePort();
  const log = fs.openSync(path.join(dir, 'blackbox.log'), 'a');
  const child = spawn(BLACKBOX, [`--config.file=${config}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', log, log] });
  fs.closeSync(log);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  try {
    const base = `http://127.0.0.1:${port}`;
    for (let i = 0; ; i++) {
      if ((await get(agent, `${base}/-/ready`).catch(() => undefined))?.status === 200) break;
      if (i > 100 || child.exitCode !== null) return `did not start: ${fs.readFileSync(path.join(dir, 'blackbox.log'), 'utf8').slice(-500)}`;
      await delay(100);
    }
    const url = `${base}/probe?module=http_2xx&target=${encodeURIComponent(targetUrl)}`;
    return await drive(seconds, concurrency, async () => {
      const r = await get(agent, url);
      return r.status === 200 && /^probe_success 1$/m.test(r.body);
    });
  } finally {
    agent.destroy();
    child.kill('SIGTERM');
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** A bare `http.get` loop, no agent (a new connection per request, closed after it), in this process. */
export function bareHttpRate(targetUrl: string, seconds: number, concurrency: number): Promise<Rate> {
  return drive(seconds, concurrency, async () => (await get(false, targetUrl, { connection: 'close' })).status === 200);
}
