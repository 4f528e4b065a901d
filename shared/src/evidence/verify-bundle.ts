import fs from 'node:fs';
import path from 'node:path';
import { sha256Hex } from '../audit/chain';

/**
 * `evidence verify DIR`: every file the manifest lists exists with its SHA-256, and no other file is there.
 * Returns one line per problem (empty when the bundle is intact).
 */
export function verifyEvidenceDir(dir: string): { ok: boolean; problems: string[]; files: number } {
  const problems: string[] = [];
  let manifest: { files?: { name: string; sha256: string }[] };
  try {
    manifest = JSON.parse(fs.readFileSync(path.join(dir, 'manifest.json'), 'utf8')) as typeof manifest;
  } catch (err) {
    return { ok: false, problems: [`manifest.json: cannot read it (${(err as Error).message})`], files: 0 };
  }
  const listed = new Set<string>(['manifest.json']);
  for (const f of manifest.files ?? []) {
    listed.add(f.name);
    const file = path.join(dir, f.name);
    if (!path.resolve(file).startsWith(path.resolve(dir) + path.sep)) {
      problems.push(`${f.name}: outside the bundle`);
      continue;
    }
    if (!fs.existsSync(file)) {
      problems.push(`${f.name}: missing`);
      continue;
    }
    const got = sha256Hex(fs.readFileSync(file, 'utf8'));
    if (got !== f.sha256) problems.push(`${f.name}: changed (SHA-256 ${got}, manifest says ${f.sha256})`);
  }
  const walk = (d: string): string[] => fs.readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.relative(dir, path.join(d, e.name)).split(path.sep).join('/')]));
  for (const f of walk(dir)) if (!listed.has(f)) problems.push(`${f}: not in the manifest (added)`);
  return { ok: problems.length === 0, problems, files: listed.size - 1 };
}
