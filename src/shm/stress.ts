/**
 * runStress(): the accounting protocol on real threads. N workers
 * (stress-worker.ts) hammer one SharedArrayBuffer; the main thread checks
 * the ghost holder counts about every millisecond while they run, and sums
 * what they did.
 */
import type { Worker } from 'node:worker_threads';
import { startWorker } from '../common/worker-thread.ts';
import { accountingVariant } from './variants.ts';
import {
  bothHeld,
  stressLayout,
  type OperationCounts,
  zeroCounts,
  type StressMix,
  type WorkerOutput,
} from './stress-layout.ts';
import { item } from '../common/item.ts';

export interface StressOptions {
  variant: string;
  threads: number;
  seconds: number;
  seed?: number;
  mix?: StressMix;
  /**
   * End the run as soon as both checks have seen the invariant broken (a
   * worker after its acquisition, and the main thread's sampler), instead of
   * at `seconds`, which then bounds the run. For positive controls: a racy
   * variant must be reported by both.
   */
  untilViolation?: boolean;
}

export interface StressResult {
  variant: string;
  threads: number;
  mix: StressMix;
  seconds: number;
  counts: OperationCounts;
  /** Calls per second, all threads together, by operation (refused calls included). */
  opsPerSecond: {
    create: number;
    release: number;
    account: number;
    unaccount: number;
    total: number;
  };
  violations: {
    /** Acquisitions that found the other side held (workers' check). */
    invariant: number;
    /** Main-thread samples that saw both sides held. */
    invariantSampled: number;
    /** Counter decrements that went below zero. */
    negative: number;
    /** WARN_ON_ONCE conditions hit, all sites. */
    warnings: number;
  };
  /** Counters after every worker released what it held: both 0 when balanced. */
  finalCounters: [number, number];
}

export async function runStress(options: StressOptions): Promise<StressResult> {
  const protocol = accountingVariant(options.variant);
  const mix = options.mix ?? 'mixed';
  const layout = stressLayout(protocol);
  const buffer = new SharedArrayBuffer(layout.words * 4);
  const memory = new Int32Array(buffer);
  const seed = options.seed ?? 1;
  const workers: Worker[] = [];
  const outputs: Promise<WorkerOutput>[] = [];
  for (let i = 0; i < options.threads; i++) {
    const worker = startWorker(import.meta.url, 'stress-worker', {
      workerData: {
        variant: options.variant,
        buffer,
        seed: (seed * 7919 + i * 104729 + 1) | 0 || 1,
        mix,
      },
    });
    workers.push(worker);
    outputs.push(
      new Promise((resolve, reject) => {
        worker.once('message', resolve);
        worker.once('error', reject);
        worker.once('exit', (code) =>
          reject(new Error(`stress worker ${i} exited with ${code} before reporting`)),
        );
      }),
    );
  }
  // Wait for every worker to load, so the clock measures the protocol, not startup.
  const failed = Promise.race(outputs).then(
    () => undefined,
    (error: unknown) => error,
  );
  while (Atomics.load(memory, layout.ready) < options.threads) {
    const error = await Promise.race([failed, new Promise((r) => setTimeout(r, 10, undefined))]);
    if (error)
      throw error instanceof Error ? error : new Error(`a stress worker failed: ${typeof error}`);
  }
  Atomics.store(memory, layout.go, 1);
  Atomics.notify(memory, layout.go);
  const started = performance.now();
  const deadline = started + options.seconds * 1000;
  let invariantSampled = 0;
  const tick = new Int32Array(new SharedArrayBuffer(4));
  const untilViolation = options.untilViolation === true;
  while (performance.now() < deadline) {
    if (bothHeld(Atomics.load(memory, layout.holders))) invariantSampled++;
    if (untilViolation && invariantSampled > 0 && Atomics.load(memory, layout.workerViolations) > 0)
      break;
    Atomics.wait(tick, 0, 0, 1);
  }
  Atomics.store(memory, layout.stop, 1);
  const results = await Promise.all(outputs);
  await Promise.all(workers.map((w) => w.terminate()));
  const seconds = (performance.now() - started) / 1000;

  const counts: OperationCounts = zeroCounts();
  for (const r of results) {
    for (const key of Object.keys(counts) as (keyof OperationCounts)[])
      counts[key] += r.counts[key];
  }
  const rate = (n: number) => Math.round(n / seconds);
  const creates = counts.create + counts.createRefused;
  const accounts = counts.account + counts.accountRefused;
  let warnings = 0;
  for (let i = 0; i < protocol.warnSites.length; i++) warnings += item(memory, layout.warnings + i);
  return {
    variant: options.variant,
    threads: options.threads,
    mix,
    seconds,
    counts,
    opsPerSecond: {
      create: rate(creates),
      release: rate(counts.release),
      account: rate(accounts),
      unaccount: rate(counts.unaccount),
      total: rate(creates + counts.release + accounts + counts.unaccount),
    },
    violations: {
      invariant: item(memory, layout.workerViolations),
      invariantSampled,
      negative: item(memory, layout.negative),
      warnings,
    },
    finalCounters: [item(memory, layout.cells), item(memory, layout.cells + 1)],
  };
}
