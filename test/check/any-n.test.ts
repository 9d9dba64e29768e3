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
import { Engine } from '../../src/check/engine.ts';
import { buildModel } from '../../src/check/model-catalogue.ts';
import { ALL_PROPERTIES } from '../../src/check/properties.ts';
import fc from '../common/fc.ts';

const anyN = (variant: string, extra: Record<string, unknown> = {}, rounds = 1) =>
  runCheck({ model: 'accounting', variant, params: { rounds }, anyN: true, ...extra });

for (const variant of ['upstream', 'v6']) {
  test(`${variant}: the per-thread properties hold for every number of VM and event threads`, () => {
    const r = anyN(variant);
    assert.equal(r.verdict, 'holds');
    assert.equal(r.method, 'counter-abstraction');
    assert.equal(r.abstraction!.abstractRounds, 1);
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
  for (const rounds of [1, 2]) {
    test(`--any-n --rounds ${rounds} catches ${m.variant} (${m.property}) with a concrete counterexample that replays`, () => {
      const r = anyN(m.variant, {}, rounds);
      assert.equal(r.verdict, 'violated');
      assert.equal(r.violation!.property, m.property);
      const on = r.abstraction!.concretizedOn!;
      assert.ok(typeof on.vms === 'number' && typeof on.events === 'number');
      assert.equal(on.rounds, rounds);
      // The schedule names the concrete configuration and replays to the same violation.
      assert.match(
        r.schedule!,
        new RegExp(
          `^accounting:${m.variant}:vms=${String(on.vms)},events=${String(on.events)},rounds=${rounds},`,
        ),
      );
      const again = runReplay(r.schedule!);
      assert.deepEqual(again.violation, r.violation);
      assert.deepEqual(again.trace, r.trace);
    });
  }
}

for (const variant of ['upstream', 'v6']) {
  test(`${variant}: --rounds 2 and 3 hold for every number of threads, through one round per thread`, () => {
    for (const rounds of [2, 3]) {
      const r = anyN(variant, {}, rounds);
      assert.equal(r.verdict, 'holds');
      assert.equal(r.params.rounds, rounds);
      assert.equal(r.abstraction!.abstractRounds, 1);
    }
  });
}

// The premise of "rounds are threads" (docs/verification.md): wherever a
// thread starts a round, it holds nothing and no mutex, so its word is its
// initial word but for the call index. Checked on random runs of the
// concrete model, fused or not.
test('a thread starts every round as it started the first: nothing held, no mutex', () => {
  for (const variant of ['upstream', 'v6']) {
    const model = buildModel('accounting', variant, { vms: 2, events: 2, rounds: 3 });
    for (const fuseMovers of [false, true]) {
      const engine = new Engine(model, { fuseMovers, symmetry: false, properties: ALL_PROPERTIES });
      const state = new Int32Array(engine.words);
      engine.initial(state, 0);
      const initial = Array.from(
        { length: engine.threads },
        (_, t) => state[engine.threadBase + t]! & 0xffffff,
      );
      fc.assert(
        fc.property(fc.array(fc.nat(engine.threads - 1), { maxLength: 80 }), (choices) => {
          engine.initial(state, 0);
          for (const t of choices) {
            if (!engine.enabled(state, 0, t)) continue;
            engine.step(state, 0, t);
            for (let u = 0; u < engine.threads; u++) {
              const word = state[engine.threadBase + u]!;
              const call = word >>> 24;
              // Even calls start a round (acquire, then release-if-held); at its first step:
              if (
                call % 2 === 0 &&
                call < engine.programLength[u]! &&
                (word & 0xffffff) >>> 10 === initial[u]! >>> 10
              )
                assert.equal(
                  word & 0xffffff,
                  initial[u],
                  `${variant}: thread ${u} at call ${call}`,
                );
            }
          }
        }),
      );
    }
  }
});
