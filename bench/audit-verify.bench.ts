import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { AuditLog } from '@portal-failover/shared';
import { startRedis } from '../test/support/redis-server';

/**
 * `npm run bench:audit`: verify time of an untouched audit chain of 10,000 entries on a private redis-server
 * (the acceptance bound is < 2 s). Writes the chain through AuditLog.append, so the entries are the real shape.
 * Prints figures; it fails (exit 1) only when the chain does not verify.
 */
const ENTRIES = Number(process.env.AUDIT_BENCH_ENTRIES ?? 10_000);

async function main(): Promise<void> {
  const server = await startRedis({ appendonly: false });
  const redis = new Redis(server.url);
  try {
    const log = new AuditLog(redis, `bench-${randomBytes(3).toString('hex')}:audit`, 90 * 86_400_000, Date.now, { maxEntries: ENTRIES * 2 });
    const t0 = performance.now();
    // Several writers at once, as the API and the controller are: the chain must stay one line.
    const writers = 8;
    await Promise.all(
      Array.from({ length: writers }, async (_, w) => {
        for (let i = w; i < ENTRIES; i += writers) {
          await log.append({ type: 'operation.finished', portal: `portal-${i % 20}`, actor: `controller:bench-${w}`, reason: `bench entry ${i}`, operation: `op-${i}`, data: { result: 'succeeded', from: 'primary', to: 'standby', steps: [{ step: 1, provider: 'powerdns', ms: i % 300 }] } });
        }
      }),
    );
    const writeMs = performance.now() - t0;
    const runs: number[] = [];
    let last;
    for (let i = 0; i < 3; i++) {
      const s = performance.now();
      last = await log.verify();
      runs.push(performance.now() - s);
    }
    process.stdout.write(`audit chain: ${ENTRIES} entries written by ${writers} concurrent writers in ${(writeMs / 1000).toFixed(2)} s\n`);
    process.stdout.write(`verify: ${last?.message}\n`);
    process.stdout.write(`verify time: ${runs.map((ms) => `${(ms / 1000).toFixed(3)} s`).join(', ')} (bound: < 2 s)\n`);
    if (!last?.ok || last.entries !== ENTRIES) process.exitCode = 1;
  } finally {
    redis.disconnect();
    await server.stop();
  }
}

void main().catch((err: Error) => {
  process.stderr.write(`${err.stack ?? err.message}\n`);
  process.exit(1);
});
