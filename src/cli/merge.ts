/**
 * `vpmu merge FILES... [--json | --html F]`: the shard files of a job array,
 * combined into the report one process gives: the shards of
 * `vpmu run --samples N --shard i/n --json` into the `vpmu run --samples N`
 * report, the shards of `vpmu run --sweep ... --shard i/n --json` into the
 * sweep's (the same JSON; text and HTML rendered from it). A file that is not
 * a shard, a shard of another run, a shard given twice or one missing is bad
 * input: one line naming the file, exit 2.
 */
import type { Command } from 'commander';
import type { ShardFile } from '../sim/uncertainty-shards.ts';
import type { UncertaintyReport } from '../sim/uncertainty.ts';
import type { SimulationReport } from '../sim/results.ts';
import { runCommand, UsageError } from './errors.ts';
import { item } from '../common/item.ts';
import { printable } from '../common/printable.ts';
import { readTextFile } from '../common/text-file.ts';

interface MergeOptions {
  json?: boolean;
  html?: string;
}

/** Why a merge failed, as one line for the user (a file's bytes quoted in it made printable). */
const reason = (error: unknown) =>
  printable(error instanceof Error ? error.message : String(error));

function readShardText(path: string): string {
  const file = readTextFile(path, 'shard file');
  if ('text' in file) return file.text;
  const where = file.line !== undefined ? `${path}:${file.line}:${file.column}` : path;
  throw new UsageError(`${where}: ${file.problem}`);
}

/**
 * Read each shard with `parse` (a problem names its file), then merge them
 * (a problem names the shard set): bad input either way, exit 2.
 */
function readAndMerge<T, F, R>(
  paths: readonly string[],
  inputs: readonly T[],
  parse: (input: T) => F,
  mergeAll: (files: F[], names: readonly string[]) => R,
): R {
  const files = inputs.map((input, i) => {
    try {
      return parse(input);
    } catch (error) {
      throw new UsageError(`${item(paths, i)}: ${reason(error)}`);
    }
  });
  try {
    return mergeAll(files, paths);
  } catch (error) {
    throw new UsageError(`merge: ${reason(error)}`);
  }
}

/** The shards of a sweep, put back in the order of their values. */
async function mergeSweep(
  paths: readonly string[],
  data: readonly unknown[],
  options: MergeOptions,
  write: (text: string) => void,
): Promise<number> {
  const [{ mergeSweepShards, sweepShardFromJson }, { orderingCheck }, { renderSweepText }] =
    await Promise.all([
      import('../report/sweep-shards.ts'),
      import('../sim/ordering.ts'),
      import('../report/text.ts'),
    ]);
  const merged = readAndMerge(paths, data, sweepShardFromJson, mergeSweepShards);
  const reports: SimulationReport[] = merged.json.runs;
  if (options.html) {
    const { writeOutputFile } = await import('./output-files.ts');
    const { renderSweepHtml } = await import('../report/html.ts');
    writeOutputFile('--html', options.html, await renderSweepHtml(reports, merged.summary));
  }
  write(
    options.json
      ? `${JSON.stringify(merged.json, null, 2)}\n`
      : renderSweepText(reports, merged.summary),
  );
  return reports.every((r) => orderingCheck(r).ok) ? 0 : 1;
}

export async function merge(
  paths: readonly string[],
  options: MergeOptions,
  write: (text: string) => void,
): Promise<number> {
  if (options.html !== undefined) {
    const { checkOutputPath } = await import('./output-files.ts');
    checkOutputPath(
      '--html',
      options.html,
      paths.map((path) => ({ path, is: 'one of the shard files' })),
    );
  }
  const texts = paths.map(readShardText);
  const { looksLikeSweepShard } = await import('../report/sweep-shards.ts');
  // Parsed once: a sweep shard is plain JSON (the samples reader parses its own format).
  const data = texts.map((text): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return undefined; // not JSON: the samples reader below says so
    }
  });
  const isSweep = data.map(looksLikeSweepShard);
  if (isSweep.some(Boolean)) {
    const other = isSweep.findIndex((sweep) => !sweep);
    if (other >= 0)
      throw new UsageError(
        `${item(paths, other)}: expected a shard of the same sweep as ${item(paths, isSweep.indexOf(true))} (got another kind of file)`,
      );
    return mergeSweep(paths, data, options, write);
  }
  // Loaded here, not at start-up: `vpmu --help` need not load the simulator.
  const [{ mergeShards, shardFromText }, { emitUncertainty }, { checkNominalReport }] =
    await Promise.all([
      import('../sim/uncertainty-shards.ts'),
      import('./samples.ts'),
      import('../sim/report-schema.ts'),
    ]);
  const report = readAndMerge<string, ShardFile, UncertaintyReport>(
    paths,
    texts,
    (text) => {
      const shard = shardFromText(text);
      // The library checks what the merge reads; the renderers read it all.
      if (shard.nominal !== undefined) checkNominalReport(shard.nominal);
      return shard;
    },
    mergeShards,
  );
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
      'combine the shard files of `vpmu run --samples N --shard i/n --json` (or of `--sweep ... --shard i/n --json`) into the single-run report',
    )
    .argument('<files...>', 'shard files, one per shard, in any order')
    .option('--json', 'print the merged results as JSON')
    .option('--html <file>', 'write the merged self-contained HTML report')
    .action(async (paths: string[], opts: MergeOptions) => {
      await runCommand(program.opts().debug === true, () =>
        merge(paths, opts, (t) => process.stdout.write(t)),
      );
    });
}
