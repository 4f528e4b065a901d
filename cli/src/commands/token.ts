import type { Command } from 'commander';
import { createToken, ROLES, type Role } from '@portal-failover/api/auth';
import { json } from '../format';
import { out, run, usageExitCodes, UsageError } from './common';

/** Same rule as token names in the config schema (shared/src/config/schema.ts), so the printed lines validate. */
const NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;
/** Same rule as tokens[].expires in the config schema and the token file's fourth field. */
const ISO_INSTANT = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/;

export function registerToken(program: Command): void {
  const token = usageExitCodes(program.command('token')).description('API tokens (no API call: prints what to add to the config)');
  usageExitCodes(token.command('create'))
    .description('create a token; it is printed once, only its SHA-256 goes into the config')
    .requiredOption('--name <name>', 'who or what uses it; appears as the actor in the audit log (e.g. ops-alice)')
    .requiredOption('--role <role>', `${ROLES.join(' | ')}`)
    .option('--expires <time>', 'ISO 8601 date-time after which the API refuses the token (e.g. 2027-01-31T00:00:00Z)')
    .option('--json', 'print token, record and lines as JSON')
    .action(
      run(async (opts: { name: string; role: string; expires?: string; json?: boolean }) => {
        if (!NAME.test(opts.name)) throw new UsageError(`--name: "${opts.name}" must be lower-case letters, digits, - or _, starting with a letter or digit`);
        if (!ROLES.includes(opts.role as Role)) throw new UsageError(`--role: "${opts.role}" must be one of ${ROLES.join(', ')}`);
        if (opts.expires !== undefined && (!ISO_INSTANT.test(opts.expires) || Number.isNaN(Date.parse(opts.expires)))) {
          throw new UsageError(`--expires: "${opts.expires}" must be an ISO 8601 date-time with an offset, e.g. 2027-01-31T00:00:00Z`);
        }
        const { token: secret, record } = createToken(opts.name, opts.role as Role, opts.expires);
        const yamlLine = `- { name: ${record.name}, role: ${record.role}, sha256: ${record.sha256}${record.expires ? `, expires: "${record.expires}"` : ''} }`;
        const fileLine = `${record.name} ${record.role} ${record.sha256}${record.expires ? ` ${record.expires}` : ''}`;
        if (opts.json) return out(json({ token: secret, ...record, yaml: yamlLine, tokenFileLine: fileLine }));
        out(
          [
            `Token for "${record.name}" (${record.role}). It is shown only this once and is not stored anywhere; hand it over now:`,
            '',
            `  ${secret}`,
            '',
            'Add it to the config under api.tokens:',
            '',
            `  ${yamlLine}`,
            '',
            'or as a line in the token file (api.tokenFile):',
            '',
            `  ${fileLine}`,
            '',
            `The user sets it with: export PORTAL_FAILOVER_TOKEN=<token>  (never as a command-line flag). The API re-reads the token file when it changes; a token in the config needs a restart.`,
            '',
          ].join('\n'),
        );
      }),
    );
}
