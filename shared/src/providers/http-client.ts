import axios, { type AxiosInstance, type AxiosResponse } from 'axios';
import { requestSignal } from './provider';

/**
 * Outbound HTTP of providers and webhook hooks: one axios instance per use, configured once with its time limit,
 * no redirects (a 3xx from an API is an answer to report, not a place to send credentials) and every status
 * returned rather than thrown, so each caller classifies answers itself. Probes keep their own client
 * (docs/architecture.md says why): they measure, these act.
 */
export interface ProviderHttpOptions {
  /** Time limit of one request; the lease's signal may cut it shorter. */
  timeoutMs: number;
  /** Headers sent with every request (API keys); their values are scrubbed from every error message. */
  headers?: Record<string, string>;
  /** More strings that must never appear in an error (secrets inside URLs). */
  secrets?: string[];
}

export interface ProviderResponse {
  status: number;
  text: string;
  location?: string;
}

export interface ProviderRequest {
  method: 'GET' | 'POST' | 'PATCH' | 'PUT' | 'DELETE';
  url: string;
  headers?: Record<string, string>;
  body?: string;
  /** The lease's signal (ProviderContext.signal); aborts the request when the lease can no longer be trusted. */
  signal?: AbortSignal;
  /** The fencing token of the write, sent as X-Failover-Fencing-Token so receivers can refuse older ones. */
  fencingToken?: number;
}

export const FENCING_TOKEN_HEADER = 'X-Failover-Fencing-Token';

/** Why a request got no answer, in words safe to log (no URL credentials, no header values). */
export class HttpRequestError extends Error {
  constructor(
    message: string,
    readonly timedOut: boolean,
  ) {
    super(message);
    this.name = 'HttpRequestError';
  }
}

export class ProviderHttp {
  // Private (#): the instance holds API keys in its default headers; util.inspect and JSON must not reach them.
  readonly #client: AxiosInstance;
  readonly #secrets: string[];
  readonly #timeoutMs: number;

  constructor(opts: ProviderHttpOptions) {
    this.#timeoutMs = opts.timeoutMs;
    this.#client = axios.create({
      timeout: opts.timeoutMs,
      headers: opts.headers,
      maxRedirects: 0,
      validateStatus: () => true,
      responseType: 'text',
      // The body is read as text and parsed by the caller, which knows what a malformed answer means for it.
      transformResponse: [(data: unknown) => data],
      // No proxy from the environment: an HTTPS_PROXY meant for something else must not see provider keys.
      proxy: false,
    });
    this.#secrets = [...Object.values(opts.headers ?? {}), ...(opts.secrets ?? [])].filter((s) => s.length >= 4);
  }

  async request(req: ProviderRequest): Promise<ProviderResponse> {
    const headers: Record<string, string> = { ...req.headers };
    if (req.fencingToken !== undefined) headers[FENCING_TOKEN_HEADER] = String(req.fencingToken);
    let res: AxiosResponse<string>;
    try {
      res = await this.#client.request<string>({
        method: req.method,
        url: req.url,
        headers,
        data: req.body,
        signal: requestSignal(this.#timeoutMs, req),
      });
    } catch (err) {
      throw this.describe(err);
    }
    const location = res.headers.location;
    return { status: res.status, text: typeof res.data === 'string' ? res.data : String(res.data ?? ''), location: typeof location === 'string' ? location : undefined };
  }

  toJSON(): string {
    return `ProviderHttp(timeout ${this.#timeoutMs}ms)`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toJSON();
  }

  /** Removes every configured secret from a text before it can reach a log, an error or the audit. */
  scrub(text: string): string {
    return this.#secrets.reduce((t, s) => t.split(s).join('***'), text);
  }

  private describe(err: unknown): HttpRequestError {
    if (axios.isCancel(err) || (axios.isAxiosError(err) && (err.code === 'ECONNABORTED' || err.code === 'ETIMEDOUT' || err.code === 'ERR_CANCELED'))) {
      return new HttpRequestError(`no answer within ${this.#timeoutMs}ms or before the lease deadline`, true);
    }
    const e = err as Error & { code?: string; cause?: { code?: string } };
    // axios errors carry the request config (headers included); only the code and message leave this module.
    return new HttpRequestError(this.scrub(e.code ?? e.cause?.code ?? e.message), false);
  }
}
