/**
 * A --samples run spread over machines: shard i of n runs every n-th run of
 * the plan (src/sim/uncertainty.ts) and writes a shard file with the inputs
 * and each run's outcome; merging the n files gives the report one process
 * gives, since the report is computed from the outcomes by run number. Every
 * shard runs the nominal model too (the plan depends on which parameters it
 * charges); shard 1 keeps its report.
 */
import type { SimulationReport } from './results.ts';
import { shardPositions } from './shard-set.ts';
import { item } from '../common/item.ts';
import type { SimulationInput } from './simulator.ts';
import {
  planUncertainty,
  uncertaintyReport,
  type RunOutcome,
  type UncertaintyOptions,
  type UncertaintyPlan,
  type UncertaintyReport,
} from './uncertainty.ts';

export const SHARD_FORMAT = 'vpmu-samples-shard/1';

export interface ShardFile {
  format: typeof SHARD_FORMAT;
  shard: { index: number; count: number };
  input: SimulationInput;
  options: Required<Pick<UncertaintyOptions, 'samples' | 'sensitivity'>> &
    Pick<UncertaintyOptions, 'seed' | 'duration'>;
  /** The nominal run's report (shard 1 only). */
  nominal?: SimulationReport;
  outcomes: RunOutcome[];
}

/** JSON with non-finite numbers kept (an error % against a truth of 0 is infinite). */
export function shardToText(file: ShardFile): string {
  return `${JSON.stringify(
    file,
    (_key, value: unknown) =>
      typeof value === 'number' && !Number.isFinite(value) ? { nonFinite: String(value) } : value,
    1,
  )}\n`;
}

/** Throws a plain Error naming what is wrong; the caller names the file. */
export function shardFromText(text: string): ShardFile {
  const expected = `expected a shard file of vpmu run --samples N --shard i/n --json (format '${SHARD_FORMAT}')`;
  if (typeof text !== 'string') throw new Error(`${expected}, as text (got ${typeof text})`);
  let data: Partial<ShardFile> | null;
  try {
    data = JSON.parse(text, (_key, value: unknown) => {
      if (
        value !== null &&
        typeof value === 'object' &&
        Object.keys(value).length === 1 &&
        typeof (value as { nonFinite?: unknown }).nonFinite === 'string'
      )
        return Number((value as { nonFinite: string }).nonFinite);
      return value;
    }) as Partial<ShardFile> | null;
  } catch (error) {
    // A truncated copy, or another file given by mistake: say what it should be.
    throw new Error(`${expected} (got text that is not JSON: ${(error as Error).message})`, {
      cause: error,
    });
  }
  if (!data || typeof data !== 'object' || data.format !== SHARD_FORMAT) throw new Error(expected);
  const { shard, input, options, outcomes } = data;
  if (
    !shard ||
    !Number.isSafeInteger(shard.index) ||
    !Number.isSafeInteger(shard.count) ||
    shard.index < 1 ||
    shard.index > shard.count
  )
    throw new Error('shard: expected { index, count } with 1 <= index <= count');
  if (!input || !options || !Array.isArray(outcomes))
    throw new Error('expected input, options and outcomes');
  return data as ShardFile;
}

/**
 * The report of the shards together: every shard of the same run (same
 * inputs, options and shard count), each exactly once. Throws an Error
 * naming the problem (and the file, from `names`).
 */
export function mergeShards(
  files: readonly ShardFile[],
  names: readonly string[] = [],
): UncertaintyReport {
  shardPositions(
    files,
    names,
    (f) => JSON.stringify({ input: f.input, options: f.options }),
    'run',
    'scenario, costs or options',
  );
  const first = item(files, 0);
  const nominal = files.find((f) => f.nominal)?.nominal;
  if (!nominal) throw new Error('no shard holds the nominal run (shard 1 does)');
  const plan: UncertaintyPlan = planUncertainty(first.input, first.options, nominal);
  return uncertaintyReport(
    plan,
    nominal,
    files.flatMap((f) => f.outcomes.filter((o) => o.run !== 0)),
  );
}
