import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../common/fc.ts';

import {
  FIXED_COUNTER_QUANTITY,
  NAMED_EVENTS,
  QUANTITY_COUNT,
  QUANTITY_NAMES,
  Quantity,
  amdEventQuantity,
  intelEventQuantity,
  splitWork,
  workQuantities,
  type Work,
} from '../../src/hw/events.ts';

const WORK_KEYS = [
  'instructions',
  'branches',
  'cycles',
  'refCycles',
  'llcReferences',
  'llcMisses',
  'branchMisses',
  'loads',
  'stores',
] as const;

/** Every quantity of a block with the docs/api.md defaults applied. */
function full(work: Work): Record<(typeof WORK_KEYS)[number], number> {
  const cycles = work.cycles ?? work.instructions;
  return {
    instructions: work.instructions,
    branches: work.branches ?? 0,
    cycles,
    refCycles: work.refCycles ?? cycles,
    llcReferences: work.llcReferences ?? 0,
    llcMisses: work.llcMisses ?? 0,
    branchMisses: work.branchMisses ?? 0,
    loads: work.loads ?? 0,
    stores: work.stores ?? 0,
  };
}

const count = fc.oneof(
  fc.integer({ min: 0, max: 1000 }),
  fc.integer({ min: 0, max: 2 ** 40 }),
  fc.constantFrom(0, 1, 2 ** 44 - 1, 2 ** 44),
);
const optCount = fc.option(count, { nil: undefined });
const workArb: fc.Arbitrary<Work> = fc
  .record({
    instructions: count,
    branches: optCount,
    cycles: optCount,
    refCycles: optCount,
    llcReferences: optCount,
    llcMisses: optCount,
    branchMisses: optCount,
    loads: optCount,
    stores: optCount,
    cpl: fc.option(fc.constantFrom<0 | 3>(0, 3), { nil: undefined }),
  })
  .map((w) => {
    // Drop the undefined keys, as a caller would leave them out.
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(w)) if (v !== undefined) out[k] = v;
    return out as unknown as Work;
  });

describe('workQuantities', () => {
  test('docs/api.md defaults: cycles = instructions, refCycles = cycles, the rest 0', () => {
    const q = new Float64Array(QUANTITY_COUNT).fill(-1);
    workQuantities({ instructions: 1234 }, 6, q);
    assert.equal(q[Quantity.Instructions], 1234);
    assert.equal(q[Quantity.Cycles], 1234);
    assert.equal(q[Quantity.RefCycles], 1234);
    assert.equal(q[Quantity.TopdownSlots], 1234 * 6);
    for (const k of [
      Quantity.LlcReferences,
      Quantity.LlcMisses,
      Quantity.Branches,
      Quantity.BranchMisses,
      Quantity.Loads,
      Quantity.Stores,
      Quantity.LoadsAndStores,
    ]) {
      assert.equal(q[k], 0, QUANTITY_NAMES[k as number]);
    }
  });

  test('refCycles defaults to the explicit cycles, not to instructions', () => {
    const q = new Float64Array(QUANTITY_COUNT);
    workQuantities({ instructions: 100, cycles: 250 }, 5, q);
    assert.equal(q[Quantity.Cycles], 250);
    assert.equal(q[Quantity.RefCycles], 250);
    assert.equal(q[Quantity.TopdownSlots], 1250);
  });

  test('explicit quantities are taken as given; loads+stores is their sum', () => {
    const q = new Float64Array(QUANTITY_COUNT);
    workQuantities(
      {
        instructions: 10,
        branches: 3,
        cycles: 20,
        refCycles: 7,
        llcReferences: 4,
        llcMisses: 2,
        branchMisses: 1,
        loads: 5,
        stores: 6,
      },
      0,
      q,
    );
    assert.deepEqual(Array.from(q), [10, 20, 7, 4, 2, 3, 1, 0, 5, 6, 11]);
  });

  test('overwrites every slot of a reused buffer', () => {
    fc.assert(
      fc.property(workArb, fc.integer({ min: 0, max: 8 }), (work, slots) => {
        const a = new Float64Array(QUANTITY_COUNT).fill(Number.NaN);
        const b = new Float64Array(QUANTITY_COUNT).fill(12345);
        workQuantities(work, slots, a);
        workQuantities(work, slots, b);
        assert.deepEqual(a, b);
      }),
      { numRuns: 100 },
    );
  });
});

describe('event decoding (docs/x86-pmu.md section 2)', () => {
  test('Intel architectural events', () => {
    const table: [number, number, Quantity][] = [
      [0x3c, 0x00, Quantity.Cycles],
      [0xc0, 0x00, Quantity.Instructions],
      [0x3c, 0x01, Quantity.RefCycles],
      [0x2e, 0x4f, Quantity.LlcReferences],
      [0x2e, 0x41, Quantity.LlcMisses],
      [0xc4, 0x00, Quantity.Branches],
      [0xc5, 0x00, Quantity.BranchMisses],
      [0xa4, 0x01, Quantity.TopdownSlots],
      [0xd0, 0x81, Quantity.Loads],
      [0xd0, 0x82, Quantity.Stores],
      [0xd0, 0x83, Quantity.LoadsAndStores],
    ];
    for (const [sel, umask, q] of table) {
      assert.equal(
        intelEventQuantity(sel, umask),
        q,
        `0x${sel.toString(16)}/0x${umask.toString(16)}`,
      );
    }
  });

  test('Intel: unknown selects and umasks count nothing', () => {
    for (const [sel, umask] of [
      [0x00, 0x00],
      [0x3c, 0x02],
      [0x2e, 0x00],
      [0xa4, 0x02],
      [0xd0, 0x01],
      [0x76, 0x00], // the AMD cycles event
      [0xc2, 0x00], // the AMD branches event
    ]) {
      assert.equal(intelEventQuantity(sel!, umask!), Quantity.None);
    }
  });

  test('AMD Zen events', () => {
    assert.equal(amdEventQuantity(0x76, 0), Quantity.Cycles);
    assert.equal(amdEventQuantity(0xc0, 0), Quantity.Instructions);
    assert.equal(amdEventQuantity(0xc2, 0), Quantity.Branches);
    assert.equal(amdEventQuantity(0xc3, 0), Quantity.BranchMisses);
    assert.equal(amdEventQuantity(0x29, 1), Quantity.Loads);
    assert.equal(amdEventQuantity(0x29, 2), Quantity.Stores);
    // LsDispatch umask 4 (LdStDispatch) is the "both" column of the doc table,
    // the AMD counterpart of Intel's 0xD0/0x83.
    assert.equal(amdEventQuantity(0x29, 4), Quantity.LoadsAndStores);
    assert.equal(amdEventQuantity(0x29, 3), Quantity.LoadsAndStores);
    assert.equal(amdEventQuantity(0x29, 7), Quantity.LoadsAndStores);
  });

  test('AMD: unknown events count nothing, including Intel encodings and high selects', () => {
    for (const [sel, umask] of [
      [0x29, 0],
      [0x3c, 0],
      [0x2e, 0x4f],
      [0xa4, 0x01],
      [0x1c0, 0], // 12-bit select: not 0xC0
      [0x176, 0],
    ]) {
      assert.equal(amdEventQuantity(sel!, umask!), Quantity.None, `0x${sel!.toString(16)}`);
    }
  });

  test('fixed counters: 0 instructions, 1 core cycles, 2 reference cycles, 3 topdown slots', () => {
    assert.deepEqual(FIXED_COUNTER_QUANTITY, [
      Quantity.Instructions,
      Quantity.Cycles,
      Quantity.RefCycles,
      Quantity.TopdownSlots,
    ]);
  });

  test('named events decode to the quantity they name', () => {
    const byName: Record<string, Quantity> = {
      cycles: Quantity.Cycles,
      instructions: Quantity.Instructions,
      'ref-cycles': Quantity.RefCycles,
      'cache-references': Quantity.LlcReferences,
      'cache-misses': Quantity.LlcMisses,
      branches: Quantity.Branches,
      'branch-misses': Quantity.BranchMisses,
      'topdown-slots': Quantity.TopdownSlots,
    };
    for (const [name, enc] of Object.entries(NAMED_EVENTS)) {
      const want = byName[name];
      assert.notEqual(want, undefined, name);
      if (enc.intel !== null)
        assert.equal(intelEventQuantity(enc.intel & 0xff, enc.intel >> 8), want, name);
      if (enc.amd !== null)
        assert.equal(amdEventQuantity(enc.amd & 0xff, enc.amd >> 8), want, name);
      if (enc.fixed !== null) assert.equal(FIXED_COUNTER_QUANTITY[enc.fixed], want, name);
    }
  });
});

describe('splitWork', () => {
  test('head + tail = the whole block, in exact integers, cpl preserved', () => {
    fc.assert(
      fc.property(
        workArb,
        fc.oneof(
          fc.double({ min: 0, max: 1, noNaN: true }),
          fc.constantFrom(0, 1, 0.5, 1e-12, 1 - 1e-12),
        ),
        (work, fraction) => {
          const [head, tail] = splitWork(work, fraction);
          const whole = full(work);
          const h = full(head);
          const t = full(tail);
          for (const k of WORK_KEYS) {
            assert.ok(Number.isInteger(h[k]), `${k} head ${h[k]}`);
            assert.ok(Number.isInteger(t[k]), `${k} tail ${t[k]}`);
            assert.ok(h[k] >= 0 && t[k] >= 0, k);
            assert.equal(h[k] + t[k], whole[k], k);
          }
          assert.equal(head.cpl, work.cpl);
          assert.equal(tail.cpl, work.cpl);
          // The head takes the given fraction of each quantity, rounded down.
          for (const k of WORK_KEYS) assert.equal(h[k], Math.floor(whole[k] * fraction), k);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('the parts retire the same quantities as the whole (defaults made explicit)', () => {
    fc.assert(
      fc.property(
        workArb,
        fc.double({ min: 0, max: 1, noNaN: true }),
        fc.integer({ min: 0, max: 8 }),
        (work, f, slots) => {
          const [head, tail] = splitWork(work, f);
          const qw = new Float64Array(QUANTITY_COUNT);
          const qh = new Float64Array(QUANTITY_COUNT);
          const qt = new Float64Array(QUANTITY_COUNT);
          workQuantities(work, slots, qw);
          workQuantities(head, slots, qh);
          workQuantities(tail, slots, qt);
          for (let k = 0; k < QUANTITY_COUNT; k++)
            assert.equal(qh[k]! + qt[k]!, qw[k], QUANTITY_NAMES[k]);
        },
      ),
      { numRuns: 200 },
    );
  });

  test('fractions outside [0, 1] clamp', () => {
    const work: Work = { instructions: 100, branches: 10, cpl: 3 };
    assert.deepEqual(splitWork(work, -1)[0].instructions, 0);
    assert.deepEqual(splitWork(work, -1)[1].instructions, 100);
    assert.deepEqual(splitWork(work, 2)[0].instructions, 100);
    assert.deepEqual(splitWork(work, 2)[1].branches, 0);
  });

  test('a block without cpl gives parts without cpl (the default, 0, applies)', () => {
    const [h, t] = splitWork({ instructions: 9 }, 0.5);
    assert.equal('cpl' in h, false);
    assert.equal('cpl' in t, false);
  });
});
