/**
 * The public page shows facts, never internals. Free text (a freeze reason) is shown only when its author marked
 * it public with a leading `public:`; everything else counts as internal. Even then, anything shaped like a URL,
 * an address or a host:port is cut out, because a reason typed in a hurry is where an address leaks.
 */
const PUBLIC_MARK = /^\s*public:\s*/i;
const URLISH = /\b[a-z][a-z0-9+.-]*:\/\/\S+/gi;
const IPV4 = /\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b/g;
const IPV6 = /\b(?:[0-9a-f]{0,4}:){2,7}[0-9a-f]{0,4}\b/gi;
const HOSTPORT = /\b[a-z0-9.-]+\.[a-z]{2,}:\d{2,5}\b/gi;

export function publicReason(reason: string | undefined): string | undefined {
  if (!reason || !PUBLIC_MARK.test(reason)) return undefined;
  const text = reason.replace(PUBLIC_MARK, '').replace(URLISH, '[…]').replace(HOSTPORT, '[…]').replace(IPV4, '[…]').replace(IPV6, '[…]').trim();
  return text ? text.slice(0, 280) : undefined;
}
