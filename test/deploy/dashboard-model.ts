import fs from 'node:fs';
import { deployPath } from './support';

/** The parts of the Grafana dashboard JSON the deploy tests read. */
export const DASHBOARD = deployPath('grafana', 'dashboards', 'portal-failover.json');

export interface DashboardQuery {
  where: string;
  expr: string;
}

export interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type?: string; uid?: string };
  fieldConfig?: { defaults?: { unit?: string; thresholds?: { steps?: unknown[] } } };
  options?: { legend?: { showLegend?: boolean } };
  targets?: { expr?: string; legendFormat?: string; refId?: string; datasource?: { uid?: string } }[];
  gridPos?: { x: number; y: number; w: number; h: number };
}

export interface Dashboard {
  uid: string;
  title: string;
  panels: Panel[];
  templating: { list: { name: string; type: string; definition?: string; query?: unknown }[] };
  annotations: { list: { name: string; expr?: string; datasource?: { uid?: string } }[] };
}

export function loadDashboard(): Dashboard {
  // test/deploy/dashboard.test.ts checks the fields; the cast only names the shape the assertions read.
  return JSON.parse(fs.readFileSync(DASHBOARD, 'utf8')) as Dashboard;
}

/** Every PromQL expression of the dashboard: panel targets and annotation queries. */
export function dashboardQueries(d: Dashboard = loadDashboard()): DashboardQuery[] {
  const out: DashboardQuery[] = [];
  for (const p of d.panels) for (const t of p.targets ?? []) if (t.expr) out.push({ where: `panel "${p.title}" ${t.refId ?? ''}`.trim(), expr: t.expr });
  for (const a of d.annotations.list) if (a.expr) out.push({ where: `annotation "${a.name}"`, expr: a.expr });
  return out;
}
