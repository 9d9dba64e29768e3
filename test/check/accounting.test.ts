import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck, runReplay, type CheckOptions } from '../../src/check/check.ts';
import { CHECKED_ACCOUNTING_VARIANTS } from '../../src/check/accounting-variants.ts';
import { Engine, flagLiveness } from '../../src/check/engine.ts';
import { StepKind } from '../../src/common/protocol.ts';
import { NR_MEDIATED_PMU_VMS, UPSTREAM } from '../../src/perf/mediated-protocol.ts';
import { buildModel } from '../../src/check/model-catalogue.ts';
import { ALL_PROPERTIES, Violation, type PropertyName } from '../../src/check/properties.ts';

const small = { vms: 2, events: 2, rounds: 1 };
const check = (
  variant: string,
  params: CheckOptions['params'] = small,
  extra: Partial<CheckOptions> = {},
) => runCheck({ model: 'accounting', variant, params, ...extra });

for (const variant of ['upstream', 'v6']) {
  test(`${variant} holds on 2 VMs x 2 events x 2 rounds, with and without reductions`, () => {
    const params = { vms: 2, events: 2, rounds: 2 };
    const reduced = check(variant, params);
    const plain = check(variant, params, { symmetry: false, por: false });
    for (const r of [reduced, plain]) {
      assert.equal(r.verdict, 'holds');
      assert.equal(r.complete, true);
    }
    assert.ok(reduced.states < plain.states, `${reduced.states} < ${plain.states}`);
  });

  test(`${variant} holds with a stray release (WARN expected) and an exempt event`, () => {
    const r = check(variant, { vms: 1, events: 2, rounds: 2, exempt: 1, 'stray-release': true });
    assert.equal(r.verdict, 'holds');
  });
}

test('upstream holds on 3 VMs x 3 events x 2 rounds', () => {
  const r = check('upstream', { vms: 3, events: 3, rounds: 2 });
  assert.equal(r.verdict, 'holds');
  assert.equal(r.complete, true);
});

/** Every mutant, the property it breaks, and what its trace must show. */
const MUTANTS: {
  variant: string;
  params?: CheckOptions['params'];
  property: string;
  shows: RegExp[];
}[] = [
  {
    variant: 'read-then-inc',
    params: { vms: 2, events: 1, rounds: 1 },
    property: 'invariant',
    shows: [/if \(!atomic_read\(&nr_mediated_pmu_vms\)\)/, /vms=0/],
  },
  {
    variant: 'check-outside-mutex',
    property: 'invariant',
    shows: [/if \(atomic_read\(&nr_include_guest_events\)\)/],
  },
  {
    variant: 'no-mutex',
    property: 'invariant',
    shows: [/mediated_pmu_account_event/, /vms=1 events=1/],
  },
  {
    variant: 'unlock-before-inc',
    property: 'invariant',
    shows: [/mutex_unlock/, /vms=1 events=1/],
  },
  {
    variant: 'dec-before-check',
    params: { vms: 1, events: 1, rounds: 1, 'stray-release': true },
    property: 'non-negative',
    shows: [/atomic_dec_return/, /vms=-1/],
  },
  {
    variant: 'leak-mutex-on-refusal',
    property: 'mutex',
    shows: [/return -EOPNOTSUPP \(mutex still held\)/],
  },
  {
    variant: 'checks-own-counter',
    property: 'invariant',
    shows: [/mediated_pmu_account_event/, /vms=1 events=1/],
  },
  { variant: 'retry-instead-of-refusing', property: 'termination', shows: [/goto again/] },
];

for (const m of MUTANTS) {
  test(`mutant ${m.variant} is caught: ${m.property}`, () => {
    const r = check(m.variant, m.params ?? { vms: 1, events: 1, rounds: 1 });
    assert.equal(r.verdict, 'violated');
    assert.equal(r.violation!.property, m.property);
    const text = r.trace!.map((s) => `${s.thread} ${s.operation} ${s.step} ${s.after}`).join('\n');
    for (const pattern of m.shows) assert.match(text, pattern);
    // The schedule string replays to the same violation and the same trace.
    const again = runReplay(r.schedule!);
    assert.equal(again.verdict, 'violated');
    assert.deepEqual(again.violation, r.violation);
    assert.deepEqual(again.trace, r.trace);
  });
}

test('dec-before-check, invariant only: the -1 lets a VM and an event be held together', () => {
  const r = check(
    'dec-before-check',
    { vms: 1, events: 1, rounds: 1, 'stray-release': true },
    { properties: ['invariant'] },
  );
  assert.equal(r.violation!.property, 'invariant');
  const steps = r.trace!.map((s) => s.step);
  assert.ok(steps.includes('atomic_inc_not_zero(&nr_mediated_pmu_vms)'));
  assert.match(
    r.trace!.find((s) => s.step.startsWith('atomic_inc_not_zero(&nr_mediated'))!.before,
    /vms=-1/,
  );
  assert.match(r.schedule!, /stray-release,properties=invariant:/);
});

/** Independent of the BFS: is there any violating schedule of exactly `length` steps or fewer? */
function violatesWithin(variant: string, params: CheckOptions['params'], length: number): boolean {
  const engine = new Engine(buildModel('accounting', variant, params), {
    fuseMovers: false,
    symmetry: false,
    properties: ALL_PROPERTIES,
  });
  const W = engine.words;
  const stack = new Int32Array((length + 2) * W);
  engine.initial(stack, 0);
  const search = (depth: number): boolean => {
    const base = depth * W;
    let any = false;
    for (let t = 0; t < engine.threads; t++) {
      if (!engine.enabled(stack, base, t)) continue;
      any = true;
      if (depth === length) continue;
      stack.copyWithin(base + W, base, base + W);
      if (engine.step(stack, base + W, t) !== Violation.None) return true;
      if (search(depth + 1)) return true;
    }
    return !any && engine.checkStuck(stack, base) !== Violation.None;
  };
  return search(0);
}

for (const variant of ['no-mutex', 'check-outside-mutex', 'unlock-before-inc']) {
  test(`the counterexample of ${variant} is a shortest one`, () => {
    const params = { vms: 1, events: 1, rounds: 1 };
    const r = check(variant, params);
    const length = r.schedule!.split(':')[3]!.split('.').length;
    assert.equal(r.minimal, true);
    assert.equal(violatesWithin(variant, params, length), true);
    assert.equal(violatesWithin(variant, params, length - 1), false);
  });
}

test('reductions never change a verdict or the property broken', () => {
  for (const m of MUTANTS) {
    const params = m.params ?? { vms: 2, events: 1, rounds: 1 };
    const reduced = check(m.variant, params);
    const plain = check(m.variant, params, { symmetry: false, por: false });
    assert.equal(reduced.verdict, plain.verdict, m.variant);
    assert.equal(reduced.violation?.property, plain.violation?.property, m.variant);
    assert.equal(reduced.schedule, plain.schedule, m.variant);
  }
});

test('random and pct are deterministic for a seed, and find no-mutex', () => {
  // no-mutex needs three context switches: a PCT bug depth of 4.
  for (const strategy of ['random', 'pct'] as const) {
    const options = { strategy, seed: 42, runs: 500, ...(strategy === 'pct' ? { depth: 4 } : {}) };
    const a = check('no-mutex', small, options);
    const b = check('no-mutex', small, options);
    assert.deepEqual(
      { ...a, seconds: 0, statesPerSecond: 0 },
      { ...b, seconds: 0, statesPerSecond: 0 },
    );
    assert.equal(a.verdict, 'violated', strategy);
    assert.equal(a.complete, false);
  }
  const upstream = check('upstream', small, { strategy: 'pct', seed: 3, runs: 200 });
  assert.equal(upstream.verdict, 'holds');
});

test('a preemption bound too small misses no-mutex; a larger one finds it', () => {
  // A bounded search covers only the schedules within the bound, so even a
  // bound of 0 is no proof (complete: false), and it runs without the
  // symmetry and persistent-set reductions (CheckOptions.preemptions), which
  // are sound for the unbounded search only.
  const bounded = check('no-mutex', small, { preemptions: 0 });
  assert.equal(bounded.verdict, 'holds');
  assert.equal(bounded.complete, false);
  assert.deepEqual(
    bounded.reductions.filter((r) => r !== 'dead-ghost-flags'),
    ['preemption-bound=0'],
  );
  const found = check('no-mutex', small, { preemptions: 2 });
  assert.equal(found.verdict, 'violated');
  assert.equal(found.complete, false);
});

test('the refusal ghost flag is kept only where it is live: free for upstream, kept for a mutant that refuses unguarded', () => {
  const withoutRefusals: PropertyName[] = [
    'invariant',
    'non-negative',
    'no-warn',
    'mutex',
    'deadlock',
    'termination',
    'balance',
    'once',
  ];
  // Every refusal of upstream sits behind `if (atomic_read(&other))`: the flag
  // is dead everywhere, so checking refusals costs no state.
  const all = check('upstream', small);
  const fewer = check('upstream', small, { properties: withoutRefusals });
  assert.equal(all.verdict, 'holds');
  assert.equal(fewer.states, all.states);
  // Live only on the refusal path itself (unlock, return -EOPNOTSUPP), which
  // is entered through the taken branch of the check: the flag is 1 there.
  const account = UPSTREAM.operations.account;
  const refusing = account.steps.findIndex((st) => st.kind === StepKind.Return && st.value !== 0);
  const live = flagLiveness(account, NR_MEDIATED_PMU_VMS, [refusing]);
  assert.deepEqual(
    account.steps.map((st, pc) => (live[pc] === 1 ? st.text : null)).filter((t) => t !== null),
    ['mutex_unlock(&perf_mediated_pmu_mutex)', 'return -EOPNOTSUPP'],
  );
  // checks-own-counter refuses behind a read of its own counter: the flag is
  // live from the start of the call, and the refusal it makes is caught.
  const own = CHECKED_ACCOUNTING_VARIANTS['checks-own-counter']!.protocol.operations.account;
  const refusal = own.steps.findIndex((st) => st.kind === StepKind.Return && st.value !== 0);
  assert.equal(flagLiveness(own, NR_MEDIATED_PMU_VMS, [refusal])[0], 1);
  const r = check(
    'checks-own-counter',
    { vms: 1, events: 2, rounds: 1 },
    { properties: ['refusals'] },
  );
  assert.equal(r.verdict, 'violated');
  assert.equal(r.violation!.property, 'refusals');
  assert.match(r.trace!.map((st) => st.step).join('\n'), /return -EOPNOTSUPP/);
});
