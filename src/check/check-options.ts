/**
 * What `runCheck` is given, checked at the API's edge: a JavaScript caller
 * (no types) that leaves out `params`, spells a strategy wrong or passes a
 * count as text gets a BadInput naming the option, as `vpmu check` names
 * its flag, not a TypeError from inside the search.
 */
import { MAX_JOBS } from '../common/jobs.ts';
import { showValue as shown } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';
import { BadInput, parseModelKind, type ModelKind, type ModelParams } from './model-catalogue.ts';
import type { PropertyName } from './properties.ts';
import { parseProperties } from './schedule.ts';

export const STRATEGIES = ['dfs', 'random', 'pct'] as const;

export type Strategy = (typeof STRATEGIES)[number];

/** The whole-number options and their bounds (the CLI's flags have the same ones or narrower). */
const COUNTS = {
  preemptions: [-1, 1000],
  seed: [0, 2 ** 32 - 1],
  runs: [1, Number.MAX_SAFE_INTEGER],
  depth: [1, 100],
  maxStates: [1, Number.MAX_SAFE_INTEGER],
  jobs: [1, MAX_JOBS],
  parallelAfter: [1, Number.MAX_SAFE_INTEGER],
  shortestBudget: [1, Number.MAX_SAFE_INTEGER],
} as const;

const SWITCHES = ['symmetry', 'por', 'mirror', 'anyN'] as const;

/** What runCheck takes (src/check/check.ts). */
export interface CheckOptions {
  model: ModelKind;
  variant: string;
  params: ModelParams;
  /** null or absent = every property. */
  properties?: PropertyName[] | null;
  strategy?: Strategy;
  /** dfs only: a preemption bound (runs without reductions), or -1. */
  preemptions?: number;
  seed?: number;
  /** random / pct: how many runs. */
  runs?: number;
  /** pct: bug depth. */
  depth?: number;
  /** dfs: stop after this many states (the verdict is then not a proof). */
  maxStates?: number;
  /** Reductions for dfs (both default on). */
  symmetry?: boolean;
  por?: boolean;
  /** With symmetry: the mirror symmetry too, where the model has one (default on). */
  mirror?: boolean;
  /**
   * dfs: threads for the exhaustive search, the calling one included (default
   * 1). Above 1, a search that outgrows PARALLEL_AFTER states goes on from
   * there level by level on worker threads (parallel-search.ts), with the same
   * states, transitions and verdict; models with loops and
   * preemption-bounded searches stay on one thread.
   */
  jobs?: number;
  /** With jobs: the states one thread explores before the threads start (default PARALLEL_AFTER). */
  parallelAfter?: number;
  /** States the breadth-first search for a shortest counterexample may store. */
  shortestBudget?: number;
  onProgress?: (states: number, transitions: number, seconds: number) => void;
  /** accounting only: prove the per-thread properties for every number of VM and event threads. */
  anyN?: boolean;
}

/** Every option of runCheck: a misspelt one ({ strategie: 'random' }) is refused, not ignored. */
const OPTION_NAMES: Record<keyof CheckOptions, true> = {
  model: true,
  variant: true,
  params: true,
  properties: true,
  strategy: true,
  preemptions: true,
  seed: true,
  runs: true,
  depth: true,
  maxStates: true,
  symmetry: true,
  por: true,
  mirror: true,
  jobs: true,
  parallelAfter: true,
  shortestBudget: true,
  onProgress: true,
  anyN: true,
};

/** Throws BadInput naming the first option that is not what runCheck takes. */
export function checkCheckOptions(options: unknown): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new BadInput('runCheck', `expected an options object, got ${shown(options)}`);
  const o = options as Record<string, unknown>;
  const unknown = unknownKey(o, Object.keys(OPTION_NAMES));
  if (unknown !== undefined) throw new BadInput('runCheck', unknown);
  parseModelKind(typeof o.model === 'string' ? o.model : shown(o.model));
  if (typeof o.variant !== 'string')
    throw new BadInput('variant', `expected a variant name (a string), got ${shown(o.variant)}`);
  if (o.params === null || typeof o.params !== 'object' || Array.isArray(o.params))
    throw new BadInput(
      'params',
      `expected an object of model parameters (e.g. { vms: 2 }), got ${shown(o.params)}`,
    );
  if (o.strategy !== undefined && !(STRATEGIES as readonly unknown[]).includes(o.strategy))
    throw new BadInput(
      'strategy',
      `expected one of ${STRATEGIES.join(', ')}, got ${shown(o.strategy)}`,
    );
  if (o.properties !== undefined && o.properties !== null) {
    if (!Array.isArray(o.properties) || o.properties.some((p) => typeof p !== 'string'))
      throw new BadInput(
        'properties',
        `expected a list of property names or null, got ${shown(o.properties)}`,
      );
    parseProperties(o.properties as string[], 'properties');
  }
  for (const [name, [min, max]] of Object.entries(COUNTS)) {
    const value = o[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max)
      throw new BadInput(
        name,
        `expected a whole number from ${min} to ${max}, got ${shown(value)}`,
      );
  }
  for (const name of SWITCHES)
    if (o[name] !== undefined && typeof o[name] !== 'boolean')
      throw new BadInput(name, `expected true or false, got ${shown(o[name])}`);
  if (o.onProgress !== undefined && typeof o.onProgress !== 'function')
    throw new BadInput('onProgress', `expected a function, got ${shown(o.onProgress)}`);
  refuseOptionsOfAnotherStrategy(o);
}

/**
 * The options that steer one strategy's search, and the value that leaves it
 * alone (a preemption bound of -1, a reduction left on): given to another
 * strategy they would be ignored, so the run would not be the one asked for.
 */
const STEERS: Record<string, { strategies: readonly Strategy[]; unset?: unknown }> = {
  preemptions: { strategies: ['dfs'], unset: -1 },
  maxStates: { strategies: ['dfs'] },
  jobs: { strategies: ['dfs'] },
  parallelAfter: { strategies: ['dfs'] },
  symmetry: { strategies: ['dfs'], unset: true },
  por: { strategies: ['dfs'], unset: true },
  mirror: { strategies: ['dfs'], unset: true },
  seed: { strategies: ['random', 'pct'] },
  runs: { strategies: ['random', 'pct'] },
  depth: { strategies: ['pct'] },
};

/** `vpmu check`'s flag for an option: maxStates is --max-states, por: false is --no-por. */
const flagOf = (name: string, value: unknown): string =>
  `--${value === false ? 'no-' : ''}${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;

function refuseOptionsOfAnotherStrategy(o: Record<string, unknown>): void {
  const strategy = (o.strategy ?? 'dfs') as Strategy;
  for (const [name, { strategies, unset }] of Object.entries(STEERS)) {
    const value = o[name];
    if (value === undefined || value === unset || strategies.includes(strategy)) continue;
    throw new BadInput(
      flagOf(name, value),
      `applies to --strategy ${strategies.join(' or ')} only, not ${strategy}`,
    );
  }
}
