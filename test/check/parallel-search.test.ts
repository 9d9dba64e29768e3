/**
 * The parallel search (--jobs) against the one-thread depth-first search:
 * the same reduced graph, so the same states, transitions and verdicts.
 * Every figure compared here is computed by both searches in the test; none
 * is written down.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { runCheck } from '../../src/check/check.ts';
import { Engine } from '../../src/check/engine.ts';
import {
  buildModel,
  variantNames,
  type ModelKind,
  type ModelParams,
} from '../../src/check/model-catalogue.ts';
import { parallelDfs, PARALLEL_AFTER, type EngineSpec } from '../../src/check/parallel-search.ts';
import { ALL_PROPERTIES, Violation } from '../../src/check/properties.ts';
import { dfs } from '../../src/check/search.ts';

function spec(kind: ModelKind, variant: string, params: ModelParams): EngineSpec {
  return {
    kind,
    variant,
    params,
    engine: { fuseMovers: true, symmetry: true, properties: ALL_PROPERTIES },
    reductions: { por: true },
  };
}

function bothWays(s: EngineSpec, jobs: number) {
  const engine = new Engine(buildModel(s.kind, s.variant, s.params), s.engine);
  const one = dfs(engine, { por: true, preemptions: -1, maxStates: Number.MAX_SAFE_INTEGER });
  const many = parallelDfs(s, {
    jobs,
    maxStates: Number.MAX_SAFE_INTEGER,
    // Small levels shared out too, so that the workers take part in every graph here.
    splitAt: 16,
  });
  return { one, many, loops: engine.hasLoops };
}

const WIDE: [ModelKind, ModelParams][] = [
  ['accounting', { vms: 4, events: 4, rounds: 2 }],
  ['accounting', { vms: 3, events: 3, rounds: 2, exempt: 1 }],
  ['guest-context', { rounds: 2, events: 2, rotations: 1, pmis: 1 }],
  ['vm-lifecycle', { vms: 2, vcpus: 2, events: 2, rounds: 1 }],
];

for (const [kind, params] of WIDE) {
  test(`${kind} ${JSON.stringify(params)}: every variant, on 2 and 3 threads, has the depth-first search's states and transitions`, () => {
    for (const variant of variantNames(kind)) {
      const s = spec(kind, variant, params);
      for (const jobs of [2, 3]) {
        const { one, many, loops } = bothWays(s, jobs);
        if (loops) continue; // runCheck keeps such models on one thread.
        assert.equal(
          many.violation === Violation.None,
          one.violation === Violation.None,
          `${variant}: verdict`,
        );
        if (one.violation !== Violation.None) continue;
        assert.equal(many.complete, true, variant);
        assert.equal(many.threads, jobs, `${variant}: the workers took part`);
        assert.equal(many.states, one.states, `${variant}: states`);
        assert.equal(many.transitions, one.transitions, `${variant}: transitions`);
      }
    }
  });
}

test('the workers join at the first level wider than SPLIT_AT', () => {
  const r = parallelDfs(spec('accounting', 'upstream', { vms: 4, events: 4, rounds: 2 }), {
    jobs: 3,
    maxStates: Number.MAX_SAFE_INTEGER,
  });
  assert.equal(r.threads, 3);
});

test('waitForWorkers false: a graph the main thread finishes while the workers load is searched alone, all the same', () => {
  const s = spec('accounting', 'upstream', { vms: 3, events: 3, rounds: 2 });
  const alone = parallelDfs(s, {
    jobs: 2,
    maxStates: Number.MAX_SAFE_INTEGER,
    splitAt: 16,
    waitForWorkers: false,
  });
  const { one } = bothWays(s, 2);
  assert.equal(alone.complete, true);
  assert.deepEqual([alone.states, alone.transitions], [one.states, one.transitions]);
});

test('a graph whose levels all stay below SPLIT_AT never starts the workers', () => {
  const r = parallelDfs(spec('accounting', 'upstream', { vms: 2, events: 2, rounds: 1 }), {
    jobs: 2,
    maxStates: Number.MAX_SAFE_INTEGER,
  });
  assert.equal(r.threads, 1);
  assert.equal(r.complete, true);
});

test('every mutant caught on the threads gets the verdict, violation and counterexample of --jobs 1', () => {
  const params = { vms: 3, events: 3, rounds: 2 };
  for (const variant of variantNames('accounting')) {
    const one = runCheck({ model: 'accounting', variant, params, jobs: 1 });
    const two = runCheck({ model: 'accounting', variant, params, jobs: 2, parallelAfter: 1 });
    assert.deepEqual(
      [two.verdict, two.violation, two.schedule, two.states, two.transitions],
      [one.verdict, one.violation, one.schedule, one.states, one.transitions],
      variant,
    );
  }
});

test('a mutant found by the threads: the parallel search reports a violation the one-thread search also finds', () => {
  for (const variant of ['no-mutex', 'unlock-before-inc', 'check-outside-mutex']) {
    const { one, many } = bothWays(
      spec('accounting', variant, { vms: 4, events: 4, rounds: 2 }),
      2,
    );
    assert.notEqual(one.violation, Violation.None, variant);
    assert.notEqual(many.violation, Violation.None, variant);
  }
});

test('runCheck with jobs: a graph past parallelAfter goes on on the threads, with the same result', () => {
  const params = { vms: 5, events: 5, rounds: 2 };
  const one = runCheck({ model: 'accounting', variant: 'upstream', params, jobs: 1 });
  const two = runCheck({
    model: 'accounting',
    variant: 'upstream',
    params,
    jobs: 2,
    parallelAfter: 50_000,
  });
  assert.equal(one.threads, 1);
  assert.equal(two.threads, 2);
  assert.deepEqual(
    [two.verdict, two.states, two.transitions, two.complete],
    [one.verdict, one.states, one.transitions, one.complete],
  );
});

test('runCheck with jobs: what is left past PARALLEL_AFTER is too narrow for the workers, so none start', () => {
  // 5x5x2 has 279,027 states: after the first 2^18 on one thread, no level of
  // the rest reaches SPLIT_AT.
  const params = { vms: 5, events: 5, rounds: 2 };
  const two = runCheck({ model: 'accounting', variant: 'upstream', params, jobs: 2 });
  assert.ok(two.states > PARALLEL_AFTER);
  assert.equal(two.threads, 1);
  assert.equal(two.complete, true);
});

test('property: the threads go on from wherever the one-thread search stopped, to the same graph', () => {
  for (const [model, variant, params] of [
    ['accounting', 'upstream', { vms: 4, events: 4, rounds: 2 }],
    ['accounting', 'v6', { vms: 4, events: 4, rounds: 2 }],
    ['guest-context', 'upstream', { rounds: 2, events: 2, rotations: 1, pmis: 1 }],
  ] as const) {
    const one = runCheck({ model, variant, params, jobs: 1 });
    fc.assert(
      fc.property(fc.integer({ min: 1, max: one.states - 1 }), (parallelAfter) => {
        const two = runCheck({ model, variant, params, jobs: 2, parallelAfter });
        assert.deepEqual(
          [two.verdict, two.states, two.transitions, two.complete],
          [one.verdict, one.states, one.transitions, one.complete],
          `${model} ${variant}, the threads after ${parallelAfter} states`,
        );
      }),
      { numRuns: 6 },
    );
  }
});

test('runCheck with jobs: a small graph stays on one thread', () => {
  const r = runCheck({
    model: 'accounting',
    variant: 'upstream',
    params: { vms: 3, events: 3, rounds: 2 },
    jobs: 4,
  });
  assert.equal(r.threads, 1);
  assert.equal(r.complete, true);
});

test('property: the state budget holds on the threads too: at most N states, and incomplete below the graph', () => {
  const s = spec('accounting', 'upstream', { vms: 4, events: 4, rounds: 2 });
  const { one } = bothWays(s, 2);
  fc.assert(
    fc.property(
      fc.integer({ min: 1, max: one.states + 10 }),
      fc.integer({ min: 2, max: 3 }),
      (budget, jobs) => {
        const r = parallelDfs(s, { jobs, maxStates: budget, splitAt: 64 });
        assert.ok(r.states <= budget, `${r.states} states stored with a budget of ${budget}`);
        if (budget < one.states) assert.equal(r.complete, false);
        if (budget > one.states) {
          assert.equal(r.complete, true);
          assert.equal(r.states, one.states);
        }
      },
    ),
    { numRuns: 12 },
  );
});

test('progress reaches the caller from the threads', () => {
  const seen: number[] = [];
  parallelDfs(spec('accounting', 'upstream', { vms: 5, events: 5, rounds: 2 }), {
    jobs: 2,
    maxStates: Number.MAX_SAFE_INTEGER,
    onProgress: (states) => seen.push(states),
  });
  assert.ok(seen.length > 0);
  assert.deepEqual(
    [...seen].sort((a, b) => a - b),
    seen,
  );
});
