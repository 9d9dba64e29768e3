/**
 * Workloads (src/guest/workloads.ts): a compute mix cut into blocks that
 * take exactly the cycles asked for, split by CPL, with every quantity
 * derived from the mix; the ground truth they record, by CPL.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { Quantity } from '../../src/hw/events.ts';
import {
  SPECINT_DEFAULTS,
  Truth,
  computeBlocks,
  ioBlocks,
  specintMix,
  type ComputeMix,
} from '../../src/guest/workloads.ts';

const mixArb: fc.Arbitrary<ComputeMix> = fc.record({
  ipc: fc.double({ min: 0.05, max: 8, noNaN: true }),
  branchesPerKilo: fc.integer({ min: 0, max: 400 }),
  branchMissPercent: fc.double({ min: 0, max: 100, noNaN: true }),
  llcRefsPerKilo: fc.integer({ min: 0, max: 100 }),
  llcMissPercent: fc.double({ min: 0, max: 100, noNaN: true }),
  loadsPerKilo: fc.integer({ min: 0, max: 600 }),
  storesPerKilo: fc.integer({ min: 0, max: 400 }),
  userPercent: fc.double({ min: 0, max: 100, noNaN: true }),
});

describe('computeBlocks', () => {
  it('the SPECint defaults: a user block then a kernel block, every quantity from the mix', () => {
    const blocks = computeBlocks(SPECINT_DEFAULTS, 1_000_000);
    assert.deepEqual(blocks, [
      {
        instructions: 1_425_000,
        cycles: 950_000,
        refCycles: 950_000,
        branches: 285_000,
        branchMisses: 5_700,
        llcReferences: 14_250,
        llcMisses: 4_275,
        loads: 356_250,
        stores: 142_500,
        cpl: 3,
      },
      {
        instructions: 75_000,
        cycles: 50_000,
        refCycles: 50_000,
        branches: 15_000,
        branchMisses: 300,
        llcReferences: 750,
        llcMisses: 225,
        loads: 18_750,
        stores: 7_500,
        cpl: 0,
      },
    ]);
  });

  it('for any mix and length: cycles exact, IPC kept, CPL split by userPercent, counts from the mix', () => {
    fc.assert(
      fc.property(mixArb, fc.double({ min: 0, max: 5e9, noNaN: true }), (mix, cycles) => {
        const blocks = computeBlocks(mix, cycles);
        const total = Math.floor(cycles);
        assert.equal(
          blocks.reduce((s, b) => s + b.cycles!, 0),
          total,
        );
        if (total === 0) assert.deepEqual(blocks, []);
        const user = blocks.filter((b) => b.cpl === 3);
        const kernel = blocks.filter((b) => b.cpl === 0);
        assert.ok(user.length <= 1 && kernel.length <= 1);
        assert.equal(user[0]?.cycles ?? 0, Math.floor((total * mix.userPercent) / 100));
        if (user.length && kernel.length) assert.equal(blocks[0]!.cpl, 3, 'user part first');
        for (const b of blocks) {
          assert.ok(b.cycles! > 0);
          assert.equal(b.refCycles, b.cycles);
          assert.equal(b.instructions, Math.max(1, Math.floor(b.cycles! * mix.ipc)));
          // The IPC within one instruction per block.
          assert.ok(Math.abs(b.instructions - b.cycles! * mix.ipc) <= 1);
          assert.equal(b.branches, Math.floor((b.instructions * mix.branchesPerKilo) / 1000));
          assert.equal(b.branchMisses, Math.floor((b.branches * mix.branchMissPercent) / 100));
          assert.equal(b.llcReferences, Math.floor((b.instructions * mix.llcRefsPerKilo) / 1000));
          assert.equal(b.llcMisses, Math.floor((b.llcReferences * mix.llcMissPercent) / 100));
          assert.equal(b.loads, Math.floor((b.instructions * mix.loadsPerKilo) / 1000));
          assert.equal(b.stores, Math.floor((b.instructions * mix.storesPerKilo) / 1000));
          assert.ok(b.branchMisses <= b.branches && b.llcMisses <= b.llcReferences);
          for (const v of Object.values(b)) assert.ok(Number.isInteger(v) && v >= 0);
        }
      }),
      { numRuns: 300 },
    );
  });

  it('all user or all kernel: one block', () => {
    assert.deepEqual(
      computeBlocks({ ...SPECINT_DEFAULTS, userPercent: 100 }, 1000).map((b) => [b.cpl, b.cycles]),
      [[3, 1000]],
    );
    assert.deepEqual(
      computeBlocks({ ...SPECINT_DEFAULTS, userPercent: 0 }, 1000).map((b) => [b.cpl, b.cycles]),
      [[0, 1000]],
    );
  });

  it('nothing for no time (0, negative, a fraction of a cycle)', () => {
    for (const c of [0, -5, 0.9]) assert.deepEqual(computeBlocks(SPECINT_DEFAULTS, c), []);
  });

  it('a block retires at least one instruction, even at a tiny IPC', () => {
    assert.deepEqual(
      computeBlocks({ ...SPECINT_DEFAULTS, ipc: 0.001, userPercent: 100 }, 10).map(
        (b) => b.instructions,
      ),
      [1],
    );
  });
});

describe('specintMix and ioBlocks', () => {
  it('specintMix: the defaults, with the fields given (undefined ones ignored)', () => {
    assert.deepEqual(specintMix({}), SPECINT_DEFAULTS);
    assert.deepEqual(specintMix({ ipc: 2, userPercent: undefined }), {
      ...SPECINT_DEFAULTS,
      ipc: 2,
    });
    const mix = specintMix({ branchMissPercent: 0 });
    assert.equal(mix.branchMissPercent, 0, 'a 0 is a value, not a default');
    assert.notEqual(specintMix({}), SPECINT_DEFAULTS, 'a copy');
  });

  it('ioBlocks: the instructions of one I/O at its IPC, half user, half kernel', () => {
    const blocks = ioBlocks(20_000, 1);
    assert.equal(
      blocks.reduce((s, b) => s + b.cycles!, 0),
      20_000,
    );
    assert.deepEqual(
      blocks.map((b) => [b.cpl, b.cycles, b.instructions]),
      [
        [3, 10_000, 10_000],
        [0, 10_000, 10_000],
      ],
    );
    assert.equal(
      ioBlocks(10_000, 2).reduce((s, b) => s + b.cycles!, 0),
      5_000,
    );
    // Never an empty I/O.
    assert.equal(
      ioBlocks(1, 8).reduce((s, b) => s + b.cycles!, 0),
      1,
    );
  });
});

describe('Truth', () => {
  it('records every quantity by CPL; total() selects user, kernel or both', () => {
    const truth = new Truth();
    const blocks = computeBlocks(SPECINT_DEFAULTS, 1_000_000);
    for (const b of blocks) truth.record(b, 4);
    const [user, kernel] = blocks as [(typeof blocks)[0], (typeof blocks)[0]];
    const q = (quantity: number) => [
      truth.total(quantity, true, false),
      truth.total(quantity, false, true),
      truth.total(quantity, true, true),
      truth.total(quantity, false, false),
    ];
    assert.deepEqual(q(Quantity.Instructions), [
      user.instructions,
      kernel.instructions,
      1_500_000,
      0,
    ]);
    assert.deepEqual(q(Quantity.Cycles), [950_000, 50_000, 1_000_000, 0]);
    assert.deepEqual(q(Quantity.RefCycles), [950_000, 50_000, 1_000_000, 0]);
    assert.deepEqual(q(Quantity.Branches), [285_000, 15_000, 300_000, 0]);
    assert.deepEqual(q(Quantity.BranchMisses), [5_700, 300, 6_000, 0]);
    assert.deepEqual(q(Quantity.LlcReferences), [14_250, 750, 15_000, 0]);
    assert.deepEqual(q(Quantity.LlcMisses), [4_275, 225, 4_500, 0]);
    assert.deepEqual(q(Quantity.Loads), [356_250, 18_750, 375_000, 0]);
    assert.deepEqual(q(Quantity.Stores), [142_500, 7_500, 150_000, 0]);
    assert.deepEqual(q(Quantity.LoadsAndStores), [498_750, 26_250, 525_000, 0]);
    // Topdown slots: cycles times the slots per cycle given.
    assert.deepEqual(q(Quantity.TopdownSlots), [3_800_000, 200_000, 4_000_000, 0]);
    assert.equal(truth.workCycles, 1_000_000);
  });

  it('a block without a CPL is kernel work; work cycles fall back to cycles, then instructions', () => {
    const truth = new Truth();
    truth.record({ instructions: 100 }, 4);
    truth.record({ instructions: 10, cycles: 40 }, 4);
    truth.record({ instructions: 10, cycles: 40, refCycles: 30, cpl: 3 }, 4);
    assert.equal(truth.total(Quantity.Instructions, false, true), 110);
    assert.equal(truth.total(Quantity.Instructions, true, false), 10);
    assert.equal(truth.workCycles, 100 + 40 + 30);
  });

  it('sums over many blocks exactly (integers stay exact in the Float64Arrays)', () => {
    fc.assert(
      fc.property(
        fc.array(fc.tuple(mixArb, fc.integer({ min: 1, max: 1e8 })), { maxLength: 20 }),
        (parts) => {
          const truth = new Truth();
          let cycles = 0;
          let instructions = 0;
          for (const [mix, c] of parts) {
            for (const b of computeBlocks(mix, c)) {
              truth.record(b, 4);
              instructions += b.instructions;
            }
            cycles += c;
          }
          assert.equal(truth.total(Quantity.Cycles, true, true), cycles);
          assert.equal(truth.workCycles, cycles);
          assert.equal(truth.total(Quantity.Instructions, true, true), instructions);
        },
      ),
      { numRuns: 100 },
    );
  });
});
