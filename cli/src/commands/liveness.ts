import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { KeyObject } from 'node:crypto';
import { generateLivenessKeys, livenessPrivateKey, parseDuration, resolveSecretRef, signLiveness } from '@portal-failover/shared/liveness';
import { out, run, usageExitCodes, UsageError } from './common';

/** Same rule as portal ids in the config schema, so a typo is caught before the file is served. */
const PORTAL_ID = /^[a-z0-9][a-z0-9_-]{0,62}$/;

/**
 * The signer that runs on the portal's own host (never at the hosting provider's control panel): it writes the
 * token file the web server serves as /.well-known/portal-liveness. No API call, no Redis: just a key and a file.
 */
export function registerLiveness(program: Command): void {
  const liveness = usageExitCodes(program.command('liveness')).description('signed liveness token for /.well-known/portal-liveness (runs on the portal host)');

  usageExitCodes(liveness.command('keygen'))
    .description('make an Ed25519 key pair: the private key stays on the portal host, the public key goes into the check')
    .requiredOption('--out <file>', 'where to write the private key (PEM, mode 0600); refuses to overwrite')
    .action(
      run(async (opts: { out: string }) => {
        const keys = generateLivenessKeys();
        try {
          fs.writeFileSync(opts.out, keys.privateKeyPem, { mode: 0o600, flag: 'wx' });
        } catch (err) {
          const code = (err as NodeJS.ErrnoException).code;
          throw new UsageError(`--out: cannot create ${opts.out} (${code === 'EEXIST' ? 'it exists; keys are never overwritten' : code})`);
        }
        out(
          [
            `Private key written to ${opts.out} (keep it on the portal host only).`,
            '',
            'Public key for the check (expect.liveness.publicKey):',
            '',
            `  ${keys.publicKeyBase64}`,
            '',
            'e.g.  expect: { liveness: { publicKey: "' + keys.publicKeyBase64 + '", maxAge: 2m } }',
            '',
          ].join('\n'),
        );
      }),
    );

  usageExitCodes(liveness.command('write'))
    .description('sign "<portal>|<now>" and write the token file atomically; with --every, keep doing it')
    .requiredOption('--key <ref>', 'private key: file:/path/to/key.pem or ${ENV_VAR}')
    .requiredOption('--portal <id>', 'portal id as in the failover config')
    .requiredOption('--out <file>', 'file the web server serves as /.well-known/portal-liveness')
    .option('--every <duration>', 'rewrite the file this often (e.g. 30s); without it, write once and exit')
    .action(
      run(async (opts: { key: string; portal: string; out: string; every?: string }) => {
        const ref = resolveSecretRef(opts.key, process.env);
        if (!ref.ok) throw new UsageError(`--key: ${ref.error}`);
        let key: KeyObject;
        try {
          key = livenessPrivateKey(ref.value.reveal());
        } catch (err) {
          throw new UsageError(`--key: ${ref.value.source} ${(err as Error).message}`);
        }
        if (!PORTAL_ID.test(opts.portal)) throw new UsageError(`--portal: "${opts.portal}" is not a portal id (lower-case letters, digits, - or _)`);
        const every = opts.every === undefined ? undefined : parseDuration(opts.every);
        if (opts.every !== undefined && (every === undefined || every < 1000)) throw new UsageError(`--every: "${opts.every}" must be a duration of at least 1s, e.g. 30s`);
        const write = () => writeToken(key, opts.portal, opts.out);
        write();
        if (every === undefined) return 0;
        // A failed write (disk full, directory gone) is reported and retried on the next tick: the check turns
        // stale after maxAge, which is the truthful signal, instead of the signer dying silently.
        const timer = setInterval(() => {
          try {
            write();
          } catch (err) {
            process.stderr.write(`portal-failover: liveness write failed: ${(err as Error).message}\n`);
          }
        }, every);
        await new Promise<void>((resolve) => {
          const stop = () => {
            clearInterval(timer);
            resolve();
          };
          process.once('SIGINT', stop);
          process.once('SIGTERM', stop);
        });
        return 0;
      }),
    );
}

/** Written to a temporary file and renamed, so the web server never serves half a token. */
function writeToken(key: KeyObject, portal: string, file: string): void {
  const token = signLiveness(key, portal, new Date());
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  fs.writeFileSync(tmp, `${JSON.stringify(token)}\n`, { mode: 0o644 });
  fs.renameSync(tmp, file);
}
