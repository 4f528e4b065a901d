import { mkdir, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Redis } from 'ioredis';
import type { Config } from '@portal-failover/shared';
import { LANGS, type Lang } from './i18n';
import { renderStatusPage } from './render';
import { StatusModel } from './status-model';

/** Writes a file through a temporary name and a rename, so a web server never serves half a page. */
async function writeAtomically(file: string, content: string): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.${process.pid}.tmp`;
  await writeFile(tmp, content);
  await rename(tmp, file);
}

/**
 * The same page and JSON as GET /status and /status.json, as static files for a host that shares fate with
 * neither provider: DIR/index.html (default language), DIR/vi/index.html, DIR/en/index.html, DIR/status.json.
 */
export async function exportStatusPage(config: Config, redis: Redis, dir: string, now: () => number = Date.now): Promise<string[]> {
  const doc = await new StatusModel(config, redis, now, 0).build();
  const files: [string, string][] = [['status.json', `${JSON.stringify(doc, null, 2)}\n`]];
  const def: Lang = config.statusPage.defaultLanguage;
  files.push(['index.html', renderStatusPage(doc, def, (l) => `${l}/index.html`)]);
  for (const lang of LANGS) files.push([`${lang}/index.html`, renderStatusPage(doc, lang, (l) => `../${l}/index.html`)]);
  for (const [name, content] of files) await writeAtomically(path.join(dir, name), content);
  return files.map(([name]) => path.join(dir, name));
}
