/**
 * How far to trust a figure: the scenario run under many cost models drawn
 * from the parameters' plausible ranges (src/sim/cost-model.ts), and which
 * parameters drive the spread.
 *
 * The plan (Saltelli 2010's design, src/sim/sensitivity.ts): a nominal run
 * with the cost model as given; matrix A, N cost models from a Latin
 * hypercube over every parameter whose range is not a point; matrix B, N
 * more from an independent hypercube; and for each parameter the nominal run
 * charged, A_B^i (A with that parameter's column from B). The intervals come
 * from A's N runs; the Sobol indices from A, B and the A_B^i. Parameters the
 * nominal run never charged still vary in A and B, but get no index (they
 * cost nothing in this scenario).
 *
 * Runs are numbered; each is independent of the others (a fresh simulation,
 * seeded by the scenario's seed, so only the costs differ), and the report is
 * computed from the outcomes in run order. That is why --jobs (any order)
 * and --shard (any subset, merged) give the same report as one process.
 */
import { CostModel } from './cost-model.ts';
import { orderingCheck } from './ordering.ts';
import { SeededRandom } from './random.ts';
import type { SimulationReport } from './results.ts';
import { interval, latinHypercube, onRange, type Interval } from './sampling.ts';
import { sobolIndices } from './sensitivity.ts';
import { simulate, type SimulationInput } from './simulator.ts';
import { item } from '../common/item.js';
import { showValue } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';
import { MAX_SAMPLES } from './run-limits.ts';

export interface UncertaintyOptions {
  /** N: cost models drawn for the intervals (and the base sample of the Sobol design). */
  samples: number;
  /** The scenario's seed (workload phases), and the seed of the draws. */
  seed?: number;
  /** Simulated seconds per run (overrides the scenario's). */
  duration?: number;
  /** Estimate Sobol indices too (N (k + 1) more runs); default true. */
  sensitivity?: boolean;
}

/** A parameter that varies: its range. */
export interface SampledParameter {
  name: string;
  cycles: number;
  low: number;
  high: number;
}

/** What a run is for: the nominal model, a row of A or B, or A_B^i's row. */
export type RunRole =
  | { kind: 'nominal' }
  | { kind: 'A' | 'B'; row: number }
  | { kind: 'AB'; parameter: number; row: number };

export interface UncertaintyPlan {
  input: SimulationInput;
  samples: number;
  seed: number;
  duration: number;
  sensitivity: boolean;
  parameters: SampledParameter[];
  /** Indices (into parameters) of those that get Sobol indices. */
  analysed: number[];
  /** Unit-cube rows of A and B. */
  a: number[][];
  b: number[][];
  /** Runs in all, the nominal one (run 0) included. */
  runs: number;
}

/** What one run yields for the report: per design (in the scenario's order). */
export interface RunOutcome {
  run: number;
  overheadPercent: number[];
  /** Per design, each guest event's error in %, in the nominal report's order. */
  eventErrors: number[][];
  /** Whether the simulated ordering agrees with the published one; null without a published one. */
  orderingHolds: boolean | null;
}

/** The parameters that vary (range not a point), in the model's order. */
export function sampledParameters(input: SimulationInput): SampledParameter[] {
  return new CostModel(input.costModel, input.costs).parameters
    .filter((p) => p.range[0] < p.range[1])
    .map((p) => ({ name: p.name, cycles: p.cycles, low: p.range[0], high: p.range[1] }));
}

/**
 * The plan of a run with `options`, given the nominal report (its cost
 * breakdown says which parameters the scenario charges).
 */
export function planUncertainty(
  input: SimulationInput,
  options: UncertaintyOptions,
  nominal: SimulationReport,
): UncertaintyPlan {
  const n = options.samples;
  if (!Number.isSafeInteger(n) || n < 2 || n > MAX_SAMPLES)
    throw new RangeError(
      `samples: expected a whole number from 2 to ${MAX_SAMPLES}, got ${showValue(n)}`,
    );
  const seed = options.seed ?? input.seed;
  const parameters = sampledParameters(input);
  const sensitivity = options.sensitivity ?? true;
  const charged = new Set(
    nominal.results.flatMap((r) =>
      r.costBreakdown.filter((c) => c.count > 0).map((c) => c.parameter),
    ),
  );
  const analysed = sensitivity
    ? parameters.flatMap((p, i) => (charged.has(p.name) ? [i] : []))
    : [];
  const k = parameters.length;
  const a = latinHypercube(n, k, new SeededRandom(seed, 0x5a17));
  const b = sensitivity ? latinHypercube(n, k, new SeededRandom(seed, 0x5a18)) : [];
  return {
    input,
    samples: n,
    seed,
    duration: options.duration ?? input.duration,
    sensitivity,
    parameters,
    analysed,
    a,
    b,
    runs: 1 + n + (sensitivity ? n * (1 + analysed.length) : 0),
  };
}

/** What run `run` of the plan is. */
export function runRole(plan: UncertaintyPlan, run: number): RunRole {
  const n = plan.samples;
  if (!Number.isSafeInteger(run) || run < 0 || run >= plan.runs)
    throw new RangeError(`run ${run}: expected 0 to ${plan.runs - 1}`);
  if (run === 0) return { kind: 'nominal' };
  if (run <= n) return { kind: 'A', row: run - 1 };
  if (run <= 2 * n) return { kind: 'B', row: run - 1 - n };
  const k = run - 1 - 2 * n;
  return { kind: 'AB', parameter: item(plan.analysed, Math.floor(k / n)), row: k % n };
}

/** The cost overrides of run `run`: each sampled parameter at its drawn value. */
export function runCosts(plan: UncertaintyPlan, run: number): SimulationInput['costs'] {
  const role = runRole(plan, run);
  if (role.kind === 'nominal') return plan.input.costs;
  let unit: number[];
  if (role.kind === 'AB') {
    const { parameter, row } = role;
    unit = item(plan.a, row).map((u, j) => (j === parameter ? item(item(plan.b, row), j) : u));
  } else unit = item(role.kind === 'A' ? plan.a : plan.b, role.row);
  const costs: SimulationInput['costs'] = { ...plan.input.costs };
  plan.parameters.forEach((p, j) => {
    costs[p.name] = onRange(item(unit, j), p.low, p.high);
  });
  return costs;
}

/** The simulation input of run `run`. */
export function runInput(plan: UncertaintyPlan, run: number): SimulationInput {
  return { ...plan.input, costs: runCosts(plan, run), seed: plan.seed, duration: plan.duration };
}

/** Reduce a run's report to what the uncertainty report needs. */
export function runOutcome(run: number, report: SimulationReport): RunOutcome {
  const consistent = orderingCheck(report).consistent;
  return {
    run,
    overheadPercent: report.results.map((r) => r.overheadPercent),
    eventErrors: report.results.map((r) => r.guestEvents.map((e) => e.errorPercent)),
    orderingHolds: consistent === undefined ? null : consistent,
  };
}

/** Run the nominal model (run 0): the full report. */
/**
 * The options of an uncertainty analysis, checked before its first run: a
 * JavaScript caller's missing or misspelt option is refused at once, not
 * after the nominal run (or, for the options object, as "reading 'seed'").
 */
export const UNCERTAINTY_OPTION_NAMES: readonly (keyof UncertaintyOptions)[] = [
  'samples',
  'seed',
  'duration',
  'sensitivity',
];

export function checkUncertaintyOptions(options: unknown): asserts options is UncertaintyOptions {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(
      `runUncertainty: expected options such as { samples: 32 }, got ${showValue(options)}`,
    );
  const { samples, seed, duration, sensitivity } = options as Record<string, unknown>;
  if (
    !Number.isSafeInteger(samples) ||
    (samples as number) < 2 ||
    (samples as number) > MAX_SAMPLES
  )
    throw new RangeError(
      `runUncertainty: samples: expected a whole number from 2 to ${MAX_SAMPLES}, got ${showValue(samples)}`,
    );
  if (seed !== undefined && !Number.isSafeInteger(seed))
    throw new RangeError(`runUncertainty: seed: expected a whole number, got ${showValue(seed)}`);
  if (duration !== undefined && !(typeof duration === 'number' && duration > 0))
    throw new RangeError(
      `runUncertainty: duration: expected simulated seconds above 0, got ${showValue(duration)}`,
    );
  if (sensitivity !== undefined && typeof sensitivity !== 'boolean')
    throw new TypeError(
      `runUncertainty: sensitivity: expected true or false, got ${showValue(sensitivity)}`,
    );
}

export function runNominal(input: SimulationInput, options: UncertaintyOptions): SimulationReport {
  checkUncertaintyOptions(options);
  return simulate(input, {
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.duration !== undefined ? { duration: options.duration } : {}),
  });
}

/** Run one sampled run of the plan, in this thread. */
export function executeRun(plan: UncertaintyPlan, run: number): RunOutcome {
  return runOutcome(run, simulate(runInput(plan, run)));
}

// ---------------------------------------------------------------- the report

export interface GuestEventUncertainty {
  guest: string;
  event: string;
  errorInterval: Interval;
}

export interface DesignUncertainty {
  design: string;
  overheadInterval: Interval;
  /** The published overhead, and whether it lies in [p05, p95]. */
  published?: number;
  publishedInInterval?: boolean;
  guestEvents: GuestEventUncertainty[];
}

export interface SensitivityEntry {
  design: string;
  parameter: string;
  firstOrder: number;
  total: number;
  /** 95 % bootstrap intervals. */
  firstOrderInterval: [number, number];
  totalInterval: [number, number];
}

export interface UncertaintyReport {
  nominal: SimulationReport;
  samples: number;
  seed: number;
  runs: number;
  parameters: SampledParameter[];
  /** Sampled parameters the scenario never charged (no index: they cost nothing here). */
  notCharged: string[];
  designs: DesignUncertainty[];
  /** The fraction of A's runs whose ordering agrees with the published one; absent without one. */
  orderingHolds?: number;
  /** Per design, ranked by total effect (highest first). */
  sensitivity: SensitivityEntry[];
}

/**
 * The report from the nominal report and every other run's outcome (any
 * order; each run exactly once).
 */
export function uncertaintyReport(
  plan: UncertaintyPlan,
  nominal: SimulationReport,
  outcomes: readonly RunOutcome[],
): UncertaintyReport {
  const byRun: RunOutcome[] = [];
  for (const o of outcomes) {
    if (o.run < 1 || o.run >= plan.runs)
      throw new RangeError(`outcome of run ${o.run}: no such run`);
    if (byRun[o.run]) throw new RangeError(`outcome of run ${o.run}: given twice`);
    byRun[o.run] = o;
  }
  for (let run = 1; run < plan.runs; run++)
    if (!byRun[run]) throw new RangeError(`outcome of run ${run}: missing`);
  const n = plan.samples;
  const rowsOf = (first: number) => byRun.slice(first, first + n);
  const A = rowsOf(1);
  const B = plan.sensitivity ? rowsOf(1 + n) : [];
  const published = nominal.published?.overheadPercent;

  const designs: DesignUncertainty[] = nominal.results.map((r, d) => {
    const overheadInterval = interval(A.map((o) => item(o.overheadPercent, d)));
    const pub = published?.[r.design];
    return {
      design: r.design,
      overheadInterval,
      ...(pub !== undefined
        ? {
            published: pub,
            publishedInInterval: overheadInterval.p05 <= pub && pub <= overheadInterval.p95,
          }
        : {}),
      guestEvents: r.guestEvents.map((e, j) => ({
        guest: e.guest,
        event: e.event,
        errorInterval: interval(A.map((o) => item(item(o.eventErrors, d), j))),
      })),
    };
  });

  const judged = A.filter((o) => o.orderingHolds !== null);
  const sensitivity: SensitivityEntry[] = [];
  nominal.results.forEach((r, d) => {
    const fA = A.map((o) => item(o.overheadPercent, d));
    const fB = B.map((o) => item(o.overheadPercent, d));
    const entries = plan.analysed.map((parameter, i) => {
      const fAB = rowsOf(1 + 2 * n + i * n).map((o) => item(o.overheadPercent, d));
      const s = sobolIndices(fA, fB, fAB, { seed: plan.seed });
      return { design: r.design, parameter: item(plan.parameters, parameter).name, ...s };
    });
    entries.sort((x, y) => y.total - x.total || x.parameter.localeCompare(y.parameter));
    sensitivity.push(...entries);
  });

  const analysedNames = new Set(plan.analysed.map((i) => item(plan.parameters, i).name));
  return {
    nominal,
    samples: n,
    seed: plan.seed,
    runs: plan.runs,
    parameters: plan.parameters,
    notCharged: plan.sensitivity
      ? plan.parameters.map((p) => p.name).filter((name) => !analysedNames.has(name))
      : [],
    designs,
    ...(judged.length > 0
      ? { orderingHolds: judged.filter((o) => o.orderingHolds).length / judged.length }
      : {}),
    sensitivity,
  };
}

/** The runs of shard i of n (1-based): every n-th run from run i - 1, the nominal run 0 in shard 1. */
export function shardRuns(
  plan: UncertaintyPlan,
  shard?: { index: number; count: number },
): number[] {
  const runs: number[] = [];
  for (let run = 0; run < plan.runs; run++)
    if (!shard || run % shard.count === shard.index - 1) runs.push(run);
  return runs;
}

/** Everything in one thread: the nominal run, then every other run in order. */
export function runUncertainty(
  input: SimulationInput,
  options: UncertaintyOptions,
  progress?: (fraction: number) => void,
): UncertaintyReport {
  checkUncertaintyOptions(options);
  const unknown = unknownKey(options, UNCERTAINTY_OPTION_NAMES);
  if (unknown !== undefined)
    throw new TypeError(
      `runUncertainty: ${unknown}${unknown.includes("'jobs'") ? ' (threads: runUncertaintyOnThreads)' : ''}`,
    );
  const nominal = runNominal(input, options);
  const plan = planUncertainty(input, options, nominal);
  const outcomes: RunOutcome[] = [];
  for (let run = 1; run < plan.runs; run++) {
    outcomes.push(executeRun(plan, run));
    progress?.(run / (plan.runs - 1));
  }
  return uncertaintyReport(plan, nominal, outcomes);
}
