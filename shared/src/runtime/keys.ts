/** Every Redis key the project writes, in one place, under the configured prefix. */
export function keys(prefix: string) {
  return {
    lease: `${prefix}:controller:lease`,
    fence: `${prefix}:controller:fence`,
    portalState: (portal: string) => `${prefix}:portal:${portal}:state`,
    operation: (id: string) => `${prefix}:operation:${id}`,
    portalOperations: (portal: string) => `${prefix}:portal:${portal}:operations`,
    /** BullMQ's own prefix; its queues live under it. */
    bull: prefix,
  };
}

export type Keys = ReturnType<typeof keys>;

export const RESULTS_QUEUE = 'results';
export function checksQueueName(vantage: string): string {
  return `checks-${vantage}`;
}
