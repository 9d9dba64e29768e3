/**
 * `vpmu rn`, `vpmu help bogus`: `run` is the default command, so a first
 * word that is no command is taken as a scenario, and a near miss of a
 * command's name ('rn', 'chek', 'scenario') was answered with the list of
 * built-in scenarios; `help` with a word that is no command printed the
 * whole help with exit 2. Both are one line naming the command meant.
 */
import { existsSync } from 'node:fs';
import { closest } from '../common/spelling.ts';
import { showValue } from '../common/printable.ts';

/**
 * The problem with the first words of `args` (argv after the script), or
 * undefined. `commands` are the command names; `isScenario` says whether a
 * word names a built-in scenario (read only for a near miss).
 */
export async function commandTypo(
  args: readonly string[],
  commands: readonly string[],
  isScenario: (word: string) => Promise<boolean>,
): Promise<string | undefined> {
  // `vpmu --debug rn`: the global flag before the command.
  const [first, second] = args[0] === '--debug' ? args.slice(1) : args;
  if (first === 'help' && second !== undefined && !second.startsWith('-')) {
    if (commands.includes(second)) return undefined;
    const hint = closest(second, commands);
    return `vpmu help: unknown command ${showValue(second)}${hint ? `, did you mean '${hint}'?` : ''} (commands: ${commands.join(', ')})`;
  }
  if (first === undefined || first.startsWith('-') || commands.includes(first)) return undefined;
  // A file of that name, or a built-in scenario, is what the default command runs.
  const hint = closest(first, commands);
  if (hint === undefined || existsSync(first) || (await isScenario(first))) return undefined;
  return `vpmu: unknown command ${showValue(first)}, did you mean '${hint}'? (to run a scenario of that name: vpmu run ${first})`;
}
