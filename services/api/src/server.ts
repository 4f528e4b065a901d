import type { Server } from 'node:http';
import { parseHostPort, type Logger } from '@portal-failover/shared';
import { closeApp, createApp, reloadTokens, type ApiOptions } from './app';

export async function startApi(opts: ApiOptions & { logger: Logger }): Promise<{ server: Server; url: string; stop: () => Promise<void> }> {
  const { host, port } = parseHostPort(opts.config.api.listen)!;
  const app = createApp(opts);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address();
  const url = `http://${host}:${typeof addr === 'object' && addr ? addr.port : port}`;
  const log = opts.logger.child({ component: 'api' });
  log.info(`API listening on ${url}`);
  // SIGHUP re-reads the token file (the file watcher does too; this is for operators who want it now).
  const onHup = () =>
    void reloadTokens(app, 'SIGHUP').then(
      (r) => (r.ok ? log.info(`token file re-read on SIGHUP: ${r.added.length} added, ${r.removed.length} removed, ${r.changed.length} changed`) : log.error(`token file refused on SIGHUP, previous tokens stay: ${r.error}`)),
      (e: Error) => log.warn(`token reload on SIGHUP not audited: ${e.message}`),
    );
  if (opts.config.api.tokenFile) process.on('SIGHUP', onHup);
  return {
    server,
    url,
    stop: async () => {
      process.off('SIGHUP', onHup);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await closeApp(app);
    },
  };
}
