import net from 'node:net';

/**
 * A DNS-over-TCP proxy in front of a real server that records every message clients send and can rewrite the
 * server's answers. Tests count the UPDATE messages a provider really sent (not what it says it sent), compare
 * them with the plan, and corrupt an answer's TSIG MAC to prove such an answer is never taken for success.
 *
 * The decoding here is deliberately separate from the provider's own wire code, so a bug there cannot hide
 * itself in the test.
 */

export interface DnsProxy {
  host: '127.0.0.1';
  port: number;
  server: string;
  /** Every client message, in order. */
  messages: Buffer[];
  /** Every server answer, in order, as the server sent it (before `rewrite`). */
  answers: Buffer[];
  /** Answers are passed through this before reaching the client. */
  rewrite: ((answer: Buffer) => Buffer) | undefined;
  /**
   * Called with each client message before it is forwarded; a promise it returns holds the message (a write in
   * flight on a slow network) until it settles. Messages of one connection keep their order.
   */
  hold: ((msg: Buffer) => Promise<void> | void) | undefined;
  close(): Promise<void>;
}

export async function startDnsTcpProxy(upstream: { host: string; port: number }): Promise<DnsProxy> {
  const sockets = new Set<net.Socket>();
  const proxy: DnsProxy = {
    host: '127.0.0.1',
    port: 0,
    server: '',
    messages: [],
    answers: [],
    rewrite: undefined,
    hold: undefined,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
  const server = net.createServer((client) => {
    sockets.add(client);
    // Connected when the first message is forwarded: a message held for longer than the server's TCP idle
    // timeout must still reach it.
    let up: net.Socket | undefined;
    const drop = () => {
      client.destroy();
      up?.destroy();
    };
    const upstreamSocket = (): net.Socket => {
      if (up) return up;
      const s = net.createConnection(upstream);
      sockets.add(s);
      s.on('error', drop);
      s.on('close', () => { sockets.delete(s); client.destroy(); });
      framed(s, (msg) => {
        proxy.answers.push(msg);
        client.write(frame(proxy.rewrite ? proxy.rewrite(msg) : msg));
      });
      return (up = s);
    };
    client.on('error', drop);
    client.on('close', () => { sockets.delete(client); up?.destroy(); });
    let queue = Promise.resolve();
    framed(client, (msg) => {
      proxy.messages.push(msg);
      queue = queue.then(async () => {
        await proxy.hold?.(msg);
        // A client that gave up while its message was held never sent it, as far as the server is concerned.
        if (!client.destroyed) upstreamSocket().write(frame(msg));
      });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.address();
  proxy.port = typeof address === 'object' && address ? address.port : 0;
  proxy.server = `127.0.0.1:${proxy.port}`;
  return proxy;
}

function frame(msg: Buffer): Buffer {
  const len = Buffer.alloc(2);
  len.writeUInt16BE(msg.length);
  return Buffer.concat([len, msg]);
}

/** Calls `onMessage` for each 2-byte-length-prefixed message read from the socket. */
function framed(socket: net.Socket, onMessage: (msg: Buffer) => void): void {
  let pending = Buffer.alloc(0);
  socket.on('data', (chunk: Buffer) => {
    pending = Buffer.concat([pending, chunk]);
    while (pending.length >= 2 && pending.length >= 2 + pending.readUInt16BE(0)) {
      const len = pending.readUInt16BE(0);
      onMessage(pending.subarray(2, 2 + len));
      pending = pending.subarray(2 + len);
    }
  });
}

export interface WireRecord {
  /** Offset of the record in the message. */
  offset: number;
  name: string;
  type: number;
  cls: number;
  ttl: number;
  rdata: Buffer;
}

export interface WireMessage {
  id: number;
  opcode: number;
  rcode: number;
  zone: { name: string; type: number; cls: number }[];
  answers: WireRecord[];
  authorities: WireRecord[];
  additionals: WireRecord[];
}

function readName(buf: Buffer, offset: number): { name: string; end: number } {
  const labels: string[] = [];
  let pos = offset;
  let end = -1;
  for (let hops = 0; hops < 100; hops++) {
    const len = buf[pos];
    if (len === 0) return { name: `${labels.join('.')}.`.toLowerCase(), end: end === -1 ? pos + 1 : end };
    if ((len & 0xc0) === 0xc0) {
      if (end === -1) end = pos + 2;
      pos = ((len & 0x3f) << 8) | buf[pos + 1];
      continue;
    }
    labels.push(buf.toString('latin1', pos + 1, pos + 1 + len));
    pos += 1 + len;
  }
  throw new Error('name loop');
}

/** Decodes a message into sections with raw record data (enough to check an UPDATE field by field). */
export function decodeWire(buf: Buffer): WireMessage {
  const flags = buf.readUInt16BE(2);
  const counts = [4, 6, 8, 10].map((o) => buf.readUInt16BE(o));
  let pos = 12;
  const zone: WireMessage['zone'] = [];
  for (let i = 0; i < counts[0]; i++) {
    const n = readName(buf, pos);
    zone.push({ name: n.name, type: buf.readUInt16BE(n.end), cls: buf.readUInt16BE(n.end + 2) });
    pos = n.end + 4;
  }
  const section = (count: number): WireRecord[] => {
    const out: WireRecord[] = [];
    for (let i = 0; i < count; i++) {
      const n = readName(buf, pos);
      const rdlength = buf.readUInt16BE(n.end + 8);
      out.push({
        offset: pos,
        name: n.name,
        type: buf.readUInt16BE(n.end),
        cls: buf.readUInt16BE(n.end + 2),
        ttl: buf.readUInt32BE(n.end + 4),
        rdata: buf.subarray(n.end + 10, n.end + 10 + rdlength),
      });
      pos = n.end + 10 + rdlength;
    }
    return out;
  };
  const answers = section(counts[1]);
  const authorities = section(counts[2]);
  const additionals = section(counts[3]);
  return { id: buf.readUInt16BE(0), opcode: (flags >> 11) & 0xf, rcode: flags & 0xf, zone, answers, authorities, additionals };
}

export const DNS_TYPE: Record<string, number> = { A: 1, CNAME: 5, SOA: 6, TXT: 16, AAAA: 28, TSIG: 250, ANY: 255 };
export const DNS_CLASS = { IN: 1, NONE: 254, ANY: 255 };
