/**
 * A flag that takes one value, given twice (`vpmu run --seed 1 --seed 2`):
 * commander keeps the last value, so the first would be dropped without a
 * word. vpmu refuses it instead (exit 2). Flags that take a list (--set) and
 * switches (--json) may repeat.
 */
import type { Option } from 'commander';
import { showValue } from '../common/printable.ts';

/**
 * The first single-value flag among `options` that `args` (the words after
 * `vpmu`) give twice, as a one-line problem; undefined when there is none.
 * Words after `--` are operands, and the word after a flag that takes a
 * value is that value, whatever it looks like (`--seed -1`), as commander
 * reads them.
 */
export function repeatedOption(
  args: readonly string[],
  options: readonly Option[],
): string | undefined {
  const given = new Map<Option, string | undefined>();
  // Non-null assertion: args[i] for i < args.length, a string of argv.
  for (let i = 0; i < args.length; i++) {
    const word = args[i]!;
    if (word === '--') break;
    if (!word.startsWith('-')) continue;
    const eq = word.startsWith('--') ? word.indexOf('=') : -1;
    const flag = eq > 0 ? word.slice(0, eq) : word;
    const option = options.find((o) => o.long === flag || o.short === flag);
    if (!option || !option.required || option.variadic) continue;
    let value: string | undefined;
    if (eq > 0) value = word.slice(eq + 1);
    else value = args[++i];
    if (given.has(option))
      return `error: option '${option.flags}' given twice (${showValue(given.get(option))}, then ${showValue(value)}): it takes one value`;
    given.set(option, value);
  }
  return undefined;
}
