import { z } from 'zod';
import { parseLivenessPublicKey } from '../checks/liveness';
import type { Fields } from './fields';

/** `expect.liveness` of http checks: the portal's Ed25519 public key and how old a token may be. */
export function livenessExpectation(f: Fields) {
  const publicKey = f.nonEmpty().transform((text, ctx) => {
    const parsed = parseLivenessPublicKey(text);
    if (!parsed.ok) {
      ctx.addIssue({ code: 'custom', message: parsed.error });
      return z.NEVER;
    }
    return text.trim();
  });
  return z.strictObject({ publicKey, maxAge: f.duration(1000) });
}
