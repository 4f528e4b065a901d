import fs from 'node:fs';
import path from 'node:path';

/** One row of the chaos table: a case, how often it ran, what was counted, and how long recovery took. */
export interface ChaosRow {
  case: string;
  trials: number;
  falseFailovers: number;
  doubleExecutions: number;
  leftFailingOver: number;
  cutSwitchedAfter: string;
  recovery: string;
}

const FILE = process.env.CHAOS_REPORT ?? path.join(process.cwd(), 'test', 'chaos', '.last-run.jsonl');

/** Appends a row to the run's report (printed by scripts/chaos-report.js) and prints it at once. */
export function reportRow(row: ChaosRow): void {
  fs.appendFileSync(FILE, `${JSON.stringify(row)}\n`);
  process.stdout.write(`chaos | ${Object.values(row).join(' | ')}\n`);
}
