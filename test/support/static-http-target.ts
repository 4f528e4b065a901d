import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { errorMessage, freePort, logTail, requireExecutable, spawnDaemon, waitFor, type Daemon } from './free-port';
import { HAPROXY_INSTALL_HINT } from './haproxy-server';

export interface StaticHttpTarget {
  /** http://127.0.0.1:<port>/ */
  url: string;
  port: number;
  readonly pid: number;
  /** With `accessLog`: one line per request, `<epoch ms> <path?query>`, in arrival order. */
  readonly accessLogFile: string | undefined;
  stop(): Promise<void>;
}

/**
 * An HTTP server that answers every request with 200 and a fixed body straight from HAProxy (`http-request
 * return`), with no backend behind it: a target cheap enough that a checker throughput test or benchmark measures
 * the checker, not the target. `nbthread` keeps it off the cores the measured processes need.
 */
export async function startStaticHttpTarget(opts: { body?: string; threads?: number; accessLog?: boolean } = {}): Promise<StaticHttpTarget> {
  const haproxy = requireExecutable('haproxy', HAPROXY_INSTALL_HINT);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pf-static-target-'));
  const port = await freePort();
  const configFile = path.join(dir, 'haproxy.cfg');
  const logFile = path.join(dir, 'haproxy.log');
  const body = (opts.body ?? 'ok').replace(/["\\]/g, '');
  fs.writeFileSync(
    configFile,
    [
      'global',
      `    nbthread ${opts.threads ?? 1}`,
      '    maxconn 8000',
      '',
      // Raw lines on stdout (HAProxy's -db mode writes them to the daemon log file): the arrival time of every
      // request, so a benchmark can tell when a probe really started without instrumenting the checker.
      ...(opts.accessLog ? ['    log stdout format raw local0'] : []),
      '',
      'defaults',
      '    mode http',
      ...(opts.accessLog ? ['    log global', '    log-format "PFREQ %Ts%ms %HU"'] : []),
      '    timeout connect 2s',
      '    timeout client  10s',
      '    timeout server  10s',
      '',
      'frontend fe_static',
      `    bind 127.0.0.1:${port}`,
      `    http-request return status 200 content-type text/plain string "${body}"`,
      '',
    ].join('\n'),
  );
  const daemon: Daemon = await spawnDaemon(haproxy, ['-db', '-f', configFile], logFile);
  const url = `http://127.0.0.1:${port}/`;
  try {
    await waitFor(
      async () => {
        const res = await fetch(url).catch(() => undefined);
        return res?.status === 200;
      },
      { timeoutMs: 10_000, intervalMs: 50, what: `haproxy static target on ${url}`, signal: daemon.exitSignal },
    );
  } catch (err) {
    await daemon.stop('SIGKILL');
    throw new Error(`${errorMessage(err)}\n${logTail(logFile)}`);
  }
  return {
    url,
    port,
    accessLogFile: opts.accessLog ? logFile : undefined,
    get pid() {
      return daemon.pid;
    },
    async stop() {
      await daemon.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}
