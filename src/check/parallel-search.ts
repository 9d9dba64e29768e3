/**
 * The exhaustive search on several threads (`vpmu check --jobs N`): the
 * level-synchronous search of level-search.ts, with the main thread as
 * participant 0 and N - 1 worker threads (search-worker.ts) over one shared
 * fingerprint table.
 *
 * The main thread starts alone, level by level. Once a level holds
 * SPLIT_AT states (a graph smaller than that never pays for a thread) it
 * starts the workers and waits for them to load (a tenth of a second
 * compiled; runCheck comes here only for graphs past 2^18 states, which take
 * seconds), hands each an interleaved share of the next level, and from then
 * on all expand their shares between barriers. A worker that has not loaded
 * within WAIT_FOR_WORKERS_MS is left out: the search goes on without it.
 *
 * The result is the depth-first search's (search.ts), states and
 * transitions alike; only `maxDepth` differs (here the number of levels, the
 * longest shortest path). A model with loops (cycle detection needs the
 * depth-first stack) and a preemption-bounded search stay sequential; so
 * does the search for a counterexample, which check.ts runs afterwards.
 */
import {
  MessageChannel,
  receiveMessageOnPort,
  type MessagePort,
  type Worker,
} from 'node:worker_threads';
import { startWorker } from '../common/worker-thread.ts';
import { Engine, type EngineOptions } from './engine.ts';
import type { Reductions } from './expander.ts';
import {
  C_BUDGET_SPENT,
  C_READY,
  C_START,
  C_VIOLATION,
  C_VIOLATION_THREAD,
  CONTROL_WORDS,
  GO,
  LevelSearch,
  QUIT,
  tallyWords,
  type LevelShared,
} from './level-search.ts';
import { buildModel, type ModelKind, type ModelParams } from './model-catalogue.ts';
import { Violation } from './properties.ts';
import type { DfsResult, Frontier } from './search.ts';
import { SharedFingerprintTable } from './shared-fingerprint-table.ts';

/**
 * A search that has not ended after this many states on one thread is worth
 * the threads' start (check.ts); below it, the depth-first search is faster.
 */
export const PARALLEL_AFTER = 1 << 18;
/** A level this large is worth sharing out. */
export const SPLIT_AT = 4096;

/** What a worker needs to build the same engine as the main thread. */
export interface EngineSpec {
  kind: ModelKind;
  variant: string;
  params: ModelParams;
  engine: EngineOptions;
  reductions: Reductions;
}

/** What the main thread hands a worker (workerData). */
export interface WorkerBrief {
  spec: EngineSpec;
  index: number;
  control: SharedArrayBuffer;
  tally: SharedArrayBuffer;
  maxStates: number;
  reserved: SharedArrayBuffer;
  port: MessagePort;
}

/** What a worker receives on its port: its first share of a level, or a larger table. */
export type WorkerMessage =
  | {
      kind: 'share';
      states: Int32Array;
      level: number;
      participants: number;
      table: SharedArrayBuffer;
    }
  | { kind: 'table'; table: SharedArrayBuffer };

export interface ParallelOptions {
  /** Threads in all, the main thread included (at least 2). */
  jobs: number;
  maxStates: number;
  onProgress?: (states: number, transitions: number, seconds: number) => void;
  /**
   * Wait (up to WAIT_FOR_WORKERS_MS) for the workers at the first level worth
   * sharing (default), rather than going on alone while they load and
   * handing out shares at the first level boundary after they are ready,
   * which leaves them out of a graph one thread finishes first.
   */
  waitForWorkers?: boolean;
  /** The level size at which the workers start (default SPLIT_AT). */
  splitAt?: number;
  /** Go on from where a depth-first search stopped (its frontier and counts) instead of from the start. */
  resume?: { frontier: Frontier; states: number; transitions: number };
}

/** How long the main thread waits for the workers to load before it goes on without them. */
const WAIT_FOR_WORKERS_MS = 60_000;

/** The first table: room for 2^15 states (2^16 slots, 512 KB), grown by the search as it needs. */
const FIRST_TABLE_STATES = 1 << 15;

/** The engine a spec describes: the main thread's and each worker's. */
export function engineFor(spec: EngineSpec): Engine {
  return new Engine(buildModel(spec.kind, spec.variant, spec.params), spec.engine);
}

export function parallelDfs(spec: EngineSpec, options: ParallelOptions): DfsResult {
  const started = performance.now();
  const jobs = options.jobs;
  const engine = engineFor(spec);
  const workers: { worker: Worker; port: MessagePort }[] = [];
  const shared: LevelShared = {
    // Room for the states handed over and every transition of the first level.
    table: SharedFingerprintTable.forStates(
      Math.max(
        FIRST_TABLE_STATES,
        (options.resume?.states ?? 0) +
          (options.resume?.frontier.nextThread.length ?? 1) * engine.threads,
      ),
    ),
    control: new Int32Array(new SharedArrayBuffer(4 * CONTROL_WORDS)),
    tally: new Float64Array(new SharedArrayBuffer(8 * tallyWords(jobs))),
    maxStates: options.maxStates,
    reserved: new Int32Array(new SharedArrayBuffer(4)),
  };
  const search = new LevelSearch(engine, spec.reductions, shared, 0, {
    make(current, slots, participants) {
      const table = current.larger(slots);
      if (participants > 1) {
        for (const { port } of workers) {
          const message: WorkerMessage = { kind: 'table', table: table.buffer };
          port.postMessage(message);
        }
      }
      return table;
    },
  });
  const result = (): DfsResult => {
    const [transitions, states] = search.totals();
    const violation: Violation = Atomics.load(shared.control, C_VIOLATION);
    return {
      states,
      transitions,
      maxDepth: search.level,
      seconds: (performance.now() - started) / 1000,
      complete: Atomics.load(shared.control, C_BUDGET_SPENT) === 0 && !search.broken,
      omissionProbability: (states * states) / 2 ** 64,
      violation,
      violationThread:
        violation === Violation.None ? -1 : Atomics.load(shared.control, C_VIOLATION_THREAD),
      path: [],
      loopStart: -1,
      threads: search.participants,
    };
  };
  let nextProgress = 1 << 16;
  const progress = () => {
    const [transitions, states] = search.totals();
    if (options.onProgress === undefined || states < nextProgress) return;
    nextProgress = states + (1 << 16);
    options.onProgress(states, transitions, (performance.now() - started) / 1000);
  };
  const stopWorkers = () => {
    if (Atomics.load(shared.control, C_START) === 0) {
      Atomics.store(shared.control, C_START, QUIT);
      Atomics.notify(shared.control, C_START);
    }
    for (const { worker, port } of workers) {
      port.close();
      worker.unref();
      void worker.terminate();
    }
  };

  try {
    const resume = options.resume;
    if (resume === undefined) {
      if (search.seed() !== Violation.None) return result();
    } else {
      resume.frontier.table.forEach((hi, lo) => shared.table.add(hi, lo));
      Atomics.store(shared.reserved, 0, resume.states);
      if (search.resume(resume.frontier, resume.states, resume.transitions) !== Violation.None)
        return result();
    }
    // Alone until the workers are ready, or the search is over.
    while (search.pending > 0) {
      if (workers.length === 0 && search.pending >= (options.splitAt ?? SPLIT_AT)) {
        for (let index = 1; index < jobs; index++)
          workers.push(startSearchWorker(spec, index, shared));
        if (options.waitForWorkers !== false) {
          const until = performance.now() + WAIT_FOR_WORKERS_MS;
          for (;;) {
            const ready = Atomics.load(shared.control, C_READY);
            if (ready === workers.length || performance.now() > until) break;
            Atomics.wait(shared.control, C_READY, ready, 10);
          }
        }
      }
      if (workers.length > 0 && Atomics.load(shared.control, C_READY) === workers.length) {
        const level = search.level;
        // split() returns one share per worker (jobs - 1), in their order: a non-null assertion.
        search.split(jobs).forEach((states, k) => {
          const message: WorkerMessage = {
            kind: 'share',
            states,
            level,
            participants: jobs,
            table: search.table.buffer,
          };
          workers[k]!.port.postMessage(message, [states.buffer as ArrayBuffer]);
        });
        Atomics.store(shared.control, C_START, GO);
        Atomics.notify(shared.control, C_START);
        break;
      }
      const goOn = search.step();
      progress();
      if (!goOn) return result();
    }
    if (search.pending === 0) return result();
    while (search.step()) progress();
    if (search.broken) throw failure(workers);
    return result();
  } finally {
    stopWorkers();
  }
}

function startSearchWorker(
  spec: EngineSpec,
  index: number,
  shared: LevelShared,
): { worker: Worker; port: MessagePort } {
  const { port1, port2 } = new MessageChannel();
  const brief: WorkerBrief = {
    spec,
    index,
    control: shared.control.buffer as SharedArrayBuffer,
    tally: shared.tally.buffer as SharedArrayBuffer,
    maxStates: shared.maxStates,
    reserved: shared.reserved.buffer as SharedArrayBuffer,
    port: port2,
  };
  const worker = startWorker(import.meta.url, 'search-worker', {
    workerData: brief,
    transferList: [port2],
  });
  // A worker that cannot load never becomes ready: the search goes on without it.
  worker.on('error', () => {});
  return { worker, port: port1 };
}

/** The error a failed worker posted, or the news that one ended early. */
function failure(workers: { port: MessagePort }[]): Error {
  for (const { port } of workers) {
    for (let m = receiveMessageOnPort(port); m !== undefined; m = receiveMessageOnPort(port)) {
      if (typeof m.message === 'string')
        return new Error(`internal: a search worker failed: ${m.message}`);
    }
  }
  return new Error('internal: a search worker ended before the search did');
}
