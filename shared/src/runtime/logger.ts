import winston from 'winston';

export type Logger = winston.Logger;

/**
 * Structured JSON logs by default (what log shippers want); LOG_FORMAT=pretty gives one readable line per event
 * for people watching a terminal. Child loggers carry `component` and `portal`.
 */
export function createLogger(opts: { level?: string; format?: 'json' | 'pretty'; silent?: boolean } = {}): Logger {
  const level = opts.level ?? process.env.LOG_LEVEL ?? 'info';
  const pretty = (opts.format ?? process.env.LOG_FORMAT) === 'pretty';
  return winston.createLogger({
    level,
    silent: opts.silent ?? false,
    format: pretty
      ? winston.format.combine(
          winston.format.timestamp({ format: 'HH:mm:ss.SSS' }),
          winston.format.printf(({ timestamp, level: lvl, message, component, portal, ...rest }) => {
            const ctx = [component, portal].filter(Boolean).join('/');
            const extra = Object.keys(rest).length ? ` ${JSON.stringify(rest)}` : '';
            return `${String(timestamp)} ${lvl.padEnd(5)} ${ctx ? `[${String(ctx)}] ` : ''}${String(message)}${extra}`;
          }),
        )
      : winston.format.combine(winston.format.timestamp(), winston.format.json()),
    transports: [new winston.transports.Console({ stderrLevels: ['error', 'warn'] })],
  });
}

/** Repeated warnings (a flapping Redis, a dead checker) are logged once per window, with a count of the rest. */
export class RateLimitedLog {
  private readonly seen = new Map<string, { at: number; suppressed: number }>();
  constructor(
    private readonly logger: Logger,
    private readonly windowMs = 30_000,
    private readonly now: () => number = Date.now,
  ) {}
  warn(key: string, message: string, meta: Record<string, unknown> = {}): void {
    const t = this.now();
    const entry = this.seen.get(key);
    if (entry && t - entry.at < this.windowMs) {
      entry.suppressed++;
      return;
    }
    const suppressed = entry?.suppressed ?? 0;
    this.seen.set(key, { at: t, suppressed: 0 });
    this.logger.warn(message, suppressed ? { ...meta, suppressed } : meta);
  }
}
