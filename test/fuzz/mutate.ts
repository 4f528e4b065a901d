/**
 * The fuzzers' way to damage one document at one place: every path into it, and a copy with the value at a path
 * replaced, removed, or joined by an unknown key. Shared by the config and the API-body fuzzers.
 */
export type Path = (string | number)[];

/** Every path into `v`, the root (empty path) first. */
export function paths(v: unknown, at: Path = []): Path[] {
  if (Array.isArray(v)) return [at, ...v.flatMap((x, i) => paths(x, [...at, i]))];
  if (v !== null && typeof v === 'object') return [at, ...Object.entries(v).flatMap(([k, x]) => paths(x, [...at, k]))];
  return [at];
}

/** A copy of `doc` changed at `at`; the original is untouched. At the root, only 'replace' changes anything. */
export function mutate(doc: unknown, at: Path, how: 'replace' | 'delete' | 'extra', value: unknown, key: string): unknown {
  const copy = structuredClone(doc) as Record<string | number, unknown>;
  if (at.length === 0) return how === 'replace' ? value : copy;
  let parent: Record<string | number, unknown> = copy;
  for (const seg of at.slice(0, -1)) parent = parent[seg] as Record<string | number, unknown>;
  const last = at[at.length - 1];
  if (how === 'replace') parent[last] = value;
  else if (how === 'delete') {
    if (Array.isArray(parent)) parent.splice(Number(last), 1);
    else delete parent[last];
  } else {
    const target = parent[last];
    if (target !== null && typeof target === 'object' && !Array.isArray(target)) (target as Record<string, unknown>)[key] = value;
    else parent[last] = value;
  }
  return copy;
}
