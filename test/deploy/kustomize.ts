import fs from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { arr, obj, str, type Obj } from './support';

/**
 * A kustomization read the way kustomize reads it, without kubectl: resources (files, or folders with their own
 * kustomization), components, and configMapGenerator entries turned into the ConfigMap they generate (under the
 * generator's name; kustomize adds a content hash and rewrites the references to it). Enough to check the structure
 * and the wiring; `kubectl kustomize` renders the real thing where kubectl is at hand.
 */
export interface Kustomized {
  /** Every object, with the folder-relative file it came from. */
  docs: { doc: Obj; from: string }[];
  /** Every file the tree reads (manifests, kustomizations, generator inputs), absolute. */
  files: Set<string>;
  /** References that point at nothing, as "<kustomization>: <entry>". */
  missing: string[];
  /** The `namespace:` of the root kustomization. */
  namespace?: string;
}

export function readKustomization(dir: string, out: Kustomized = { docs: [], files: new Set(), missing: [] }, root = dir): Kustomized {
  const file = path.join(dir, 'kustomization.yaml');
  const rel = (p: string) => path.relative(root, p) || '.';
  if (!fs.existsSync(file)) {
    out.missing.push(`${rel(dir)}: no kustomization.yaml`);
    return out;
  }
  out.files.add(file);
  const k = obj(parse(fs.readFileSync(file, 'utf8')), file);
  if (dir === root && typeof k.namespace === 'string') out.namespace = k.namespace;
  for (const entry of [...arr(k.resources ?? [], 'resources'), ...arr(k.components ?? [], 'components')]) {
    const target = path.resolve(dir, str(entry, `${rel(file)} entry`));
    if (!fs.existsSync(target)) out.missing.push(`${rel(file)}: ${String(entry)}`);
    else if (fs.statSync(target).isDirectory()) readKustomization(target, out, root);
    else {
      out.files.add(target);
      for (const [i, d] of parseAllDocuments(fs.readFileSync(target, 'utf8')).entries()) {
        if (d.errors.length) throw new Error(`${rel(target)}#${i}: ${d.errors.map((e) => e.message).join('; ')}`);
        const js: unknown = d.toJS();
        if (js !== null) out.docs.push({ doc: obj(js, `${rel(target)}#${i}`), from: rel(target) });
      }
    }
  }
  for (const p of arr(k.patches ?? [], 'patches')) {
    const patch = obj(p, 'patch');
    if (typeof patch.path !== 'string') continue;
    const target = path.resolve(dir, patch.path);
    if (fs.existsSync(target)) out.files.add(target);
    else out.missing.push(`${rel(file)}: patch ${patch.path}`);
  }
  for (const g of arr(k.configMapGenerator ?? [], 'configMapGenerator')) {
    const gen = obj(g, 'configMapGenerator entry');
    const data: Record<string, string> = {};
    for (const f of arr(gen.files ?? [], 'files')) {
      // "key=path" or just "path" (the key is the file name).
      const [key, p] = str(f, 'file').includes('=') ? str(f, 'file').split('=', 2) : [path.basename(str(f, 'file')), str(f, 'file')];
      const target = path.resolve(dir, p);
      if (!fs.existsSync(target)) {
        out.missing.push(`${rel(file)}: configMapGenerator file ${p}`);
        continue;
      }
      out.files.add(target);
      data[key] = fs.readFileSync(target, 'utf8');
    }
    const labels = obj(obj(gen.options ?? {}, 'options').labels ?? {}, 'labels');
    out.docs.push({ doc: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: str(gen.name, 'generator name'), labels }, data, generated: true }, from: rel(file) });
  }
  return out;
}
