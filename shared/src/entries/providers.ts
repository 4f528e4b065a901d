/** Entry point @portal-failover/shared/providers: the provider interface, the registry and each provider's config. SDKs load when a step of their kind is created. */
export * from '../providers/provider';
export * from '../providers/http-client';
export * from '../providers/registry';
export * from '../providers/dns-record';
export * from '../providers/dns-propagation';
export * from '../providers/powerdns.provider';
export * from '../providers/zonefile';
export * from '../providers/rfc2136.provider';
export * from '../providers/haproxy.provider';
export * from '../providers/webhook.provider';
export * from '../providers/cloudflare.provider';
export * from '../providers/route53.provider';
