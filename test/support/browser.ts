import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { requireExecutable } from './free-port';

/**
 * Debian's chromium driven by playwright-core (never a downloaded browser build), with the flags the browser
 * recipe verified on this machine kind. A missing chromium fails the test with the install hint.
 */
export async function launchChromium(): Promise<Browser> {
  const executablePath = requireExecutable('chromium', 'scripts/install-test-deps.sh (apt-get install chromium)');
  return chromium.launch({ executablePath, headless: true, args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'] });
}

export interface AxeViolation {
  id: string;
  impact: string | null;
  help: string;
  nodes: { target: unknown[] }[];
}

/** axe-core injected from node_modules; returns the violations of the page as loaded. */
export async function axeViolations(page: Page): Promise<AxeViolation[]> {
  await page.addScriptTag({ path: require.resolve('axe-core') });
  return page.evaluate(async () => {
    const axe = (globalThis as unknown as { axe: { run(): Promise<{ violations: AxeViolation[] }> } }).axe;
    const r = await axe.run();
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({ target: n.target })) }));
  });
}

/** test-artifacts/<dir>/ at the repository root (gitignored): screenshots a reviewer can open after the run. */
export function artifactDir(dir: string): string {
  const full = path.resolve(__dirname, '..', '..', 'test-artifacts', dir);
  fs.mkdirSync(full, { recursive: true });
  return full;
}
