/**
 * The package as a user gets it: `npm pack`, the tarball installed into a
 * fresh project in a temporary directory (dependencies from npm's cache when
 * it has them: --prefer-offline), then
 *   (a) the README's API tour, type annotations stripped, run from plain
 *       Node ESM (.mjs); each `console.log(...); // output` comment in the
 *       README is checked against what it prints,
 *   (b) a TypeScript consumer (the tour and more of the public types)
 *       compiled with module NodeNext, strict, emitting: no error allowed,
 *       and the emitted JavaScript run,
 *   (c) `npx vpmu` from the installed package: --version, scenarios, stress
 *       (worker threads, without tsx), and --html without the optional vega
 *       packages (one line, exit 2).
 * It packs with --ignore-scripts from the dist/ that scripts/run-tests.mjs
 * has just brought up to date (`prepare` would only rebuild it).
 */
import assert from 'node:assert/strict';
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import {
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { distStaleness } from '../../scripts/dist-freshness.mjs';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const PKG = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  name: string;
  version: string;
};
const TSC = createRequire(import.meta.url).resolve('typescript/bin/tsc');

/** The README's code block under "A short tour of the API". */
function readmeTour(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const section = readme.indexOf('\n## A short tour of the API');
  assert.ok(section >= 0, 'README.md has no "A short tour of the API" section');
  const block = /```ts\n([\s\S]*?)```/.exec(readme.slice(section));
  assert.ok(block, 'no ```ts block under "A short tour of the API"');
  return block[1]!;
}

/** What each `console.log(...); // expected` line of the tour says it prints, in order. */
function expectedOutput(tour: string): string[] {
  return tour
    .split('\n')
    .map((line) => /^\s*console\.log\(.*\);\s*\/\/\s*(.+)$/.exec(line)?.[1]?.trim())
    .filter((x): x is string => x !== undefined)
    .map((x) => x.replace(/^'(.*)'$/, '$1')); // a string prints without its quotes
}

/**
 * npm with the test's own npm environment removed (`npm test` sets
 * npm_package_* and npm_lifecycle_* for this package, not the consumer).
 */
function npm(args: string[], cwd: string): SpawnSyncReturns<string> {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !/^npm_(package|lifecycle|config_(global|prefix|ignore_scripts))/i.test(k),
    ),
  );
  return spawnSync('npm', args, { cwd, env, encoding: 'utf8', timeout: 180_000 });
}

function ok(r: SpawnSyncReturns<string>, what: string): string {
  assert.equal(r.error, undefined, `${what}: ${r.error?.message}`);
  assert.equal(r.status, 0, `${what} exited ${r.status}\n${r.stdout}\n${r.stderr}`);
  return r.stdout;
}

/** Bytes of the files under `dir` (apparent size), for the diagnostic line. */
function bytesUnder(dir: string): number {
  let total = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    total += entry.isDirectory() ? bytesUnder(path) : lstatSync(path).size;
  }
  return total;
}

const MB = (bytes: number) => `${(bytes / 1e6).toFixed(1)} MB`;

interface PackResult {
  filename: string;
  size: number;
  unpackedSize: number;
  files: { path: string }[];
}

describe('the packed package, installed in a fresh project', { timeout: 300_000 }, () => {
  let dir = '';
  let project = '';
  let packed: PackResult;

  before(() => {
    const stale = distStaleness(ROOT);
    assert.equal(stale, undefined, `${stale}: run npm run build (run-tests.mjs does) first`);
    dir = mkdtempSync(join(tmpdir(), 'vpmu-pack-'));
    const out = ok(
      npm(['pack', '--ignore-scripts', '--json', '--pack-destination', dir], ROOT),
      'npm pack',
    );
    packed = (JSON.parse(out) as PackResult[])[0]!;
    project = join(dir, 'consumer');
    mkdirSync(project);
    writeFileSync(
      join(project, 'package.json'),
      JSON.stringify({ name: 'consumer', private: true, type: 'module' }),
    );
    ok(
      npm(
        [
          'install',
          '--prefer-offline',
          '--no-audit',
          '--no-fund',
          '--no-package-lock',
          join(dir, packed.filename),
        ],
        project,
      ),
      'npm install <tarball>',
    );
  });

  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  test('the tarball holds the compiled library, the CLI and its scenarios; no sources, no tests', (t) => {
    t.diagnostic(
      `tarball ${MB(packed.size)} (${MB(packed.unpackedSize)} unpacked, ${packed.files.length} files); ` +
        `the consumer's node_modules ${MB(bytesUnder(join(project, 'node_modules')))} without vega`,
    );
    const paths = packed.files.map((f) => f.path);
    for (const needed of [
      'package.json',
      'README.md',
      'bin/vpmu.mjs',
      'dist/index.js',
      'dist/index.d.ts',
      'dist/cli/main.js',
      'dist/shm/stress-worker.js',
      'scenarios/specint-sampling.yaml',
    ]) {
      assert.ok(paths.includes(needed), `${needed} is missing from the tarball`);
    }
    const unexpected = paths.filter(
      (p) =>
        !/^(package\.json|README\.md|LICENSE|bin\/vpmu\.mjs|scenarios\/[\w-]+\.yaml|docs\/[\w-]+\.md)$/.test(
          p,
        ) && !/^dist\/.+\.(js|d\.ts)$/.test(p),
    );
    assert.deepEqual(unexpected, []);
  });

  test('(a) the README tour runs from plain Node ESM and prints what its comments say', () => {
    const tour = readmeTour();
    const expected = expectedOutput(tour);
    assert.ok(expected.length >= 3, `the tour states ${expected.length} outputs`);
    const js = ts.transpileModule(tour, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    writeFileSync(join(project, 'tour.mjs'), js);
    const r = spawnSync(process.execPath, ['tour.mjs'], { cwd: project, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stderr, '');
    assert.deepEqual(r.stdout.trimEnd().split('\n'), expected);
  });

  test('(b) a strict NodeNext TypeScript consumer compiles with no error, and runs', () => {
    const consumer = `${readmeTour()}
// More of the public API, by type: a program outside the project sees these.
import {
  CPU_MODEL_NAMES,
  ERRNO,
  KernelError,
  MSR,
  encodeMaskedEntry,
  type CpuModelName,
  type Host,
  type HostOptions,
  type PerfEventAttr,
  type PmuEventFilter,
  type Vcpu,
  type VcpuStats,
  type Vm,
  type VpmuDesignName,
  type Work,
  runCheck,
  variantNames,
  type CheckResult,
} from '${PKG.name}';
import { ScenarioError, loadScenario, scenarioToInput, type Scenario } from '${PKG.name}/scenarios';

const options: HostOptions = { cpu: CPU_MODEL_NAMES[0] as CpuModelName };
const other: Host = createHost(options);
const attr: PerfEventAttr = { config: 'instructions', excludeGuest: true };
const work: Work = { instructions: 1000, cycles: 2000 };
other.perf.open(attr, { cpu: 0 });
other.exec(work);
const guest: Vm = other.kvm.createVm();
const vcpu: Vcpu = guest.createVcpu();
const stats: VcpuStats = vcpu.stats;
const design: VpmuDesignName | undefined = undefined;
const filter: PmuEventFilter | undefined = undefined;
const entry: bigint = encodeMaskedEntry(0xc0, 0xff, 0, false);
console.log(typeof stats, design, filter, typeof entry, typeof MSR, typeof ERRNO, KernelError.name);
// The second entry point: a built-in scenario read from the installed package, and a bad one refused.
const scenario: Scenario = loadScenario('specint-sampling').scenario;
let refused = '';
try {
  loadScenario('no-such-scenario');
} catch (e) {
  if (e instanceof ScenarioError) refused = e.problems[0]!.path === '' ? 'ScenarioError' : 'wrong path';
}
console.log(scenario.name, scenarioToInput(scenario).guests.length > 0, refused);
// The explorer from the package root, its threads started from the installed dist/.
const params = { vms: 4, events: 4, rounds: 2 };
const one: CheckResult = runCheck({ model: 'accounting', variant: 'upstream', params });
const two = runCheck({ model: 'accounting', variant: 'upstream', params, jobs: 2, parallelAfter: 1 });
console.log(one.verdict, two.verdict, two.states === one.states, two.threads, variantNames('accounting').includes('v6'));
`;
    writeFileSync(join(project, 'consumer.ts'), consumer);
    writeFileSync(
      join(project, 'tsconfig.json'),
      JSON.stringify({
        compilerOptions: {
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          target: 'ES2022',
          strict: true,
          skipLibCheck: false,
          outDir: 'out',
          types: [],
        },
        files: ['consumer.ts'],
      }),
    );
    const tsc = spawnSync(process.execPath, [TSC, '-p', '.'], { cwd: project, encoding: 'utf8' });
    assert.equal(tsc.status, 0, `tsc found errors:\n${tsc.stdout}${tsc.stderr}`);
    const r = spawnSync(process.execPath, ['out/consumer.js'], { cwd: project, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    const lines = r.stdout.trimEnd().split('\n');
    assert.deepEqual(lines.slice(0, -3), expectedOutput(readmeTour()));
    assert.equal(lines.at(-3), 'object undefined undefined bigint object object KernelError');
    assert.equal(lines.at(-2), 'specint-sampling true ScenarioError');
    assert.equal(lines.at(-1), 'holds holds true 2 true');
  });

  test('(c) npx vpmu from the installed package: --version, scenarios, stress, --html without vega', () => {
    const npx = (...args: string[]) =>
      spawnSync('npx', ['--no-install', 'vpmu', ...args], {
        cwd: project,
        encoding: 'utf8',
        timeout: 60_000,
      });
    const version = npx('--version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), PKG.version);
    assert.equal(version.stderr, '');

    const scenarios = npx('scenarios');
    assert.equal(scenarios.status, 0, scenarios.stderr);
    assert.match(scenarios.stdout, /^specint-sampling +\S/m);

    // Worker threads start from the compiled module: tsx is not installed here.
    const stress = npx('stress', '--threads', '1', '--seconds', '0.2', '--json');
    assert.equal(stress.status, 0, stress.stderr);
    assert.equal((JSON.parse(stress.stdout) as { threads: number }).threads, 1);

    // vega and vega-lite are optional peers: not installed here, so --html
    // says what to install, in one line, before simulating anything.
    const html = npx('run', '--duration', '0.01', '--html', join(dir, 'r.html'));
    assert.equal(html.status, 2, html.stderr);
    assert.equal(html.stdout, '');
    assert.match(
      html.stderr,
      /^vpmu: --html: the HTML report needs the optional packages vega and vega-lite, and vega(-lite)? is not installed \(npm install vega vega-lite\)\n$/,
    );
  });
});
