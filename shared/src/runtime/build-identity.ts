import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

let cachedBuild: { version: string; commit: string } | undefined;

/**
 * Version from the shared package, commit from FAILOVER_COMMIT (set in the image build) or the git checkout the
 * process runs from; "unknown" when neither exists. Read once per process.
 */
export function buildIdentity(): { version: string; commit: string } {
  if (cachedBuild) return cachedBuild;
  let version = '0.0.0';
  try {
    const pkg = JSON.parse(fs.readFileSync(path.join(__dirname, '..', '..', 'package.json'), 'utf8')) as { version?: unknown };
    if (typeof pkg.version === 'string') version = pkg.version;
  } catch {
    // a bundled or copied build without its package.json: keep the placeholder
  }
  let commit = process.env.FAILOVER_COMMIT?.trim() ?? '';
  if (!/^[0-9a-f]{7,40}$/.test(commit)) {
    try {
      commit = execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { cwd: __dirname, encoding: 'utf8', timeout: 2000, stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      commit = '';
    }
  }
  cachedBuild = { version, commit: /^[0-9a-f]{7,40}$/.test(commit) ? commit : 'unknown' };
  return cachedBuild;
}
