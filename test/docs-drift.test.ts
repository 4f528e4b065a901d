import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import { configSchemaPaths } from '@portal-failover/shared';

/**
 * Docs that cannot drift (issue #14): every relative link in the README and docs/ resolves, every
 * `portal-failover <command>` and `npm run <script>` shown exists, every config field in docs/configuration.md
 * exists in the schema and every field of the schema is documented, and every environment variable the code reads
 * is in the environment table. Failures name the file and line, or the exact field to document.
 */
const ROOT = path.resolve(__dirname, '..');
const CLI = path.join(ROOT, 'cli', 'dist', 'main.js');

function markdownFiles(): string[] {
  const out = [path.join(ROOT, 'README.md'), path.join(ROOT, 'deploy', 'README.md'), path.join(ROOT, 'cli', 'README.md')].filter((f) => fs.existsSync(f));
  const walk = (dir: string) => {
    for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.md')) out.push(p);
    }
  };
  walk(path.join(ROOT, 'docs'));
  return out;
}

const rel = (f: string) => path.relative(ROOT, f);

/** Markdown text split into code (fenced blocks and inline spans) and the rest, with line numbers. */
function codeOf(text: string): { line: number; code: string }[] {
  const out: { line: number; code: string }[] = [];
  let fenced = false;
  text.split('\n').forEach((l, i) => {
    if (/^\s*```/.test(l)) {
      fenced = !fenced;
      return;
    }
    if (fenced) out.push({ line: i + 1, code: l });
    else for (const m of l.matchAll(/`([^`]+)`/g)) out.push({ line: i + 1, code: m[1] });
  });
  return out;
}

describe('links', () => {
  it('every relative link in README.md and docs/ points at a file or folder of the repository', () => {
    const broken: string[] = [];
    for (const file of markdownFiles()) {
      const text = fs.readFileSync(file, 'utf8');
      let fenced = false;
      text.split('\n').forEach((l, i) => {
        if (/^\s*```/.test(l)) fenced = !fenced;
        if (fenced) return;
        for (const m of l.replace(/`[^`]*`/g, '').matchAll(/\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
          const target = m[1];
          if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('#')) continue;
          const resolved = path.resolve(path.dirname(file), decodeURIComponent(target.split('#')[0]));
          if (!resolved.startsWith(ROOT + path.sep) && resolved !== ROOT) broken.push(`${rel(file)}:${i + 1}: ${target} points outside the repository`);
          else if (!fs.existsSync(resolved)) broken.push(`${rel(file)}:${i + 1}: ${target} does not exist`);
        }
      });
    }
    expect(broken).toEqual([]);
  });
});

describe('commands', () => {
  interface CommandTree {
    name: string;
    /** Positional arguments it takes itself. */
    args: number;
    commands: CommandTree[];
  }

  /**
   * The CLI's real command tree, read in one process: its commander program is built as `portal-failover` builds
   * it, and parseAsync (called last in main.ts) prints the tree instead of running a command.
   */
  function commandTree(): CommandTree {
    const script = `
      const { Command } = require(require.resolve('commander', { paths: [${JSON.stringify(path.dirname(CLI))}] }));
      const dump = (c) => ({ name: c.name(), args: c.registeredArguments.length, commands: c.commands.map(dump) });
      Command.prototype.parseAsync = function () { process.stdout.write(JSON.stringify(dump(this))); return Promise.resolve(this); };
      require(${JSON.stringify(CLI)});`;
    const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`cannot read the CLI's commands: ${r.stderr}`);
    return JSON.parse(r.stdout) as CommandTree;
  }

  it('every `portal-failover <command>` shown in the docs exists', () => {
    const tree = commandTree();
    const top = new Map(tree.commands.map((c) => [c.name, new Set(c.commands.map((x) => x.name))]));
    const onlySubcommands = new Set(tree.commands.filter((c) => c.args === 0 && c.commands.length).map((c) => c.name));
    expect(top.size).toBeGreaterThan(5);
    const missing: string[] = [];
    for (const file of markdownFiles()) {
      for (const { line, code } of codeOf(fs.readFileSync(file, 'utf8'))) {
        // Run as a command (`npx portal-failover`, at the start, after ; && | or $( ), never a namespace or a file name.
        // `portal-failover status | switchover | audit export` lists several; each is checked.
        for (const m of code.matchAll(/(?:^\s*(?:\$\s+)?|npx\s+|[;&|(]\s*)portal-failover((?:\s+\|?\s*[a-z][a-z0-9-]*)+)/g)) {
          for (const segment of m[1].split('|').map((x) => x.trim()).filter(Boolean)) {
            const [cmd, sub] = segment.split(/\s+/);
            const subs = top.get(cmd);
            if (!subs) {
              missing.push(`${rel(file)}:${line}: \`portal-failover ${cmd}\` is not a command (commands: ${[...top.keys()].join(', ')})`);
              continue;
            }
            // After a command with subcommands and no arguments of its own (`token create`), the word must be one.
            if (!subs.size || sub === undefined || !onlySubcommands.has(cmd)) continue;
            if (!subs.has(sub)) missing.push(`${rel(file)}:${line}: \`portal-failover ${cmd} ${sub}\`: ${cmd} has no subcommand "${sub}" (it has: ${[...subs].join(', ')})`);
          }
        }
      }
    }
    expect(missing).toEqual([]);
  });

  it('every `npm run <script>` shown in the docs is a script of package.json', () => {
    const scripts = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { scripts: Record<string, string> }).scripts;
    const missing: string[] = [];
    for (const file of markdownFiles()) {
      for (const { line, code } of codeOf(fs.readFileSync(file, 'utf8'))) {
        for (const m of code.matchAll(/npm run ([a-z][a-z0-9:_-]*)/g)) {
          if (!(m[1] in scripts)) missing.push(`${rel(file)}:${line}: \`npm run ${m[1]}\` is not in package.json scripts`);
        }
      }
    }
    expect(missing).toEqual([]);
  });
});

describe('docs/configuration.md and the config schema', () => {
  const doc = fs.readFileSync(path.join(ROOT, 'docs', 'configuration.md'), 'utf8');

  /** Which schema path a section's table rows are relative to, from its heading. */
  function baseOf(heading: string): string | undefined {
    const code = /`([^`]+)`/.exec(heading)?.[1];
    if (/^#+ Checks\b/.test(heading)) return 'portals[].sites[].checks[]';
    if (/^#+ Readiness checks\b/.test(heading)) return 'portals[].sites[].readiness[type=http]';
    if (/^#+ Traffic steps\b/.test(heading)) return 'portals[].traffic[]';
    if (code && /^type: \w+$/.test(code)) return `portals[].sites[].checks[type=${code.slice(6)}]`;
    if (code && /^kind: \w+$/.test(code)) return `portals[].traffic[kind=${code.slice(6)}]`;
    if (code && /^[A-Za-z][A-Za-z0-9[\].]*$/.test(code)) return code;
    return undefined;
  }

  /** Documented fields: `Field` column of every table, joined to its section's path. */
  function documentedFields(): { path: string; line: number }[] {
    const out: { path: string; line: number }[] = [];
    let base: string | undefined;
    let inFieldTable = false;
    doc.split('\n').forEach((l, i) => {
      if (/^#{2,4} /.test(l)) {
        base = baseOf(l);
        inFieldTable = false;
        return;
      }
      if (/^\|\s*Field\s*\|/.test(l)) {
        inFieldTable = true;
        return;
      }
      if (!l.startsWith('|')) {
        inFieldTable = false;
        return;
      }
      const cell = /^\|\s*`([^`]+)`/.exec(l)?.[1];
      if (!inFieldTable || !base || !cell || /^-/.test(l.slice(1).trim())) return;
      out.push({ path: `${base}${cell.startsWith('[') ? '' : '.'}${cell}`, line: i + 1 });
    });
    return out;
  }

  /**
   * Provider fields shown in docs/providers.md (the page that documents every provider): the keys of its YAML
   * examples, and fields named in code spans in the provider's own `## <kind>` section.
   */
  function providerExampleFields(): Set<string> {
    const out = new Set<string>();
    const text = fs.readFileSync(path.join(ROOT, 'docs', 'providers.md'), 'utf8');
    const add = (prefix: string, v: unknown) => {
      if (!v || typeof v !== 'object' || Array.isArray(v)) return;
      for (const [k, child] of Object.entries(v)) {
        out.add(`${prefix}.${k}`);
        add(`${prefix}.${k}`, child);
      }
    };
    for (const section of text.split(/^## /m).slice(1)) {
      const kind = /^([a-z0-9]+)\s*$/m.exec(section.split('\n')[0])?.[1];
      if (!kind) continue;
      for (const m of section.replace(/```[\s\S]*?```/g, '').matchAll(/`([a-z][A-Za-z0-9]*(?:\.[a-z][A-Za-z0-9]*)*)`/g)) out.add(`portals[].traffic[kind=${kind}].${m[1]}`);
    }
    for (const block of text.matchAll(/```ya?ml\n([\s\S]*?)```/g)) {
      for (const d of parseAllDocuments(block[1])) {
        const v: unknown = d.toJS();
        const steps = v && typeof v === 'object' && 'traffic' in v ? (v as { traffic: unknown }).traffic : v;
        for (const step of Array.isArray(steps) ? steps : []) {
          if (step && typeof step === 'object' && typeof (step as { kind?: unknown }).kind === 'string') add(`portals[].traffic[kind=${(step as { kind: string }).kind}]`, step);
        }
      }
    }
    return out;
  }

  /** The names a schema path may be documented under: itself, or the shared form of a union member's field. */
  function documentedAs(p: string): string[] {
    const general = p.replace(/\[(type|kind)=[\w-]+\]/g, '[]');
    // Readiness checks have the shapes of serving checks: a field documented for either documents both.
    const swap = (x: string) => (x.includes('.readiness[') ? x.replace('.readiness[', '.checks[') : x.replace('.checks[', '.readiness['));
    return [...new Set([p, general, swap(p), swap(general)])];
  }

  const schema = configSchemaPaths();

  it('every field in its tables exists in the schema', () => {
    const known = new Set(schema.flatMap((s) => documentedAs(s.path)));
    const unknown = documentedFields()
      .filter((f) => !known.has(f.path))
      .map((f) => `docs/configuration.md:${f.line}: ${f.path} is documented but the schema has no such field`);
    expect(unknown).toEqual([]);
  });

  it('every field of the schema is documented (providers beyond powerdns and zonefile in docs/providers.md examples)', () => {
    const documented = new Set([...documentedFields().map((f) => f.path), ...providerExampleFields()]);
    const undocumented = schema
      .filter((s) => s.leaf && !documentedAs(s.path).some((p) => documented.has(p)))
      .map((s) => `${s.path}: add a row for it to docs/configuration.md${s.path.includes('traffic[kind=') ? ' (or to its example in docs/providers.md)' : ''}`);
    expect(undocumented).toEqual([]);
  });

  it('every environment variable the services read is in its environment table', () => {
    const table = doc.split(/^## Environment variables$/m)[1]?.split(/^## /m)[0] ?? '';
    const documented = new Set([...table.matchAll(/^\|\s*`([A-Z][A-Z0-9_]+)`/gm)].map((m) => m[1]));
    // FAILOVER_FAILPOINTS is read only by the test harness to inject faults; PATH is passed through to command
    // hooks (their minimal environment). Neither is a setting of the service.
    const internal = new Set(['FAILOVER_FAILPOINTS', 'PATH']);
    const read = new Set<string>();
    const walk = (dir: string) => {
      for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, e.name);
        if (e.isDirectory() && e.name !== 'node_modules' && e.name !== 'dist' && e.name !== '__tests__') walk(p);
        else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts')) {
          for (const m of fs.readFileSync(p, 'utf8').matchAll(/\b(?:process\.)?env\.([A-Z][A-Z0-9_]+)\b/g)) read.add(m[1]);
        }
      }
    };
    for (const d of ['shared/src', 'services', 'cli/src']) walk(path.join(ROOT, d));
    const missing = [...read].filter((v) => !documented.has(v) && !internal.has(v)).map((v) => `${v}: add it to the environment table of docs/configuration.md`);
    expect(missing).toEqual([]);
  });
});
