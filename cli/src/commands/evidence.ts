import fs from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import type { ApiEvidence } from '../api-client';
import { apiCommand, client, enc, out, run, usageExitCodes, UsageError, type ConnectionOptions } from './common';

/** `evidence export OPERATION_ID --out DIR` (through the API) and `evidence verify DIR` (offline). */
export function registerEvidence(program: Command): void {
  const evidence = usageExitCodes(program.command('evidence')).description('evidence bundles of operations');
  apiCommand(evidence, 'export')
    .description('write the evidence bundle of an operation into DIR (files + manifest.json with their SHA-256)')
    .argument('<operation>', 'operation id')
    .requiredOption('--out <dir>', 'output directory (created; must be empty if it exists)')
    .action(
      run(async (id: string, opts: ConnectionOptions & { out: string }) => {
        if (fs.existsSync(opts.out) && fs.readdirSync(opts.out).length) throw new UsageError(`--out: ${opts.out} is not empty`);
        const bundle = await client(opts).get<ApiEvidence>(`/api/v1/operations/${enc(id)}/evidence`);
        const root = path.resolve(opts.out);
        for (const [name, text] of Object.entries(bundle.files)) {
          const file = path.resolve(root, name);
          if (!file.startsWith(root + path.sep)) throw new Error(`refusing file name outside the bundle: ${name}`);
          fs.mkdirSync(path.dirname(file), { recursive: true });
          fs.writeFileSync(file, text);
        }
        out(`wrote ${Object.keys(bundle.files).length} files of operation ${bundle.operation} to ${opts.out}\n`);
      }),
    );
  usageExitCodes(evidence.command('verify'))
    .description('check every file of an exported bundle against its manifest; exit 1 on any change')
    .argument('<dir>', 'bundle directory')
    .action(
      run(async (dir: string) => {
        // Loaded when it runs: registering the command (and --help) must not load it (see CONTRIBUTING.md).
        const { verifyEvidenceDir } = await import('@portal-failover/shared/evidence');
        const r = verifyEvidenceDir(dir);
        if (r.ok) out(`${dir}: ${r.files} files match manifest.json\n`);
        else out(`${dir}: bundle does NOT match its manifest\n${r.problems.map((p) => `  ${p}\n`).join('')}`);
        return r.ok ? 0 : 1;
      }),
    );
}
