import type { Command } from 'commander';
import { table } from '../format';
import { contextsPath, isHttpUrl, readContexts, validContextName, writeContexts, ContextsError } from '../contexts';
import { out, run, usageExitCodes, UsageError } from './common';

function load(file: string) {
  try {
    return readContexts(file);
  } catch (err) {
    if (err instanceof ContextsError) throw new UsageError(err.message);
    throw err;
  }
}

/** `context list | use | set | delete`: the named API endpoints in the contexts file (no API call). */
export function registerContext(program: Command): void {
  const context = usageExitCodes(program.command('context')).description(`named API contexts: url + token file, kept in ${contextsPath().replace(process.env.HOME ?? '\0', '~')}`);
  context.addHelpText(
    'after',
    `
A context names an API and the file its token is in; --context NAME picks one for a command, \`context use NAME\`
makes it the default. Flags and PORTAL_FAILOVER_URL / PORTAL_FAILOVER_TOKEN still win over the context.
The file (override its path with PORTAL_FAILOVER_CONTEXTS) never holds a token, only the token file's path.`,
  );

  usageExitCodes(context.command('list'))
    .description('the contexts, the current one marked *')
    .action(
      run(async () => {
        const file = contextsPath();
        const all = load(file);
        const names = Object.keys(all.contexts).sort();
        if (!names.length) return out(`no contexts in ${file}; add one with: portal-failover context set NAME --url URL --token-file FILE\n`);
        out(table(['CURRENT', 'NAME', 'URL', 'TOKEN FILE'], names.map((n) => [n === all.current ? '*' : '', n, all.contexts[n].url, all.contexts[n].tokenFile])));
      }),
    );

  usageExitCodes(context.command('use'))
    .description('make a context the default for every command')
    .argument('<name>')
    .action(
      run(async (name: string) => {
        const file = contextsPath();
        const all = load(file);
        if (!all.contexts[name]) throw new UsageError(`context "${name}" is not in ${file} (known: ${Object.keys(all.contexts).join(', ') || 'none'})`);
        writeContexts({ ...all, current: name }, file);
        out(`current context: ${name}\n`);
      }),
    );

  usageExitCodes(context.command('set'))
    .description('add or change a context')
    .argument('<name>')
    .option('--url <url>', 'the API base URL')
    .option('--token-file <file>', 'the file holding the API token (the token itself is never stored here)')
    .action(
      run(async (name: string, opts: { url?: string; tokenFile?: string }) => {
        if (!validContextName(name)) throw new UsageError(`<name>: "${name}" must be letters, digits, ., - or _`);
        if (opts.url === undefined && opts.tokenFile === undefined) throw new UsageError('give --url, --token-file or both');
        if (opts.url !== undefined && !isHttpUrl(opts.url)) throw new UsageError(`--url: "${opts.url}" is not an http:// or https:// URL`);
        const file = contextsPath();
        const all = load(file);
        const merged = { ...all.contexts[name], ...(opts.url !== undefined ? { url: opts.url } : {}), ...(opts.tokenFile !== undefined ? { tokenFile: opts.tokenFile } : {}) };
        writeContexts({ current: all.current ?? name, contexts: { ...all.contexts, [name]: merged } }, file);
        out(`context ${name} saved in ${file}${all.current === undefined ? ' (and made current)' : ''}\n`);
      }),
    );

  usageExitCodes(context.command('delete'))
    .description('remove a context')
    .argument('<name>')
    .action(
      run(async (name: string) => {
        const file = contextsPath();
        const all = load(file);
        if (!all.contexts[name]) throw new UsageError(`context "${name}" is not in ${file}`);
        const { [name]: _gone, ...rest } = all.contexts;
        writeContexts({ current: all.current === name ? undefined : all.current, contexts: rest }, file);
        out(`context ${name} removed\n`);
      }),
    );
}
