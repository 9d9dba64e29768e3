#!/usr/bin/env node
/**
 * Mutation testing over chosen operators: does the test suite notice when the
 * code is wrong? Each mutant changes one operator at one place in src/perf,
 * src/kvm or src/check; the tests that import the mutated module (directly)
 * run against it (or, for a module tested only through others, the tests of
 * its layer: test/perf, test/kvm, test/check), in a scratch copy of the tree,
 * never in the worktree. A mutant is killed when those tests fail, survives
 * when they pass, and times out when they run past --timeout (counted as
 * detected, shown apart). The score is (killed + timed out) / all run.
 *
 *   node scripts/mutate.mjs [--sample N] [--seed S] [--timeout SECONDS]
 *                           [--jobs N] [--json FILE] [dir...]
 *
 * --sample draws N mutants, spread evenly over the directories, by a seeded
 * shuffle (the seed is printed; the same seed gives the same mutants).
 * --jobs runs N mutants at once, each in its own scratch copy. --json writes
 * every mutant's file:line, operator, outcome and elapsed seconds. Survivors
 * are listed with file, line and the change, to be killed by a new test or
 * explained.
 */
import { spawn } from 'node:child_process';
import {
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { applyMutant, mutantsOf, stratifiedSample } from './mutate-plan.mjs';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

function usage(message) {
  console.error(`mutate: ${message}`);
  process.exit(2);
}

function parseArgs(argv) {
  const opts = {
    sample: 0,
    seed: Date.now() % 1_000_000,
    timeout: 180,
    jobs: 1,
    json: '',
    dirs: [],
  };
  const count = (flag, v, min) => {
    const n = Number(v);
    if (!Number.isInteger(n) || n < min) usage(`${flag} expects an integer >= ${min}, got '${v}'`);
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sample') opts.sample = count(a, argv[++i], 0);
    else if (a === '--seed') opts.seed = count(a, argv[++i], 0);
    else if (a === '--timeout') opts.timeout = count(a, argv[++i], 1);
    else if (a === '--jobs') opts.jobs = count(a, argv[++i], 1);
    else if (a === '--json') opts.json = argv[++i] ?? usage('--json expects a file name');
    else if (a.startsWith('--')) usage(`unknown option ${a}`);
    else opts.dirs.push(a.replace(/\/+$/, ''));
  }
  if (opts.dirs.length === 0) opts.dirs = ['src/perf', 'src/kvm', 'src/check'];
  return opts;
}

function filesUnder(dir) {
  return readdirSync(join(ROOT, dir), { withFileTypes: true }).flatMap((e) =>
    e.isDirectory()
      ? filesUnder(join(dir, e.name))
      : e.name.endsWith('.ts')
        ? [join(dir, e.name)]
        : [],
  );
}

/**
 * The relevant tests for a module's mutants: the test files that import it,
 * else (a module exercised through others) the tests of its layer.
 */
function relevantTests(file, testFiles) {
  const direct = testFiles.filter((t) => {
    const text = readFileSync(join(ROOT, t), 'utf8');
    const rel = relative(dirname(join(ROOT, t)), join(ROOT, file)).replace(/\\/g, '/');
    return text.includes(`'${rel}'`);
  });
  if (direct.length > 0) return direct;
  const layer = file.split('/')[1];
  return testFiles.filter((t) => t.startsWith(`test/${layer}/`));
}

/** A scratch copy of the tree: the worktree is never modified. */
function scratchCopy() {
  const work = mkdtempSync(join(tmpdir(), 'vpmu-mutate-'));
  for (const entry of ['src', 'test', 'package.json', 'tsconfig.json', 'scenarios'])
    cpSync(join(ROOT, entry), join(work, entry), { recursive: true });
  symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');
  return work;
}

/**
 * Runs the tests in `work`; resolves to 'killed', 'survived' or 'timeout'.
 * The test runner and its per-file children form one process group, killed
 * together on timeout.
 */
const running = new Set();
function runTests(work, tests, timeoutSeconds) {
  return new Promise((done) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '--test', ...tests], {
      cwd: work,
      stdio: 'ignore',
      detached: true,
      env: { ...process.env, NO_COLOR: '1' },
    });
    running.add(child.pid);
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }, timeoutSeconds * 1000);
    child.on('exit', (code) => {
      running.delete(child.pid);
      clearTimeout(timer);
      done(timedOut ? 'timeout' : code === 0 ? 'survived' : 'killed');
    });
  });
}

const opts = parseArgs(process.argv.slice(2));
const testFiles = filesUnder('test').filter((f) => f.endsWith('.test.ts'));
const all = opts.dirs
  .flatMap(filesUnder)
  .flatMap((f) => mutantsOf(f, readFileSync(join(ROOT, f), 'utf8')));
const mutants = stratifiedSample(all, opts.dirs, opts.sample, opts.seed);
console.log(
  `mutate: ${all.length} mutants in ${opts.dirs.join(', ')}; running ${mutants.length}` +
    (mutants.length < all.length ? ` (sample, --seed ${opts.seed})` : '') +
    `, ${opts.jobs} at a time, --timeout ${opts.timeout}`,
);

// The tests for each mutated module, and the scratch copies, both taken now:
// later edits to the worktree do not leak into the run.
const importers = new Map();
for (const m of mutants)
  if (!importers.has(m.file)) importers.set(m.file, relevantTests(m.file, testFiles));
const copies = Array.from({ length: Math.min(opts.jobs, mutants.length) }, scratchCopy);

const results = [];
let next = 0;
let finished = 0;
const started = Date.now();
function writeJson() {
  if (opts.json)
    writeFileSync(
      opts.json,
      `${JSON.stringify({ seed: opts.seed, sample: opts.sample, timeout: opts.timeout, dirs: opts.dirs, total: all.length, mutants: results }, null, 2)}\n`,
    );
}

async function worker(work) {
  while (next < mutants.length) {
    const n = next++;
    const m = mutants[n];
    const tests = importers.get(m.file);
    const where = `${m.file}:${m.line + 1}`;
    const original = readFileSync(join(work, m.file), 'utf8');
    const lines = original.split('\n');
    const source = lines[m.line];
    lines[m.line] = applyMutant(source, m);
    const t0 = Date.now();
    let outcome = 'no tests';
    if (tests.length > 0) {
      writeFileSync(join(work, m.file), lines.join('\n'));
      outcome = await runTests(work, tests, opts.timeout);
      writeFileSync(join(work, m.file), original);
    }
    const seconds = Math.round((Date.now() - t0) / 100) / 10;
    results[n] = {
      file: m.file,
      line: m.line + 1,
      column: m.column + 1,
      operator: m.op.name,
      source: source.trim(),
      outcome,
      seconds,
      tests: tests.length,
    };
    finished++;
    console.log(
      `[${finished}/${mutants.length}] ${where} ${m.op.name}: ` +
        `${outcome === 'survived' ? 'SURVIVED' : outcome} (${seconds} s)`,
    );
    writeJson();
  }
}

// Interrupted: stop the mutants' test runs and remove the copies; the JSON
// keeps the mutants finished so far.
for (const signal of ['SIGINT', 'SIGTERM'])
  process.on(signal, () => {
    for (const pid of running) {
      try {
        process.kill(-pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    for (const work of copies) rmSync(work, { recursive: true, force: true });
    console.log(`mutate: stopped by ${signal} after ${finished} of ${mutants.length} mutants`);
    process.exit(130);
  });

try {
  await Promise.all(copies.map(worker));
} finally {
  for (const work of copies) rmSync(work, { recursive: true, force: true });
}

const tally = (rs) => {
  const c = { killed: 0, survived: 0, timeout: 0, 'no tests': 0 };
  for (const r of rs) c[r.outcome]++;
  const run = c.killed + c.survived + c.timeout;
  const score = run ? ((100 * (c.killed + c.timeout)) / run).toFixed(1) : 'n/a';
  return (
    `${score} % (${c.killed} killed, ${c.timeout} timed out, ${c.survived} survived` +
    `${c['no tests'] ? `, ${c['no tests']} without tests` : ''})`
  );
};
console.log(`\nfinished in ${Math.round((Date.now() - started) / 1000)} s`);
for (const d of opts.dirs)
  console.log(`${d}: ${tally(results.filter((r) => r.file.startsWith(`${d}/`)))}`);
console.log(`mutation score: ${tally(results)}`);
const survivors = results.filter((r) => r.outcome === 'survived');
if (survivors.length)
  console.log(
    `survivors:\n  ${survivors.map((r) => `${r.file}:${r.line} ${r.operator}: ${r.source}`).join('\n  ')}`,
  );
