// Kept apart from demo.ts so that defining the demo command (and --help) does not load the demo itself.
import { InvalidArgumentError } from 'commander';

/** Where `demo --keep-running` listens: the API on the CLI's default URL, the sites where config/failover.yaml looks. */
export interface DemoPorts {
  api: number;
  primary: number;
  standby: number;
}
export const DEMO_PORTS: DemoPorts = { api: 8080, primary: 18181, standby: 18182 };

/** Commander parser for `--ports 8080,18181,18182`. */
export function parsePorts(value: string): DemoPorts {
  const n = value.split(',').map((x) => Number(x.trim()));
  if (n.length !== 3 || n.some((x) => !Number.isInteger(x) || x < 1 || x > 65535) || new Set(n).size !== 3) {
    throw new InvalidArgumentError('must be three different ports: api,primary,standby (e.g. 8080,18181,18182)');
  }
  return { api: n[0], primary: n[1], standby: n[2] };
}
