/**
 * `vpmu check`: explore every interleaving of a concurrent protocol model
 * (src/check/), or sample them, or replay one schedule. Exit 0 when the
 * properties hold, 1 with a counterexample, 2 on bad input.
 */
import { showValue } from '../common/printable.ts';
import type { Command } from 'commander';
import {
  STRATEGIES,
  formatTrace,
  runCheck,
  runReplay,
  type CheckResult,
  type Strategy,
} from '../check/check.ts';
import {
  BadInput,
  MODEL_KINDS,
  paramSpecs,
  parseModelKind,
  variantInfo,
  variantNames,
  type ModelParams,
} from '../check/model-catalogue.ts';
import { PARALLEL_AFTER } from '../check/parallel-search.ts';
import { PROPERTIES } from '../check/properties.ts';
import { defaultJobs, MAX_JOBS } from '../common/jobs.ts';
import { parseProperties } from '../check/schedule.ts';
import { parseInteger, runCommand, UsageError } from './errors.ts';

/**
 * The exhaustive search's default state budget: visited states are 64-bit
 * fingerprints in a table kept at most half full and grown by doubling, so
 * 30 M states take 0.5 GB (0.75 GB while it grows). Without a budget a large
 * --vms / --events would grow the table until memory runs out; --max-states
 * raises it deliberately.
 */
const DEFAULT_MAX_STATES = 30_000_000;

interface CheckFlags {
  variant: string;
  vms?: string;
  events?: string;
  rounds?: string;
  vcpus?: string;
  exempt?: string;
  strayRelease?: boolean;
  rotations?: string;
  pmis?: string;
  irqWindow?: boolean;
  /** Commander's negation: false with --no-lapic. */
  lapic: boolean;
  anyN?: boolean;
  strategy: string;
  preemptions?: string;
  seed?: string;
  runs?: string;
  depth?: string;
  maxStates?: string;
  jobs?: string;
  properties?: string;
  symmetry: boolean;
  por: boolean;
  replay?: string;
  json?: boolean;
}

export function registerCheck(program: Command): void {
  program
    .command('check')
    .description(
      'verify a concurrent protocol over all interleavings (or sample them, or replay one)',
    )
    .argument('[model]', 'accounting | vm-lifecycle | guest-context', 'accounting')
    .option(
      '--variant <name>',
      'protocol variant: upstream, v6, or a mutant (see --list)',
      'upstream',
    )
    .option('--vms <n>', 'VM threads (accounting) or VMs (vm-lifecycle)')
    .option(
      '--events <n>',
      'threads with an include-guest event on a capable PMU (guest-context: host events)',
    )
    .option('--rounds <n>', 'rounds each thread repeats its calls')
    .option('--vcpus <n>', 'vm-lifecycle: vCPU creations racing on each VM')
    .option('--exempt <n>', 'accounting: threads with an event on a non-capable PMU')
    .option(
      '--stray-release',
      'accounting: the single VM thread first releases what it never created',
    )
    .option('--rotations <n>', 'guest-context: multiplexing rotations (hrtimer)')
    .option('--pmis <n>', 'guest-context: overflows of a guest counter and of a host counter')
    .option(
      '--irq-window',
      'guest-context: the vCPU takes host interrupts while its guest context is loaded',
    )
    .option(
      '--no-lapic',
      'vm-lifecycle: VM 0 has no in-kernel local APIC (its first vCPU turns its PMU off)',
    )
    .option(
      '--any-n',
      'accounting: prove the per-thread properties for every number of VM and event threads (counter abstraction)',
    )
    .option('--strategy <s>', `search strategy: ${STRATEGIES.join(' | ')}`, 'dfs')
    .option('--preemptions <k>', 'dfs: bound the preemptions per run (no reductions then)')
    // No commander defaults here: runCheck refuses these with dfs, so only
    // what the user typed is passed (runCheck's defaults are the same).
    .option('--seed <n>', 'random / pct: the seed (default 1)')
    .option('--runs <n>', 'random / pct: how many runs (default 1000)')
    .option('--depth <d>', 'pct: the bug depth (default 3)')
    .option(
      '--max-states <n>',
      `dfs: stop after this many states (default ${DEFAULT_MAX_STATES.toLocaleString('en-US')}, about 0.5 GB of fingerprints)`,
    )
    .option(
      '--properties <list>',
      `comma-separated subset of: ${Object.keys(PROPERTIES).join(', ')}`,
    )
    .option(
      '--jobs <n>',
      `dfs: threads for a search that outgrows ${PARALLEL_AFTER.toLocaleString('en-US')} states (default: the number of cores, ${defaultJobs()} here; at most ${MAX_JOBS})`,
    )
    .option('--no-symmetry', 'dfs: no symmetry reduction')
    .option('--no-por', 'dfs: no partial-order reduction')
    .option('--replay <schedule>', 'run one schedule string (as printed with a counterexample)')
    .option('--list', 'list models, variants and properties')
    .option('--json', 'print one JSON object')
    .action(async (modelText: string, flags: CheckFlags & { list?: boolean }, cmd: Command) => {
      const debug = program.opts<{ debug?: boolean }>().debug === true;
      await runCommand(debug, () => {
        if (flags.list) return list();
        if (flags.replay !== undefined) refuseReplayConflicts(cmd);
        const result = withBadInput(() =>
          flags.replay !== undefined ? runReplay(flags.replay) : check(modelText, flags),
        );
        if (flags.json) process.stdout.write(`${JSON.stringify(toJson(result))}\n`);
        else process.stdout.write(report(result));
        return result.verdict === 'holds' ? 0 : 1;
      });
    });
}

/** BadInput from the model layer becomes the CLI's one-line usage error. */
function withBadInput<T>(body: () => T): T {
  try {
    return body();
  } catch (error) {
    if (error instanceof BadInput) throw new UsageError(error.message);
    throw error;
  }
}

function check(modelText: string, flags: CheckFlags): CheckResult {
  const model = parseModelKind(modelText);
  const params: ModelParams = {};
  const allowed = paramSpecs(model).map((s) => s.name);
  const counts: [string, string | undefined][] = [
    ['vms', flags.vms],
    ['events', flags.events],
    ['rounds', flags.rounds],
    ['vcpus', flags.vcpus],
    ['exempt', flags.exempt],
    ['rotations', flags.rotations],
    ['pmis', flags.pmis],
  ];
  for (const [name, value] of counts) {
    if (value === undefined) continue;
    if (!allowed.includes(name))
      throw new UsageError(`--${name}: not an option of the ${model} model`);
    params[name] = parseInteger(`--${name}`, value, 0, 1000);
  }
  const switches: [string, boolean][] = [
    ['stray-release', flags.strayRelease === true],
    ['irq-window', flags.irqWindow === true],
    ['no-lapic', !flags.lapic],
  ];
  for (const [name, given] of switches) {
    if (!given) continue;
    if (!allowed.includes(name))
      throw new UsageError(`--${name}: not an option of the ${model} model`);
    params[name] = true;
  }
  if (!(STRATEGIES as readonly string[]).includes(flags.strategy)) {
    throw new UsageError(
      `--strategy: expected one of ${STRATEGIES.join(', ')}, got ${showValue(flags.strategy)}`,
    );
  }
  const strategy = flags.strategy as Strategy;
  const progress = progressLine();
  try {
    return runCheck({
      model,
      variant: flags.variant,
      params,
      strategy,
      properties:
        flags.properties === undefined
          ? null
          : parseProperties(flags.properties.split(','), '--properties'),
      ...(flags.preemptions !== undefined
        ? { preemptions: parseInteger('--preemptions', flags.preemptions, 0, 1000) }
        : {}),
      ...(flags.seed !== undefined
        ? { seed: parseInteger('--seed', flags.seed, 0, 2 ** 31 - 1) }
        : {}),
      ...(flags.runs !== undefined ? { runs: parseInteger('--runs', flags.runs, 1, 1e9) } : {}),
      ...(flags.depth !== undefined ? { depth: parseInteger('--depth', flags.depth, 1, 100) } : {}),
      // The exhaustive search's budget and threads by default; another
      // strategy gets them only from the user, and refuses them.
      ...(flags.maxStates !== undefined
        ? { maxStates: parseInteger('--max-states', flags.maxStates, 1) }
        : strategy === 'dfs'
          ? { maxStates: DEFAULT_MAX_STATES }
          : {}),
      ...(flags.jobs !== undefined
        ? { jobs: parseInteger('--jobs', flags.jobs, 1, MAX_JOBS) }
        : strategy === 'dfs'
          ? { jobs: defaultJobs() }
          : {}),
      symmetry: flags.symmetry,
      anyN: flags.anyN === true,
      por: flags.por,
      onProgress: progress.update,
    });
  } finally {
    progress.done();
  }
}

/** A progress line on stderr for long runs: on a TTY, or about once a second when not. */
function progressLine(): {
  update: (states: number, transitions: number, seconds: number) => void;
  done: () => void;
} {
  const tty = process.stderr.isTTY === true;
  let last = 0;
  let shown = false;
  return {
    update(states, transitions, seconds) {
      if (seconds - last < (tty ? 0.2 : 1)) return;
      last = seconds;
      shown = true;
      const line = `  ${fmt(states)} states, ${fmt(transitions)} transitions, ${seconds.toFixed(1)} s`;
      process.stderr.write(tty ? `\r${line}` : `${line}\n`);
    },
    done() {
      if (shown && tty) process.stderr.write('\r\x1b[K');
    },
  };
}

function list(): number {
  const lines: string[] = [];
  for (const model of MODEL_KINDS) {
    lines.push(
      `${model} (parameters: ${paramSpecs(model)
        .map((s) => s.name)
        .join(', ')})`,
    );
    for (const name of variantNames(model)) {
      const info = variantInfo(model, name);
      if (!info) throw new Error(`variant ${name} of ${model} listed but not described`);
      lines.push(`  ${name.padEnd(26)} ${info.correct ? 'correct' : 'mutant '}  ${info.summary}`);
    }
  }
  lines.push('properties');
  for (const [name, text] of Object.entries(PROPERTIES)) lines.push(`  ${name.padEnd(13)} ${text}`);
  process.stdout.write(`${lines.join('\n')}\n`);
  return 0;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function toJson(r: CheckResult) {
  return {
    model: r.model,
    variant: r.variant,
    params: r.params,
    strategy: r.strategy,
    verdict: r.verdict,
    states: r.states,
    transitions: r.transitions,
    seconds: r.seconds,
    statesPerSecond: r.statesPerSecond,
    threads: r.threads,
    complete: r.complete,
    reductions: r.reductions,
    ...(r.violation ? { violation: r.violation } : {}),
    ...(r.schedule !== undefined ? { schedule: r.schedule, minimal: r.minimal ?? false } : {}),
    ...(r.trace ? { trace: r.trace } : {}),
    ...(r.method ? { method: r.method, abstraction: r.abstraction } : {}),
  };
}

function report(r: CheckResult): string {
  const params = Object.entries(r.params)
    .map(([k, v]) => (v === true ? k : `${k}=${String(v)}`))
    .join(', ');
  const lines = [
    `model       ${r.model} (${params}), variant ${r.variant}`,
    `strategy    ${r.strategy}${r.reductions.length > 0 ? ` (${r.reductions.join(', ')})` : ''}`,
  ];
  if (r.strategy !== 'replay') {
    lines.push(
      `explored    ${fmt(r.states)} states, ${fmt(r.transitions)} transitions in ${r.seconds.toFixed(3)} s (${fmt(r.statesPerSecond)} states/s${r.threads > 1 ? `, ${r.threads} threads` : ''})`,
    );
  }
  if (r.method && r.abstraction) {
    const a = r.abstraction;
    lines.push(
      `method      ${r.method}: threads per local state counted 0..${a.threshold - 1} exactly, then "${a.threshold} or more" (thresholds tried ${a.thresholdsTried.join(', ')}; ${a.spurious} spurious abstract counterexamples)`,
    );
    const rounds = r.params.rounds;
    if (typeof rounds === 'number' && rounds > a.abstractRounds) {
      lines.push(
        `            ${rounds} rounds per thread as ${a.abstractRounds} round per thread: a thread back at its start after a round counts as a new thread`,
      );
    }
    if (a.concretizedOn) {
      const on = Object.entries(a.concretizedOn)
        .map(([k, v]) => `${k}=${String(v)}`)
        .join(', ');
      lines.push(`concrete    the abstract counterexample replays on ${on}:`);
    }
  }
  if (r.verdict === 'inconclusive') {
    lines.push(
      'verdict     inconclusive: every abstract counterexample was spurious (no concrete configuration reproduced one)',
    );
    return `${lines.join('\n')}\n`;
  }
  if (r.verdict === 'holds') {
    const scope = r.method
      ? 'the per-thread properties hold for every number of VM threads and event threads'
      : r.strategy === 'replay'
        ? 'this schedule breaks no property'
        : r.complete
          ? 'every property holds in every interleaving'
          : 'no violation found (not exhaustive)';
    lines.push(`verdict     holds: ${scope}`);
    return `${lines.join('\n')}\n`;
  }
  const v = r.violation;
  if (!v) throw new Error(`check result '${r.verdict}' without a violation`);
  lines.push(
    `verdict     VIOLATED ${v.property}: ${v.description}${v.thread ? ` (at ${v.thread})` : ''}`,
  );
  if (r.trace) {
    const steps = r.trace.reduce((n, s) => Math.max(n, s.at), 0);
    lines.push('', `counterexample (${steps} steps${r.minimal ? ', a shortest one' : ''}):`);
    lines.push(formatTrace(r.trace));
    lines.push(`end         ${r.finalMemory}`);
  }
  if (r.schedule) lines.push('', `replay      vpmu check --replay '${r.schedule}'`);
  return `${lines.join('\n')}\n`;
}

/**
 * A schedule string carries its own model, variant, parameters and
 * properties, and a replay runs that one schedule: options that would
 * choose others, or that steer a search, contradict it and are refused
 * rather than ignored.
 */
function refuseReplayConflicts(cmd: Command): void {
  const negated = { lapic: '--no-lapic', symmetry: '--no-symmetry', por: '--no-por' };
  const given = [
    ...['variant', 'vms', 'events', 'rounds', 'vcpus', 'exempt', 'strayRelease'],
    ...['rotations', 'pmis', 'irqWindow', 'properties'],
    ...['strategy', 'preemptions', 'seed', 'runs', 'depth', 'maxStates', 'jobs', 'anyN'],
    ...Object.keys(negated),
  ]
    .filter((name) => cmd.getOptionValueSource(name) === 'cli')
    .map(
      (name) =>
        negated[name as keyof typeof negated] ??
        `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`,
    );
  if (cmd.args.length > 0) given.unshift(`the model '${cmd.args[0]}'`);
  if (given.length > 0) {
    throw new UsageError(
      `--replay: the schedule names its model, variant, parameters and properties, and runs as it is; drop ${given.join(', ')}`,
    );
  }
}
