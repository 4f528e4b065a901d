import { spawn } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { freePort } from '../support/free-port';
import { repoRoot } from './support';

/**
 * The image is built where Docker runs (not here), so its Dockerfile is read as text: the instructions that matter
 * to an operator are checked, every file it copies exists, and its HEALTHCHECK script is run against a real
 * /healthz listener and a dead port.
 */

const dockerfile = fs.readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
/** Instructions with their continuation lines joined, comments dropped. */
const instructions = dockerfile
  .replace(/\\\n\s*/g, ' ')
  .split('\n')
  .map((l) => l.trim())
  .filter((l) => l && !l.startsWith('#'));
const of = (name: string) => instructions.filter((l) => l.toUpperCase().startsWith(`${name} `));

describe('Dockerfile', () => {
  it('builds on the current Node LTS by default and keeps Node 20 supported by the code', () => {
    const arg = /^ARG NODE_VERSION=(\d+)$/m.exec(dockerfile);
    expect(arg).not.toBeNull();
    const major = Number(arg![1]);
    // An even major from 22 on is an LTS line; Node 20 reaches end of life in 2026.
    expect(major % 2).toBe(0);
    expect(major).toBeGreaterThanOrEqual(22);
    for (const from of of('FROM')) expect(from).toMatch(/^FROM node:\$\{NODE_VERSION\}-\S+/);
    const engines = (JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(engines).toBe('>=20');
  });

  it('runs as portal-failover (ENTRYPOINT), as an unprivileged user, with a HEALTHCHECK and OCI labels', () => {
    expect(of('ENTRYPOINT')).toEqual(['ENTRYPOINT ["portal-failover"]']);
    expect(of('CMD').pop()).toBe('CMD ["start"]');
    expect(of('USER').pop()).toBe('USER node');
    expect(of('HEALTHCHECK').pop()).toMatch(/CMD \["node", "\/app\/scripts\/healthcheck\.js"\]$/);
    const labels = of('LABEL').join(' ');
    for (const key of ['title', 'description', 'version', 'revision', 'licenses', 'source']) expect(labels).toContain(`org.opencontainers.image.${key}=`);
    // The link that puts portal-failover on PATH points at the committed bin shim.
    expect(dockerfile).toContain('ln -s /app/cli/bin/portal-failover.js /usr/local/bin/portal-failover');
    expect(fs.existsSync(path.join(repoRoot, 'cli', 'bin', 'portal-failover.js'))).toBe(true);
  });

  it('ships production dependencies only, and every path it copies exists', () => {
    expect(dockerfile).toMatch(/npm prune --omit=dev/);
    for (const copy of of('COPY')) {
      if (copy.includes('--from=')) continue;
      const parts = copy.split(/\s+/).slice(1);
      for (const src of parts.slice(0, -1)) expect({ src, exists: fs.existsSync(path.join(repoRoot, src)) }).toEqual({ src, exists: true });
    }
  });

  it('its healthcheck script passes on a 200 from /healthz and fails on a dead port or a 503', async () => {
    let status = 200;
    const server = http.createServer((req, res) => res.writeHead(req.url === '/healthz' ? status : 404).end());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const port = (server.address() as { port: number }).port;
    const check = (env: NodeJS.ProcessEnv) =>
      new Promise<number | null>((resolve, reject) => {
        const child = spawn(process.execPath, [path.join(repoRoot, 'scripts', 'healthcheck.js')], { env: { PATH: process.env.PATH, ...env }, stdio: 'ignore' });
        child.once('error', reject);
        child.once('close', resolve);
      });
    try {
      expect(await check({ METRICS_LISTEN: `127.0.0.1:${port}` })).toBe(0);
      expect(await check({ HEALTHCHECK_URL: `http://127.0.0.1:${port}/healthz` })).toBe(0);
      status = 503;
      expect(await check({ METRICS_LISTEN: `127.0.0.1:${port}` })).toBe(1);
      expect(await check({ METRICS_LISTEN: `127.0.0.1:${await freePort()}` })).toBe(1);
    } finally {
      server.close();
    }
  });
});
