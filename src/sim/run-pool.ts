/**
 * Simulation runs spread over worker threads (`vpmu run --jobs N`): each
 * worker takes the next run as soon as it is free, and results are returned
 * by run, so the report is the same whatever the order they finish in (and
 * the same as --jobs 1, which runs everything in this thread). Each run is a
 * fresh, seeded simulation: it depends on nothing but its input.
 */
import { withDefaultSignals } from '../common/interrupts.ts';
import { defaultJobs, MAX_JOBS } from '../common/jobs.ts';
import { startWorker } from '../common/worker-thread.ts';
import type { SimulationReport } from './results.ts';
import type { SimulationInput, SimulationOptions } from './simulator.ts';
import { simulate } from './simulator.ts';
import {
  executeRun,
  planUncertainty,
  runNominal,
  checkUncertaintyOptions,
  UNCERTAINTY_OPTION_NAMES,
  shardRuns,
  uncertaintyReport,
  type RunOutcome,
  type UncertaintyOptions,
  type UncertaintyPlan,
  type UncertaintyReport,
} from './uncertainty.ts';
import { item } from '../common/item.js';
import { showValue } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';

export type PoolRequest =
  | { id: number; kind: 'plan'; plan: UncertaintyPlan }
  | { id: number; kind: 'run'; run: number }
  | { id: number; kind: 'simulate'; input: SimulationInput; options: SimulationOptions };

export type PoolResponse =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

export { defaultJobs };

/** Stop a pool's work: the runs not yet done fail with this. */
export class RunsCancelled extends Error {
  constructor() {
    super('cancelled');
    this.name = 'RunsCancelled';
  }
}

interface Job<T> {
  request: (id: number) => PoolRequest;
  local: () => T;
  /** The result from what a worker posted back (its value is plain data). */
  received: (value: unknown) => T;
}

/**
 * Run `jobs` over `size` workers (in this thread when size is 1), in any
 * order; `done` is told after each; results in the order of `jobs`. A job
 * that fails rejects the whole, unless `failed` turns its error into a result.
 */
async function runJobs<T>(
  size: number,
  setup: ((id: number) => PoolRequest) | null,
  jobs: readonly Job<T>[],
  done: () => void,
  signal?: AbortSignal,
  failed?: (error: string) => T,
): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  if (size <= 1 || jobs.length <= 1) {
    for (let i = 0; i < jobs.length; i++) {
      if (signal?.aborted) throw new RunsCancelled();
      try {
        // Ctrl-C must not wait for the end of a long run on this thread.
        results[i] = withDefaultSignals(() => item(jobs, i).local());
      } catch (error) {
        if (!failed) throw error;
        results[i] = failed(error instanceof Error ? error.message : String(error));
      }
      done();
      // Let a Ctrl-C handler run between runs.
      await new Promise((resolve) => setImmediate(resolve));
    }
    return results;
  }
  const workers = Array.from({ length: Math.min(size, jobs.length) }, () =>
    startWorker(import.meta.url, 'run-worker'),
  );
  let next = 0;
  let id = 0;
  const stop = () => {
    for (const w of workers) void w.terminate();
  };
  // One abort listener for the pool, not one per worker: more than ten on
  // one signal make Node warn of a leak (--jobs 16), and the listener goes
  // however the pool ends, so a signal reused across calls collects none.
  let onAbort = () => {};
  const cancelled = new Promise<never>((_, reject) => {
    onAbort = () => reject(new RunsCancelled());
  });
  signal?.addEventListener('abort', onAbort, { once: true });
  try {
    const all = Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let pending = -1;
            let current = -1;
            const send = () => {
              if (signal?.aborted) return reject(new RunsCancelled());
              if (next >= jobs.length) return resolve();
              current = next++;
              pending = id++;
              worker.postMessage(item(jobs, current).request(pending));
            };
            worker.on('message', (response: PoolResponse) => {
              if (response.id !== pending) return;
              if (!response.ok && (!failed || current < 0))
                return reject(new Error(`worker: ${response.error}`));
              if (current >= 0) {
                // An error reaches here only when `failed` is given (rejected above otherwise).
                if (response.ok) results[current] = item(jobs, current).received(response.value);
                else if (failed) results[current] = failed(response.error);
                done();
              }
              send();
            });
            worker.on('error', reject);
            worker.on('exit', (code) => {
              if (next < jobs.length || pending >= 0)
                reject(new Error(`worker exited with ${code}`));
            });
            if (setup) {
              pending = id++;
              worker.postMessage(setup(pending));
            } else send();
          }),
      ),
    );
    // The race leaves the pool's own rejection unhandled when the signal wins.
    all.catch(() => {});
    await Promise.race([all, cancelled]);
  } finally {
    signal?.removeEventListener('abort', onAbort);
    stop();
  }
  return results;
}

export interface PoolOptions {
  /** Worker threads; 1 runs in this thread. */
  jobs: number;
  /** Called after each run with the fraction done. */
  progress?: (fraction: number) => void;
  signal?: AbortSignal;
}

function counter(total: number, progress?: (fraction: number) => void): () => void {
  let finished = 0;
  return () => progress?.(++finished / total);
}

/** The outcomes of `runs` of an uncertainty plan, in the order of `runs`. */
export function executeRuns(
  plan: UncertaintyPlan,
  runs: readonly number[],
  options: PoolOptions,
): Promise<RunOutcome[]> {
  return runJobs<RunOutcome>(
    options.jobs,
    (id) => ({ id, kind: 'plan', plan }),
    runs.map((run) => ({
      request: (id) => ({ id, kind: 'run', run }),
      local: () => executeRun(plan, run),
      received: (value) => value as RunOutcome,
    })),
    counter(runs.length, options.progress),
    options.signal,
  );
}

/** A sweep point's run: its report, or why it failed (the error's message). */
export type SimulationOutcome =
  | { readonly ok: true; readonly report: SimulationReport }
  | { readonly ok: false; readonly error: string };

/**
 * Whole simulations (sweep points), in the order given; a run that fails
 * does not discard the others: its outcome holds the error instead.
 */
export function simulateEach(
  inputs: readonly { input: SimulationInput; options: SimulationOptions }[],
  options: PoolOptions,
): Promise<SimulationOutcome[]> {
  return runJobs<SimulationOutcome>(
    options.jobs,
    null,
    inputs.map(({ input, options: o }) => ({
      request: (id) => ({ id, kind: 'simulate', input, options: o }),
      local: () => ({ ok: true, report: simulate(input, o) }),
      received: (value) => ({ ok: true, report: value as SimulationReport }),
    })),
    counter(inputs.length, options.progress),
    options.signal,
    // A worker's error comes as its stack: its first line, without the class name.
    (error) => ({ ok: false, error: (error.split('\n', 1)[0] ?? '').replace(/^\w*Error: /, '') }),
  );
}

/**
 * The pool's options from a JavaScript caller, checked before any run: a
 * missing `jobs` would otherwise be read as "reading 'jobs' of undefined"
 * from inside, and a misspelt one ignored.
 */
function checkPoolOptions(where: string, options: unknown, extra: readonly string[] = []): void {
  if (options === null || typeof options !== 'object' || Array.isArray(options))
    throw new TypeError(
      `${where}: expected options such as { jobs: 2 }, got ${showValue(options)}`,
    );
  const unknown = unknownKey(options, ['jobs', 'progress', 'signal', ...extra]);
  if (unknown !== undefined) throw new TypeError(`${where}: ${unknown}`);
  const { jobs, progress, signal } = options as Record<string, unknown>;
  if (!Number.isSafeInteger(jobs) || (jobs as number) < 1 || (jobs as number) > MAX_JOBS)
    throw new RangeError(
      `${where}: jobs: expected a whole number of threads from 1 to ${MAX_JOBS}, got ${showValue(jobs)}`,
    );
  if (progress !== undefined && typeof progress !== 'function')
    throw new TypeError(`${where}: progress: expected a function, got ${showValue(progress)}`);
  if (signal !== undefined && !(signal instanceof AbortSignal))
    throw new TypeError(`${where}: signal: expected an AbortSignal, got ${showValue(signal)}`);
}

/** Whole simulations (sweep points), in the order given; the first failure rejects. */
export async function simulateAll(
  inputs: readonly { input: SimulationInput; options: SimulationOptions }[],
  options: PoolOptions,
): Promise<SimulationReport[]> {
  if (!Array.isArray(inputs))
    throw new TypeError(
      `simulateAll: expected a list of { input, options }, got ${showValue(inputs)}`,
    );
  (inputs as unknown[]).forEach((entry, i) => {
    if (entry === null || typeof entry !== 'object' || !('input' in entry))
      throw new TypeError(
        `simulateAll: inputs[${i}]: expected { input, options }, got ${showValue(entry)}`,
      );
  });
  checkPoolOptions('simulateAll', options);
  return (await simulateEach(inputs, options)).map((o) => {
    if (!o.ok) throw new Error(o.error);
    return o.report;
  });
}

/** runUncertainty (src/sim/uncertainty.ts) with the runs on `jobs` worker threads: the same report. */
export async function runUncertaintyOnThreads(
  input: SimulationInput,
  options: UncertaintyOptions & PoolOptions,
): Promise<UncertaintyReport> {
  checkUncertaintyOptions(options);
  checkPoolOptions('runUncertaintyOnThreads', options, UNCERTAINTY_OPTION_NAMES);
  const nominal = runNominal(input, options);
  const plan = planUncertainty(input, options, nominal);
  const outcomes = await executeRuns(plan, shardRuns(plan).slice(1), options);
  return uncertaintyReport(plan, nominal, outcomes);
}
