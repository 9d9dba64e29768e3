/**
 * `vpmu run [scenario]`: simulate a scenario (a built-in name or a YAML file;
 * default specint-sampling) for each of its vPMU designs and report accuracy
 * and overhead as a perf-stat-like table, JSON, or an HTML report.
 *
 * `--sweep path=v1,v2,...` runs a scenario parameter across values;
 * `--samples N` runs it under N cost models drawn from the parameters' ranges
 * (cli/samples.ts); `--costs FILE` replaces default costs with measured ones;
 * `--jobs N` puts sweep points and samples on worker threads; `--shard i/n`
 * runs one slice of a sweep or of the samples, so a batch scheduler's job
 * array can spread it across machines (each shard writes its own JSON;
 * `vpmu merge` combines them, samples or sweep points).
 *
 * Exit codes: 0 ok; 1 the simulated ordering of the designs contradicts the
 * published one (a check failed); 2 bad input.
 */
import { resolve } from 'node:path';
import { showValue } from '../common/printable.ts';
import type { SingleBar } from 'cli-progress';
import { printable } from '../common/printable.ts';
import type { Command } from 'commander';
import { loadHtmlReport, MissingPackageError, type HtmlReport } from '../report/load-html.ts';
import type { CostFile } from '../sim/cost-file.ts';
import type { SimulationReport } from '../sim/results.ts';
import type { SimulationOutcome } from '../sim/run-pool.ts';
import type { Scenario } from '../sim/scenario.ts';
import { MAX_DURATION_S, MAX_SAMPLES, MAX_SEED, MIN_DURATION_S } from '../sim/run-limits.ts';
import { DEFAULT_MAX_TRACE_EVENTS } from '../sim/trace-limits.ts';
import type { TraceRecorder } from '../sim/trace-recorder.ts';
import { parseInteger, runCommand, UsageError } from './errors.ts';
import { checkOutputPath, writeOutputFile } from './output-files.ts';
import { item } from '../common/item.js';
import { MAX_JOBS } from '../common/jobs.ts';

export const DEFAULT_SCENARIO = 'specint-sampling';

interface RunOptions {
  json?: boolean;
  html?: string;
  seed?: string;
  duration?: string;
  sweep?: string;
  shard?: string;
  set?: string[];
  progress?: boolean;
  samples?: string;
  sensitivity?: boolean;
  costs?: string;
  jobs?: string;
  trace?: string;
  traceWindow?: string;
  traceMaxEvents?: string;
}

/** --trace-window START:END, simulated seconds (either side may be left out). */
export function parseTraceWindow(text: string): { start: number; end: number } {
  const m = /^\s*([^:]*):([^:]*)\s*$/.exec(text);
  const start = m && item(m, 1).trim() !== '' ? Number(m[1]) : 0;
  const end = m && item(m, 2).trim() !== '' ? Number(m[2]) : Infinity;
  if (!m || !Number.isFinite(start) || start < 0 || Number.isNaN(end) || end <= start)
    throw new UsageError(
      `--trace-window: expected START:END in simulated seconds with 0 <= START < END (e.g. 0.1:0.12), got ${showValue(text)}`,
    );
  return { start, end };
}

/**
 * The trace options, checked before anything runs. A window that begins at
 * or after the end of the run (`duration`, simulated seconds) would write a
 * trace of no events, so it is refused.
 */
function traceRecorder(
  Recorder: typeof TraceRecorder,
  options: RunOptions,
  duration: number,
): TraceRecorder | null {
  if (options.trace === undefined) {
    if (options.traceWindow !== undefined || options.traceMaxEvents !== undefined)
      throw new UsageError('--trace-window and --trace-max-events go with --trace FILE.json');
    return null;
  }
  if (options.sweep !== undefined) throw new UsageError('--trace: records one run, not a --sweep');
  const window =
    options.traceWindow !== undefined ? parseTraceWindow(options.traceWindow) : undefined;
  if (window && window.start >= duration)
    throw new UsageError(
      `--trace-window: expected a START below the run's ${duration} simulated seconds, got ${showValue(options.traceWindow)}`,
    );
  const max =
    options.traceMaxEvents !== undefined
      ? parseInteger('--trace-max-events', options.traceMaxEvents, 1)
      : DEFAULT_MAX_TRACE_EVENTS;
  return new Recorder({
    ...(window ? { window } : {}),
    maxEventsPerDesign: max,
  });
}

/** --sweep path=v1,v2,... */
export function parseSweep(text: string): { path: string; values: string[] } {
  const eq = text.indexOf('=');
  if (eq <= 0)
    throw new UsageError(
      `--sweep: expected path=value1,value2,... (e.g. guests.0.perf.frequency=100,1000), got ${showValue(text)}`,
    );
  const path = text.slice(0, eq).trim();
  const values = text
    .slice(eq + 1)
    .split(',')
    .map((v) => v.trim())
    .filter((v) => v !== '');
  if (values.length === 0) throw new UsageError(`--sweep: no values after '${path}='`);
  return { path, values };
}

/**
 * --seed and --duration set every run's seed and duration: with a sweep of
 * that same field they would silently replace each swept value.
 */
function refuseSweptFlag(path: string, options: RunOptions): void {
  for (const flag of ['seed', 'duration'] as const)
    if (path === flag && options[flag] !== undefined)
      throw new UsageError(
        `--${flag}: the sweep sets the ${flag} of each run; drop --${flag} or sweep another field`,
      );
}

/** --shard i/n: the i-th of n slices (1-based). */
export function parseShard(text: string): { index: number; count: number } {
  const m = /^(\d+)\/(\d+)$/.exec(text.trim());
  if (!m) throw new UsageError(`--shard: expected i/n (e.g. 2/8), got ${showValue(text)}`);
  const index = Number(m[1]);
  const count = Number(m[2]);
  if (count < 1 || index < 1 || index > count || !Number.isSafeInteger(count))
    throw new UsageError(
      `--shard: i must be from 1 to n (a whole number up to ${Number.MAX_SAFE_INTEGER}), got ${showValue(text)}`,
    );
  return { index, count };
}

/** The values a shard runs: every n-th, starting at i - 1. */
export function shardValues<T>(
  values: readonly T[],
  shard: { index: number; count: number } | null,
): T[] {
  if (!shard) return [...values];
  return values.filter((_, k) => k % shard.count === shard.index - 1);
}

/**
 * What a run needs beyond its flags: the scenario loader (yaml, zod), the
 * simulator, the trace recorder, the reports, the progress bar. Imported
 * when a run starts, so that `vpmu --help` or `vpmu scenarios` does not load
 * them.
 */
async function loadRunModules() {
  const [scenario, simulator, fromScenario, trace, ordering, json, text, progress] =
    await Promise.all([
      import('../sim/scenario.ts'),
      import('../sim/simulator.ts'),
      import('../sim/from-scenario.ts'),
      import('../sim/trace-recorder.ts'),
      import('../sim/ordering.ts'),
      import('../report/json.ts'),
      import('../report/text.ts'),
      import('cli-progress'),
    ]);
  const [costFile, pool, samples] = await Promise.all([
    import('../sim/cost-file.ts'),
    import('../sim/run-pool.ts'),
    import('./samples.ts'),
  ]);
  return {
    ...scenario,
    ...simulator,
    ...fromScenario,
    ...trace,
    ...ordering,
    ...json,
    ...text,
    SingleBar: progress.default.SingleBar,
    ...costFile,
    ...pool,
    ...samples,
  };
}
type RunModules = Awaited<ReturnType<typeof loadRunModules>>;

/** The HTML report's renderers, or a one-line usage error when vega is not installed. */
async function loadHtml(): Promise<HtmlReport> {
  try {
    return await loadHtmlReport();
  } catch (error) {
    if (error instanceof MissingPackageError) throw new UsageError(`--html: ${error.message}`);
    throw error;
  }
}

function progressBar(
  Bar: typeof SingleBar,
  enabled: boolean,
): { update(fraction: number): void; stop(): void } {
  if (!enabled) return { update() {}, stop() {} };
  // Shown only for runs over a second, on stderr.
  const started = Date.now();
  let bar: SingleBar | null = null;
  return {
    update(fraction) {
      if (!bar && Date.now() - started > 1000) {
        bar = new Bar({
          stream: process.stderr,
          format: 'simulating [{bar}] {percentage}% | {eta_formatted} left',
          hideCursor: true,
          clearOnComplete: true,
        });
        bar.start(1000, 0);
      }
      bar?.update(Math.round(fraction * 1000));
    },
    stop() {
      bar?.stop();
    },
  };
}

/** The simulator's input for a scenario, with a calibration file's costs when one is given. */
function inputOf(modules: RunModules, scenario: Scenario, costs: CostFile | null) {
  const input = modules.scenarioToInput(scenario);
  return costs ? modules.withCostFile(input, costs) : input;
}

function runOne(
  modules: RunModules,
  scenario: Scenario,
  costs: CostFile | null,
  options: {
    seed?: number;
    duration?: number;
    progress: (f: number) => void;
    trace?: TraceRecorder | null;
  },
): SimulationReport {
  return modules.simulate(inputOf(modules, scenario, costs), {
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
    ...(options.duration !== undefined ? { duration: options.duration } : {}),
    progress: options.progress,
    ...(options.trace ? { trace: options.trace } : {}),
  });
}

export async function run(
  target: string | undefined,
  options: RunOptions,
  write: (text: string) => void,
): Promise<number> {
  const name = target ?? DEFAULT_SCENARIO;
  const seed =
    options.seed !== undefined ? parseInteger('--seed', options.seed, 0, MAX_SEED) : undefined;
  let duration: number | undefined;
  if (options.duration !== undefined) {
    duration = Number(options.duration);
    if (
      options.duration.trim() === '' ||
      !(duration >= MIN_DURATION_S && duration <= MAX_DURATION_S)
    ) {
      throw new UsageError(
        `--duration: expected simulated seconds from ${MIN_DURATION_S} to ${MAX_DURATION_S}, got ${showValue(options.duration)}`,
      );
    }
  }
  // The HTML renderers first: a missing optional package fails before the simulation runs.
  const html = options.html !== undefined ? await loadHtml() : undefined;
  const modules = await loadRunModules();
  const {
    applyOverride,
    orderingCheck,
    toJson,
    toSweepJson,
    toSweepShardJson,
    renderSweepText,
    renderText,
  } = modules;
  const loaded = modules.loadScenario(name);
  let scenario = loaded.scenario;
  // Every output path checked before the simulation spends any time.
  const inputs = [
    { path: loaded.file, is: 'the input scenario' },
    ...(options.costs !== undefined ? [{ path: options.costs, is: 'the --costs file' }] : []),
  ];
  if (options.html !== undefined) checkOutputPath('--html', options.html, inputs);
  if (options.trace !== undefined) {
    checkOutputPath('--trace', options.trace, inputs);
    if (options.html !== undefined && resolve(options.trace) === resolve(options.html))
      throw new UsageError(`--trace: '${options.trace}' is the --html file too; give each its own`);
  }
  for (const assignment of options.set ?? []) {
    const eq = assignment.indexOf('=');
    if (eq <= 0) throw new UsageError(`--set: expected path=value, got ${showValue(assignment)}`);
    scenario = applyOverride(scenario, assignment.slice(0, eq), assignment.slice(eq + 1), '--set');
  }
  if (loaded.scenario.published && !scenario.published)
    process.stderr.write(
      `vpmu: --set changes what ran in ${loaded.scenario.name}'s published test, so its figures are not compared\n`,
    );
  const trace = traceRecorder(modules.TraceRecorder, options, duration ?? scenario.duration);
  const costs = options.costs !== undefined ? modules.loadCostFile(options.costs) : null;
  const jobs =
    options.jobs !== undefined
      ? parseInteger('--jobs', options.jobs, 1, MAX_JOBS)
      : modules.defaultJobs();
  const samples =
    options.samples !== undefined
      ? parseInteger('--samples', options.samples, 2, MAX_SAMPLES)
      : null;
  if (samples !== null && trace)
    throw new UsageError('--trace: records one run, not the runs of --samples');
  // Flags that only steer the samples or a sweep would be ignored by one run.
  if (options.sensitivity === false && samples === null)
    throw new UsageError('--no-sensitivity: only with --samples (it drops the Sobol indices)');
  if (options.jobs !== undefined && samples === null && options.sweep === undefined)
    throw new UsageError(
      '--jobs: only with --samples or --sweep (one run is simulated on one thread)',
    );
  const color = !!process.stdout.isTTY && !process.env.NO_COLOR;
  const bar = progressBar(modules.SingleBar, options.progress !== false && !!process.stderr.isTTY);

  try {
    if (options.sweep !== undefined) {
      const sweep = parseSweep(options.sweep);
      refuseSweptFlag(sweep.path, options);
      const shard = options.shard !== undefined ? parseShard(options.shard) : null;
      const values = shardValues(sweep.values, shard);
      // Validate every value before spending time on any run.
      const variants = values.map((v) => ({
        value: v,
        scenario: applyOverride(scenario, sweep.path, v, '--sweep'),
      }));
      if (scenario.published && variants.some((v) => !v.scenario.published))
        process.stderr.write(
          `vpmu: --sweep ${sweep.path} changes what ran in ${scenario.name}'s published test, so its figures are not compared\n`,
        );
      if (samples !== null)
        throw new UsageError('--samples with --sweep: run the samples of one scenario at a time');
      const { signal, dispose } = modules.interruptSignal();
      let outcomes: SimulationOutcome[];
      try {
        outcomes = await modules.simulateEach(
          variants.map((v) => ({
            input: inputOf(modules, v.scenario, costs),
            options: {
              ...(seed !== undefined ? { seed } : {}),
              ...(duration !== undefined ? { duration } : {}),
            },
          })),
          { jobs, progress: (f) => bar.update(f), signal },
        );
      } finally {
        dispose();
      }
      // A point that failed does not discard the others: they are reported,
      // and each failure is one line on stderr (then the exit code is 1, as
      // for an internal error of a single run).
      const reports: SimulationReport[] = [];
      const failures: string[] = [];
      outcomes.forEach((outcome, k) => {
        const value = item(variants, k).value;
        if (outcome.ok)
          reports.push({ ...outcome.report, sweep: { parameter: sweep.path, value } });
        else
          failures.push(
            `vpmu: --sweep ${printable(sweep.path)}=${printable(value)}: internal error: ${outcome.error}\n`,
          );
      });
      bar.stop();
      for (const line of failures) process.stderr.write(line);
      if (html && options.html)
        writeOutputFile('--html', options.html, await html.renderSweepHtml(reports));
      if (options.json)
        write(
          `${JSON.stringify(shard ? toSweepShardJson(reports, shard) : toSweepJson(reports), null, 2)}\n`,
        );
      else write(renderSweepText(reports));
      return failures.length === 0 && reports.every((r) => orderingCheck(r).ok) ? 0 : 1;
    }
    if (samples !== null) {
      const code = await modules.runSamples(
        inputOf(modules, scenario, costs),
        {
          samples,
          sensitivity: options.sensitivity !== false,
          ...(seed !== undefined ? { seed } : {}),
          ...(duration !== undefined ? { duration } : {}),
          jobs,
          shard: options.shard !== undefined ? parseShard(options.shard) : null,
          progress: (f) => bar.update(f),
        },
        {
          ...(options.json ? { json: true } : {}),
          ...(options.html ? { html: options.html } : {}),
          color,
          write,
        },
      );
      bar.stop();
      return code;
    }
    if (options.shard !== undefined)
      throw new UsageError(
        '--shard: only with --sweep or --samples (a shard is a slice of a sweep or of the samples)',
      );

    const report = runOne(modules, scenario, costs, {
      seed,
      duration,
      progress: (f) => bar.update(f),
      trace,
    });
    bar.stop();
    if (trace && options.trace !== undefined)
      writeOutputFile('--trace', options.trace, JSON.stringify(trace.toJSON()));
    if (html && options.html)
      writeOutputFile('--html', options.html, await html.renderHtml(report));
    const check = orderingCheck(report);
    if (options.json) write(`${JSON.stringify(toJson(report), null, 2)}\n`);
    else {
      write(renderText(report, { color }));
      if (options.html) write(`HTML report written to ${options.html}\n`);
      if (trace) write(`Trace written to ${options.trace} (open it in https://ui.perfetto.dev)\n`);
    }
    if (!check.ok) process.stderr.write(`vpmu: check failed: ${check.message}\n`);
    return check.ok ? 0 : 1;
  } catch (error) {
    if (!(error instanceof modules.RunsCancelled)) throw error;
    bar.stop();
    process.stderr.write('vpmu: interrupted: workers stopped, nothing written\n');
    return 130;
  } finally {
    bar.stop();
  }
}

export function registerRun(program: Command, options: { isDefault?: boolean } = {}): void {
  program
    .command('run', { isDefault: options.isDefault ?? false })
    .description(
      `simulate a scenario (built-in name or YAML file; default ${DEFAULT_SCENARIO}) under each vPMU design`,
    )
    .argument('[scenario]', 'a built-in scenario name (see `vpmu scenarios`) or a YAML file')
    .option('--json', 'print the results as JSON')
    .option('--html <file>', 'write a self-contained HTML report with charts')
    .option('--seed <n>', "override the scenario's seed")
    .option('--duration <seconds>', 'simulated seconds (overrides the scenario)')
    .option(
      '--sweep <path=v1,v2,...>',
      'run a scenario parameter across values, e.g. guests.0.perf.frequency=100,1000,4000',
    )
    .option(
      '--shard <i/n>',
      'run only the i-th of n slices of a sweep or of the samples (for job arrays; combine with `vpmu merge`)',
    )
    .option(
      '--samples <n>',
      "draw n cost models from the parameters' ranges: overhead and error intervals, and what drives them",
    )
    .option(
      '--no-sensitivity',
      'with --samples: intervals only, no Sobol indices (n runs, not n (k + 2))',
    )
    .option(
      '--costs <file.yaml>',
      'measured costs (and ranges) that replace the defaults (docs/calibration.md)',
    )
    .option(
      '--jobs <n>',
      `worker threads for samples and sweep points (default: the number of cores; at most ${MAX_JOBS})`,
    )
    .option('--set <path=value...>', 'override scenario fields, e.g. --set duration=0.5')
    .option('--no-progress', 'no progress bar')
    .option('--trace <file.json>', 'write the simulated timeline for Perfetto (Trace Event Format)')
    .option(
      '--trace-window <start:end>',
      'trace only events that begin in this span of simulated seconds, e.g. 0.1:0.12',
    )
    .option(
      '--trace-max-events <n>',
      `keep at most n trace events per design (default ${DEFAULT_MAX_TRACE_EVENTS})`,
    )
    .action(async (target: string | undefined, opts: RunOptions) => {
      await runCommand(program.opts().debug === true, () =>
        run(target, opts, (t) => process.stdout.write(t)),
      );
    });
}
