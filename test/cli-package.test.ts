import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

/**
 * The CLI is a publishable npm package: `npm pack` ships its built code, its bin shim and its README and no tests,
 * and every package the built code requires is declared in its dependencies (a user's `npm i -g portal-failover`
 * has nothing else). Same check for the workspace packages it depends on.
 */

const ROOT = path.resolve(__dirname, '..');
const WORKSPACES = ['cli', 'shared', 'services/api', 'services/checker', 'services/controller'];

interface PackFile {
  path: string;
}

function pack(workspace: string): string[] {
  const r = spawnSync('npm', ['pack', '--dry-run', '--json', '--ignore-scripts', '-w', workspace], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`npm pack -w ${workspace} failed: ${r.stderr}`);
  const [result] = JSON.parse(r.stdout) as { files: PackFile[] }[];
  return result.files.map((f) => f.path);
}

/** Bare module names required by the package's built JavaScript (node: built-ins and relative paths left out). */
function requiredPackages(dir: string): Set<string> {
  const found = new Set<string>();
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.isDirectory()) {
        if (e.name !== '__tests__') walk(p);
      } else if (e.name.endsWith('.js') && !e.name.includes('.test.')) {
        for (const m of fs.readFileSync(p, 'utf8').matchAll(/require\("([^".][^"]*)"\)/g)) {
          const spec = m[1];
          if (spec.startsWith('node:')) continue;
          found.add(spec.startsWith('@') ? spec.split('/').slice(0, 2).join('/') : spec.split('/')[0]);
        }
      }
    }
  };
  walk(path.join(ROOT, dir, 'dist'));
  return found;
}

const BUILTINS = new Set(require('node:module').builtinModules as string[]);

describe('publishable packages', () => {
  it('the CLI package ships dist, the bin shim and its README, and no tests', () => {
    const files = pack('cli');
    expect(files).toEqual(expect.arrayContaining(['package.json', 'README.md', 'bin/portal-failover.js', 'dist/main.js', 'dist/commands/switchover.js']));
    expect(files.filter((f) => /\.test\.|__tests__|\/src\/|^src\//.test(f))).toEqual([]);
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'cli', 'package.json'), 'utf8')) as { private?: boolean; bin: Record<string, string>; engines: { node: string } };
    expect(pkg.private).toBeUndefined();
    expect(pkg.bin).toEqual({ 'portal-failover': 'bin/portal-failover.js' });
    expect(pkg.engines.node).toBe('>=20');
  });

  it.each(WORKSPACES)('%s declares every package its built code requires', (ws) => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, ws, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; private?: boolean };
    expect(pkg.private).toBeUndefined();
    const declared = new Set(Object.keys(pkg.dependencies ?? {}));
    const missing = [...requiredPackages(ws)].filter((m) => !declared.has(m) && !BUILTINS.has(m));
    expect(missing).toEqual([]);
  });
});
