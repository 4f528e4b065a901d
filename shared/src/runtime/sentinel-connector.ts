import type { Socket } from 'node:net';
import { SentinelConnector, type SentinelConnectionOptions } from 'ioredis';

interface Detector {
  cleanup(): void;
}

function isDetector(v: unknown): v is Detector {
  return typeof v === 'object' && v !== null && typeof (v as { cleanup?: unknown }).cleanup === 'function';
}

/**
 * ioredis's Sentinel connector with its failover detector (the +switch-master subscription) bound to the master
 * connection it was made for. In ioredis 6.0.0 a detector outlives that connection: when the master dies, its
 * subscriptions stay until a new connection is made. The Sentinels then announce the promotion, the stale detector
 * disconnects the connector, and if that lands while the client is asking a Sentinel for the master (each reconnect
 * attempt does), the connect fails with "Connection is closed." and the client ends for good: it never reconnects,
 * and every later command fails with that message. The Sentinel e2e test saw it in 3 of 13 runs.
 *
 * Here the detector is cleaned up when its connection closes, which is redis/ioredis#2198 (merged September 2026,
 * in no release yet). Passed to ioredis as `Connector`, so BullMQ's duplicated connections get it too.
 */
export class StreamBoundSentinelConnector extends SentinelConnector {
  // ioredis constructs a `Connector` with all of the client's options, which include the Sentinel ones.
  constructor(options: unknown) {
    super(options as SentinelConnectionOptions);
  }

  override async connect(...args: Parameters<SentinelConnector['connect']>): ReturnType<SentinelConnector['connect']> {
    const stream = await super.connect(...args);
    // The parent's own listener for this event (registered in connect) runs first and installs the detector for
    // this connection synchronously, before its first await; this one therefore sees that detector.
    const connected = this.options.enableTLSForSentinelMode && this.options.tls ? 'secureConnect' : 'connect';
    (stream as Socket).once(connected, () => {
      const detector: unknown = Reflect.get(this, 'failoverDetector');
      if (isDetector(detector)) stream.once('close', () => detector.cleanup());
    });
    return stream;
  }
}
