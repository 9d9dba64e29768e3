/**
 * The headline check (src/sim/ordering.ts), on synthetic reports: the
 * simulated overheads must order the designs as the published figures do;
 * a simulated tie is not an inversion, a published tie is not judged, and
 * designs without a published figure are left out. It decides `vpmu run`'s
 * exit code, and the text and HTML reports show its verdict.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import type { VpmuDesignName } from '../../src/kvm/vpmu-design.ts';
import { orderingCheck, relation } from '../../src/sim/ordering.ts';
import type { DesignResult, SimulationReport } from '../../src/sim/results.ts';

type Design = Exclude<VpmuDesignName, 'none'>;

function report(
  simulated: Partial<Record<Design, number>>,
  published?: Partial<Record<Design, number>>,
): SimulationReport {
  return {
    scenario: 'synthetic',
    description: 'd',
    seed: 1,
    duration: 1,
    cpu: 'intel-sapphire-rapids',
    costModel: 'default',
    results: Object.entries(simulated).map(
      ([design, overheadPercent]) => ({ design, overheadPercent }) as DesignResult,
    ),
    costParameters: [],
    ...(published
      ? { published: { test: 'basic-sampling', source: 's', overheadPercent: published } }
      : {}),
  };
}

const PUBLISHED = { emulated: 33.62, 'passthrough-all': 4.24, mediated: 6.21 };

describe('orderingCheck', () => {
  it('no published figure: ok, nothing to judge, no sentence, the simulated order still given', () => {
    const check = orderingCheck(report({ emulated: 1, mediated: 50 }));
    assert.equal(check.ok, true);
    assert.equal(check.message, '');
    assert.equal(check.published, undefined);
    assert.equal(check.consistent, undefined);
    assert.deepEqual(check.inversions, []);
    assert.equal(check.simulated, 'mediated 50.00% >> emulated 1.00%');
  });

  it('the published order: ok, with both orderings highest first', () => {
    const check = orderingCheck(
      report({ emulated: 40.123, 'passthrough-all': 5, mediated: 8.5 }, PUBLISHED),
    );
    assert.equal(check.ok, true);
    assert.equal(check.consistent, true);
    assert.deepEqual(check.inversions, []);
    assert.equal(check.simulated, 'emulated 40.12% >> mediated 8.50% > passthrough-all 5.00%');
    assert.equal(check.published, 'emulated 33.62% >> mediated 6.21% > passthrough-all 4.24%');
    assert.equal(check.message, `ordering as published: ${check.simulated}`);
  });

  it('an inverted pair fails, and the sentence names it and both orderings', () => {
    const check = orderingCheck(
      report({ emulated: 40, 'passthrough-all': 9, mediated: 8 }, PUBLISHED),
    );
    assert.equal(check.ok, false);
    assert.equal(check.consistent, false);
    assert.deepEqual(check.inversions, ['passthrough-all above mediated']);
    assert.match(
      check.message,
      /^ordering differs from the published one: passthrough-all above mediated /,
    );
    assert.ok(check.message.includes(check.simulated));
    assert.ok(check.message.includes(check.published!));
  });

  it('every inverted pair is listed', () => {
    const check = orderingCheck(
      report({ emulated: 1, 'passthrough-all': 3, mediated: 2 }, PUBLISHED),
    );
    assert.equal(check.ok, false);
    assert.deepEqual([...check.inversions].sort(), [
      'mediated above emulated',
      'passthrough-all above emulated',
      'passthrough-all above mediated',
    ]);
  });

  it('a simulated tie is not an inversion', () => {
    const check = orderingCheck(report({ emulated: 7, mediated: 7 }, PUBLISHED));
    assert.equal(check.ok, true);
    assert.equal(check.simulated, 'emulated 7.00% ~ mediated 7.00%');
  });

  it('a published tie is not judged, either way round', () => {
    const tie = { emulated: 30, mediated: 5, 'passthrough-all': 5 };
    for (const [m, p] of [
      [4, 6],
      [6, 4],
    ] as const) {
      const check = orderingCheck(report({ emulated: 50, mediated: m, 'passthrough-all': p }, tie));
      assert.equal(check.ok, true, `${m} vs ${p}: ${check.message}`);
    }
    // The other pairs still are.
    assert.equal(
      orderingCheck(report({ emulated: 1, mediated: 4, 'passthrough-all': 6 }, tie)).ok,
      false,
    );
  });

  it('only designs both simulated and published are judged', () => {
    // passthrough-all simulated but not published; mediated published but not simulated.
    const check = orderingCheck(
      report({ emulated: 30, 'passthrough-all': 99 }, { emulated: 33, mediated: 6 }),
    );
    assert.equal(check.ok, true);
    assert.equal(check.published, 'emulated 33.00%');
    // No design in common: nothing to judge.
    const none = orderingCheck(report({ 'passthrough-all': 1 }, { emulated: 33 }));
    assert.equal(none.ok, true);
    assert.equal(none.published, undefined);
  });

  it('relation: >> twice and a point apart, > at 0.005, else ~', () => {
    assert.equal(relation(10, 5), '>>');
    assert.equal(relation(1.5, 0.5), '>>');
    assert.equal(relation(1.4, 0.5), '>');
    assert.equal(relation(10, 6), '>');
    assert.equal(relation(5.006, 5), '>');
    assert.equal(relation(5.004, 5), '~');
    assert.equal(relation(5, 5), '~');
    assert.equal(relation(4, 5), '~');
  });

  it('ok is exactly "no pair ordered against the publication" (model-checked)', () => {
    const designs: Design[] = ['emulated', 'mediated', 'passthrough-all'];
    const overhead = fc.oneof(
      fc.constantFrom(0, 5, 10),
      fc.double({ min: 0, max: 100, noNaN: true }),
    );
    fc.assert(
      fc.property(
        fc.tuple(overhead, overhead, overhead),
        fc.tuple(overhead, overhead, overhead),
        fc.subarray(designs, { minLength: 1 }),
        (sim, pub, present) => {
          const simulated = Object.fromEntries(
            designs.map((d, i) => [d, sim[i]!] as const).filter(([d]) => present.includes(d)),
          );
          const published = Object.fromEntries(designs.map((d, i) => [d, pub[i]!]));
          let inversions = 0;
          for (const a of present) {
            for (const b of present) {
              if (published[a]! > published[b]! && simulated[a]! < simulated[b]!) inversions++;
            }
          }
          const check = orderingCheck(report(simulated, published));
          assert.equal(check.ok, inversions === 0);
          assert.equal(check.inversions.length, inversions);
          assert.equal(check.message === '', false);
        },
      ),
      { numRuns: 300 },
    );
  });
});
