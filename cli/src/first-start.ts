import net from 'node:net';
import type { Config } from '@portal-failover/shared';

/** A loopback site address a check probes, e.g. "127.0.0.1:18181". */
function loopbackTargets(config: Config): string[] {
  const out = new Set<string>();
  for (const p of config.portals) {
    for (const s of p.sites) {
      for (const c of s.checks) {
        const target = c.type === 'http' ? hostPortOfUrl(c.url) : c.type === 'tcp' ? `${c.host}:${c.port}` : undefined;
        if (target && /^(127\.|\[?::1\]?:|localhost:)/.test(target)) out.add(target);
      }
    }
  }
  return [...out];
}

function hostPortOfUrl(url: string): string | undefined {
  try {
    const u = new URL(url);
    return `${u.hostname}:${u.port || (u.protocol === 'https:' ? '443' : '80')}`;
  } catch {
    return undefined;
  }
}

function listens(target: string, timeoutMs: number): Promise<boolean> {
  const i = target.lastIndexOf(':');
  const host = target.slice(0, i).replace(/^\[|\]$/g, '');
  const port = Number(target.slice(i + 1));
  return new Promise((resolve) => {
    const sock = net.connect({ host, port });
    const done = (ok: boolean) => {
      sock.destroy();
      resolve(ok);
    };
    sock.setTimeout(timeoutMs, () => done(false));
    sock.once('connect', () => done(true));
    sock.once('error', () => done(false));
  });
}

/**
 * The one plain line `npm start` prints before its JSON logs: where the status and API are and, when the sites the
 * config checks on this machine do not answer (the shipped example), the two ways on. Without it a newcomer sees
 * `both_down` every few seconds and nothing that says what to do next.
 */
export async function firstStartLine(config: Config, apiUrl: string, configPath: string, timeoutMs = 500): Promise<string> {
  const where = `portal-failover: status and API at ${apiUrl} (\`portal-failover status\`, GET ${apiUrl}/api/v1/portals)`;
  const local = loopbackTargets(config);
  const up = await Promise.all(local.map((t) => listens(t, timeoutMs)));
  const down = local.filter((_, i) => !up[i]);
  const noTokens = config.api.tokens.length === 0 && !config.api.tokenFile ? '; no API tokens configured yet: `portal-failover token create --name you --role operator`' : '';
  if (!down.length) return `${where}${noTokens}\n`;
  return (
    `${where}; the example sites ${down.join(', ')} are not running, so every site reads as down: ` +
    `edit ${configPath} to check your own sites, or run \`npm run demo -- --keep-running\` for simulated ones${noTokens}\n`
  );
}
