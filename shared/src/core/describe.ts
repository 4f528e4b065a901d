import type { SiteStatus } from './health';

/** One site's health as a clause of a human sentence ("standby is down (down on v1) [http-0: refused]"). */
export function describeSite(s: SiteStatus): string {
  if (!s.hasData) return `${s.site} has no fresh results`;
  const parts: string[] = [];
  if (s.down.length) parts.push(`down on ${s.down.join(', ')}`);
  if (s.up.length) parts.push(`up on ${s.up.join(', ')}`);
  const other = s.vantages.filter((v) => v.verdict === 'unknown' || v.verdict === 'stale' || v.verdict === 'blind');
  if (other.length) parts.push(`${other.map((v) => `${v.vantage} ${v.verdict}`).join(', ')}`);
  const why = s.vantages.find((v) => v.verdict === 'down')?.detail;
  const wavering = s.status === 'up' && !s.steady ? s.vantages.filter((v) => v.failingNow) : [];
  const newest = wavering.length ? `; its newest probe failed on ${wavering.map((v) => v.vantage).join(', ')} [${wavering[0].detail}]` : '';
  return `${s.site} is ${s.status} (${parts.join('; ')})${why ? ` [${why}]` : ''}${newest}`;
}

export function iso(ms: number): string {
  return new Date(ms).toISOString();
}
