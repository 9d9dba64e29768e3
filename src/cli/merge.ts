/**
 * `vpmu merge FILES... [--json | --html F]`: the shard files of a
 * `vpmu run --samples N --shard i/n --json` job array, combined into the
 * report one `vpmu run --samples N` gives (the same text, JSON and HTML).
 * A file that is not a shard, a shard of another run, a shard given twice or
 * one missing is bad input: one line naming the file, exit 2.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import type { ShardFile } from '../sim/uncertainty-shards.ts';
import { runCommand, UsageError } from './errors.ts';

export async function merge(
  paths: readonly string[],
  options: { json?: boolean; html?: string },
  write: (text: string) => void,
): Promise<number> {
  // Loaded here, not at start-up: `vpmu --help` need not load the simulator.
  const [{ mergeShards, shardFromText }, { emitUncertainty }] = await Promise.all([
    import('../sim/uncertainty-shards.ts'),
    import('./samples.ts'),
  ]);
  const files: ShardFile[] = paths.map((path) => {
    let text: string;
    try {
      text = readFileSync(path, 'utf8');
    } catch (error) {
      throw new UsageError(
        `${path}: expected a readable shard file (got ${(error as NodeJS.ErrnoException).code ?? String(error)})`,
      );
    }
    try {
      return shardFromText(text);
    } catch (error) {
      throw new UsageError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  });
  let report;
  try {
    report = mergeShards(files, paths);
  } catch (error) {
    throw new UsageError(`merge: ${error instanceof Error ? error.message : String(error)}`);
  }
  return emitUncertainty(report, {
    ...(options.json ? { json: true } : {}),
    ...(options.html ? { html: options.html } : {}),
    color: !!process.stdout.isTTY && !process.env.NO_COLOR,
    write,
  });
}

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description(
      'combine the shard files of `vpmu run --samples N --shard i/n --json` into the single-run report',
    )
    .argument('<files...>', 'shard files, one per shard, in any order')
    .option('--json', 'print the merged results as JSON')
    .option('--html <file>', 'write the merged self-contained HTML report')
    .action(async (paths: string[], opts: { json?: boolean; html?: string }) => {
      await runCommand(program.opts().debug === true, () =>
        merge(paths, opts, (t) => process.stdout.write(t)),
      );
    });
}
