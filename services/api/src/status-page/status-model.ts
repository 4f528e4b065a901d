import type { Redis } from 'ioredis';
import {
  AvailabilityStore,
  ControlStore,
  DrillStore,
  keys,
  mapInLanes,
  portalModel,
  RiskWindowStore,
  siteStatus,
  windowEndsAt,
  StateStore,
  type Availability,
  type Config,
  type Operation,
  type PortalConfig,
} from '@portal-failover/shared';
import { INCIDENT_TEXT, STATE_TEXT, type IncidentKind, type Lang, type PublicState } from './i18n';
import { publicReason } from './public-text';
import { PORTAL_READ_LANES } from '../portal-view';

/**
 * The public status document (GET /status.json, and what the HTML page renders). Built only from facts safe to
 * publish: portal names, provider labels from the config, states in plain words, times. It never carries check
 * URLs, addresses, routing values, actors, tokens or free-text reasons not marked public. Both languages are in
 * the document, so one exported status.json serves every reader.
 */
export interface PublicIncident {
  kind: IncidentKind;
  title: Record<Lang, string>;
  fromProvider: string;
  toProvider: string;
  firstFailureAt: string | null;
  switchStartedAt: string;
  /** When traffic was verified on the new provider; null while running or when the switch failed. */
  restoredAt: string | null;
  result: 'succeeded' | 'failed' | 'running';
}

export interface PublicPortal {
  id: string;
  name: string;
  state: PublicState;
  stateText: Record<Lang, string>;
  provider: string;
  availability: Availability;
  incidents: PublicIncident[];
  maintenance: { from: string; until: string | null; note: string | null }[];
  lastDrill: { mode: 'dryRun' | 'roundTrip'; at: string } | null;
}

export interface PublicStatus {
  title: string;
  generatedAt: string;
  timeZone: string;
  defaultLanguage: Lang;
  portals: PublicPortal[];
}

const iso = (ms: number | undefined) => (ms === undefined ? null : new Date(ms).toISOString());

function providerOf(p: PortalConfig, site: string): string {
  return p.sites.find((s) => s.name === site)?.provider ?? p.sites[0].provider;
}

function kindOf(op: Operation): IncidentKind {
  if (op.actor.startsWith('drill:')) return 'drill';
  return op.trigger === 'manual' ? 'planned' : 'outage';
}

function incidentOf(p: PortalConfig, op: Operation): PublicIncident | undefined {
  if (op.status !== 'succeeded' && op.status !== 'failed' && op.status !== 'running') return undefined;
  const kind = kindOf(op);
  // The first failed check of the streak: the decision's own record, else the earliest failing vantage seen.
  const failing = Object.values(op.evidence?.sites[op.from]?.vantages ?? {})
    .map((v) => v.failingSince)
    .filter((t): t is number => t !== undefined);
  const firstFailure = op.detectedAt ?? (kind === 'outage' && failing.length ? Math.min(...failing) : undefined);
  return {
    kind,
    title: INCIDENT_TEXT[kind],
    fromProvider: providerOf(p, op.from),
    toProvider: providerOf(p, op.to),
    firstFailureAt: iso(firstFailure),
    switchStartedAt: new Date(op.decidedAt).toISOString(),
    restoredAt: op.status === 'succeeded' ? iso(op.finishedAt) : null,
    result: op.status,
  };
}

export class StatusModel {
  private readonly state: StateStore;
  private readonly control: ControlStore;
  private readonly availability: AvailabilityStore;
  private readonly drills: DrillStore;
  private readonly windows: RiskWindowStore;
  private cached: { at: number; doc: PublicStatus } | undefined;
  private building: Promise<PublicStatus> | undefined;

  constructor(
    private readonly config: Config,
    redis: Redis,
    private readonly now: () => number = Date.now,
    /** The page is public: a burst of readers costs one Redis read per this many ms. */
    private readonly cacheMs = 5_000,
  ) {
    const k = keys(config.redis.prefix);
    this.state = new StateStore(redis, k);
    this.control = new ControlStore(redis, k);
    this.availability = new AvailabilityStore(redis, config.redis.prefix);
    this.drills = new DrillStore(redis, config.redis.prefix);
    this.windows = new RiskWindowStore(redis, k);
  }

  build(): Promise<PublicStatus> {
    const t = this.now();
    if (this.cached && t - this.cached.at < this.cacheMs) return Promise.resolve(this.cached.doc);
    // Readers who come while the page is being read wait for that read instead of starting one each: with
    // thousands of portals one read is many Redis commands, and a burst of readers as the cache expires would
    // multiply them.
    this.building ??= this.read(t).finally(() => (this.building = undefined));
    return this.building;
  }

  private async read(t: number): Promise<PublicStatus> {
    const sp = this.config.statusPage;
    const published = this.config.portals.filter((p) => p.public);
    const controls = await this.control.read(published.map((p) => p.id));
    const portals = await mapInLanes(published, PORTAL_READ_LANES, (p) => this.portal(p, controls.get(p.id)?.freeze, t));
    const doc: PublicStatus = { title: sp.title, generatedAt: new Date(t).toISOString(), timeZone: sp.timeZone, defaultLanguage: sp.defaultLanguage, portals };
    this.cached = { at: t, doc };
    return doc;
  }

  private async portal(p: PortalConfig, freeze: { at: number; until?: number; reason: string } | undefined, t: number): Promise<PublicPortal> {
    const [state, ops, availability, drills, windowsOfPortal] = await Promise.all([
      this.state.loadState(p.id),
      this.state.recentOperations(p.id, 50),
      this.availability.read(p.id, t),
      this.drills.lastSuccess(p.id),
      this.windows.forPortal(p),
    ]);
    // Announced cuts not yet over, as planned maintenance: a citizen should know the service may move or stop
    // then. Only a reason its author marked `public:` is shown, as for a freeze.
    const windows = windowsOfPortal
      .filter((w) => windowEndsAt(w) > t)
      .map((w) => ({ from: new Date(w.startsAt).toISOString(), until: iso(windowEndsAt(w)), note: publicReason(w.reason) ?? null }));
    const model = portalModel(p);
    const active = state?.activeSite ?? p.sites[0].name;
    const activeStatus = state ? siteStatus(state.health, active, model.sites.find((s) => s.name === active)?.checkNames ?? [], model.policy, t).status : undefined;
    let publicState: PublicState;
    if (!state || activeStatus === undefined) publicState = 'unknown';
    else if (state.inflight || state.phase === 'failing_over') publicState = 'switching';
    else if (activeStatus === 'down') publicState = 'disrupted';
    else if (activeStatus !== 'up') publicState = 'unknown';
    else if (state.phase === 'degraded') publicState = 'degraded';
    else if (active !== p.sites[0].name) publicState = 'standby';
    else publicState = 'operational';
    const lastDrill = [drills.roundTrip, drills.dryRun].filter((d) => d !== undefined).sort((a, b) => b.finishedAt - a.finishedAt)[0];
    return {
      id: p.id,
      name: p.name,
      state: publicState,
      stateText: STATE_TEXT[publicState],
      provider: providerOf(p, active),
      availability,
      incidents: ops
        .map((op) => incidentOf(p, op))
        .filter((x): x is PublicIncident => x !== undefined)
        .slice(0, this.config.statusPage.incidents),
      maintenance: [...(freeze ? [{ from: new Date(freeze.at).toISOString(), until: iso(freeze.until), note: publicReason(freeze.reason) ?? null }] : []), ...windows],
      lastDrill: lastDrill ? { mode: lastDrill.mode, at: new Date(lastDrill.finishedAt).toISOString() } : null,
    };
  }
}
