import { Writable } from 'node:stream';
import winston from 'winston';
import type { Logger } from '@portal-failover/shared';

/**
 * A logger at debug level that keeps every line it writes (JSON, as production logs are), so tests can assert
 * that nothing a provider logs contains a secret.
 */
export function captureLogger(): { logger: Logger; lines: string[]; text(): string } {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      lines.push(chunk.toString('utf8'));
      done();
    },
  });
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Stream({ stream })],
  });
  return { logger, lines, text: () => lines.join('') };
}
