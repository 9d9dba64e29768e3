/**
 * `vpmu check` honours its limits exactly and refuses contradictory
 * arguments (issue: reliability part 2, item 10).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { runCheck, runReplay } from '../../src/check/check.ts';
import { BadInput } from '../../src/check/model-catalogue.ts';
import { parseSchedule } from '../../src/check/schedule.ts';

describe('vpmu check limits and schedules', () => {
  it('property: --max-states N stores at most N states, and the result says whether it covered the space', () => {
    const params = { vms: 3, events: 3, rounds: 2 };
    const full = runCheck({ model: 'accounting', variant: 'upstream', params });
    assert.equal(full.complete, true);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: full.states + 10 }), (cap) => {
        const r = runCheck({ model: 'accounting', variant: 'upstream', params, maxStates: cap });
        assert.ok(r.states <= cap, `${r.states} states stored with --max-states ${cap}`);
        if (cap < full.states) assert.equal(r.complete, false);
        if (cap > full.states) assert.equal(r.complete, true);
      }),
      { numRuns: 25 },
    );
  });

  it('a schedule that names a parameter twice is refused', () => {
    assert.throws(
      () => parseSchedule('accounting:no-mutex:vms=1,vms=2,events=1,rounds=1:0.0'),
      (e: unknown) => e instanceof BadInput && /vms is given twice/.test(e.message),
    );
    assert.doesNotThrow(() => parseSchedule('accounting:no-mutex:vms=1,events=1,rounds=1:0.0'));
  });

  it('--replay with options that choose another model, variant or size, or steer a search, is refused (exit 2)', () => {
    const schedule = 'accounting:no-mutex:vms=1,events=1,rounds=1:0.0.0.1.1.0.0.1';
    const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
    for (const extra of [
      ['--vms', '3'],
      ['--variant', 'upstream'],
      ['accounting'],
      ['--strategy', 'random'],
      ['--no-por'],
      ['--properties', 'invariant'],
    ]) {
      const r = spawnSync(
        process.execPath,
        ['--import', 'tsx', main, 'check', ...extra, '--replay', schedule],
        { encoding: 'utf8' },
      );
      assert.equal(r.status, 2, r.stderr);
      assert.match(r.stderr, /^vpmu: --replay: the schedule names its model/);
      assert.equal(r.stderr.trim().split('\n').length, 1);
    }
  });
});

describe("vpmu check with another strategy's flag", () => {
  it('--runs, --seed or --depth with dfs, --max-states, --jobs or --no-por with random or pct: exit 2, not ignored', () => {
    const main = new URL('../../src/cli/main.ts', import.meta.url).pathname;
    for (const [args, message] of [
      [['--runs', '5'], '--runs: applies to --strategy random or pct only, not dfs'],
      [
        ['--strategy', 'dfs', '--seed', '4'],
        '--seed: applies to --strategy random or pct only, not dfs',
      ],
      [
        ['--strategy', 'random', '--depth', '2'],
        '--depth: applies to --strategy pct only, not random',
      ],
      [
        ['--strategy', 'pct', '--max-states', '9'],
        '--max-states: applies to --strategy dfs only, not pct',
      ],
      [
        ['--strategy', 'random', '--jobs', '2'],
        '--jobs: applies to --strategy dfs only, not random',
      ],
      [
        ['--strategy', 'random', '--no-por'],
        '--no-por: applies to --strategy dfs only, not random',
      ],
    ] as const) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', main, 'check', ...args], {
        encoding: 'utf8',
      });
      assert.equal(r.status, 2, r.stderr);
      assert.equal(r.stderr, `vpmu: ${message}\n`);
    }
  });
});

describe('runCheck and runReplay called from JavaScript without types', () => {
  // What a caller leaves out or mistypes is a BadInput naming the option,
  // never a TypeError from inside the search.
  const base = { model: 'accounting', variant: 'upstream', params: {} };
  const cases: [string, unknown][] = [
    ['runCheck', undefined],
    ['runCheck', 'accounting'],
    ['model', { ...base, model: 'nosuch' }],
    ['variant', { model: 'accounting', params: {} }],
    ['params', { model: 'accounting', variant: 'upstream' }],
    ['params', { ...base, params: null }],
    ['strategy', { ...base, strategy: 'bfs' }],
    ['properties', { ...base, properties: 'invariant' }],
    ['properties', { ...base, properties: ['nosuch'] }],
    // A property named twice is refused, not run once (a slip for another one).
    ['properties', { ...base, properties: ['invariant', 'invariant'] }],
    ['jobs', { ...base, jobs: 0 }],
    // The CLI's --jobs bound (64 threads of some 40 MB each) holds in the API too.
    ['jobs', { ...base, jobs: 65 }],
    ['maxStates', { ...base, maxStates: -1 }],
    ['runs', { ...base, strategy: 'random', runs: '10' }],
    ['seed', { ...base, strategy: 'random', seed: Number.NaN }],
    ['depth', { ...base, strategy: 'pct', depth: 0 }],
    ['preemptions', { ...base, preemptions: 1.5 }],
    ['symmetry', { ...base, symmetry: 'no' }],
    ['onProgress', { ...base, onProgress: 5 }],
    // A misspelt option was ignored: the search ran as the default (dfs).
    ['runCheck', { ...base, strategie: 'random' }],
    ['runCheck', { ...base, maxstates: 10 }],
    // An option of another strategy was ignored: the search ran without it.
    ['--runs', { ...base, runs: 10 }],
    ['--seed', { ...base, strategy: 'dfs', seed: 4 }],
    ['--depth', { ...base, strategy: 'random', depth: 2 }],
    ['--max-states', { ...base, strategy: 'random', maxStates: 10 }],
    ['--jobs', { ...base, strategy: 'pct', jobs: 2 }],
    ['--no-por', { ...base, strategy: 'random', por: false }],
    ['--preemptions', { ...base, strategy: 'pct', preemptions: 2 }],
  ];
  for (const [option, options] of cases)
    it(`${option}: ${JSON.stringify(options) ?? 'undefined'}`, () => {
      assert.throws(
        () => runCheck(options as Parameters<typeof runCheck>[0]),
        (e: unknown) => e instanceof BadInput && e.flag === option,
      );
    });

  it("another strategy's option at the value that leaves it alone is accepted", () => {
    const r = runCheck({
      ...base,
      params: { vms: 1, events: 1, rounds: 1 },
      strategy: 'random',
      runs: 5,
      preemptions: -1,
      symmetry: true,
      por: true,
    } as Parameters<typeof runCheck>[0]);
    assert.equal(r.strategy, 'random');
    assert.throws(
      () => runCheck({ ...base, runs: 10 } as never),
      (e: unknown) =>
        e instanceof BadInput &&
        e.message === '--runs: applies to --strategy random or pct only, not dfs',
    );
  });

  it("a misspelt option's message names the option it resembles", () => {
    assert.throws(
      () => runCheck({ ...base, strategie: 'random' } as never),
      (e: unknown) =>
        e instanceof BadInput &&
        e.message === "runCheck: unknown option 'strategie', did you mean 'strategy'?",
    );
  });

  it('a schedule that is not a string', () => {
    for (const bad of [undefined, 5, null])
      assert.throws(
        () => runReplay(bad as unknown as string),
        (e: unknown) => e instanceof BadInput && e.flag === '--replay',
      );
  });
});
