/**
 * --any-n (counter abstraction, src/check/counter-abstraction.ts): the real
 * variants hold for every number of threads; every mutant whose bug is a
 * per-thread property is still caught, and what is reported is a concrete
 * counterexample (a schedule on a concrete configuration that replays to the
 * same violation), never the abstract path itself.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck, runReplay } from '../../src/check/check.ts';

const anyN = (variant: string, extra: Record<string, unknown> = {}) =>
  runCheck({ model: 'accounting', variant, params: { rounds: 1 }, anyN: true, ...extra });

for (const variant of ['upstream', 'v6']) {
  test(`${variant}: the per-thread properties hold for every number of VM and event threads`, () => {
    const r = anyN(variant);
    assert.equal(r.verdict, 'holds');
    assert.equal(r.method, 'counter-abstraction');
    assert.equal(r.abstraction!.threshold, 2);
    assert.equal(r.abstraction!.spurious, 0);
    assert.ok(r.abstraction!.abstractStates > 0);
  });
}

const CAUGHT: { variant: string; property: string }[] = [
  { variant: 'read-then-inc', property: 'invariant' },
  { variant: 'check-outside-mutex', property: 'invariant' },
  { variant: 'no-mutex', property: 'invariant' },
  { variant: 'unlock-before-inc', property: 'invariant' },
  { variant: 'checks-own-counter', property: 'refusals' },
  { variant: 'leak-mutex-on-refusal', property: 'mutex' },
];

for (const m of CAUGHT) {
  test(`--any-n catches ${m.variant} (${m.property}) with a concrete counterexample that replays`, () => {
    const r = anyN(m.variant);
    assert.equal(r.verdict, 'violated');
    assert.equal(r.violation!.property, m.property);
    const on = r.abstraction!.concretizedOn!;
    assert.ok(typeof on.vms === 'number' && typeof on.events === 'number');
    // The schedule names the concrete configuration and replays to the same violation.
    assert.match(
      r.schedule!,
      new RegExp(`^accounting:${m.variant}:vms=${String(on.vms)},events=${String(on.events)},`),
    );
    const again = runReplay(r.schedule!);
    assert.deepEqual(again.violation, r.violation);
    assert.deepEqual(again.trace, r.trace);
  });
}

test('--any-n proves only what it can: global properties and other models are refused as bad input', () => {
  assert.throws(() => anyN('upstream', { properties: ['deadlock'] }), /per-thread properties/);
  assert.throws(
    () => runCheck({ model: 'accounting', variant: 'upstream', params: { vms: 2 }, anyN: true }),
    /give only --rounds/,
  );
  assert.throws(
    () => runCheck({ model: 'vm-lifecycle', variant: 'upstream', params: {}, anyN: true }),
    /applies to the accounting model/,
  );
});

test('bugs that are not per-thread properties are outside --any-n: retry-instead-of-refusing (termination) holds there, as its per-thread properties do', () => {
  const r = anyN('retry-instead-of-refusing');
  assert.equal(r.verdict, 'holds');
  // ... and the bounded explorer still catches it.
  const bounded = runCheck({
    model: 'accounting',
    variant: 'retry-instead-of-refusing',
    params: {},
  });
  assert.equal(bounded.violation!.property, 'termination');
});
