import { z } from 'zod';
import type { Fields } from './fields';
import type { Secret } from './secret';

/**
 * Declared vantages: the places whose checkers may vote. A result from a vantage not listed here, or not signed
 * with its key, is refused by the controller. Without a list, the single `checker.vantage` is implied and keyed
 * by the installation itself (a key kept in Redis), so a one-machine config needs no new field.
 */
export interface Vantage {
  name: string;
  /** The HMAC key its checkers sign results with; absent for the implied vantage (keyed through Redis). */
  key?: Secret;
  /** A reference URL that should always answer from this vantage; when it does not, the vantage is blind. */
  canary?: string;
  implied: boolean;
}

const VANTAGE_NAME = /^[a-z0-9][a-z0-9_-]{0,62}$/;

export function vantagesSchema(f: Fields) {
  return z
    .array(
      z.strictObject({
        name: z.string().regex(VANTAGE_NAME, 'vantage name must be lower-case letters, digits, - or _, starting with a letter or digit'),
        key: f.secret(),
        canary: f.url().optional(),
      }),
    )
    .min(1, 'declare at least one vantage, or leave vantages out for the single checker.vantage')
    .max(64)
    .superRefine((list, ctx) => {
      const seen = new Set<string>();
      list.forEach((v, i) => {
        if (seen.has(v.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `duplicate vantage "${v.name}"` });
        seen.add(v.name);
      });
    })
    .optional();
}

/** `policy.quorum`: a number of vantages, or `majority` of the declared ones (the default). */
export const quorumSchema = z
  .union([z.int().min(1).max(64), z.literal('majority')], { error: 'must be a number of vantages (1 to 64) or "majority"' })
  .default('majority');

/** The number of agreeing vantages a portal needs, given how many are declared. */
export function resolveQuorum(quorum: number | 'majority', declared: number): number {
  return quorum === 'majority' ? Math.floor(declared / 2) + 1 : quorum;
}

/** The declared vantages, or the implied one. */
export function declaredVantages(list: { name: string; key: Secret; canary?: string }[] | undefined, checkerVantage: string): Vantage[] {
  if (!list) return [{ name: checkerVantage, implied: true }];
  return list.map((v) => ({ name: v.name, key: v.key, canary: v.canary, implied: false }));
}

type Issue = { code: 'custom'; path: (string | number)[]; message: string };

/** Cross-field rules: a quorum no set of declared vantages can reach would leave every site unknown forever. */
export function vantageRules(
  c: { vantages?: { name: string }[]; checker: { vantage: string }; portals: { policy: { quorum: number | 'majority' } }[] },
  ctx: { addIssue(issue: Issue): void },
): void {
  const declared = c.vantages?.length ?? 1;
  c.portals.forEach((p, i) => {
    if (p.policy.quorum !== 'majority' && p.policy.quorum > declared) {
      ctx.addIssue({
        code: 'custom',
        path: ['portals', i, 'policy', 'quorum'],
        message: c.vantages
          ? `must be at most the number of declared vantages (${declared})`
          : `must be 1 without a vantages list (only checker.vantage "${c.checker.vantage}" is implied); declare the vantages to use a larger quorum`,
      });
    }
  });
}
