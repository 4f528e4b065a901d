import { STATUS_CODES } from 'node:http';
import type { Response } from 'express';

/** RFC 9457 media type of every error answer. */
export const PROBLEM_JSON = 'application/problem+json';

/** One input field at fault: the path in the body or query, and why (never the value: it may be a secret). */
export interface FieldProblem {
  path: string;
  message: string;
}

/**
 * An RFC 9457 problem details object. `type` is `about:blank` (the status code says it all), so `title` is the
 * status phrase and `detail` the specific sentence. Extension members: `problems` (one entry per field at fault),
 * `operationId` (the operation that is in the way), and `error`, the same text as `detail`, kept because /api/v1
 * clients written before problem+json read it (deprecated; read `detail`).
 */
export interface ProblemBody {
  type: string;
  title: string;
  status: number;
  detail: string;
  instance?: string;
  problems?: FieldProblem[];
  operationId?: string;
  error: string;
  [extension: string]: unknown;
}

export function problemBody(status: number, detail: string, extra: { problems?: FieldProblem[]; instance?: string } & Record<string, unknown> = {}): ProblemBody {
  const { problems, ...rest } = extra;
  return {
    type: 'about:blank',
    title: STATUS_CODES[status] ?? 'Error',
    status,
    detail,
    ...(problems?.length ? { problems } : {}),
    ...rest,
    error: detail,
  };
}

/** Sends an error answer as application/problem+json. */
export function sendProblem(res: Response, status: number, detail: string, extra: { problems?: FieldProblem[] } & Record<string, unknown> = {}): void {
  res.status(status).type(PROBLEM_JSON).json(problemBody(status, detail, { instance: res.req.originalUrl.split('?')[0], ...extra }));
}
