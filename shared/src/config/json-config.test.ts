import fs from 'node:fs';
import path from 'node:path';
import { parse } from 'yaml';
import { parseJsonConfig, repeatedKey } from './json-config';
import { ConfigError, parseConfigText } from './load';

describe('a config written as JSON', () => {
  it('is read as JSON, and only when it is JSON', () => {
    expect(parseJsonConfig('{"a": [1, {"b": "x"}]}')).toEqual({ data: { a: [1, { b: 'x' }] } });
    expect(parseJsonConfig('a: 1')).toBeUndefined();
    expect(parseJsonConfig('{a: 1}')).toBeUndefined(); // YAML flow style: the YAML parser reads it
    expect(parseJsonConfig('{"a": 1} # comment')).toBeUndefined();
  });

  it('names a key repeated in one object with its line and column, whatever the strings around it hold', () => {
    expect(repeatedKey('{"a": 1, "b": {"a": 2}, "c": ["a", "a"], "d": "\\"a\\", \\"a\\""}')).toBeUndefined();
    expect(repeatedKey('{\n  "x": {"k": 1,\n   "k": 2}\n}')).toEqual({ line: 3, column: 4, message: 'key "k" appears twice in one object' });
    expect(repeatedKey('[{"a": 1}, {"a": 1, "b\\u0061": 2, "ba": 3}]')).toEqual({ line: 1, column: 35, message: 'key "ba" appears twice in one object' });
  });

  it('is refused like YAML when a key repeats, and otherwise read exactly as the YAML parser reads it', () => {
    expect(() => parseConfigText('{"redis": {"prefix": "a", "prefix": "b"}, "portals": []}', 'x.json', {})).toThrow(ConfigError);
    expect(() => parseConfigText('{"redis": {"prefix": "a", "prefix": "b"}, "portals": []}', 'x.json', {})).toThrow(/line 1, column 27: key "prefix" appears twice/);
    // The shipped example config, as YAML and as the same document in JSON.
    const file = path.join(__dirname, '..', '..', '..', 'config', 'failover.yaml');
    const yaml = fs.readFileSync(file, 'utf8');
    const json = JSON.stringify(parse(yaml, { merge: true }), null, 2);
    const env = { REDIS_URL: 'redis://127.0.0.1:6379' };
    const a = parseConfigText(json, 'x.json', env, path.dirname(file));
    const b = parseConfigText(yaml, 'x.yaml', env, path.dirname(file));
    expect(JSON.stringify(a)).toBe(JSON.stringify(b));
    expect(a.portals.length).toBeGreaterThan(0);
  });
});
