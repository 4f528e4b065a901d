/** Every Redis key the project writes, in one place, under the configured prefix. */
export function keys(prefix: string) {
  return {
    lease: `${prefix}:controller:lease`,
    fence: `${prefix}:controller:fence`,
    portalState: (portal: string) => `${prefix}:portal:${portal}:state`,
    operation: (id: string) => `${prefix}:operation:${id}`,
    portalOperations: (portal: string) => `${prefix}:portal:${portal}:operations`,
    /** A switchover asked for through the API (or Alertmanager), waiting for the leader to take it. */
    portalIntent: (portal: string) => `${prefix}:portal:${portal}:intent`,
    /** Set by the API, read by the decision: automation paused. */
    portalFreeze: (portal: string) => `${prefix}:portal:${portal}:freeze`,
    /** Set by the API: the last automatic switch is acknowledged, lifting the anti-flap block. */
    portalAck: (portal: string) => `${prefix}:portal:${portal}:ack`,
    /** Risk windows announced through the API (config windows live in the config file). */
    portalRiskWindows: (portal: string) => `${prefix}:portal:${portal}:risk-windows`,
    /**
     * Counted up (INCR) with every write of an intent, freeze, acknowledgement or announced risk window, so the leader
     * re-reads those records of every portal only when one changed (at 12,500 portals, 25,000 keys every tick).
     */
    controlChanged: `${prefix}:control:changed`,
    audit: `${prefix}:audit`,
    /** Taken (SET NX) by the checker process that runs one slot of one shard, so a re-delivered shard job is not run twice. */
    shardClaim: (vantage: string, shard: string, slot: number) => `${prefix}:checker:${vantage}:claim:${shard}:${slot}`,
    /** BullMQ's own prefix; its queues live under it. */
    bull: prefix,
  };
}

export type Keys = ReturnType<typeof keys>;

export const RESULTS_QUEUE = 'results';
export function checksQueueName(vantage: string): string {
  return `checks-${vantage}`;
}
