import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCheck } from '../../src/check/check.ts';
import { CHECKED_ACCOUNTING_VARIANTS } from '../../src/check/accounting-variants.ts';
import { Engine } from '../../src/check/engine.ts';
import { Mirror } from '../../src/check/mirror-symmetry.ts';
import { buildModel } from '../../src/check/model-catalogue.ts';
import { ALL_PROPERTIES, Violation } from '../../src/check/properties.ts';
import fc from '../common/fc.ts';

const engineFor = (variant: string, params: Record<string, number | boolean>) =>
  new Engine(buildModel('accounting', variant, params), {
    fuseMovers: false,
    symmetry: true,
    properties: ALL_PROPERTIES,
  });

// The variants whose create and account (and release and unaccount) are one
// code over swapped counters: accounting-variants.ts builds both sides of
// these from one function, and upstream / v6 as in mediated-protocol.ts.
const MIRRORED = [
  'upstream',
  'read-then-inc',
  'check-outside-mutex',
  'unlock-before-inc',
  'dec-before-check',
];

test('the mirror is found exactly where the two sides run the same code', () => {
  for (const variant of Object.keys(CHECKED_ACCOUNTING_VARIANTS)) {
    const found = Mirror.of(engineFor(variant, { vms: 2, events: 2, rounds: 1 })) !== null;
    assert.equal(found, MIRRORED.includes(variant), variant);
  }
  // Not with a different number of threads per side, nor with the stray release (one side only).
  assert.equal(Mirror.of(engineFor('upstream', { vms: 2, events: 1, rounds: 1 })), null);
  assert.equal(
    Mirror.of(engineFor('upstream', { vms: 1, events: 1, rounds: 1, 'stray-release': true })),
    null,
  );
});

test('a run and its mirrored run (VM i and event i swapped) end in one canonical state', () => {
  const engine = engineFor('upstream', { vms: 2, events: 2, rounds: 2 });
  const mirror = Mirror.of(engine);
  assert.ok(mirror);
  const T = engine.threads;
  const image = (t: number) => (t < 2 ? t + 2 : t - 2);
  fc.assert(
    fc.property(fc.array(fc.nat(T - 1), { maxLength: 60 }), (choices) => {
      const a = new Int32Array(engine.words);
      const b = new Int32Array(engine.words);
      engine.initial(a, 0);
      engine.initial(b, 0);
      for (const c of choices) {
        // The same choice on both sides, mirrored: a thread that cannot step is skipped on both.
        const canA = engine.enabled(a, 0, c);
        assert.equal(canA, engine.enabled(b, 0, image(c)));
        if (!canA) continue;
        const va = engine.step(a, 0, c);
        assert.equal(va, engine.step(b, 0, image(c)));
        assert.equal(va, Violation.None);
      }
      for (const s of [a, b]) {
        engine.canonicalize(s, 0);
        mirror.canonicalize(s, 0);
      }
      assert.deepEqual(a, b);
    }),
  );
});

test('the mirror halves the states and changes no verdict, property or schedule', () => {
  for (const variant of MIRRORED) {
    const params = { vms: 2, events: 2, rounds: 1 };
    const on = runCheck({ model: 'accounting', variant, params });
    const off = runCheck({ model: 'accounting', variant, params, mirror: false });
    assert.ok(on.reductions.includes('mirror-symmetry'), variant);
    assert.ok(!off.reductions.includes('mirror-symmetry'), variant);
    assert.equal(on.verdict, off.verdict, variant);
    assert.equal(on.violation?.property, off.violation?.property, variant);
    assert.equal(on.schedule, off.schedule, variant);
    if (on.verdict === 'holds') assert.ok(on.states * 2 >= off.states && on.states < off.states);
  }
});
