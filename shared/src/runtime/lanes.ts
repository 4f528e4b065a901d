/**
 * `fn` over every item, at most `lanes` at a time, results in the items' order. For reads per portal: thousands
 * started at once queue their Redis commands behind each other until the last ones pass their command timeout
 * (the API's portal list and the status page answered 503 at 12,500 portals), and hold the event loop meanwhile.
 */
export async function mapInLanes<T, R>(items: readonly T[], lanes: number, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const lane = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i], i);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(lanes, items.length)) }, lane));
  return out;
}
