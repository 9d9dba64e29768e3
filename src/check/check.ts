/**
 * `vpmu check` as a function: build the model, explore it with the chosen
 * strategy, and on a violation find a shortest schedule to it and its trace.
 */
import { showValue } from '../common/printable.ts';
import { checkCheckOptions, type CheckOptions, type Strategy } from './check-options.ts';
import { anyNMask, CounterAbstraction, ANY_N_PROPERTIES } from './counter-abstraction.ts';
import { Engine } from './engine.ts';
import { Mirror } from './mirror-symmetry.ts';
import type { Model } from './model-definition.ts';
import { BadInput, buildModel, type ModelKind, type ModelParams } from './model-catalogue.ts';
import {
  ALL_PROPERTIES,
  propertyMask,
  VIOLATED_PROPERTY,
  VIOLATION_TEXT,
  Violation,
  type PropertyName,
} from './properties.ts';
import { formatTrace, replay, type TraceStep } from './replay.ts';
import { formatSchedule, parseSchedule, type Schedule } from './schedule.ts';
import { sample } from './sampling.ts';
import { PARALLEL_AFTER, parallelDfs } from './parallel-search.ts';
import { dfs, shortestViolation, type DfsResult } from './search.ts';
import { item } from '../common/item.ts';

export { STRATEGIES, type CheckOptions, type Strategy } from './check-options.ts';

export interface CheckResult {
  model: ModelKind;
  variant: string;
  params: ModelParams;
  strategy: Strategy | 'replay';
  /** 'inconclusive': --any-n found only spurious abstract counterexamples. */
  verdict: 'holds' | 'violated' | 'inconclusive';
  states: number;
  transitions: number;
  seconds: number;
  statesPerSecond: number;
  /** Threads the search ran on: above 1 only for a dfs that outgrew one thread under `jobs`. */
  threads: number;
  /** False when a bound (max states, preemptions, sampling) left part of the graph unexplored. */
  complete: boolean;
  reductions: string[];
  /** Upper bound of the chance a fingerprint collision hid a state. */
  omissionProbability: number;
  violation?: { property: PropertyName; description: string; thread: string | null };
  /** The replayable schedule string of the counterexample. */
  schedule?: string;
  /** Whether the counterexample is a shortest one (breadth-first over the unreduced graph). */
  minimal?: boolean;
  trace?: TraceStep[];
  /** Memory at the end of the counterexample. */
  finalMemory?: string;
  /** --any-n: the method, and the abstraction it used. */
  method?: 'counter-abstraction';
  abstraction?: {
    /** Counts of threads per local state are exact below this, "this many or more" above. */
    threshold: number;
    thresholdsTried: number[];
    abstractStates: number;
    abstractTransitions: number;
    /** Abstract counterexamples that no concrete configuration reproduced. */
    spurious: number;
    /** The concrete configuration a violation was replayed on. */
    concretizedOn?: ModelParams;
    /**
     * Rounds per thread in the abstract model: 1 for any --rounds (a thread
     * back at its initial local state after a round is a fresh thread;
     * docs/verification.md, "Rounds are threads").
     */
    abstractRounds: number;
  };
}

export function runCheck(options: CheckOptions): CheckResult {
  checkCheckOptions(options);
  if (options.anyN) return runAnyN(options);
  const model = buildModel(options.model, options.variant, options.params);
  const properties = options.properties ?? null;
  const mask = properties === null ? ALL_PROPERTIES : propertyMask(properties);
  const strategy = options.strategy ?? 'dfs';
  const preemptions = options.preemptions ?? -1;
  const concrete = () =>
    new Engine(model, { fuseMovers: false, symmetry: false, properties: mask });

  let found: Violation;
  let sampled: number[] | null = null;
  /** Threads the exhaustive search ran on. */
  let threads = 1;
  let stats: {
    states: number;
    transitions: number;
    seconds: number;
    complete: boolean;
    omissionProbability: number;
  };
  const reductions: string[] = [];
  if (strategy === 'dfs') {
    const reduced = preemptions < 0;
    const symmetry = reduced && options.symmetry !== false;
    const por = reduced && options.por !== false;
    const engine = new Engine(model, { fuseMovers: por, symmetry, properties: mask });
    if (symmetry) reductions.push('symmetry');
    const mirror = symmetry && options.mirror !== false;
    if (mirror && Mirror.of(engine) !== null) reductions.push('mirror-symmetry');
    if (por)
      reductions.push(
        'lipton-movers',
        engine.hasLoops ? 'persistent-sets (off: the model has loops)' : 'persistent-sets',
      );
    if (preemptions >= 0) reductions.push(`preemption-bound=${preemptions}`);
    // Always on (a live-variable reduction of the refusal ghost flag), when that flag is kept.
    if ((mask & propertyMask(['refusals'])) !== 0) reductions.push('dead-ghost-flags');
    const maxStates = options.maxStates ?? Number.MAX_SAFE_INTEGER;
    const onProgress = options.onProgress ? { onProgress: options.onProgress } : {};
    const sequential = (budget = maxStates, report = onProgress, handOff = false) =>
      dfs(engine, { por, preemptions, mirror, maxStates: budget, handOff, ...report });
    const jobs = options.jobs ?? 1;
    let r: DfsResult;
    const parallelAfter = options.parallelAfter ?? PARALLEL_AFTER;
    if (jobs > 1 && preemptions < 0 && !engine.hasLoops && maxStates > parallelAfter) {
      // Most models are small: one thread first, and the threads only for a
      // graph that outgrows it, going on from where that search stopped.
      r = sequential(parallelAfter, {}, true);
      if (r.frontier !== undefined && r.violation === Violation.None) {
        const trial = r.seconds;
        const resume = { frontier: r.frontier, states: r.states, transitions: r.transitions };
        r = parallelDfs(
          {
            kind: options.model,
            variant: options.variant,
            params: options.params,
            engine: engine.options,
            reductions: { por, mirror },
          },
          { jobs, maxStates, resume, ...onProgress },
        );
        r.seconds += trial;
        threads = r.threads ?? 1;
        // Which violation the threads meet first depends on their timing: the
        // verdict is settled, and one thread finds the same one --jobs 1 does.
        if (r.violation !== Violation.None) {
          threads = 1;
          r = sequential();
        }
      }
    } else r = sequential();
    stats = { ...r, complete: r.complete && preemptions < 0 };
    found = r.violation;
  } else {
    const r = sample(concrete(), {
      strategy,
      seed: options.seed ?? 1,
      runs: options.runs ?? 1000,
      depth: options.depth ?? 3,
    });
    stats = { ...r, complete: false, omissionProbability: 0 };
    found = r.violation;
    // Kept should the breadth-first search for a shorter one run out of budget.
    if (found !== Violation.None) sampled = r.path;
  }

  const result: CheckResult = {
    model: options.model,
    variant: options.variant,
    params: model.params,
    strategy,
    verdict: found === Violation.None ? 'holds' : 'violated',
    states: stats.states,
    transitions: stats.transitions,
    seconds: stats.seconds,
    statesPerSecond: stats.seconds > 0 ? Math.round(stats.states / stats.seconds) : stats.states,
    threads,
    complete: stats.complete,
    reductions,
    omissionProbability: stats.omissionProbability,
  };
  if (found !== Violation.None) {
    const ce = counterexample(model, mask, found, options.shortestBudget ?? 4_000_000, sampled);
    const schedule: Schedule = {
      kind: options.model,
      variant: options.variant,
      params: model.params,
      properties,
      path: ce.path,
      loopStart: ce.loopStart,
    };
    Object.assign(result, explain(model, mask, schedule), { minimal: ce.minimal });
  }
  return result;
}

interface Counterexample {
  path: number[];
  loopStart: number;
  minimal: boolean;
}

/**
 * A concrete schedule to a violation: the shortest one (breadth-first over
 * the unreduced graph) when the budget allows; else the sampled schedule or
 * one from a depth-first search without reductions.
 */
function counterexample(
  model: Model,
  mask: number,
  found: Violation,
  budget: number,
  sampled: number[] | null,
): Counterexample {
  const concrete = () =>
    new Engine(model, { fuseMovers: false, symmetry: false, properties: mask });
  if (found === Violation.NonTermination) {
    // A lasso: a concrete cycle from depth-first search, then a shortest stem to its first state.
    const lasso = dfs(concrete(), { por: false, preemptions: -1, maxStates: budget });
    if (lasso.violation !== Violation.NonTermination) {
      throw new Error('internal: the concrete search did not find the cycle the reduced one found');
    }
    const entry = new Int32Array(concrete().words);
    const engine = concrete();
    engine.initial(entry, 0);
    for (const t of lasso.path.slice(0, lasso.loopStart)) engine.step(entry, 0, t);
    const loop = lasso.path.slice(lasso.loopStart);
    const stem = shortestViolation(concrete(), budget, (s, o) =>
      entry.every((x, i) => s[o + i] === x),
    );
    if (stem.path !== null && stem.violation === Violation.None) {
      return { path: [...stem.path, ...loop], loopStart: stem.path.length, minimal: false };
    }
    return { path: lasso.path, loopStart: lasso.loopStart, minimal: false };
  }
  const bfs = shortestViolation(concrete(), budget);
  if (bfs.path !== null) return { path: bfs.path, loopStart: -1, minimal: true };
  if (sampled !== null) return { path: sampled, loopStart: -1, minimal: false };
  const deep = dfs(concrete(), { por: false, preemptions: -1, maxStates: Number.MAX_SAFE_INTEGER });
  return { path: deep.path, loopStart: deep.loopStart, minimal: false };
}

/** The schedule string, trace and violation of a schedule, by replaying it. */
function explain(model: Model, mask: number, schedule: Schedule): Partial<CheckResult> {
  const r = replay(model, mask, schedule.path, schedule.loopStart);
  const out: Partial<CheckResult> = {
    schedule: formatSchedule(schedule),
    trace: r.trace,
    finalMemory: r.final,
  };
  if (r.violation !== Violation.None) {
    out.verdict = 'violated';
    out.violation = {
      property: item(VIOLATED_PROPERTY, r.violation),
      description: item(VIOLATION_TEXT, r.violation),
      thread: r.thread,
    };
  }
  return out;
}

/** `vpmu check --replay S`: run the schedule and report what it shows. */
export function runReplay(text: string): CheckResult {
  if (typeof text !== 'string')
    throw new BadInput('--replay', `expected a schedule string, got ${showValue(text)}`);
  const started = performance.now();
  const schedule = parseSchedule(text);
  const model = buildModel(schedule.kind, schedule.variant, schedule.params);
  const mask = schedule.properties === null ? ALL_PROPERTIES : propertyMask(schedule.properties);
  const explained = explain(model, mask, schedule);
  const seconds = (performance.now() - started) / 1000;
  return {
    model: schedule.kind,
    variant: schedule.variant,
    params: model.params,
    strategy: 'replay',
    verdict: 'holds',
    states: schedule.path.length + 1,
    transitions: schedule.path.length,
    seconds,
    statesPerSecond: Math.round((schedule.path.length + 1) / Math.max(seconds, 1e-9)),
    threads: 1,
    complete: false,
    reductions: [],
    omissionProbability: 0,
    ...explained,
  };
}

export { formatTrace };

/** Thresholds the refinement tries, in order. */
const ANY_N_THRESHOLDS = [2, 3, 4];
/** The largest concrete configuration a counterexample is replayed on (threads per class beyond what it used). */
const CONCRETIZE_EXTRA = 2;

/**
 * --any-n: counter abstraction (counter-abstraction.ts); a violating abstract
 * path is only reported once a concrete configuration shows it.
 */
function runAnyN(options: CheckOptions): CheckResult {
  if (options.model !== 'accounting')
    throw new BadInput('--any-n', `applies to the accounting model, not ${options.model}`);
  for (const name of Object.keys(options.params)) {
    if (name !== 'rounds')
      throw new BadInput(`--${name}`, '--any-n covers every number of threads: give only --rounds');
  }
  if ((options.strategy ?? 'dfs') !== 'dfs')
    throw new BadInput('--strategy', '--any-n is an exhaustive search (dfs)');
  const rounds = (options.params.rounds as number | undefined) ?? 1;
  buildModel('accounting', options.variant, { vms: 1, events: 1, rounds }); // validates variant and rounds
  const properties = options.properties ?? null;
  const mask = anyNMask(properties);
  const started = performance.now();
  const tried: number[] = [];
  let states = 0;
  let transitions = 0;
  let spurious = 0;
  // Rounds are threads: a thread ends every round holding nothing (its release
  // ran or its acquisition was refused) and, if no call returns holding a
  // mutex, in its initial local state; so R rounds of any number of threads
  // are one round of any number of threads, some starting after others end.
  // The one-round abstraction therefore also checks `mutex`, on which that rests.
  const abstractRounds = 1;
  const abstractMask = rounds > 1 ? mask | propertyMask(['mutex']) : mask;
  const abstraction = new CounterAbstraction(options.variant, abstractRounds, abstractMask);
  for (const k of ANY_N_THRESHOLDS) {
    tried.push(k);
    const r = abstraction.search(k);
    states += r.states;
    transitions += r.transitions;
    const seconds = () => (performance.now() - started) / 1000;
    const base = {
      model: options.model,
      variant: options.variant,
      params: { rounds, 'any-n': true },
      strategy: 'dfs' as const,
      states,
      transitions,
      complete: true,
      reductions: ['counter-abstraction', 'lipton-movers', 'dead-ghost-flags'],
      omissionProbability: 0,
      method: 'counter-abstraction' as const,
    };
    const info = (concretizedOn?: ModelParams) => ({
      threshold: k,
      thresholdsTried: [...tried],
      abstractStates: states,
      abstractTransitions: transitions,
      spurious,
      ...(concretizedOn ? { concretizedOn } : {}),
      abstractRounds,
    });
    if (r.verdict === 'holds') {
      const t = seconds();
      return {
        ...base,
        verdict: 'holds',
        seconds: t,
        statesPerSecond: Math.round(states / Math.max(t, 1e-9)),
        threads: 1,
        abstraction: info(),
      };
    }
    // Replay on concrete configurations with the threads the abstract path used.
    const [vms, events] = r.threadsUsed;
    for (let extra = 0; extra <= CONCRETIZE_EXTRA; extra++) {
      const params = { vms: vms + extra, events: events + extra, rounds };
      if (params.vms + params.events > 12) break;
      const concrete = runCheck({
        ...options,
        anyN: false,
        params,
        properties: properties ?? [...ANY_N_PROPERTIES],
      });
      if (concrete.verdict === 'violated') {
        const t = seconds();
        return {
          ...concrete,
          ...base,
          verdict: 'violated',
          params: concrete.params,
          seconds: t,
          statesPerSecond: Math.round(states / Math.max(t, 1e-9)),
          threads: 1,
          abstraction: info(params),
        };
      }
    }
    spurious++;
  }
  const t = (performance.now() - started) / 1000;
  return {
    model: options.model,
    variant: options.variant,
    params: { rounds, 'any-n': true },
    strategy: 'dfs',
    verdict: 'inconclusive',
    states,
    transitions,
    seconds: t,
    statesPerSecond: Math.round(states / Math.max(t, 1e-9)),
    threads: 1,
    complete: false,
    reductions: ['counter-abstraction', 'lipton-movers', 'dead-ghost-flags'],
    omissionProbability: 0,
    method: 'counter-abstraction',
    abstraction: {
      threshold: item(ANY_N_THRESHOLDS, ANY_N_THRESHOLDS.length - 1),
      thresholdsTried: tried,
      abstractStates: states,
      abstractTransitions: transitions,
      spurious,
      abstractRounds,
    },
  };
}
