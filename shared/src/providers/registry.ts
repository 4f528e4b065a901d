import { powerdnsProvider } from './powerdns.provider';
import { zonefileProvider } from './zonefile';
import { rfc2136Provider } from './rfc2136.provider';
import { haproxyProvider } from './haproxy.provider';
import { webhookProvider } from './webhook.provider';
import { cloudflareProvider } from './cloudflare.provider';
import { route53Provider } from './route53.provider';
import { propagationWatchFor } from './dns-propagation';
import type { ProviderDefinition, ProviderDeps, StepConfigBase, TrafficProvider } from './provider';

/**
 * Every traffic provider, in one list: adding one touches its own file and this list. The config schema, its
 * cross-field rules, createProvider and the conformance suite all read it.
 */
export const providerDefinitions: readonly ProviderDefinition[] = [
  powerdnsProvider,
  zonefileProvider,
  rfc2136Provider,
  haproxyProvider,
  webhookProvider,
  cloudflareProvider,
  route53Provider,
];

export function providerDefinition(kind: string): ProviderDefinition | undefined {
  return providerDefinitions.find((d) => d.kind === kind);
}

export function createProvider(step: StepConfigBase, deps: ProviderDeps): TrafficProvider {
  const def = providerDefinition(step.kind);
  if (!def) throw new Error(`unknown provider kind "${step.kind}"`);
  const provider = def.create(step, deps);
  // One place for every DNS provider: the check reads only the step's record, type and verify fields.
  const watch = propagationWatchFor(step);
  if (watch) provider.propagation = watch;
  return provider;
}
