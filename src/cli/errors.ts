/**
 * Bad input (a CLI argument, a scenario file) is one clear line naming the
 * flag or file and what was expected, exit code 2, no stack trace unless
 * --debug (docs/architecture.md principle 5).
 */
import { abbreviateLines, showValue } from '../common/printable.ts';

export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/**
 * Parse a whole number option, or throw a UsageError naming the flag.
 * Decimal or 0x-hexadecimal, as YAML reads numbers in scenario files and
 * --set values, so a number is spelled the same way everywhere.
 */
export function parseInteger(
  flag: string,
  value: string,
  min: number,
  max = Number.MAX_SAFE_INTEGER,
): number {
  const n = Number(value);
  if (
    !/^(-?\d+|0x[0-9a-f]+)$/i.test(value.trim()) ||
    !Number.isSafeInteger(n) ||
    n < min ||
    n > max
  ) {
    throw new UsageError(
      `${flag}: expected a whole number from ${min} to ${max}, got ${showValue(value)}`,
    );
  }
  return n;
}

/**
 * Problems printed at most per file: a file that is not YAML at all (a
 * README given as the scenario) makes one per line it has, and past the
 * first few they only repeat that; the rest are counted.
 */
export const MAX_PROBLEMS_PER_FILE = 20;

/**
 * Problems as lines, each file's first MAX_PROBLEMS_PER_FILE and then how
 * many more it has; files in the order their first problem comes.
 */
export function problemLines<P extends { file: string }>(
  problems: readonly P[],
  format: (problem: P) => string,
): string {
  const byFile = new Map<string, P[]>();
  for (const p of problems) {
    const list = byFile.get(p.file);
    if (list) list.push(p);
    else byFile.set(p.file, [p]);
  }
  const lines: string[] = [];
  for (const [file, list] of byFile) {
    lines.push(...list.slice(0, MAX_PROBLEMS_PER_FILE).map(format));
    const more = list.length - MAX_PROBLEMS_PER_FILE;
    if (more > 0)
      lines.push(
        `${file}: ... and ${more} more problem${more === 1 ? '' : 's'} (${list.length} in all)`,
      );
  }
  return lines.join('\n');
}

/** Resolves once everything written to a stream so far has been handed to the OS. */
function drained(stream: NodeJS.WriteStream): Promise<void> {
  return new Promise((resolve) => stream.write('', () => resolve()));
}

/**
 * Exit with `code` once stdout and stderr have taken everything written: a
 * pipe accepts 64 KiB at a time, and exiting earlier would cut the output.
 */
async function exitWhenDrained(code: number): Promise<never> {
  await Promise.all([drained(process.stdout), drained(process.stderr)]);
  process.exit(code);
}

/** Run a command body: bad input (usage, scenario) exits 2, a line per problem; anything else is a bug (exit 1). */
export async function runCommand(
  debug: boolean,
  body: () => Promise<number> | number,
): Promise<never> {
  let code: number;
  try {
    code = await body();
  } catch (error) {
    if (error instanceof UsageError) {
      process.stderr.write(`vpmu: ${abbreviateLines(error.message)}\n`);
      if (debug) process.stderr.write(`${error.stack}\n`);
      return exitWhenDrained(2);
    }
    // Loaded only on this path: it brings the YAML parser, which --help does not need.
    const { ScenarioError, formatProblem } = await import('../sim/scenario-errors.ts');
    if (error instanceof ScenarioError) {
      // One line per problem, each 'file:line:column: field: ...'.
      process.stderr.write(`${abbreviateLines(problemLines(error.problems, formatProblem))}\n`);
      if (debug) process.stderr.write(`${error.stack}\n`);
      return exitWhenDrained(2);
    }
    process.stderr.write(
      `vpmu: internal error: ${abbreviateLines(error instanceof Error ? error.message : String(error))}\n`,
    );
    if (debug && error instanceof Error) process.stderr.write(`${error.stack}\n`);
    else process.stderr.write('(run with --debug for the stack trace)\n');
    return exitWhenDrained(1);
  }
  return exitWhenDrained(code);
}
