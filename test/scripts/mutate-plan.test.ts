/**
 * scripts/mutate-plan.mjs: the mutants a source file has (one per operator
 * occurrence, none in comments, strings or type declarations) and the seeded
 * sample spread evenly over directories.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  applyMutant,
  mutantsOf,
  stratifiedSample,
  type Mutant,
} from '../../scripts/mutate-plan.mjs';

const SOURCE = [
  "import { x } from './y.js';",
  '// if (a === b) return;',
  'export type T = { a: boolean };',
  'if (a === b && c <= d) return true;',
  "const s = 'a === b';",
  'x = i + 1; // x === y',
  'm >>>= 0; n <<= 1;',
].join('\n');

test('mutantsOf: one mutant per operator occurrence on code lines only', () => {
  const ms = mutantsOf('src/perf/a.ts', SOURCE);
  const seen = ms.map((m) => `${m.line}:${m.op.name}`);
  assert.deepEqual(seen, [
    '3:=== -> !==',
    '3:<= -> <',
    '3:&& -> ||',
    '3:true -> false',
    '5:+ 1 -> - 1',
  ]);
});

test('applyMutant rewrites exactly the matched text', () => {
  const lines = SOURCE.split('\n');
  const got = mutantsOf('f.ts', SOURCE).map((m) => applyMutant(lines[m.line] ?? '', m));
  assert.deepEqual(got, [
    'if (a !== b && c <= d) return true;',
    'if (a === b && c < d) return true;',
    'if (a === b || c <= d) return true;',
    'if (a === b && c <= d) return false;',
    'x = i - 1; // x === y',
  ]);
});

function fake(file: string, n: number): Mutant[] {
  return Array.from({ length: n }, (_, line) => ({
    file,
    line,
    column: 0,
    length: 1,
    op: { name: 'op', re: /x/g, to: 'y' },
  }));
}
const dirOf = (m: Mutant) => m.file.split('/').slice(0, 2).join('/');
const DIRS = ['src/perf', 'src/kvm', 'src/check'];
const ALL = [
  ...fake('src/perf/a.ts', 50),
  ...fake('src/kvm/b.ts', 40),
  ...fake('src/check/c.ts', 5),
];

test('stratifiedSample: equal shares, a small directory gives its rest to the others', () => {
  const s = stratifiedSample(ALL, DIRS, 30, 7);
  const count = (d: string) => s.filter((m) => dirOf(m) === d).length;
  assert.equal(s.length, 30);
  assert.deepEqual(DIRS.map(count), [13, 12, 5]);
  assert.equal(new Set(s).size, 30, 'no mutant drawn twice');
});

test('stratifiedSample: same seed same sample, another seed another, 0 means all', () => {
  const key = (ms: Mutant[]) => ms.map((m) => `${m.file}:${m.line}`).join(',');
  assert.equal(key(stratifiedSample(ALL, DIRS, 21, 1)), key(stratifiedSample(ALL, DIRS, 21, 1)));
  assert.notEqual(key(stratifiedSample(ALL, DIRS, 21, 1)), key(stratifiedSample(ALL, DIRS, 21, 2)));
  assert.equal(stratifiedSample(ALL, DIRS, 0, 1), ALL);
});

test('stratifiedSample: directories take turns, so a prefix is itself spread', () => {
  const s = stratifiedSample(ALL, DIRS, 9, 3);
  assert.deepEqual(s.map(dirOf), [...DIRS, ...DIRS, ...DIRS]);
});
