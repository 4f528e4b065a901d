import v8 from 'node:v8';

/**
 * How far V8 may let the old generation grow past what survived the last major GC before it collects again, in per
 * cent. V8's own factor goes up to 4× for a process that allocates fast while its GC keeps up: measured at 25,000
 * endpoints, a leader with 230 MB of live objects let its old generation reach 900 MB, and its checker process did
 * the same at a smaller scale, so one `npm start` held 1.6 GiB for about 0.35 GB of data.
 *
 * A controller, API or all-in-one holds much and allocates little per unit of work: 1.5×. A checker holds little and
 * allocates per probe, and when its core is saturated more frequent major GCs cost it probes: in the bench
 * (standalone checker, 25,000 endpoints, a machine it could not keep up on) 1.5× ran about 8 % fewer checks than
 * 4×, 2× about 3 % fewer, at 275, 320 and 470 MiB. So a checker gets 2×.
 */
export const HEAP_GROWING_PERCENT = 50;
export const CHECKER_HEAP_GROWING_PERCENT = 100;

const FLAG = '--heap-growing-percent';

/**
 * Bounds the heap's growth for a long-running service process (checker, controller, API, all-in-one), unless the
 * operator set the flag on the command line (`node --heap-growing-percent=N`), which wins. V8 reads the flag each
 * time it computes the next GC limit, so setting it once the process runs takes effect from the next major GC.
 * Returns the percentage in force when this set it, undefined when the operator's own applies.
 */
export function limitHeapGrowth(execArgv: readonly string[] = process.execArgv, percent = HEAP_GROWING_PERCENT): number | undefined {
  // V8 takes `_` and `-` alike in flag names.
  if (execArgv.some((a) => a.replace(/_/g, '-').split('=')[0] === FLAG)) return undefined;
  v8.setFlagsFromString(`${FLAG}=${percent}`);
  return percent;
}
