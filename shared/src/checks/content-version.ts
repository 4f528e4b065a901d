import type { IncomingHttpHeaders } from 'node:http';

/** Where a probe reads a site's content version: a response header, or a JSON pointer into a JSON body. */
export interface VersionSource {
  header?: string;
  jsonPointer?: string;
}

/** Longest version kept: a version travels in every result, so a page dumped into a header must not. */
const MAX_VERSION_LENGTH = 200;

/** RFC 6901 pointer lookup; undefined when a step is missing. */
function resolvePointer(doc: unknown, pointer: string): unknown {
  let at: unknown = doc;
  for (const raw of pointer.split('/').slice(1)) {
    const key = raw.replace(/~1/g, '/').replace(/~0/g, '~');
    if (at === null || typeof at !== 'object' || !Object.prototype.hasOwnProperty.call(at, key)) return undefined;
    at = (at as Record<string, unknown>)[key];
  }
  return at;
}

/** The version a response carries, or why it carries none (for a readiness check, that is its failure). */
export function readVersion(headers: IncomingHttpHeaders, body: Buffer | undefined, source: VersionSource): { ok: true; version: string } | { ok: false; error: string } {
  let value: unknown;
  if (source.header !== undefined) {
    const h = headers[source.header.toLowerCase()];
    value = Array.isArray(h) ? h[0] : h;
    if (value === undefined || value === '') return { ok: false, error: `no ${source.header} header (content version)` };
  } else if (source.jsonPointer !== undefined) {
    if (body === undefined) return { ok: false, error: 'no body to read the content version from' };
    let doc: unknown;
    try {
      doc = JSON.parse(body.toString('utf8'));
    } catch {
      return { ok: false, error: `body is not JSON, so ${source.jsonPointer} (content version) cannot be read` };
    }
    value = resolvePointer(doc, source.jsonPointer);
    if (typeof value !== 'string' && typeof value !== 'number') return { ok: false, error: `no string or number at ${source.jsonPointer} (content version)` };
  } else {
    return { ok: false, error: 'no version source' };
  }
  const version = String(value).trim();
  if (version.length > MAX_VERSION_LENGTH) return { ok: false, error: `content version longer than ${MAX_VERSION_LENGTH} characters` };
  return { ok: true, version };
}
