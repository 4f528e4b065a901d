import fs from 'node:fs';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { deployPath, repoRoot } from './support';
import path from 'node:path';

/**
 * Every compose file validates against the Compose Specification's own JSON schema (vendored from
 * github.com/compose-spec/compose-spec, schema/compose-spec.json, Apache-2.0; see vendor/README.md): a misspelt key,
 * a wrong type or a bad port mapping fails here, without a Docker engine. Mounted host paths must exist.
 */
// The file names its meta-schema as https://json-schema.org/draft-07/schema, which Ajv knows under its http://…#
// spelling only; it is draft-07 either way, Ajv's default, so the reference is dropped rather than the file edited.
const { $schema: _metaSchema, ...schema } = JSON.parse(fs.readFileSync(path.join(__dirname, 'vendor', 'compose-spec.json'), 'utf8')) as Record<string, unknown>;
const ajv = new Ajv({ allErrors: true, strict: false, validateFormats: false });
const validate = ajv.compile(schema);

function load(file: string): Record<string, unknown> {
  // Compose resolves YAML merge keys (<<: *anchor) before validating; so does this.
  return parse(fs.readFileSync(file, 'utf8'), { merge: true }) as Record<string, unknown>;
}

// The root file and every file it includes, so a new included file is validated too.
const ROOT_FILE = path.join(repoRoot, 'docker-compose.yml');
const FILES = [ROOT_FILE, ...((load(ROOT_FILE).include ?? []) as (string | { path: string })[]).map((i) => path.resolve(repoRoot, typeof i === 'string' ? i : i.path))];
const SECRETS_DIR = deployPath('secrets');

it('validates the root compose file and the observability file it includes', () => {
  expect(FILES).toEqual([ROOT_FILE, deployPath('docker-compose.observability.yml')]);
});

it.each(FILES.map((f) => [path.relative(repoRoot, f), f]))('%s is valid under the Compose Specification schema', (_name, file) => {
  const ok = validate(load(file));
  expect(ok ? [] : (validate.errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message} ${JSON.stringify(e.params)}`)).toEqual([]);
});

it('the schema catches what it is here for (a misspelt key, a bad port)', () => {
  const broken = load(FILES[0]);
  const services = broken.services as Record<string, Record<string, unknown>>;
  const first = Object.keys(services)[0];
  services[first] = { ...services[first], enviroment: { A: '1' }, ports: [{ target: 'eighty' }] };
  expect(validate(broken)).toBe(false);
  const messages = (validate.errors ?? []).map((e) => `${e.instancePath} ${e.message}`);
  expect(messages.some((m) => m.includes(`/services/${first}`))).toBe(true);
});

it.each(FILES.map((f) => [path.relative(repoRoot, f), f]))('every host path %s mounts exists in the repository (or is created by its documented set-up)', (_name, file) => {
  const doc = load(file);
  const base = path.dirname(file);
  const missing: string[] = [];
  const services = (doc.services ?? {}) as Record<string, { volumes?: (string | { type?: string; source?: string })[] }>;
  for (const [name, s] of Object.entries(services)) {
    for (const v of s.volumes ?? []) {
      const source = typeof v === 'string' ? v.split(':')[0] : v.type === 'bind' ? v.source : undefined;
      if (!source || !(source.startsWith('./') || source.startsWith('../'))) continue;
      const at = path.resolve(base, source);
      // deploy/secrets is filled by npm run compose:init (compose-demo.test.ts checks every path after it runs).
      if (path.dirname(at) === SECRETS_DIR) continue;
      if (!fs.existsSync(at)) missing.push(`${name}: ${source}`);
    }
  }
  for (const [name, sec] of Object.entries((doc.secrets ?? {}) as Record<string, { file?: string }>)) {
    // Secret files are made by the operator before the first start (never committed); their folder must exist.
    if (sec.file && !fs.existsSync(path.dirname(path.resolve(base, sec.file)))) missing.push(`secret ${name}: ${sec.file}`);
  }
  expect(missing).toEqual([]);
});
