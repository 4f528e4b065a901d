import { powerdnsProvider } from './powerdns.provider';
import { zonefileProvider } from './zonefile.provider';
import { rfc2136Provider } from './rfc2136.provider';
import { haproxyProvider } from './haproxy.provider';
import { webhookProvider } from './webhook.provider';
import { cloudflareProvider } from './cloudflare.provider';
import { route53Provider } from './route53.provider';
import type { ProviderDefinition, ProviderDeps, StepConfigBase, TrafficProvider } from './provider';

/** Every traffic provider, in one list: adding one touches its own file and this line. */
export const providerDefinitions: readonly ProviderDefinition<never>[] = [
  powerdnsProvider as unknown as ProviderDefinition<never>,
  zonefileProvider as unknown as ProviderDefinition<never>,
  rfc2136Provider as unknown as ProviderDefinition<never>,
  haproxyProvider as unknown as ProviderDefinition<never>,
  webhookProvider as unknown as ProviderDefinition<never>,
  cloudflareProvider as unknown as ProviderDefinition<never>,
  route53Provider as unknown as ProviderDefinition<never>,
];

export function createProvider(step: StepConfigBase, deps: ProviderDeps): TrafficProvider {
  const def = providerDefinitions.find((d) => d.kind === step.kind);
  if (!def) throw new Error(`unknown provider kind "${step.kind}"`);
  return def.create(step as never, deps);
}
