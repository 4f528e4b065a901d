import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { ConfigError, parseConfig } from '@portal-failover/shared';
import { mutate, paths } from './mutate';

/**
 * Issue #9: config files fuzzed. The shipped config with one value replaced, removed or joined by an unknown key,
 * and documents of any shape: parseConfig either accepts or throws a ConfigError whose every problem names a field
 * (a path into the document or an environment variable) and a reason. Never another exception, never a hang.
 */
const ROOT = path.resolve(__dirname, '..', '..');
const CONFIG_DIR = path.join(ROOT, 'config');
const shipped = parse(fs.readFileSync(path.join(CONFIG_DIR, 'failover.yaml'), 'utf8')) as unknown;
const env = { PDNS_API_KEY: 'test-key', VANTAGE_HN1_KEY: 'hn1-key', VANTAGE_HCM1_KEY: 'hcm1-key' };
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);



const allPaths = paths(shipped).filter((p) => p.length > 0);


/** A ConfigError whose problems each name a field and a reason; anything else is a defect. */
function expectNamedRefusalOrSuccess(doc: unknown): 'ok' | 'refused' {
  try {
    parseConfig(doc, 'fuzz.yaml', env, CONFIG_DIR);
    return 'ok';
  } catch (e) {
    if (!(e instanceof ConfigError)) throw new Error(`not a ConfigError: ${(e as Error)?.stack ?? String(e)}`);
    expect(e.problems.length).toBeGreaterThan(0);
    for (const p of e.problems) {
      // A field path (`portals[0].sites[1].name`), the document itself, or an environment variable.
      expect(p.path).toMatch(/^(\(root\)|[A-Za-z_$][\w$-]*|\[\d+\])/);
      expect(p.message.trim().length).toBeGreaterThan(0);
    }
    return 'refused';
  }
}

it('the shipped config parses (the fuzzing starts from a valid document)', () => {
  expect(expectNamedRefusalOrSuccess(shipped)).toBe('ok');
});

const valueArb = fc.oneof(
  fc.jsonValue({ maxDepth: 2 }),
  fc.string(),
  fc.constantFrom('', '0', '-1', '1e309', '10x', '0s', '99999d', 'http://', 'redis://', '${NOT_SET}', '__proto__', 'a'.repeat(5000), '127.0.0.1:99999', '::1'),
  fc.integer(),
  fc.double(),
);

it('one value replaced, removed or joined by an unknown key: accepted, or refused naming fields', () => {
  const seen = { ok: 0, refused: 0 };
  fc.assert(
    fc.property(
      fc.constantFrom(...allPaths),
      fc.constantFrom('replace' as const, 'delete' as const, 'extra' as const),
      valueArb,
      fc.oneof(fc.string({ minLength: 1, maxLength: 12 }), fc.constantFrom('__proto__', 'constructor', 'toString')),
      (at, how, value, key) => {
        seen[expectNamedRefusalOrSuccess(mutate(shipped, at, how, value, key))]++;
      },
    ),
    { numRuns: RUNS },
  );
  // Both outcomes happen, or the generator is not reaching the parser's rules.
  expect(seen.refused).toBeGreaterThan(RUNS / 4);
  expect(seen.ok).toBeGreaterThan(0);
});

it('a refusal names the field that was broken: a wrong type at a leaf is reported at that leaf', () => {
  const leaves = allPaths.filter((p) => {
    let v: unknown = shipped;
    for (const s of p) v = (v as Record<string | number, unknown>)[s];
    return typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean';
  });
  fc.assert(
    fc.property(fc.constantFrom(...leaves), (at) => {
      // An object where a scalar belongs is wrong for every leaf of the schema.
      const doc = mutate(shipped, at, 'replace', { nested: true }, '');
      try {
        parseConfig(doc, 'fuzz.yaml', env, CONFIG_DIR);
        throw new Error(`accepted an object at ${at.join('.')}`);
      } catch (e) {
        if (!(e instanceof ConfigError)) throw e;
        const want = at.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '');
        expect(e.problems.map((p) => p.path)).toContainEqual(expect.stringMatching(new RegExp(`^${want.replace(/[[\].$]/g, '\\$&')}`)));
      }
    }),
    { numRuns: Math.min(RUNS, leaves.length * 2) },
  );
});

it('documents of any shape: refused with named problems, never another exception', () => {
  fc.assert(
    fc.property(fc.oneof(fc.anything({ maxDepth: 3 }), fc.jsonValue({ maxDepth: 4 }), fc.dictionary(fc.constantFrom('redis', 'api', 'portals', 'checker', 'controller', 'audit', 'vantages'), fc.jsonValue({ maxDepth: 3 }))), (doc) => {
      expectNamedRefusalOrSuccess(doc);
    }),
    { numRuns: RUNS },
  );
});
