import { z } from 'zod';
import { parseHostPort, type Fields } from './fields';

/**
 * Where Redis is: one `url`, or Redis Sentinel (`sentinels` + `name`), never both. Passwords are secret references.
 * The timeouts bound every wait on Redis so a paused or blackholed server surfaces as an error, not a hang.
 */
export function redisSchema(f: Fields) {
  const sentinelAddress = z.string().refine((v) => parseHostPort(v) !== undefined && parseHostPort(v)!.port > 0, {
    error: (iss) => `must be host:port, e.g. 10.0.0.1:26379 (got ${JSON.stringify(iss.input)})`,
  });
  return z
    .strictObject({
      url: f.url(['redis:', 'rediss:']).optional(),
      sentinels: z.array(sentinelAddress).min(1, 'must list at least one Sentinel (three in production)').optional(),
      /** The master set name Sentinel monitors (`sentinel monitor <name> ...`). */
      name: idLike().optional(),
      /** The Redis ACL user (AUTH username password); with a url, a user in the URL works too. */
      username: f.nonEmpty().optional(),
      password: f.secret().optional(),
      sentinelPassword: f.secret().optional(),
      /** TLS to Redis (and to the Sentinels); with a url, rediss:// does the same. */
      tls: z.boolean().default(false),
      prefix: z
        .string()
        .regex(/^[a-z0-9][a-z0-9_-]{0,62}$/, 'redis prefix must be lower-case letters, digits, - or _, starting with a letter or digit')
        .default('pf'),
      connectTimeout: f.duration(100).prefault('2s'),
      commandTimeout: f.duration(50).prefault('1s'),
    })
    .superRefine((r, ctx) => {
      if (r.sentinels !== undefined && r.url !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['url'], message: 'give either url or sentinels, not both: with sentinels the address of the master comes from Sentinel' });
      }
      if (r.sentinels !== undefined && r.name === undefined) {
        ctx.addIssue({ code: 'custom', path: ['name'], message: 'is required with sentinels: the master set name the Sentinels monitor' });
      }
      if (r.sentinels === undefined && r.name !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['name'], message: 'is only used with sentinels' });
      }
      if (r.sentinels === undefined && r.sentinelPassword !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['sentinelPassword'], message: 'is only used with sentinels' });
      }
    })
    .transform((r) => ({ ...r, url: r.sentinels === undefined ? (r.url ?? 'redis://127.0.0.1:6379') : undefined }))
    .prefault({});
}

function idLike() {
  return z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'must be letters, digits, ., - or _ (the Sentinel master name)');
}

export type RedisConfig = z.output<ReturnType<typeof redisSchema>>;
