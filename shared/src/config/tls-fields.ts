import { z } from 'zod';
import { parsePin } from '../checks/tls-identity';
import type { Fields } from './fields';

/** SPKI pins as people copy them (base64 or hex SHA-256), stored in one canonical base64 form. */
export function spkiPins() {
  const pin = z.string().transform((text, ctx) => {
    const canonical = parsePin(text);
    if (canonical === undefined) {
      ctx.addIssue({
        code: 'custom',
        message: `"${text}" is not a SHA-256 SPKI pin: write 44 base64 characters (openssl ... | openssl dgst -sha256 -binary | base64) or 64 hex digits`,
      });
      return z.NEVER;
    }
    return canonical;
  });
  return z.array(pin).min(1, 'list at least one pin, or leave spkiSha256 out');
}

/** A host name or address to connect to; a URL here is a common slip (copied from an http check) and is named as such. */
export function connectHost(f: Fields) {
  return f.nonEmpty().pipe(
    z.string().refine((h) => !/^[a-z][a-z0-9+.-]*:\/\//i.test(h), 'must be a host name or address, not a URL (this check connects to host:port)'),
  );
}
