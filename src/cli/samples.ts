/**
 * `vpmu run SCENARIO --samples N`: the scenario under N cost models drawn
 * from the parameters' ranges (src/sim/uncertainty.ts), on --jobs worker
 * threads, or one --shard of it for `vpmu merge`; and what both print.
 * Ctrl-C stops the workers (RunsCancelled reaches the caller, which says so
 * once its progress bar is gone) and nothing is written.
 */
import { renameSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, basename, join } from 'node:path';
import { withDefaultSignals } from '../common/interrupts.ts';
import { renderUncertaintyText, toUncertaintyJson } from '../report/uncertainty.ts';
import { orderingCheck } from '../sim/ordering.ts';
import { executeRuns } from '../sim/run-pool.ts';
import type { SimulationInput } from '../sim/simulator.ts';
import {
  planUncertainty,
  runNominal,
  shardRuns,
  uncertaintyReport,
  type UncertaintyOptions,
  type UncertaintyReport,
} from '../sim/uncertainty.ts';
import { SHARD_FORMAT, shardToText, type ShardFile } from '../sim/uncertainty-shards.ts';
import { UsageError } from './errors.ts';

export interface Output {
  json?: boolean;
  html?: string;
  color: boolean;
  write: (text: string) => void;
}

/** Write a file whole or not at all: a temporary file beside it, renamed over it. */
export function writeWhole(path: string, text: string): void {
  const temporary = join(dirname(path), `.${basename(path)}.${process.pid}.tmp`);
  try {
    writeFileSync(temporary, text);
    renameSync(temporary, path);
  } catch (error) {
    rmSync(temporary, { force: true });
    throw error;
  }
}

/** Print a --samples report (text or JSON) and write its HTML page; the exit code. */
export async function emitUncertainty(report: UncertaintyReport, out: Output): Promise<number> {
  if (out.html) {
    // vega and vega-lite are optional and slow to load: only for --html.
    const { renderUncertaintyHtml } = await import('../report/uncertainty-html.ts');
    writeWhole(out.html, await renderUncertaintyHtml(report));
  }
  if (out.json) out.write(`${JSON.stringify(toUncertaintyJson(report), null, 2)}\n`);
  else {
    out.write(renderUncertaintyText(report, { color: out.color }));
    if (out.html) out.write(`HTML report written to ${out.html}\n`);
  }
  const check = orderingCheck(report.nominal);
  if (!check.ok) process.stderr.write(`vpmu: check failed: ${check.message}\n`);
  return check.ok ? 0 : 1;
}

/** An AbortSignal that Ctrl-C (SIGINT) or SIGTERM fires, and its removal. */
export function interruptSignal(): { signal: AbortSignal; dispose: () => void } {
  const controller = new AbortController();
  const abort = () => controller.abort();
  process.once('SIGINT', abort);
  process.once('SIGTERM', abort);
  return {
    signal: controller.signal,
    dispose: () => {
      process.off('SIGINT', abort);
      process.off('SIGTERM', abort);
    },
  };
}

export async function runSamples(
  input: SimulationInput,
  options: UncertaintyOptions & {
    jobs: number;
    shard: { index: number; count: number } | null;
    progress: (fraction: number) => void;
  },
  out: Output,
): Promise<number> {
  if (options.shard && !out.json)
    throw new UsageError(
      '--shard with --samples writes a part of the runs for `vpmu merge`: add --json (and redirect it to a file)',
    );
  if (options.shard && out.html)
    throw new UsageError(
      '--html with --shard: a shard has part of the runs; give --html to `vpmu merge`',
    );
  const { signal, dispose } = interruptSignal();
  try {
    const nominal = withDefaultSignals(() => runNominal(input, options));
    const plan = planUncertainty(input, options, nominal);
    const runs = shardRuns(plan, options.shard ?? undefined).filter((run) => run !== 0);
    const outcomes = await executeRuns(plan, runs, {
      jobs: options.jobs,
      progress: options.progress,
      signal,
    });
    if (options.shard) {
      const file: ShardFile = {
        format: SHARD_FORMAT,
        shard: options.shard,
        input,
        options: {
          samples: options.samples,
          sensitivity: options.sensitivity ?? true,
          ...(options.seed !== undefined ? { seed: options.seed } : {}),
          ...(options.duration !== undefined ? { duration: options.duration } : {}),
        },
        ...(options.shard.index === 1 ? { nominal } : {}),
        outcomes,
      };
      out.write(shardToText(file));
      return 0;
    }
    return await emitUncertainty(uncertaintyReport(plan, nominal, outcomes), out);
  } finally {
    dispose();
  }
}
