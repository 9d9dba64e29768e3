/**
 * `vpmu run` end to end: `node bin/vpmu.mjs ...` (the compiled CLI in dist/,
 * which scripts/run-tests.mjs builds first) in a child process, its exit
 * code, stdout and stderr. The runs are short (0.02 simulated seconds or
 * less), all of them are started up front two at a time (RUNS), and each
 * run's output is checked for several things.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SimulationReport } from '../../src/sim/results.ts';
import { checkChartsRender, chromiumMissing } from './browser.ts';
import { BIN, ROOT, runChild, runVpmu, type CliRun as Run } from './cli-child.ts';
import { BUILTIN_SCENARIOS } from '../common/builtin-scenarios.ts';

const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { version: string };
const BUILTINS = BUILTIN_SCENARIOS;
/** An ANSI escape sequence (colour, cursor). */
const ANSI = new RegExp(`${String.fromCharCode(27)}\\[`);
const SWEEP = ['--sweep', 'guests.0.perf.frequency=100,1000', '--duration', '0.02', '--json'];
/** Bad flags, and the first line vpmu must print for each. */
const BAD_FLAGS: [string[], RegExp][] = [
  [['--duration', '0'], /^vpmu: --duration: expected simulated seconds from 0.001 to 3600/],
  [['--seed', 'x'], /^vpmu: --seed: expected a whole number/],
  [
    ['--sweep', 'seed=1,2', '--shard', '3/2'],
    /^vpmu: --shard: i must be from 1 to n \(a whole number up to \d+\), got '3\/2'/,
  ],
  [['--sweep', 'nonsense'], /^vpmu: --sweep: expected path=value1,value2/],
  [['--shard', '1/2'], /^vpmu: --shard: only with --sweep/],
  [['--sweep', 'guests.9.hz=100'], /^--sweep: guests\[9\]: expected an index below 1/],
  [['--set', 'duration'], /^vpmu: --set: expected path=value/],
  [['--bogus'], /^error: unknown option '--bogus'/],
  // The first value was dropped without a word; a flag was taken for a file name.
  [
    ['--seed', '1', '--seed', '2'],
    /^error: option '--seed <n>' given twice \('1', then '2'\): it takes one value$/,
  ],
  [['--html', '--json'], /^vpmu: --html: expected a file name, got '--json', a flag/],
  // Huge values the user typed are shortened in the middle: one readable line.
  [
    ['--duration', 'x'.repeat(100_000)],
    /^vpmu: --duration: expected simulated seconds .* got 'x{37}\.\.\.'$/,
  ],
  [
    ['x'.repeat(100_000)],
    /^x+ \[\.\.\. \d+ characters \.\.\.\] .*expected a scenario file or a built-in scenario: .*\(got 'x{37}\.\.\.'\)$/,
  ],
  [
    [`--${'y'.repeat(100_000)}`],
    /^error: unknown option '--y+ \[\.\.\. \d+ characters \.\.\.\] y+'$/,
  ],
];

let dir = '';
const path = (name: string) => join(dir, name);

/** A command with colour left to its defaults, killed after 2 minutes. */
function spawnRun(
  command: string,
  args: string[],
  env: Record<string, string | undefined> = {},
): Promise<Run> {
  return runChild(command, args, { NO_COLOR: undefined, FORCE_COLOR: undefined, ...env }, 120_000);
}

/** script(1) from util-linux: runs a command on a pseudo-terminal. */
const HAS_SCRIPT = spawnSync('script', ['--version'], { encoding: 'utf8' }).status === 0;
const TTY_RUN = `${process.execPath} ${BIN} run --duration 0.02 --no-progress`;

/**
 * Every run the tests below make, by name: started in this order from the
 * first `before`, two at a time (the CI budget is 2 cores), each awaited by its tests.
 */
const RUNS: Record<
  string,
  () => { command?: string; args: string[]; env?: Record<string, string> }
> = {
  default: () => ({ args: ['run', '--duration', '0.02'] }),
  json: () => ({ args: ['run', '--duration', '0.02', '--json', '--seed', '7'] }),
  html: () => ({
    args: ['run', 'specint-multiplex', '--duration', '0.02', '--html', path('report.html')],
  }),
  'html sampling': () => ({
    args: ['run', '--duration', '0.02', '--json', '--html', path('sampling.html')],
  }),
  ...Object.fromEntries(
    BUILTINS.map((name) => [
      `builtin ${name}`,
      () => ({ args: ['run', name, '--duration', '0.02', '--json'] }),
    ]),
  ),
  ...(HAS_SCRIPT
    ? {
        'tty colour': () => ({ command: 'script', args: ['-qec', TTY_RUN, '/dev/null'] }),
        'tty NO_COLOR': () => ({
          command: 'script',
          args: ['-qec', TTY_RUN, '/dev/null'],
          env: { NO_COLOR: '1' },
        }),
      }
    : {}),
  'set kind': () => ({
    args: ['run', '--set', 'guests.0.workload.kind=fio', '--duration', '0.02', '--json'],
  }),
  sweep: () => ({ args: ['run', ...SWEEP] }),
  'shard 1/2': () => ({ args: ['run', ...SWEEP, '--shard', '1/2'] }),
  'shard 2/2': () => ({ args: ['run', ...SWEEP, '--shard', '2/2'] }),
  'bad file': () => ({ args: ['run', path('bad.yaml')] }),
  'bad file --debug': () => ({ args: ['run', path('bad.yaml'), '--debug'] }),
  'bad costs': () => ({ args: ['run', path('costs.yaml'), '--duration', '0.01'] }),
  'bad --set costs': () => ({
    args: ['run', '--duration', '0.01', '--set', 'costs.perf.peroid=1'],
  }),
  unknown: () => ({ args: ['run', 'specint'] }),
  ...Object.fromEntries(
    BAD_FLAGS.map(([args]) => [`flag ${args.join(' ')}`, () => ({ args: ['run', ...args] })]),
  ),
  help: () => ({ args: ['--help'] }),
  version: () => ({ args: ['--version'] }),
};

const started = new Map<string, Promise<Run>>();
const queue: (() => void)[] = [];
let active = 0;
const CONCURRENCY = 2;

function schedule(name: string): Promise<Run> {
  let run = started.get(name);
  if (run) return run;
  const spec = RUNS[name];
  if (!spec) throw new Error(`no run named '${name}'`);
  run = new Promise<Run>((resolve, reject) => {
    queue.push(() => {
      active++;
      const { command, args, env } = spec();
      spawnRun(command ?? process.execPath, command ? args : [BIN, ...args], env)
        .then(resolve, reject)
        .finally(() => {
          active--;
          queue.shift()?.();
        });
    });
    if (active < CONCURRENCY) queue.shift()?.();
  });
  started.set(name, run);
  return run;
}

/** The result of a run (started now if it was not yet). */
const run = (name: string) => schedule(name);

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vpmu-run-e2e-'));
  writeFileSync(
    path('bad.yaml'),
    [
      'name: Bad Name',
      'description: d',
      'machine:',
      '  cpu: intel-icelake',
      '  cpus: 0',
      'guests:',
      '  - name: vm0',
      '    workload: { kind: spec }',
      '',
    ].join('\n'),
  );
  writeFileSync(
    path('costs.yaml'),
    [
      'name: costs',
      'description: d',
      'machine: { cpu: intel-icelake }',
      'costs:',
      '  exit.roundtrip: 1500',
      '  exit.round-trip: 1600',
      'guests:',
      '  - name: vm0',
      '    workload: { kind: specint }',
      '',
    ].join('\n'),
  );
  for (const name of Object.keys(RUNS)) void schedule(name);
});

after(async () => {
  await Promise.allSettled(started.values());
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function json<T = SimulationReport>(run: Run, stderr = ''): T {
  assert.equal(
    run.stderr,
    stderr,
    stderr === '' ? 'nothing on stderr' : 'only the expected notice',
  );
  try {
    return JSON.parse(run.stdout) as T;
  } catch (error) {
    assert.fail(`stdout (${run.stdout.length} characters) is not JSON: ${String(error)}`);
  }
}

describe('vpmu run', { timeout: 300_000 }, () => {
  it('with no argument: specint-sampling, as perf-stat-like tables beside the published figures', async () => {
    const r = await run('default');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stderr, '', 'no progress bar or warning when stderr is not a terminal');
    assert.match(r.stdout, /^vpmu: specint-sampling\n/);
    assert.match(r.stdout, /0\.02 s simulated, seed 1/);
    // The published table, beside the simulated overhead.
    assert.match(r.stdout, /published/);
    for (const figure of ['33.62%', '4.24%', '6.21%']) assert.ok(r.stdout.includes(figure), figure);
    assert.match(r.stdout, /the simulated ordering matches the published one/);
    // Like for like: each published figure against the design that produced it, 7.0's beside.
    const likeForLike = r.stdout.slice(r.stdout.indexOf('Published figures, like for like'));
    assert.match(
      likeForLike,
      /^ +rfc-v1 +6\.21% +[\d.]+% +[\d.]+x (within|outside) +mediated +[\d.]+%$/m,
    );
    // perf stat's table, once per design (the published three and 7.0's two).
    const tables = r.stdout.match(/ Performance counter stats for guest 'vm0':/g) ?? [];
    assert.equal(tables.length, 5);
    for (const event of ['cycles', 'instructions', 'branches', 'branch-misses', 'cache-misses']) {
      assert.match(r.stdout, new RegExp(`^ +[\\d,]+ +${event} +[\\d,]+ `, 'm'), event);
    }
    assert.match(r.stdout, /VM-exits by reason/);
    // Piped: no colour.
    assert.doesNotMatch(r.stdout, ANSI);
  });

  it('--json --seed 7: the report as JSON, the seed echoed', async () => {
    const r = await run('json');
    assert.equal(r.code, 0, r.stderr);
    const report = json(r);
    assert.equal(report.scenario, 'specint-sampling');
    assert.equal(report.seed, 7);
    assert.equal(report.duration, 0.02);
    assert.deepEqual(
      report.results.map((d) => d.design),
      ['emulated', 'rfc-v1-passthrough-all', 'rfc-v1', 'passthrough-all', 'mediated'],
    );
    for (const d of report.results) {
      assert.equal(typeof d.overheadPercent, 'number');
      assert.ok(d.overheadPercent > 0 && d.overheadPercent < 100);
      assert.equal(typeof d.exits, 'object');
      assert.ok(Object.values(d.exits).every((n) => Number.isInteger(n) && n >= 0));
      assert.ok(Array.isArray(d.hostEvents));
      assert.equal(d.guestEvents.length, 6);
      for (const e of d.guestEvents) {
        assert.equal(typeof e.event, 'string');
        assert.equal(typeof e.truth, 'number');
        assert.equal(typeof e.counted, 'number');
        assert.equal(typeof e.errorPercent, 'number');
        if (e.throttled) {
          // The guest kernel throttled it (perf_sample_event_took): it can only under-count.
          assert.ok(e.errorPercent < 0, `${d.design} ${e.event}: ${e.errorPercent}`);
        } else {
          assert.ok(Math.abs(e.errorPercent) < 0.01, `${d.design} ${e.event}: ${e.errorPercent}`);
        }
      }
    }
    assert.doesNotMatch(r.stdout, ANSI);
  });

  it('--html FILE: a self-contained HTML report, and the text report', async () => {
    const file = path('report.html');
    const r = await run('html');
    assert.equal(r.code, 0, r.stderr);
    assert.ok(r.stdout.endsWith(`HTML report written to ${file}\n`), r.stdout.slice(-200));
    assert.match(r.stdout, /Performance counter stats/, 'and the text report');
    const html = readFileSync(file, 'utf8');
    assert.match(html, /^<!doctype html>/i);
    assert.match(html, /specint-multiplex/);
    // Nothing loaded from elsewhere: no external script, stylesheet or image.
    assert.doesNotMatch(html, /<(script|img|iframe)[^>]+src=["']?(https?:)?\/\//i);
    assert.doesNotMatch(html, /<link[^>]+href=["']?(https?:)?\/\//i);
    assert.ok((html.match(/<figure[^>]*data-chart/g) ?? []).length >= 1, 'charts');
  });

  /** Chromium's verdict on each chart of an HTML report, or a skip. */
  async function chartsOf(t: { skip(message: string): void }, file: string) {
    const missing = chromiumMissing();
    if (missing) {
      if (process.env.CI) assert.fail(`${missing}; CI needs it (.ci/run installs it)`);
      t.skip(missing);
      return undefined;
    }
    return checkChartsRender(file);
  }

  it('--html FILE: every chart renders in Chromium, with no console error', async (t) => {
    const r = await run('html');
    assert.equal(r.code, 0, r.stderr);
    const result = await chartsOf(t, path('report.html'));
    if (!result) return;
    assert.deepEqual(result, { charts: 4, errors: [] });
  });

  it('--html with --json: the JSON on stdout, and an HTML report whose charts all draw (even when every count is exact)', async (t) => {
    const r = await run('html sampling');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(json(r).scenario, 'specint-sampling');
    const result = await chartsOf(t, path('sampling.html'));
    if (!result) return;
    assert.deepEqual(result, { charts: 4, errors: [] });
  });

  /**
   * The exit code each built-in scenario must give. A scenario with published
   * figures must reproduce their ordering of the designs (exit 0; 1 would be
   * 'check failed: ordering differs'); one without has nothing to contradict.
   */
  const EXPECTED_EXIT: Readonly<Record<(typeof BUILTINS)[number], 0 | 1>> = {
    'event-filter': 0,
    'fio-exits': 0,
    'host-contention': 0,
    'mediated-refused': 0,
    'specint-multiplex': 0,
    'specint-sampling': 0,
  };

  it('every built-in scenario runs and exits with its expected code', async () => {
    const results = await Promise.all(BUILTINS.map((name) => run(`builtin ${name}`)));
    results.forEach((r, i) => {
      const name = BUILTINS[i]!;
      assert.equal(r.code, EXPECTED_EXIT[name], `${name}: exit ${r.code}: ${r.stderr}`);
      assert.equal(r.stderr, '', name);
      const report = JSON.parse(r.stdout) as SimulationReport;
      assert.equal(report.scenario, name);
      assert.ok(report.results.length >= 2, name);
    });
  });

  it('NO_COLOR=1 and piped output: no ANSI escapes, even on a terminal', async (t) => {
    const piped = await run('default');
    assert.doesNotMatch(piped.stdout, ANSI);
    if (!HAS_SCRIPT) {
      t.skip('util-linux script(1) is missing: no pseudo-terminal to test NO_COLOR on');
      return;
    }
    // On a pseudo-terminal (script(1)) vpmu colours, unless NO_COLOR is set.
    const [coloured, plain] = await Promise.all([run('tty colour'), run('tty NO_COLOR')]);
    assert.equal(coloured.code, 0, coloured.stdout);
    assert.match(coloured.stdout, ANSI, 'a terminal gets colour');
    assert.equal(plain.code, 0, plain.stdout);
    assert.match(plain.stdout, /Performance counter stats/);
    assert.doesNotMatch(plain.stdout, ANSI);
  });
});

describe('vpmu run: --set', { timeout: 300_000 }, () => {
  it('--set guests.0.workload.kind=fio runs fio, and says the published figures no longer apply', async () => {
    const r = await run('set kind');
    assert.equal(r.code, 0, r.stderr);
    const report = json<SimulationReport & { likeForLike?: unknown }>(
      r,
      "vpmu: --set changes what ran in specint-sampling's published test, so its figures are not compared\n",
    );
    // specint-sampling's figures were measured on SPECint: not compared with fio.
    assert.equal(report.published, undefined);
    assert.equal(report.likeForLike, undefined);
  });
});

describe('vpmu run: sweeps', { timeout: 300_000 }, () => {
  // specint-sampling has published figures; the sweep changes what ran.
  const SWEEP_NOTICE =
    "vpmu: --sweep guests.0.perf.frequency changes what ran in specint-sampling's published test, so its figures are not compared\n";

  it('--sweep path=v1,v2 --json: one report per value, each labelled, with a summary', async () => {
    const r = await run('sweep');
    assert.equal(r.code, 0, r.stderr);
    const sweep = json<{
      scenario: string;
      parameter: string;
      summary: { value: string; overheadPercent: Record<string, number> }[];
      runs: SimulationReport[];
      shard?: string;
    }>(r, SWEEP_NOTICE);
    assert.equal(sweep.scenario, 'specint-sampling');
    // The published figures were measured at the scenario's own frequency.
    assert.deepEqual(
      sweep.runs.map((x) => x.published),
      [undefined, undefined],
    );
    assert.equal(sweep.parameter, 'guests.0.perf.frequency');
    assert.equal(sweep.shard, undefined);
    assert.deepEqual(
      sweep.runs.map((x) => x.sweep),
      [
        { parameter: 'guests.0.perf.frequency', value: '100' },
        { parameter: 'guests.0.perf.frequency', value: '1000' },
      ],
    );
    assert.deepEqual(
      sweep.summary.map((row) => row.value),
      ['100', '1000'],
    );
    // Sampling ten times as often costs the emulated design more.
    const emulated = sweep.summary.map((row) => row.overheadPercent.emulated!);
    assert.ok(emulated[1]! > emulated[0]!, emulated.join(', '));
  });

  it('--shard 1/2 and 2/2 partition the values', async () => {
    const [one, two] = await Promise.all([run('shard 1/2'), run('shard 2/2')]);
    const values = [one, two].map((r) => {
      assert.equal(r.code, 0, r.stderr);
      const s = json<{ shard: string; runs: SimulationReport[] }>(r, SWEEP_NOTICE);
      return [s.shard, s.runs.map((x) => x.sweep!.value)];
    });
    assert.deepEqual(values, [
      ['1/2', ['100']],
      ['2/2', ['1000']],
    ]);
  });
});

describe(
  'vpmu run: bad input is exit 2, one line per problem, no stack trace',
  { timeout: 300_000 },
  () => {
    it('a scenario file with errors: file:line:column: path: message, each; a stack only with --debug', async () => {
      const bad = path('bad.yaml');
      const [r, debug] = await Promise.all([run('bad file'), run('bad file --debug')]);
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.deepEqual(r.stderr.trimEnd().split('\n'), [
        `${bad}:1:7: name: expected lowercase letters, digits and '-', starting with a letter or digit (got 'Bad Name')`,
        `${bad}:5:9: machine.cpus: expected at least 1 (got 0)`,
        `${bad}:8:23: guests[0].workload.kind: expected one of specint, fio, idle; did you mean 'specint'? (got 'spec')`,
      ]);
      for (const line of r.stderr.trimEnd().split('\n')) {
        assert.match(line, /^.+:\d+:\d+: [\w.[\]]+: .+$/);
      }
      assert.doesNotMatch(r.stderr, /^\s+at /m);
      assert.equal(debug.code, 2);
      assert.ok(debug.stderr.startsWith(r.stderr), 'the same lines first');
      // The compiled module (dist/sim/scenario.js): the tests run what users run.
      assert.match(
        debug.stderr,
        /^\s+at .+dist[/\\]sim[/\\]scenario\.js:\d+:\d+/m,
        'then the stack',
      );
    });

    it('an unknown cost parameter is bad input too, placed in the file', async () => {
      const file = path('costs.yaml');
      const [r, set] = await Promise.all([run('bad costs'), run('bad --set costs')]);
      assert.equal(r.code, 2, r.stderr);
      assert.equal(r.stdout, '');
      assert.equal(r.stderr.trimEnd().split('\n').length, 1, r.stderr);
      assert.ok(r.stderr.startsWith(`${file}:6:3: costs["exit.round-trip"]: `), r.stderr);
      assert.match(r.stderr, /did you mean 'exit\.roundtrip'\? \(got 'exit\.round-trip'\)\n$/);
      assert.doesNotMatch(r.stderr, /internal error|^\s+at /m);
      assert.equal(set.code, 2, set.stderr);
      assert.match(set.stderr, /^--set: costs\["perf\.peroid"\]: .*did you mean 'perf\.period'\?/);
    });

    it('an unknown scenario name', async () => {
      const r = await run('unknown');
      assert.equal(r.code, 2);
      assert.equal(r.stdout, '');
      assert.match(
        r.stderr,
        /^specint: expected a scenario file or a built-in scenario: event-filter, fio-exits, .*\n$/,
      );
      assert.doesNotMatch(r.stderr, /^\s+at /m);
    });

    it("a near miss of a command's name, alone or after help: the command meant, not the scenarios", async () => {
      const [typo, help] = await Promise.all([runVpmu(['rn']), runVpmu(['help', 'chek'])]);
      for (const r of [typo, help]) {
        assert.equal(r.code, 2, r.stderr);
        assert.equal(r.stdout, '');
        assert.doesNotMatch(r.stderr, /built-in scenario|Usage:/);
      }
      assert.match(typo.stderr, /^vpmu: unknown command 'rn', did you mean 'run'\? /);
      assert.match(help.stderr, /^vpmu help: unknown command 'chek', did you mean 'check'\? /);
    });

    it('bad flags: one line naming the flag', async () => {
      const results = await Promise.all(BAD_FLAGS.map(([args]) => run(`flag ${args.join(' ')}`)));
      results.forEach((r, i) => {
        const [args, message] = BAD_FLAGS[i]!;
        const label = args.join(' ').slice(0, 60);
        assert.equal(r.code, 2, `${label}: exit ${r.code}`);
        assert.equal(r.stdout, '', label);
        const first = r.stderr.split('\n')[0]!;
        assert.match(first, message, label);
        assert.doesNotMatch(r.stderr, /^\s+at |internal error/m, label);
        for (const line of r.stderr.split('\n')) assert.ok(line.length <= 400, label);
      });
    });
  },
);

describe('vpmu --help and --version', () => {
  it('--help lists the commands', async () => {
    const r = await run('help');
    assert.equal(r.code, 0, r.stderr);
    for (const command of ['run', 'scenarios', 'schema', 'check', 'stress', 'demo']) {
      assert.match(r.stdout, new RegExp(`^  ${command}\\b`, 'm'), command);
    }
  });

  it("--version prints package.json's version", async () => {
    const r = await run('version');
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `${PKG.version}\n`);
  });
});
