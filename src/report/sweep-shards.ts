/**
 * A --sweep spread over machines: shard i of n runs every n-th swept value
 * (the values whose position k has k mod n = i - 1) and prints the sweep JSON
 * of those values with `shard: "i/n"`. Each point is a run of its own, so the
 * n files put back in position order are the JSON one process prints; the
 * text and HTML renderings are made from them as `vpmu run --sweep` makes
 * its own.
 */
import { showValue } from '../common/printable.ts';
import { z } from 'zod';
import type { SimulationReport } from '../sim/results.ts';
import { JsonReportSchema } from '../sim/report-schema.ts';
import { shardName, shardPositions } from '../sim/shard-set.ts';
import type { SweepJson } from './json.ts';
import { designsOf, type SweepRow, type SweepSummary } from './summary.ts';
import { item } from '../common/item.js';

/**
 * A run as --json prints it, with the sweep point it ran: the text and HTML
 * renderers read all of it (the HTML page's cost table, each design's
 * details), so all of it is checked.
 */
const RunSchema = JsonReportSchema.extend({
  sweep: z.object({ parameter: z.string(), value: z.string() }),
});

const PercentByDesign = z.record(z.string(), z.number());

const Rows = z.array(
  z.object({
    value: z.string(),
    overheadPercent: PercentByDesign,
    meanAbsErrorPercent: PercentByDesign,
  }),
);

const SweepShardSchema = z.object({
  scenario: z.string(),
  parameter: z.string(),
  summary: Rows,
  exactSummary: Rows,
  runs: z.array(RunSchema),
  shard: z.string().regex(/^\d+\/\d+$/, 'expected "i/n"'),
});

/** The run fields that name the sweep, by the scenario parameter that sets each. */
const RUN_FIELD_OF_PARAMETER = {
  seed: 'seed',
  duration: 'duration',
  costModel: 'costModel',
  'machine.cpu': 'cpu',
} as const satisfies Record<string, keyof SimulationReport>;

export interface SweepShardFile extends SweepJson {
  shard: { index: number; count: number };
  exactSummary: SweepRow[];
}

/** Merged shards: the JSON one process prints, and the unrounded summary its text and HTML show. */
export interface MergedSweep {
  json: SweepJson;
  summary: SweepSummary;
}

/** Whether parsed JSON claims to be a sweep shard (it has a sweep's keys and `shard`). */
export function looksLikeSweepShard(data: unknown): boolean {
  return (
    data !== null &&
    typeof data === 'object' &&
    'shard' in data &&
    'parameter' in data &&
    'summary' in data
  );
}

/** Validate a parsed sweep shard. Throws a plain Error naming the field; the caller names the file. */
export function sweepShardFromJson(data: unknown): SweepShardFile {
  const parsed = SweepShardSchema.safeParse(data);
  if (!parsed.success) {
    const issue = item(parsed.error.issues, 0);
    const where = issue.path.length > 0 ? issue.path.join('.') : 'the file';
    throw new Error(`${where}: ${issue.message} (not a shard of vpmu run --sweep ... --json)`);
  }
  // The file's own objects, not zod's copies: zod puts the keys it knows first, and a
  // merged sweep must print its runs' keys in the order one process prints them.
  const { shard, runs, summary, exactSummary, ...rest } = data as z.infer<typeof SweepShardSchema>;
  const [index, count] = shard.split('/').map(Number) as [number, number];
  if (index < 1 || index > count)
    throw new Error(`shard: expected i/n with 1 <= i <= n (got ${showValue(shard)})`);
  if (runs.length !== summary.length)
    throw new Error(
      `runs: expected one run per summary row (${summary.length}, got ${runs.length})`,
    );
  summary.forEach((row, k) => {
    for (const [field, other] of [
      [`runs.${k}.sweep.value`, item(runs, k).sweep.value],
      [`exactSummary.${k}.value`, exactSummary[k]?.value],
    ] as const)
      if (other !== row.value)
        throw new Error(
          `${field}: expected the summary's value '${row.value}' (got ${showValue(other)})`,
        );
  });
  if (exactSummary.length !== summary.length)
    throw new Error(`exactSummary: expected ${summary.length} rows (got ${exactSummary.length})`);
  return {
    ...rest,
    summary,
    exactSummary,
    runs: runs as unknown as SimulationReport[],
    shard: { index, count },
  };
}

/**
 * The sweep of the shards together, in the order one process runs it: every
 * shard of the same sweep (scenario, parameter, shard count, and the seed,
 * duration, cost model and CPU but the one swept), each exactly once. Throws
 * an Error naming the problem and the file (from `names`).
 */
export function mergeSweepShards(
  files: readonly SweepShardFile[],
  names: readonly string[] = [],
): MergedSweep {
  const inOrder = shardPositions(
    files,
    names,
    (f) => {
      // A shard given no values (more shards than values) cannot tell which sweep it is of.
      const run = f.runs[0];
      if (!run) return null;
      // The field the sweep varies differs from shard to shard by design.
      const fields = Object.entries(RUN_FIELD_OF_PARAMETER)
        .filter(([parameter]) => parameter !== f.parameter)
        .map(([, field]) => run[field]);
      return JSON.stringify([f.scenario, f.parameter, ...fields]);
    },
    'sweep',
    'scenario, parameter, seed, duration or costs',
  );
  const name = (i: number) => shardName(names, i);
  const count = inOrder.length;
  // Shard i holds positions i - 1, i - 1 + n, ...: each holds as many values as
  // the shard before it, or one fewer, and shard n at least shard 1's less one.
  const lengthOf = (fileIndex: number) => item(files, fileIndex).summary.length;
  inOrder.forEach((fileIndex, k) => {
    if (k === 0) return;
    const before = lengthOf(item(inOrder, k - 1));
    const most = lengthOf(item(inOrder, 0));
    const length = lengthOf(fileIndex);
    if (length > before || length < most - 1)
      throw new Error(
        `${name(fileIndex)}: shard ${k + 1}/${count} has ${length} values, but shard 1/${count} has ${most}` +
          ` (one shard of a sweep has as many values as shard 1, or one fewer, and never more than the shard before it)`,
      );
  });
  const total = files.reduce((sum, f) => sum + f.summary.length, 0);
  const named = files.find((f) => f.runs.length > 0) ?? item(files, 0);
  const json: SweepJson = {
    scenario: named.scenario,
    parameter: named.parameter,
    summary: [],
    runs: [],
  };
  const exactRows: SweepRow[] = [];
  for (let position = 0; position < total; position++) {
    const file = item(files, item(inOrder, position % count));
    const k = Math.floor(position / count);
    json.summary.push(item(file.summary, k));
    json.runs.push(item(file.runs, k));
    exactRows.push(item(file.exactSummary, k));
  }
  return {
    json,
    summary: { parameter: json.parameter, designs: designsOf(json.runs), rows: exactRows },
  };
}
