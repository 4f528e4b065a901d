import type { SiteStatus } from '@portal-failover/shared';
import { takeoverGraceMs, viewIsCurrent } from './takeover-view';

const site = (name: string, verdicts: string[]): SiteStatus =>
  ({ site: name, status: 'unknown', vantages: verdicts.map((verdict, i) => ({ vantage: `v${i}`, verdict })), down: [], up: [], hasData: false, steady: false }) as unknown as SiteStatus;
const SITES = ['primary', 'standby'];
const GRACE = 3_000;

describe('a new leader judges switchover requests only on a current view', () => {
  it.each([
    ['every vantage of every site fresh', { primary: ['up', 'up'], standby: ['up', 'down'] }, 2, 0, true],
    ['blind vantages are current, not stale', { primary: ['blind'], standby: ['up'] }, 1, 0, true],
    ['a quorum fresh, one vantage stale (a dead checker)', { primary: ['up', 'up', 'stale'], standby: ['up', 'stale', 'up'] }, 2, 100, true],
    ['fewer than a quorum fresh right after the takeover', { primary: ['up', 'stale', 'stale'], standby: ['up', 'up', 'up'] }, 2, 100, false],
    ['all stale (the saved health predates the handover gap)', { primary: ['stale'], standby: ['stale'] }, 1, 80, false],
    ['a site with no result at all', { primary: ['up'], standby: [] }, 1, 100, false],
    ['still stale once the grace has passed: judged anyway', { primary: ['stale'], standby: ['stale'] }, 1, GRACE, true],
  ])('%s', (_what, verdicts, quorum, since, current) => {
    const statuses = Object.fromEntries(Object.entries(verdicts).map(([n, v]) => [n, site(n, v)]));
    expect(viewIsCurrent(statuses, SITES, quorum, since, GRACE)).toBe(current);
  });

  it('the grace is staleAfterIntervals of the longest check or readiness interval', () => {
    const check = (interval: number) => ({ interval }) as never;
    expect(takeoverGraceMs({ policy: { staleAfterIntervals: 3 } as never, sites: [{ checks: [check(1_000)], readiness: [check(5_000)] }, { checks: [check(2_000)], readiness: [] }] as never })).toBe(15_000);
  });
});
