import type { z } from 'zod';

/** An answer other than 2xx that a handler chooses on purpose; the error middleware turns it into JSON. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly problems?: { path: string; message: string }[],
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function path(p: readonly PropertyKey[]): string {
  return p.map((s) => (typeof s === 'number' ? `[${s}]` : String(s))).join('.').replace(/\.\[/g, '[') || '(body)';
}

/** Validates input; on failure a 400 naming each field and reason (never the value: it may be a secret). */
export function parseOr400<T extends z.ZodType>(schema: T, input: unknown, where: 'body' | 'query'): z.output<T> {
  const r = schema.safeParse(input ?? {}, { reportInput: true });
  if (r.success) return r.data;
  const problems = r.error.issues.map((i) => {
    let message = i.message;
    if (i.code === 'unrecognized_keys') message = `unknown field${i.keys.length > 1 ? 's' : ''} ${i.keys.map((k) => `"${k}"`).join(', ')}`;
    // Only the input's type is looked at, never echoed: it may be a secret.
    else if (i.code === 'invalid_type' && (i as { input?: unknown }).input === undefined) message = 'is required';
    else if (i.code === 'invalid_type') message = `must be ${i.expected === 'object' ? 'a JSON object' : `a ${i.expected}`}`;
    return { path: path(i.path) === '(body)' && where === 'query' ? '(query)' : path(i.path), message };
  });
  throw new HttpError(400, `invalid ${where}`, problems);
}
