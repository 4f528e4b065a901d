/**
 * The CLI's only way to the API: one axios instance with a per-request timeout (axios, as for every outbound call
 * the product makes, except probes), the bearer token, and errors turned into messages an on-call person can act on.
 * The token is only ever put in the Authorization header; no message, error or debug path here includes it (axios
 * errors carry the request config, so they are turned into our own errors here and never rethrown).
 */
import type { AxiosInstance, AxiosResponse } from 'axios';

import type { z } from 'zod';
import type { ApiSchemas } from '@portal-failover/api';

/**
 * Response shapes: derived from the API's own zod schemas (services/api/src/schemas.ts), the same ones the API
 * validates with and documents in OpenAPI, so the CLI cannot drift from what the API answers.
 */
type Out<T extends z.ZodType> = z.output<T>;
type ApiProblemDetails = Out<typeof ApiSchemas.ErrorResponse>;
export type ApiProblem = NonNullable<ApiProblemDetails['problems']>[number];
/** What the CLI keeps of an RFC 9457 answer: its sentence (`detail`), the fields at fault, the operation in the way. */
export interface ApiErrorBody {
  error: string;
  problems?: ApiProblem[];
  operationId?: string;
}
export type ApiOperation = Out<typeof ApiSchemas.OperationResponse>;
export type ApiStep = ApiOperation['steps'][number];
export type OperationStatus = ApiOperation['status'];
export type ApiPortal = Out<typeof ApiSchemas.PortalResponse>;
export type ApiVantage = ApiPortal['sites'][number]['vantages'][number];
export type ApiFreeze = NonNullable<ApiPortal['frozen']>;
export type ApiDryRun = Out<typeof ApiSchemas.DryRunResponse>;
export type ApiAuditPage = Out<typeof ApiSchemas.AuditResponse>;
export type ApiAuditEntry = ApiAuditPage['entries'][number];
export type ApiAuditVerify = Out<typeof ApiSchemas.AuditVerifyResponse>;
export type ApiEvidence = Out<typeof ApiSchemas.EvidenceResponse>;
export type ApiRiskWindows = Out<typeof ApiSchemas.RiskWindowListResponse>;
export type ApiRiskWindow = Out<typeof ApiSchemas.RiskWindowResponse>;

/** Long enough for a slow Redis behind the API, short enough that a hung connection does not stall an incident. */
export const REQUEST_TIMEOUT_MS = 15_000;

/** The API answered with an error status; `problems` name the fields at fault. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.error);
  }
}

/** The API could not be reached or did not answer in time; the message names the URL. */
export class ConnectionError extends Error {}

/** `http://user:pw@host/` must never reach a terminal or a log with its credentials. */
export function displayUrl(url: string): string {
  try {
    const u = new URL(url);
    u.username = '';
    u.password = '';
    return u.toString().replace(/\/$/, '');
  } catch {
    return url;
  }
}

type Query = Record<string, string | number | undefined>;

export class ApiClient {
  private readonly base: string;
  // Private (#): the instance holds the token in its default headers; util.inspect and JSON must not reach it.
  readonly #http: AxiosInstance;

  constructor(
    baseUrl: string,
    token: string | undefined,
    private readonly timeoutMs = REQUEST_TIMEOUT_MS,
  ) {
    this.base = baseUrl.replace(/\/+$/, '');
    // Loaded when a command first talks to the API: --help and the commands that do not must not pay for axios.
    const { default: axios } = require('axios') as typeof import('axios');
    this.#http = axios.create({
      timeout: timeoutMs,
      headers: { accept: 'application/json, application/problem+json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      // The API never redirects; a 3xx comes from something in front of it, and the token must not follow it there.
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'text',
      transformResponse: [(data: unknown) => data],
    });
  }

  get url(): string {
    return displayUrl(this.base);
  }

  get<T>(path: string, query: Query = {}): Promise<T> {
    return this.request<T>('GET', path, undefined, query);
  }

  post<T>(path: string, body: object): Promise<T> {
    return this.request<T>('POST', path, body);
  }

  delete<T>(path: string, body: object): Promise<T> {
    return this.request<T>('DELETE', path, body);
  }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, body?: object, query: Query = {}): Promise<T> {
    const qs = new URLSearchParams();
    for (const [k, v] of Object.entries(query)) if (v !== undefined) qs.set(k, String(v));
    const target = `${this.base}${path}${qs.size ? `?${qs}` : ''}`;
    let res: AxiosResponse<string>;
    try {
      res = await this.#http.request<string>({
        method,
        url: target,
        data: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? {} : { 'content-type': 'application/json' },
      });
    } catch (err) {
      throw new ConnectionError(this.unreachable(err));
    }
    const text = typeof res.data === 'string' ? res.data : '';
    let parsed: unknown;
    try {
      parsed = text ? JSON.parse(text) : undefined;
    } catch {
      // A proxy or load balancer in front of the API answers HTML; say so rather than "Unexpected token <".
      throw new ApiError(res.status, { error: `HTTP ${res.status} from ${this.url}${path} is not JSON: is ${this.url} the portal-failover API?` });
    }
    if (res.status < 200 || res.status >= 300) throw new ApiError(res.status, errorBody(res.status, parsed));
    return parsed as T;
  }

  private unreachable(err: unknown): string {
    const e = err as Error & { code?: string; cause?: { code?: string; message?: string } };
    if (e.code === 'ECONNABORTED' || (e.code === 'ETIMEDOUT' && /timeout/i.test(e.message))) return `no answer from the API at ${this.url} within ${this.timeoutMs / 1000}s`;
    const cause = e.code ?? e.cause?.code ?? e.cause?.message ?? e.message;
    const why: Record<string, string> = {
      ECONNREFUSED: 'connection refused',
      ENOTFOUND: 'host not found',
      EAI_AGAIN: 'DNS lookup failed',
      ECONNRESET: 'connection reset',
      ETIMEDOUT: 'connection timed out',
      EHOSTUNREACH: 'host unreachable',
    };
    return `cannot reach the API at ${this.url}: ${why[cause] && why[cause] !== cause ? `${why[cause]} (${cause})` : cause}; check --url or PORTAL_FAILOVER_URL`;
  }
}

function errorBody(status: number, parsed: unknown): ApiErrorBody {
  if (parsed && typeof parsed === 'object') {
    const b = parsed as Partial<Record<'detail' | 'error' | 'operationId', unknown>> & { problems?: unknown };
    // problem+json's `detail`; `error` is what API versions before RFC 9457 answers sent.
    const text = typeof b.detail === 'string' ? b.detail : typeof b.error === 'string' ? b.error : undefined;
    if (text !== undefined) {
      return { error: text, problems: Array.isArray(b.problems) ? (b.problems as ApiProblem[]) : undefined, operationId: typeof b.operationId === 'string' ? b.operationId : undefined };
    }
  }
  return { error: `HTTP ${status}` };
}
