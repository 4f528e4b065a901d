import net from 'node:net';

/**
 * The HAProxy runtime API (the `stats socket`), one command per connection: write `cmd\n`, read until HAProxy
 * closes the connection (shared/recipes/haproxy.md). Works over a unix socket or TCP alike.
 */

export type SocketAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

/** `unix:/run/haproxy/admin.sock` or `tcp:127.0.0.1:9999` (`tcp:[::1]:9999` for IPv6). */
export function parseSocketAddress(text: string): SocketAddress | undefined {
  if (text.startsWith('unix:')) {
    const path = text.slice('unix:'.length);
    return path.startsWith('/') ? { kind: 'unix', path } : undefined;
  }
  if (text.startsWith('tcp:')) {
    const m = /^\[?([^\]]+?)\]?:(\d{1,5})$/.exec(text.slice('tcp:'.length));
    if (!m) return undefined;
    const port = Number(m[2]);
    return port >= 1 && port <= 65535 ? { kind: 'tcp', host: m[1], port } : undefined;
  }
  return undefined;
}

export class RuntimeApiError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'RuntimeApiError';
  }
}

/** HAProxy answers a few KB here; a runaway answer (e.g. "show sess" on a busy proxy) must not fill memory. */
const MAX_REPLY = 16 * 1024 * 1024;

export function runtimeCommand(address: SocketAddress, command: string, timeoutMs: number, signal?: AbortSignal): Promise<string> {
  return new Promise<string>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    let settled = false;
    const socket = address.kind === 'unix' ? net.createConnection({ path: address.path }) : net.createConnection({ host: address.host, port: address.port });
    const finish = (err: RuntimeApiError | undefined) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(Buffer.concat(chunks).toString('utf8'));
    };
    const timer = setTimeout(() => finish(new RuntimeApiError(`no complete answer within ${timeoutMs}ms`, 'ETIMEDOUT')), timeoutMs);
    // The lease's deadline: past it the command must not reach HAProxy, or must be cut off.
    const onAbort = () => finish(new RuntimeApiError('aborted at the lease deadline', 'ETIMEDOUT'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => socket.write(`${command}\n`));
    socket.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > MAX_REPLY) finish(new RuntimeApiError(`answer larger than ${MAX_REPLY} bytes`, 'EPROTO'));
      else chunks.push(chunk);
    });
    socket.on('end', () => finish(undefined));
    socket.on('error', (err: NodeJS.ErrnoException) => finish(new RuntimeApiError(err.code ?? err.message, err.code ?? 'EIO')));
    socket.on('close', () => finish(undefined));
  });
}

/** One row of `show servers state` (format version 1), the columns this provider uses. */
export interface ServerStateRow {
  backend: string;
  server: string;
  /** srv_op_state: 0 stopped (DOWN), 1 starting, 2 running (UP), 3 stopping. */
  opState: number;
  /** srv_admin_state bit field (SRV_ADMF_* in haproxy's server-t.h). */
  adminState: number;
}

// SRV_ADMF_MAINT (0x23) = FMAINT | IMAINT | RMAINT, HAProxy's own "in maintenance" mask. SRV_ADMF_CMAINT (0x04)
// alone only records "disabled in the config" (HAProxy keeps it after `state ready`), and SRV_ADMF_HMAINT (0x40)
// only means the FQDN was set over the socket: neither keeps traffic away.
const MAINT_BITS = 0x01 | 0x02 | 0x20;
// SRV_ADMF_FDRAIN | SRV_ADMF_IDRAIN.
const DRAIN_BITS = 0x08 | 0x10;

export type AdminMode = 'ready' | 'maint' | 'drain';

export function adminMode(adminState: number): AdminMode {
  if (adminState & MAINT_BITS) return 'maint';
  if (adminState & DRAIN_BITS) return 'drain';
  return 'ready';
}

export function opStateName(opState: number): string {
  return ['DOWN', 'STARTING', 'UP', 'STOPPING'][opState] ?? `op_state ${opState}`;
}

/**
 * Parses `show servers state [backend]`: a version line ("1"), a "# be_id be_name srv_id srv_name ..." header,
 * then one space-separated row per server. Returns undefined when the text is not that (an error reply).
 */
export function parseServersState(text: string): ServerStateRow[] | undefined {
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  if (lines[0] !== '1') return undefined;
  const rows: ServerStateRow[] = [];
  for (const line of lines.slice(1)) {
    if (line.startsWith('#')) continue;
    const f = line.split(/\s+/);
    if (f.length < 7) return undefined;
    const opState = Number(f[5]);
    const adminState = Number(f[6]);
    if (!Number.isInteger(opState) || !Number.isInteger(adminState)) return undefined;
    rows.push({ backend: f[1], server: f[3], opState, adminState });
  }
  return rows;
}
