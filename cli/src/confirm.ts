import { createInterface } from 'node:readline/promises';
import { UsageError } from './commands/common';

/**
 * Asks before something that moves real traffic. A person at a terminal answers y; a script has no one to ask, so
 * it must say --yes up front: a pipeline that forgot it fails with a usage error instead of hanging on a prompt or,
 * worse, switching without anyone having decided to.
 */
export async function confirm(question: string, input: NodeJS.ReadStream = process.stdin, output: NodeJS.WriteStream = process.stderr): Promise<boolean> {
  if (!input.isTTY) throw new UsageError('--yes: stdin is not a terminal, so there is no one to confirm this switch; add --yes to go ahead');
  const rl = createInterface({ input, output });
  try {
    const answer = await rl.question(`${question} [y/N] `);
    const yes = /^y(es)?$/i.test(answer.trim());
    if (!yes) output.write('not confirmed: nothing was changed\n');
    return yes;
  } finally {
    rl.close();
  }
}
