/**
 * A --samples run spread over machines: shard i of n runs every n-th run of
 * the plan (src/sim/uncertainty.ts) and writes a shard file with the inputs
 * and each run's outcome; merging the n files gives the report one process
 * gives, since the report is computed from the outcomes by run number. Every
 * shard runs the nominal model too (the plan depends on which parameters it
 * charges); shard 1 keeps its report.
 */
import type { SimulationReport } from './results.ts';
import { shardName, shardPositions } from './shard-set.ts';
import { checkSimulationInput } from './input-check.ts';
import { showValue } from '../common/printable.ts';
import { item } from '../common/item.ts';
import type { SimulationInput } from './simulator.ts';
import {
  checkUncertaintyOptions,
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
  if (data.nominal !== undefined) checkNominal(data.nominal);
  return data as ShardFile;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  value !== null && typeof value === 'object' && !Array.isArray(value);

const isList = (value: unknown, of: (x: unknown) => boolean): value is unknown[] =>
  Array.isArray(value) && value.every(of);

/**
 * The nominal report as far as the merge reads it (each design's name,
 * overhead, guest events and cost breakdown): a file edited or cut short is
 * refused here, not read as "properties of undefined" further on. The whole
 * report, which `vpmu merge` renders, is checked there against
 * report-schema.ts: this module is part of the library, and `import 'vpmu'`
 * loads no schema package (docs/api.md).
 */
function checkNominal(nominal: unknown): asserts nominal is SimulationReport {
  const event = (e: unknown) =>
    isObject(e) &&
    typeof e.guest === 'string' &&
    typeof e.event === 'string' &&
    typeof e.errorPercent === 'number';
  const cost = (c: unknown) =>
    isObject(c) && typeof c.parameter === 'string' && typeof c.count === 'number';
  const design = (r: unknown) =>
    isObject(r) &&
    typeof r.design === 'string' &&
    typeof r.overheadPercent === 'number' &&
    isList(r.guestEvents, event) &&
    isList(r.costBreakdown, cost);
  if (!isObject(nominal) || !isList(nominal.results, design) || nominal.results.length === 0)
    throw new Error(
      `nominal: expected the nominal run's report, one result per design with its design, overheadPercent, guestEvents and costBreakdown (got ${showValue(nominal)})`,
    );
}

/**
 * A run's outcome against the nominal report: one overhead per design, one
 * error per guest event of each design, and whether the ordering held. A
 * shorter list would be read past its end as a broken invariant, and a
 * string or null among the numbers would go into the intervals unseen.
 */
function checkOutcome(outcome: unknown, nominal: SimulationReport): asserts outcome is RunOutcome {
  const designs = nominal.results.length;
  const where = isObject(outcome) ? `outcome of run ${showValue(outcome.run)}` : 'outcome';
  if (!isObject(outcome) || !Number.isSafeInteger(outcome.run))
    throw new Error(
      `${where}: expected { run, overheadPercent, eventErrors, orderingHolds } with a whole run number (got ${showValue(outcome)})`,
    );
  const numbers = (value: unknown, length: number) =>
    isList(value, (x) => typeof x === 'number') && value.length === length;
  if (!numbers(outcome.overheadPercent, designs))
    throw new Error(
      `${where}: overheadPercent: expected ${designs} numbers, one per design (got ${showValue(outcome.overheadPercent)})`,
    );
  const errors = outcome.eventErrors;
  if (
    !Array.isArray(errors) ||
    errors.length !== designs ||
    !nominal.results.every((r, d) => numbers(errors[d], r.guestEvents.length))
  )
    throw new Error(
      `${where}: eventErrors: expected per design a list of numbers, one per guest event of the nominal run (got ${showValue(errors)})`,
    );
  if (outcome.orderingHolds !== null && typeof outcome.orderingHolds !== 'boolean')
    throw new Error(
      `${where}: orderingHolds: expected true, false or null (got ${showValue(outcome.orderingHolds)})`,
    );
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
  // From JavaScript, a ShardFile built by hand: the checks shardFromText makes.
  checkNominal(nominal);
  // Their messages name the function; here the file and its field are what the user can fix.
  const inFirst = (check: () => void, field: string) => {
    try {
      check();
    } catch (error) {
      const message = (error as Error).message.replace(/^\w+: (input\.)?/, '');
      throw new Error(`${shardName(names, 0)}: ${field}.${message}`, { cause: error });
    }
  };
  inFirst(() => checkSimulationInput(first.input, undefined), 'input');
  inFirst(() => checkUncertaintyOptions(first.options), 'options');
  files.forEach((f, i) => {
    for (const outcome of f.outcomes as unknown[]) {
      try {
        checkOutcome(outcome, nominal);
      } catch (error) {
        throw new Error(`${shardName(names, i)}: ${(error as Error).message}`, { cause: error });
      }
    }
  });
  const plan: UncertaintyPlan = planUncertainty(first.input, first.options, nominal);
  return uncertaintyReport(
    plan,
    nominal,
    files.flatMap((f) => f.outcomes.filter((o) => o.run !== 0)),
  );
}
