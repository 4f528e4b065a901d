import type { Command } from 'commander';
import { DEFAULT_URL, TOKEN_ENV, URL_ENV } from './common';
import { registerAck } from './ack';
import { registerAudit } from './audit';
import { registerFreeze } from './freeze';
import { registerOperation } from './operation';
import { registerOperations } from './operations';
import { registerRiskWindows } from './risk-windows';
import { registerStatus } from './status';
import { registerSwitchover } from './switchover';
import { registerToken } from './token';
import { registerUnfreeze } from './unfreeze';

/** The on-call commands: everything an operator does during an incident, through the API. */
export function registerOnCallCommands(program: Command): void {
  registerStatus(program);
  registerSwitchover(program);
  registerFreeze(program);
  registerUnfreeze(program);
  registerAck(program);
  registerOperations(program);
  registerOperation(program);
  registerAudit(program);
  registerRiskWindows(program);
  registerToken(program);
  program.addHelpText(
    'after',
    `
Where the on-call commands (status, switchover, freeze, unfreeze, ack, operations, operation, audit, risk-windows) find the
API, first match wins: --url / --token-file; the environment; the context (--context NAME, or \`context use\`).
  ${URL_ENV}       API base URL (default ${DEFAULT_URL})
  ${TOKEN_ENV}     API bearer token. There is deliberately no flag for the token itself: command-line
                            flags end up in shell history and in the process list. Create one with \`token create\`.
  PORTAL_FAILOVER_CONTEXTS  the contexts file (default ~/.config/portal-failover/contexts.yaml)
Exit codes: 0 ok, 1 the API refused or failed (or could not be reached), 2 usage error.`,
  );
}
