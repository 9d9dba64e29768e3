/**
 * Benchmark: `vpmu check` against Spin on the same model, and the accounting
 * on real threads, upstream against v6.
 *
 *   explorer   accounting upstream, --vms 3 --events 3 --rounds 2: the first
 *              run in this process (cold: includes V8's warm-up) and the
 *              median of 5 more; then without any reduction.
 *   spin       bench/spin/accounting.pml, the same model at the same
 *              granularity, pan compiled with gcc -O2 -DSAFETY, with Spin's
 *              partial-order reduction and with -DNOREDUCE (bounded by a
 *              timeout, reported as "did not finish" when it hits it).
 *   both       again without the refusal-justification property, whose ghost
 *              bits make every counter write visible (Spin's POR suffers most).
 *   scale      N x N x 2 for N = 2..8 with every reduction, on one thread
 *              and on the cores (--jobs, from 2^18 states up), Spin beside
 *              each while it finishes (then the sizes it did not reach).
 *   any-n      --any-n (counter abstraction) on upstream and v6, and the
 *              guest-context model.
 *   stress     upstream vs v6 on real threads: events only (the fast path
 *              Peter Zijlstra asked for), then the mixed workload.
 *
 * Nothing here is hard-coded: every figure printed is measured now. The
 * bench installs nothing: without spin it prints how to install it and
 * skips those rows.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { runCheck, type CheckResult } from '../src/check/check.ts';
import { PROPERTY_NAMES } from '../src/check/properties.ts';
import { runStress } from '../src/shm/stress.ts';
import { defaultJobs } from '../src/common/jobs.ts';

const CONFIG = { vms: 3, events: 3, rounds: 2 };
const NOREDUCE_TIMEOUT_S = 120;
const POR_TIMEOUT_S = 600;
const PML = fileURLToPath(new URL('./spin/accounting.pml', import.meta.url));

interface Row {
  tool: string;
  states: number | null;
  seconds: number | null;
  note: string;
}

const fmt = (n: number) => n.toLocaleString('en-US');

function explorer(
  label: string,
  options: { symmetry?: boolean; por?: boolean; refusals?: boolean },
): CheckResult {
  const properties =
    options.refusals === false ? PROPERTY_NAMES.filter((p) => p !== 'refusals') : null;
  const r = runCheck({
    model: 'accounting',
    variant: 'upstream',
    params: CONFIG,
    properties,
    ...(options.symmetry === false ? { symmetry: false } : {}),
    ...(options.por === false ? { por: false } : {}),
  });
  if (r.verdict !== 'holds' || !r.complete)
    throw new Error(`${label}: expected a complete run that holds`);
  return r;
}

function explorerRows(refusals: boolean): Row[] {
  const cold = explorer('cold', { refusals });
  const warm: CheckResult[] = [];
  for (let i = 0; i < 5; i++) warm.push(explorer('warm', { refusals }));
  warm.sort((a, b) => a.seconds - b.seconds);
  const median = warm[2]!;
  const unreduced = explorer('unreduced', { symmetry: false, por: false, refusals });
  return [
    {
      tool: 'vpmu check (all reductions), first run',
      states: cold.states,
      seconds: cold.seconds,
      note: cold.reductions.join(', '),
    },
    {
      tool: 'vpmu check (all reductions), median of 5',
      states: median.states,
      seconds: median.seconds,
      note: '',
    },
    {
      tool: 'vpmu check --no-symmetry --no-por',
      states: unreduced.states,
      seconds: unreduced.seconds,
      note: 'no reduction',
    },
  ];
}

/** The bench installs nothing: without spin (or gcc) it says how to get them and skips those rows. */
function spinMissing(): string | null {
  const has = (cmd: string) => spawnSync('sh', ['-c', `command -v ${cmd}`]).status === 0;
  if (!has('spin')) return 'skipped: spin is not installed (apt-get install -y spin)';
  if (!has('gcc')) return 'skipped: gcc is not installed (apt-get install -y gcc)';
  return null;
}

/** pan's memory bound (-DMEMLIM), in MB. */
const MEMLIM_MB = 12000;

function spinRow(
  label: string,
  reduce: boolean,
  justification: boolean,
  config: { vms: number; events: number; rounds: number } = CONFIG,
  timeoutS?: number,
): Row {
  const dir = mkdtempSync(join(tmpdir(), 'vpmu-spin-'));
  try {
    const defines = [
      `-DVMS=${config.vms}`,
      `-DEVENTS=${config.events}`,
      `-DROUNDS=${config.rounds}`,
    ];
    if (!justification) defines.push('-DNO_JUSTIFICATION');
    const gen = spawnSync('spin', ['-a', ...defines, PML], { cwd: dir, encoding: 'utf8' });
    if (gen.status !== 0)
      return { tool: label, states: null, seconds: null, note: `spin -a failed: ${gen.stderr}` };
    const cflags = [
      '-O2',
      '-DSAFETY',
      `-DMEMLIM=${MEMLIM_MB}`,
      '-DVECTORSZ=1024',
      ...(reduce ? [] : ['-DNOREDUCE']),
    ];
    const cc = spawnSync('gcc', [...cflags, '-o', 'pan', 'pan.c'], { cwd: dir, encoding: 'utf8' });
    if (cc.status !== 0)
      return { tool: label, states: null, seconds: null, note: `gcc failed: ${cc.stderr}` };
    const timeout = timeoutS ?? (reduce ? POR_TIMEOUT_S : NOREDUCE_TIMEOUT_S);
    const started = performance.now();
    const pan = spawnSync('./pan', ['-m1000000', '-w26'], {
      cwd: dir,
      encoding: 'utf8',
      timeout: timeout * 1000,
      maxBuffer: 1 << 26,
    });
    const wall = (performance.now() - started) / 1000;
    const out = pan.stdout ?? '';
    // pan prints large counts in exponent form ("1.0779e+08 states, stored").
    const stored = /([\d.]+(?:e[+-]?\d+)?) states, stored/.exec(out);
    const elapsed = /elapsed time ([\d.e+]+) seconds/.exec(out);
    const errors = /errors: (\d+)/.exec(out);
    if (pan.error || pan.signal) {
      return {
        tool: label,
        states: null,
        seconds: wall,
        note: `did not finish within ${timeout} s`,
      };
    }
    if (!stored || !elapsed)
      return { tool: label, states: null, seconds: wall, note: `pan: ${out.slice(-300)}` };
    const note =
      errors && errors[1] !== '0'
        ? `${errors[1]} errors!`
        : out.includes('out of memory') || out.includes('-DMEMLIM bound')
          ? `out of memory (${MEMLIM_MB / 1000} GB limit): search not completed`
          : out.includes('Search not completed')
            ? 'search not completed'
            : 'errors: 0';
    return { tool: label, states: Number(stored[1]), seconds: Number(elapsed[1]), note };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function printTable(title: string, rows: Row[]): void {
  console.log(`\n${title}`);
  console.log(
    `  ${'tool'.padEnd(44)} ${'states'.padStart(12)} ${'seconds'.padStart(9)} ${'states/s'.padStart(12)}  note`,
  );
  for (const r of rows) {
    const states = r.states === null ? '-' : fmt(r.states);
    const seconds = r.seconds === null ? '-' : r.seconds.toFixed(3);
    const rate = r.states !== null && r.seconds ? fmt(Math.round(r.states / r.seconds)) : '-';
    console.log(
      `  ${r.tool.padEnd(44)} ${states.padStart(12)} ${seconds.padStart(9)} ${rate.padStart(12)}  ${r.note}`,
    );
  }
}

console.log(
  `bench/check: accounting upstream, --vms ${CONFIG.vms} --events ${CONFIG.events} --rounds ${CONFIG.rounds}`,
);
const noSpin = spinMissing();
for (const justification of [true, false]) {
  const rows = explorerRows(justification);
  if (noSpin) rows.push({ tool: 'spin', states: null, seconds: null, note: noSpin });
  else {
    rows.push(spinRow('spin (partial-order reduction)', true, justification));
    rows.push(spinRow('spin -DNOREDUCE', false, justification));
  }
  printTable(
    justification
      ? 'every property (as vpmu check runs by default)'
      : 'without the refusals property (-DNO_JUSTIFICATION)',
    rows,
  );
}

// Scale, side by side: the explorer (every reduction) and Spin (with its
// partial-order reduction) on the same model, N VMs x N events x 2 rounds for
// N = 2..8. Spin runs while it finishes within SCALE_SPIN_TIMEOUT_S; past the
// first size it does not finish (time or memory), the larger ones are not
// tried and say so.
const SCALE_SPIN_TIMEOUT_S = 300;
{
  console.log(
    `\nscale: accounting upstream --vms N --events N --rounds 2, every property (spin: -DSAFETY, POR, ${SCALE_SPIN_TIMEOUT_S} s limit)`,
  );
  const jobs = Math.max(2, defaultJobs());
  console.log(
    `  ${'N'.padStart(2)} ${'explorer states'.padStart(16)} ${'seconds'.padStart(9)} ${`${jobs} threads`.padStart(10)} ${'spin states'.padStart(14)} ${'seconds'.padStart(9)}  spin`,
  );
  let spinGaveUp: string | null = noSpin;
  for (let n = 2; n <= 8; n++) {
    const config = { vms: n, events: n, rounds: 2 };
    const r = runCheck({ model: 'accounting', variant: 'upstream', params: config });
    if (r.verdict !== 'holds' || !r.complete)
      throw new Error(`${n}x${n}x2: expected a complete run that holds`);
    // The same search on the threads (runCheck's jobs): only graphs past
    // PARALLEL_AFTER states use them, so the smaller sizes show '-'.
    const p = runCheck({ model: 'accounting', variant: 'upstream', params: config, jobs });
    if (p.states !== r.states || p.transitions !== r.transitions || p.verdict !== r.verdict)
      throw new Error(`${n}x${n}x2: the threads explored another graph`);
    let spin: Row = { tool: 'spin', states: null, seconds: null, note: spinGaveUp ?? '' };
    if (spinGaveUp === null) {
      spin = spinRow('spin', true, true, config, SCALE_SPIN_TIMEOUT_S);
      if (spin.states === null || spin.note !== 'errors: 0') {
        spinGaveUp = `not tried: did not finish at N = ${n}`;
      }
    }
    const col = (v: number | null, width: number, digits?: number) =>
      (v === null ? '-' : digits === undefined ? fmt(v) : v.toFixed(digits)).padStart(width);
    console.log(
      `  ${String(n).padStart(2)} ${col(r.states, 16)} ${col(r.seconds, 9, 3)} ${col(p.threads > 1 ? p.seconds : null, 10, 3)} ${col(spin.states, 14)} ${col(spin.seconds, 9, 3)}  ${spin.note}`,
    );
  }
}

// Every number of threads (counter abstraction), and the guest context switch.
{
  const rows: Row[] = [];
  for (const [variant, rounds] of [
    ['upstream', 1],
    ['v6', 1],
    ['upstream', 2],
  ] as const) {
    const r = runCheck({ model: 'accounting', variant, params: { rounds }, anyN: true });
    rows.push({
      tool: `--any-n ${variant} (rounds ${rounds})`,
      states: r.states,
      seconds: r.seconds,
      note: `${r.verdict}, threshold ${r.abstraction?.threshold ?? '-'}`,
    });
  }
  const gc = runCheck({
    model: 'guest-context',
    variant: 'upstream',
    params: { rounds: 2, events: 2, rotations: 2, pmis: 2, 'irq-window': true },
  });
  rows.push({
    tool: 'guest-context upstream 2x2x2x2 --irq-window',
    states: gc.states,
    seconds: gc.seconds,
    note: gc.verdict,
  });
  printTable('any number of threads; the guest context switch', rows);
}

const threads = Math.max(2, Math.min(4, availableParallelism()));
console.log(`\nstress: ${threads} threads, 3 s each, calls per second (all threads)`);
console.log(
  `  ${'variant'.padEnd(10)} ${'mix'.padEnd(7)} ${'account'.padStart(12)} ${'unaccount'.padStart(12)} ${'create'.padStart(12)} ${'release'.padStart(12)} ${'total'.padStart(12)}  violations`,
);
for (const mix of ['events', 'mixed'] as const) {
  for (const variant of ['upstream', 'v6']) {
    const r = await runStress({ variant, threads, seconds: 3, mix });
    const o = r.opsPerSecond;
    const v = r.violations.invariant + r.violations.invariantSampled + r.violations.negative;
    console.log(
      `  ${variant.padEnd(10)} ${mix.padEnd(7)} ${fmt(o.account).padStart(12)} ${fmt(o.unaccount).padStart(12)} ${fmt(o.create).padStart(12)} ${fmt(o.release).padStart(12)} ${fmt(o.total).padStart(12)}  ${v}`,
    );
  }
}
