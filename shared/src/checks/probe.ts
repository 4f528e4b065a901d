import type { CheckConfig } from '../config/schema';
import type { ProbeOutcome } from '../core/observation';
import { probeHttp } from './http.check';
import { probeTcp, type ProbeOptions } from './tcp.check';
import { probeTls } from './tls.check';
import { probeDns } from './dns.check';

export type { ProbeOptions } from './tcp.check';

/** Runs one probe of any check type; like the probes themselves it never rejects. */
export function probe(check: CheckConfig, opts: ProbeOptions = {}): Promise<ProbeOutcome> {
  switch (check.type) {
    case 'http':
      return probeHttp(check, opts);
    case 'tcp':
      return probeTcp(check, opts);
    case 'tls':
      return probeTls(check, opts);
    case 'dns':
      return probeDns(check, opts);
    default: {
      // Unreachable for validated config; guards hand-built objects from JavaScript callers.
      const type: unknown = (check as { type?: unknown }).type;
      return Promise.resolve({ ok: false, durationMs: 0, reason: 'error', detail: `unknown check type ${JSON.stringify(type)}` });
    }
  }
}
