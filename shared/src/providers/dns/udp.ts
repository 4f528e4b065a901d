import dgram from 'node:dgram';
import { isIPv6 } from 'node:net';
import { DnsTransportError, type DnsEndpoint } from './client';
import { stallAwareDeadline, stallNote } from '../../runtime/deadline';

/** One datagram out, the first datagram with our id back; anything else from the socket is ignored. */
export function exchangeUdp(server: DnsEndpoint, message: Buffer, timeoutMs: number, signal?: AbortSignal): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(isIPv6(server.host) ? 'udp6' : 'udp4');
    let settled = false;
    const finish = (err: Error | undefined, answer?: Buffer) => {
      if (settled) return;
      settled = true;
      deadline.cancel();
      signal?.removeEventListener('abort', onAbort);
      socket.close();
      if (err) reject(err);
      else resolve(answer!);
    };
    const deadline = stallAwareDeadline(timeoutMs, (stalled) => finish(new DnsTransportError(`no answer within ${timeoutMs}ms${stallNote(stalled)}`, 'ETIMEDOUT')));
    const onAbort = () => finish(new DnsTransportError('aborted', 'ETIMEDOUT'));
    signal?.addEventListener('abort', onAbort, { once: true });
    if (signal?.aborted) onAbort();
    socket.on('message', (msg, from) => {
      // Only the server we asked, and only the answer to our question (an off-path answer is ignored, not judged).
      if (from.port !== server.port || msg.length < 2 || msg.readUInt16BE(0) !== message.readUInt16BE(0)) return;
      finish(undefined, msg);
    });
    socket.on('error', (err: NodeJS.ErrnoException) => finish(new DnsTransportError(err.code ?? err.message, err.code ?? 'EIO')));
    socket.send(message, server.port, server.host);
  });
}
