import type { Server } from 'node:http';
import { parseHostPort, type Logger } from '@portal-failover/shared';
import { closeApp, createApp, type ApiOptions } from './app';

export async function startApi(opts: ApiOptions & { logger: Logger }): Promise<{ server: Server; url: string; stop: () => Promise<void> }> {
  const { host, port } = parseHostPort(opts.config.api.listen)!;
  const app = createApp(opts);
  const server = await new Promise<Server>((resolve, reject) => {
    const s = app.listen(port, host, () => resolve(s));
    s.once('error', reject);
  });
  const addr = server.address();
  const url = `http://${host}:${typeof addr === 'object' && addr ? addr.port : port}`;
  opts.logger.child({ component: 'api' }).info(`API listening on ${url}`);
  return {
    server,
    url,
    stop: async () => {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      await closeApp(app);
    },
  };
}
