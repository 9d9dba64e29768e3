/**
 * Simulation runs spread over worker threads (`vpmu run --jobs N`): each
 * worker takes the next run as soon as it is free, and results are returned
 * by run, so the report is the same whatever the order they finish in (and
 * the same as --jobs 1, which runs everything in this thread). Each run is a
 * fresh, seeded simulation: it depends on nothing but its input.
 */
import { availableParallelism } from 'node:os';
import { startWorker } from '../common/worker-thread.ts';
import type { SimulationReport } from './results.ts';
import type { SimulationInput, SimulationOptions } from './simulator.ts';
import { simulate } from './simulator.ts';
import {
  executeRun,
  planUncertainty,
  runNominal,
  shardRuns,
  uncertaintyReport,
  type RunOutcome,
  type UncertaintyOptions,
  type UncertaintyPlan,
  type UncertaintyReport,
} from './uncertainty.ts';

export type PoolRequest =
  | { id: number; kind: 'plan'; plan: UncertaintyPlan }
  | { id: number; kind: 'run'; run: number }
  | { id: number; kind: 'simulate'; input: SimulationInput; options: SimulationOptions };

export type PoolResponse =
  { id: number; ok: true; value: unknown } | { id: number; ok: false; error: string };

/** The default --jobs: the cores this process may use. */
export function defaultJobs(): number {
  return availableParallelism();
}

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
}

/**
 * Run `jobs` over `size` workers (in this thread when size is 1), in any
 * order; `done` is told after each; results in the order of `jobs`.
 */
async function runJobs<T>(
  size: number,
  setup: ((id: number) => PoolRequest) | null,
  jobs: readonly Job<T>[],
  done: () => void,
  signal?: AbortSignal,
): Promise<T[]> {
  const results = new Array<T>(jobs.length);
  if (size <= 1 || jobs.length <= 1) {
    for (let i = 0; i < jobs.length; i++) {
      if (signal?.aborted) throw new RunsCancelled();
      results[i] = jobs[i]!.local();
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
  try {
    await Promise.all(
      workers.map(
        (worker) =>
          new Promise<void>((resolve, reject) => {
            let pending = -1;
            let current = -1;
            const onAbort = () => reject(new RunsCancelled());
            signal?.addEventListener('abort', onAbort, { once: true });
            const send = () => {
              if (signal?.aborted) return reject(new RunsCancelled());
              if (next >= jobs.length) {
                signal?.removeEventListener('abort', onAbort);
                return resolve();
              }
              current = next++;
              pending = id++;
              worker.postMessage(jobs[current]!.request(pending));
            };
            worker.on('message', (response: PoolResponse) => {
              if (response.id !== pending) return;
              if (!response.ok) return reject(new Error(`worker: ${response.error}`));
              if (current >= 0) {
                results[current] = response.value as T;
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
  } finally {
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
    })),
    counter(runs.length, options.progress),
    options.signal,
  );
}

/** Whole simulations (sweep points), in the order given. */
export function simulateAll(
  inputs: readonly { input: SimulationInput; options: SimulationOptions }[],
  options: PoolOptions,
): Promise<SimulationReport[]> {
  return runJobs<SimulationReport>(
    options.jobs,
    null,
    inputs.map(({ input, options: o }) => ({
      request: (id) => ({ id, kind: 'simulate', input, options: o }),
      local: () => simulate(input, o),
    })),
    counter(inputs.length, options.progress),
    options.signal,
  );
}

/** runUncertainty (src/sim/uncertainty.ts) with the runs on `jobs` worker threads: the same report. */
export async function runUncertaintyOnThreads(
  input: SimulationInput,
  options: UncertaintyOptions & PoolOptions,
): Promise<UncertaintyReport> {
  const nominal = runNominal(input, options);
  const plan = planUncertainty(input, options, nominal);
  const outcomes = await executeRuns(plan, shardRuns(plan).slice(1), options);
  return uncertaintyReport(plan, nominal, outcomes);
}
