import net from 'node:net';
import { layout, type MessageLayout } from './wire';
import { signMessage, verifyResponse, type TsigKey, type TsigVerdict } from './tsig';
import { stallAwareDeadline, stallNote } from '../../runtime/deadline';

/**
 * One DNS message over TCP (RFC 1035 §4.2.2, RFC 7766): a 2-byte length, the message, and the answer back the
 * same way. TCP rather than UDP for both the update and the read-back, because an answer never gets truncated,
 * an off-path spoofer would have to guess a TCP sequence as well as the id, and every RFC 2136 server accepts it.
 */

export interface DnsEndpoint {
  host: string;
  port: number;
}

/** Could not talk to the server at all (refused, reset, timed out): worth another try later. */
export class DnsTransportError extends Error {
  constructor(
    message: string,
    readonly code: string,
  ) {
    super(message);
    this.name = 'DnsTransportError';
  }
}

/** Largest answer we accept; ours are a handful of records. */
const MAX_MESSAGE = 65_535;

export function exchangeTcp(server: DnsEndpoint, message: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    let settled = false;
    const socket = net.createConnection({ host: server.host, port: server.port });
    const finish = (err: DnsTransportError | undefined, answer?: Buffer) => {
      if (settled) return;
      settled = true;
      deadline.cancel();
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve(answer ?? Buffer.alloc(0));
    };
    const deadline = stallAwareDeadline(timeoutMs, (stalled) => finish(new DnsTransportError(`no answer within ${timeoutMs}ms${stallNote(stalled)}`, 'ETIMEDOUT')));
    // The lease's deadline: the connection is torn down, so a stale update is never sent once it fires.
    const onAbort = () => finish(new DnsTransportError('aborted at the lease deadline', 'ETIMEDOUT'));
    if (signal?.aborted) onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.on('connect', () => {
      const length = Buffer.alloc(2);
      length.writeUInt16BE(message.length);
      socket.write(Buffer.concat([length, message]));
    });
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 2) return;
      const all = Buffer.concat(chunks);
      const want = all.readUInt16BE(0);
      if (want > MAX_MESSAGE) finish(new DnsTransportError(`answer claims ${want} bytes`, 'EPROTO'));
      else if (all.length >= want + 2) finish(undefined, all.subarray(2, want + 2));
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(new DnsTransportError(err.code ?? err.message, err.code ?? 'EIO')));
    socket.on('close', () => finish(new DnsTransportError('connection closed before the answer was complete', 'ECONNRESET')));
  });
}

export interface SignedAnswer {
  wire: Buffer;
  header: MessageLayout;
  tsig: TsigVerdict;
  /** What we sent, signed: tests compare it with the plan. */
  sent: Buffer;
}

/**
 * Signs `message` with `key`, sends it, and checks that the answer is an answer to it (same id, QR set, same
 * opcode) and what its TSIG record says. Whether to trust the answer is the caller's decision: `tsig.status`
 * must be `verified`.
 */
export async function signedExchange(server: DnsEndpoint, message: Buffer, key: TsigKey, timeoutMs: number, now: () => number = Date.now, signal?: AbortSignal): Promise<SignedAnswer> {
  const { wire: sent, mac } = signMessage(message, key, { now: now() / 1000 });
  const wire = await exchangeTcp(server, sent, timeoutMs, signal);
  const header = layout(wire);
  const requestOpcode = (message.readUInt16BE(2) >> 11) & 0xf;
  if (header.id !== message.readUInt16BE(0) || !header.qr || header.opcode !== requestOpcode) {
    throw new DnsTransportError('the answer does not belong to our request (id, QR or opcode differ)', 'EPROTO');
  }
  return { wire, header, tsig: verifyResponse(wire, mac, key, now() / 1000), sent };
}
