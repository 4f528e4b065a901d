import fs from 'node:fs';
import path from 'node:path';

/** The CLI package's own version (cli/package.json, one directory above dist/ and src/). */
export function cliVersion(): string {
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', 'package.json'), 'utf8')) as { version?: unknown };
    return typeof pkg.version === 'string' ? pkg.version : '0.0.0';
  } catch {
    return '0.0.0';
  }
}
