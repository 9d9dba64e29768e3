#!/usr/bin/env node
/**
 * Mutation testing over chosen operators: does the test suite notice when the
 * code is wrong? Each mutant changes one operator at one place in src/perf,
 * src/kvm or src/check; the tests that import the mutated module (directly)
 * run against it (or, for a module tested only through others, the tests of
 * its layer: test/perf, test/kvm, test/check), in a scratch copy of the tree,
 * never in the worktree. A
 * mutant is killed when those tests fail (or time out), survives when they
 * pass. The score is killed / (killed + survived).
 *
 *   node scripts/mutate.mjs [--sample N] [--seed S] [--timeout SECONDS] [dir...]
 *
 * --sample draws N mutants at random (seeded, printed) instead of all of
 * them; survivors are listed with file, line and the change, to be killed by
 * a new test or explained.
 */
import { spawnSync } from 'node:child_process';
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

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The operators: a pattern and what it becomes (one occurrence per mutant). */
const OPERATORS = [
  { name: '=== -> !==', re: /===/g, to: '!==' },
  { name: '!== -> ===', re: /!==/g, to: '===' },
  { name: '< -> <=', re: /(?<![<=!])<(?![<=])(?=\s)/g, to: '<=' },
  { name: '<= -> <', re: /<=/g, to: '<' },
  { name: '> -> >=', re: /(?<![>=-])>(?![>=])(?=\s)/g, to: '>=' },
  { name: '>= -> >', re: />=/g, to: '>' },
  { name: '&& -> ||', re: /&&/g, to: '||' },
  { name: '|| -> &&', re: /\|\|/g, to: '&&' },
  { name: '+ 1 -> - 1', re: /\+ 1\b/g, to: '- 1' },
  { name: '- 1 -> + 1', re: /- 1\b/g, to: '+ 1' },
  { name: 'true -> false', re: /\btrue\b/g, to: 'false' },
  { name: 'false -> true', re: /\bfalse\b/g, to: 'true' },
  { name: 'drop !', re: /(?<=\(|\s)!(?=[a-zA-Z_(])/g, to: '' },
];

function parseArgs(argv) {
  const opts = { sample: 0, seed: Date.now() % 1_000_000, timeout: 180, dirs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--sample') opts.sample = Number(argv[++i]);
    else if (a === '--seed') opts.seed = Number(argv[++i]);
    else if (a === '--timeout') opts.timeout = Number(argv[++i]);
    else opts.dirs.push(a);
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

/** Lines that are code (not comments, imports, or type-only declarations). */
function isCodeLine(line) {
  const t = line.trim();
  return !(
    t === '' ||
    t.startsWith('//') ||
    t.startsWith('*') ||
    t.startsWith('/*') ||
    t.startsWith('import ') ||
    t.startsWith('export type') ||
    t.startsWith('type ') ||
    t.startsWith('readonly ') ||
    /^[A-Za-z_]\w*\??: /.test(t) // an interface member
  );
}

function mutantsOf(file) {
  const lines = readFileSync(join(ROOT, file), 'utf8').split('\n');
  const out = [];
  lines.forEach((line, i) => {
    if (!isCodeLine(line)) return;
    // Strings and trailing comments are not mutated.
    const code = line
      .replace(/\/\/.*$/, '')
      .replace(/'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, (s) => ' '.repeat(s.length));
    for (const op of OPERATORS) {
      for (const m of code.matchAll(op.re)) {
        out.push({ file, line: i, column: m.index, length: m[0].length, op });
      }
    }
  });
  return out;
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

function random(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

const opts = parseArgs(process.argv.slice(2));
const testFiles = filesUnder('test').filter((f) => f.endsWith('.test.ts'));
let mutants = opts.dirs.flatMap(filesUnder).flatMap(mutantsOf);
const total = mutants.length;
if (opts.sample > 0 && opts.sample < mutants.length) {
  const rnd = random(opts.seed);
  for (let i = mutants.length - 1; i > 0; i--) {
    const j = Math.floor(rnd() * (i + 1));
    [mutants[i], mutants[j]] = [mutants[j], mutants[i]];
  }
  mutants = mutants.slice(0, opts.sample);
}
console.log(
  `mutate: ${total} mutants in ${opts.dirs.join(', ')}; running ${mutants.length}` +
    (mutants.length < total ? ` (sample, --seed ${opts.seed})` : ''),
);

// The tests for each mutated module, and a scratch copy of the tree, both
// taken now: the worktree is never modified, and later edits to it do not
// leak into the run.
const importers = new Map();
for (const m of mutants)
  if (!importers.has(m.file)) importers.set(m.file, relevantTests(m.file, testFiles));
const work = mkdtempSync(join(tmpdir(), 'vpmu-mutate-'));
for (const entry of ['src', 'test', 'package.json', 'tsconfig.json', 'scenarios'])
  cpSync(join(ROOT, entry), join(work, entry), { recursive: true });
symlinkSync(join(ROOT, 'node_modules'), join(work, 'node_modules'), 'dir');

const results = { killed: 0, survived: 0, noTests: 0 };
const survivors = [];
try {
  for (const [n, m] of mutants.entries()) {
    const tests = importers.get(m.file);
    const where = `${m.file}:${m.line + 1}`;
    if (tests.length === 0) {
      results.noTests++;
      console.log(`[${n + 1}/${mutants.length}] ${where} ${m.op.name}: no test imports the module`);
      continue;
    }
    const original = readFileSync(join(work, m.file), 'utf8');
    const lines = original.split('\n');
    const line = lines[m.line];
    lines[m.line] = line.slice(0, m.column) + m.op.to + line.slice(m.column + m.length);
    writeFileSync(join(work, m.file), lines.join('\n'));
    const run = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...tests], {
      cwd: work,
      encoding: 'utf8',
      timeout: opts.timeout * 1000,
      env: { ...process.env, NO_COLOR: '1' },
    });
    writeFileSync(join(work, m.file), original);
    const killed = run.status !== 0; // a failure, a crash or a timeout
    if (killed) results.killed++;
    else {
      results.survived++;
      survivors.push(`${where} ${m.op.name}: ${line.trim()}`);
    }
    console.log(
      `[${n + 1}/${mutants.length}] ${where} ${m.op.name}: ${killed ? 'killed' : 'SURVIVED'}` +
        (run.error ? ` (${run.error.code ?? run.error.message})` : ''),
    );
  }
} finally {
  rmSync(work, { recursive: true, force: true });
}

const scored = results.killed + results.survived;
const score = scored ? ((100 * results.killed) / scored).toFixed(1) : 'n/a';
console.log(
  `\nmutation score: ${score} % (${results.killed} killed, ${results.survived} survived` +
    `${results.noTests ? `, ${results.noTests} without tests` : ''})`,
);
if (survivors.length) console.log(`survivors:\n  ${survivors.join('\n  ')}`);
