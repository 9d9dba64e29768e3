/**
 * The counting engine: exact overflow inside a block, whatever the block size
 * and however it is split, checked through the PMU models a driver sees
 * (PhysicalCpu) and on the bank directly.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../common/fc.ts';

import {
  COUNT_CPL0,
  COUNT_CPL3,
  COUNT_GUEST,
  COUNT_HOST,
  CounterBank,
  MAX_BANK_COUNTERS,
  cmaskCycles,
  type OverflowSink,
} from '../../src/hw/counter-bank.ts';
import type { PhysicalCpu } from '../../src/hw/cpu.ts';
import { QUANTITY_COUNT, Quantity, splitWork, type Work } from '../../src/hw/events.ts';
import { EVTSEL, MSR, RDPMC } from '../../src/hw/msr.ts';
import { WRAP48, cpuOf, evtsel, unmaskLvtpc, variant } from './helpers.ts';

// ---------------------------------------------------------------------------
// A driver's view of counters on Sapphire Rapids (8 GP + 4 fixed) and Zen 4.

type Cpl = 'all' | 'usr' | 'os';
type QuantityName =
  'instructions' | 'cycles' | 'refCycles' | 'branches' | 'loads' | 'loadsStores' | 'slots';

interface CounterSpec {
  /** 'gp' counters take the next free GP index; 'fixed' names its fixed counter. */
  kind: 'gp' | 'fixed';
  fixed: number;
  quantity: QuantityName;
  cpl: Cpl;
  start: bigint;
  /** Re-arm value distance (the period) when the handler re-arms. */
  period: bigint;
  cmask: number;
}

const SLOTS_PER_CYCLE = 6; // Sapphire Rapids

const INTEL_EVENTS: Record<QuantityName, [number, number]> = {
  instructions: [0xc0, 0x00],
  cycles: [0x3c, 0x00],
  refCycles: [0x3c, 0x01],
  branches: [0xc4, 0x00],
  loads: [0xd0, 0x81],
  loadsStores: [0xd0, 0x83],
  slots: [0xa4, 0x01],
};
const AMD_EVENTS: Partial<Record<QuantityName, [number, number]>> = {
  instructions: [0xc0, 0x00],
  cycles: [0x76, 0x00],
  branches: [0xc2, 0x00],
  loads: [0x29, 0x01],
  loadsStores: [0x29, 0x04],
};
const FIXED_QUANTITY: QuantityName[] = ['instructions', 'cycles', 'refCycles', 'slots'];

/** What a counter on `q` counts over a block (docs/api.md Work defaults). */
function events(work: Work, q: QuantityName): bigint {
  const cycles = work.cycles ?? work.instructions;
  switch (q) {
    case 'instructions':
      return BigInt(work.instructions);
    case 'cycles':
      return BigInt(cycles);
    case 'refCycles':
      return BigInt(work.refCycles ?? cycles);
    case 'branches':
      return BigInt(work.branches ?? 0);
    case 'loads':
      return BigInt(work.loads ?? 0);
    case 'loadsStores':
      return BigInt((work.loads ?? 0) + (work.stores ?? 0));
    case 'slots':
      return BigInt(cycles) * BigInt(SLOTS_PER_CYCLE);
  }
}

function countsAt(cpl: Cpl, workCpl: 0 | 3): boolean {
  return cpl === 'all' || (cpl === 'usr' ? workCpl === 3 : workCpl === 0);
}

function total(blocks: readonly Work[], spec: CounterSpec): bigint {
  let n = 0n;
  for (const b of blocks) if (countsAt(spec.cpl, b.cpl ?? 0)) n += events(b, spec.quantity);
  return n;
}

interface Placed {
  spec: CounterSpec;
  statusBit: number;
  read(): bigint;
  write(v: bigint): void;
}

interface Rig {
  cpu: PhysicalCpu;
  counters: Placed[];
  pmis: number;
  /** Status bits seen per counter (one per wrap). */
  wraps: number[];
  /** (a) violations: a counter whose status bit was set did not read 0 in the handler. */
  nonZeroAtPmi: string[];
}

function cplBits(cpl: Cpl): bigint {
  return (cpl === 'os' ? 0n : EVTSEL.USR) | (cpl === 'usr' ? 0n : EVTSEL.OS);
}

/**
 * Program the counters and install a PMI handler that reads GLOBAL_STATUS,
 * checks every overflowed counter reads 0, optionally re-arms it with
 * -period, acknowledges the status and unmasks LVTPC.
 */
function rig(vendor: 'intel' | 'amd', specs: readonly CounterSpec[], rearm: boolean): Rig {
  const cpu = cpuOf(vendor === 'intel' ? 'intel-sapphire-rapids' : 'amd-zen4');
  const counters: Placed[] = [];
  let gp = 0;
  let fixedCtrl = 0n;
  for (const spec of specs) {
    if (spec.kind === 'fixed') {
      const j = spec.fixed;
      const msr = MSR.IA32_FIXED_CTR0 + j;
      const nibble = (spec.cpl === 'usr' ? 0n : 1n) | (spec.cpl === 'os' ? 0n : 2n) | 8n;
      fixedCtrl |= nibble << BigInt(4 * j);
      counters.push({
        spec,
        statusBit: 32 + j,
        read: () => cpu.rdpmc(RDPMC.FIXED | j),
        write: (v) => cpu.wrmsr(msr, v),
      });
      cpu.wrmsr(msr, spec.start);
      continue;
    }
    const i = gp++;
    const [event, umask] = (vendor === 'intel' ? INTEL_EVENTS : AMD_EVENTS)[spec.quantity]!;
    const sel = evtsel(
      event,
      umask,
      cplBits(spec.cpl),
      EVTSEL.EN,
      EVTSEL.INT,
      BigInt(spec.cmask) << 24n,
    );
    const ctr = vendor === 'intel' ? MSR.IA32_PMC0 + i : MSR.MSR_F15H_PERF_CTR0 + 2 * i;
    const ctl = vendor === 'intel' ? MSR.IA32_PERFEVTSEL0 + i : MSR.MSR_F15H_PERF_CTL0 + 2 * i;
    counters.push({
      spec,
      statusBit: i,
      read: () => cpu.rdpmc(i),
      write: (v) => cpu.wrmsr(ctr, v),
    });
    cpu.wrmsr(ctr, spec.start);
    cpu.wrmsr(ctl, sel);
  }
  if (vendor === 'intel') {
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, fixedCtrl);
    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0xffn | (0xfn << 32n));
  }
  unmaskLvtpc(cpu);
  const r: Rig = { cpu, counters, pmis: 0, wraps: counters.map(() => 0), nonZeroAtPmi: [] };
  const statusMsr =
    vendor === 'intel' ? MSR.IA32_PERF_GLOBAL_STATUS : MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS;
  const ackMsr =
    vendor === 'intel' ? MSR.IA32_PERF_GLOBAL_OVF_CTRL : MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR;
  cpu.hostInterrupt = () => {
    r.pmis++;
    const status = cpu.rdmsr(statusMsr);
    assert.notEqual(status, 0n, 'a PMI with no overflow bit');
    counters.forEach((c, k) => {
      if (((status >> BigInt(c.statusBit)) & 1n) === 0n) return;
      r.wraps[k]!++;
      const v = c.read();
      if (v !== 0n) r.nonZeroAtPmi.push(`counter ${k} (${c.spec.quantity}) read ${v} at its PMI`);
      if (rearm) c.write(WRAP48 - c.spec.period);
    });
    cpu.wrmsr(ackMsr, status);
    unmaskLvtpc(cpu);
    cpu.wrmsr(MSR.X2APIC_EOI, 0n);
  };
  return r;
}

/** Wraps and final value of a counter left alone by the handler. */
function untouched(spec: CounterSpec, n: bigint): { wraps: number; value: bigint } {
  return { wraps: Number((spec.start + n) / WRAP48), value: (spec.start + n) % WRAP48 };
}

/** Wraps and final value of a counter the handler re-arms with -period at every wrap. */
function rearmed(spec: CounterSpec, n: bigint): { wraps: number; value: bigint } {
  const first = WRAP48 - spec.start;
  if (n < first) return { wraps: 0, value: spec.start + n };
  const after = n - first;
  const more = after / spec.period;
  return { wraps: 1 + Number(more), value: WRAP48 - spec.period + (after - more * spec.period) };
}

// --- arbitraries ------------------------------------------------------------

const cplArb = fc.constantFrom<Cpl>('all', 'all', 'usr', 'os');
const startArb = (maxDistance: number) =>
  fc.oneof(
    fc.integer({ min: 1, max: maxDistance }).map((d) => WRAP48 - BigInt(d)),
    fc.bigInt({ min: 0n, max: WRAP48 - 1n }),
    fc.constant(0n),
    fc.constant(WRAP48 - 1n),
  );

function specsArb(opts: {
  vendor: 'intel' | 'amd';
  maxDistance: number;
  minPeriod: number;
  maxPeriod: number;
  cmask?: boolean;
}): fc.Arbitrary<CounterSpec[]> {
  const quantities = Object.keys(
    opts.vendor === 'intel' ? INTEL_EVENTS : AMD_EVENTS,
  ) as QuantityName[];
  const period = fc.integer({ min: opts.minPeriod, max: opts.maxPeriod }).map(BigInt);
  const gp = fc.record({
    kind: fc.constant<'gp'>('gp'),
    fixed: fc.constant(0),
    quantity: fc.constantFrom(...quantities),
    cpl: cplArb,
    start: startArb(opts.maxDistance),
    period,
    cmask: fc.constant(0),
  });
  const gps = fc.array(gp, { minLength: opts.vendor === 'intel' ? 0 : 1, maxLength: 4 });
  const cmaskCounter = fc.option(
    fc.record({
      kind: fc.constant<'gp'>('gp'),
      fixed: fc.constant(0),
      quantity: fc.constantFrom<QuantityName>('instructions', 'branches'),
      cpl: cplArb,
      start: startArb(opts.maxDistance),
      period,
      cmask: fc.integer({ min: 1, max: 3 }),
    }),
    { nil: undefined },
  );
  const fixed =
    opts.vendor === 'intel'
      ? fc.subarray([0, 1, 2, 3]).chain((js) =>
          fc.tuple(
            ...js.map((j) =>
              fc.record({
                kind: fc.constant<'fixed'>('fixed'),
                fixed: fc.constant(j),
                quantity: fc.constant(FIXED_QUANTITY[j]!),
                cpl: cplArb,
                start: startArb(opts.maxDistance),
                period,
                cmask: fc.constant(0),
              }),
            ),
          ),
        )
      : fc.constant([] as CounterSpec[]);
  return fc
    .tuple(gps, opts.cmask ? cmaskCounter : fc.constant(undefined), fixed)
    .map(([g, c, f]) => [...g, ...(c ? [c] : []), ...f])
    .filter((all) => all.length > 0);
}

function blockArb(max: number): fc.Arbitrary<Work> {
  const q = fc.integer({ min: 0, max });
  return fc
    .record({
      instructions: q,
      cycles: fc.option(q, { nil: undefined }),
      refCycles: fc.option(q, { nil: undefined }),
      branches: fc.integer({ min: 0, max: Math.floor(max / 4) }),
      loads: fc.integer({ min: 0, max: Math.floor(max / 3) }),
      stores: fc.integer({ min: 0, max: Math.floor(max / 5) }),
      cpl: fc.constantFrom<0 | 3>(0, 3),
    })
    .map((w) => {
      const out: Work = {
        instructions: w.instructions,
        branches: w.branches,
        loads: w.loads,
        stores: w.stores,
        cpl: w.cpl,
      };
      if (w.cycles !== undefined) out.cycles = w.cycles;
      if (w.refCycles !== undefined) out.refCycles = w.refCycles;
      return out;
    });
}

const RUNS = { numRuns: 200 } as const;

describe('exact overflow (property)', () => {
  for (const vendor of ['intel', 'amd'] as const) {
    test(`${vendor}: (a) at the PMI the counter reads 0; (b) finals = start + events mod 2^48`, () => {
      fc.assert(
        fc.property(
          specsArb({ vendor, maxDistance: 4e9, minPeriod: 1, maxPeriod: 1, cmask: true }),
          fc.array(blockArb(4e9), { minLength: 1, maxLength: 4 }),
          (specs, blocks) => {
            const r = rig(vendor, specs, false);
            for (const b of blocks) r.cpu.retire(b);
            assert.deepEqual(r.nonZeroAtPmi, []);
            let expectedWraps = 0;
            r.counters.forEach((c, k) => {
              if (c.spec.cmask !== 0) return; // CMASK is an approximation
              const want = untouched(c.spec, total(blocks, c.spec));
              assert.equal(
                c.read(),
                want.value,
                `counter ${k} (${c.spec.quantity}, ${c.spec.cpl}) final value`,
              );
              assert.equal(r.wraps[k], want.wraps, `counter ${k} wraps`);
              expectedWraps += want.wraps;
            });
            assert.ok(r.pmis <= r.wraps.reduce((a, b) => a + b, 0));
            if (expectedWraps > 0) assert.ok(r.pmis > 0);
          },
        ),
        RUNS,
      );
    });

    test(`${vendor}: (c) a handler re-arming with -period gets one status bit per wrap`, () => {
      fc.assert(
        fc.property(
          specsArb({ vendor, maxDistance: 2e9, minPeriod: 2e7, maxPeriod: 3e9 }),
          fc.array(blockArb(1e9), { minLength: 1, maxLength: 3 }),
          (specs, blocks) => {
            const r = rig(vendor, specs, true);
            for (const b of blocks) r.cpu.retire(b);
            assert.deepEqual(r.nonZeroAtPmi, []);
            let sum = 0;
            let max = 0;
            r.counters.forEach((c, k) => {
              const want = rearmed(c.spec, total(blocks, c.spec));
              assert.equal(r.wraps[k], want.wraps, `counter ${k} (${c.spec.quantity}) wraps`);
              assert.equal(c.read(), want.value, `counter ${k} (${c.spec.quantity}) final value`);
              sum += want.wraps;
              max = Math.max(max, want.wraps);
            });
            // Counters that wrap on the same event share a PMI.
            assert.ok(r.pmis <= sum && r.pmis >= max, `${r.pmis} PMIs for ${sum} wraps`);
          },
        ),
        { numRuns: 150 },
      );
    });
  }

  test('(c) one counter, short periods, long blocks: PMIs = wraps exactly', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<QuantityName>('instructions', 'cycles', 'branches', 'slots'),
        fc.integer({ min: 1, max: 1e6 }),
        fc.integer({ min: 1e4, max: 1e7 }),
        fc.array(blockArb(5e7), { minLength: 1, maxLength: 3 }),
        (quantity, distance, period, blocks) => {
          const spec: CounterSpec = {
            kind: 'gp',
            fixed: 0,
            quantity,
            cpl: 'all',
            start: WRAP48 - BigInt(distance),
            period: BigInt(period),
            cmask: 0,
          };
          const r = rig('intel', [spec], true);
          for (const b of blocks) r.cpu.retire(b);
          const want = rearmed(spec, total(blocks, spec));
          assert.deepEqual(r.nonZeroAtPmi, []);
          assert.equal(r.pmis, want.wraps);
          assert.equal(r.wraps[0], want.wraps);
          assert.equal(r.counters[0]!.read(), want.value);
        },
      ),
      { numRuns: 60 },
    );
  });

  for (const rearm of [false, true]) {
    test(`(d) one call = the same block split by splitWork (${rearm ? 're-armed' : 'untouched'})`, () => {
      fc.assert(
        fc.property(
          specsArb({ vendor: 'intel', maxDistance: 3e9, minPeriod: 5e7, maxPeriod: 3e9 }),
          blockArb(3e9),
          fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { minLength: 1, maxLength: 6 }),
          (specs, block, fractions) => {
            const whole = rig('intel', specs, rearm);
            const split = rig('intel', specs, rearm);
            whole.cpu.retire(block);
            let rest = block;
            for (const f of fractions) {
              const [head, tail] = splitWork(rest, f);
              split.cpu.retire(head);
              rest = tail;
            }
            split.cpu.retire(rest);
            assert.deepEqual(split.nonZeroAtPmi, []);
            assert.deepEqual(whole.nonZeroAtPmi, []);
            assert.deepEqual(split.wraps, whole.wraps);
            assert.deepEqual(
              split.counters.map((c) => c.read()),
              whole.counters.map((c) => c.read()),
            );
            assert.equal(split.cpu.tsc, whole.cpu.tsc);
          },
        ),
        RUNS,
      );
    });
  }

  test('the wrap lands inside the block: counters on other quantities are part-way', () => {
    const r = rig(
      'intel',
      [
        {
          kind: 'gp',
          fixed: 0,
          quantity: 'instructions',
          cpl: 'all',
          start: WRAP48 - 250n,
          period: 1n,
          cmask: 0,
        },
        { kind: 'gp', fixed: 0, quantity: 'branches', cpl: 'all', start: 0n, period: 1n, cmask: 0 },
        {
          kind: 'fixed',
          fixed: 1,
          quantity: 'cycles',
          cpl: 'all',
          start: 0n,
          period: 1n,
          cmask: 0,
        },
      ],
      false,
    );
    const seen: bigint[][] = [];
    const inner = r.cpu.hostInterrupt;
    r.cpu.hostInterrupt = (d) => {
      seen.push(r.counters.map((c) => c.read()));
      inner(d);
    };
    r.cpu.retire({ instructions: 1000, branches: 100, cycles: 2000 });
    assert.deepEqual(seen, [[0n, 25n, 500n]], 'a quarter of the way through the block');
    assert.deepEqual(
      r.counters.map((c) => c.read()),
      [750n, 100n, 2000n],
    );
  });

  test('two counters on one quantity wrapping on the same event share one PMI', () => {
    const spec = (start: bigint): CounterSpec => ({
      kind: 'gp',
      fixed: 0,
      quantity: 'instructions',
      cpl: 'all',
      start,
      period: 1n,
      cmask: 0,
    });
    const r = rig('intel', [spec(WRAP48 - 10n), spec(WRAP48 - 10n), spec(WRAP48 - 11n)], false);
    r.cpu.retire({ instructions: 20 });
    assert.equal(r.pmis, 2);
    assert.deepEqual(r.wraps, [1, 1, 1]);
  });
});

describe('huge blocks', () => {
  test('10^12 events with no overflow: one block, exact value, no PMI', () => {
    const r = rig(
      'intel',
      [
        {
          kind: 'gp',
          fixed: 0,
          quantity: 'instructions',
          cpl: 'all',
          start: 0n,
          period: 1n,
          cmask: 0,
        },
        { kind: 'fixed', fixed: 3, quantity: 'slots', cpl: 'all', start: 0n, period: 1n, cmask: 0 },
      ],
      false,
    );
    r.cpu.retire({ instructions: 1e12, cycles: 2e12 });
    assert.equal(r.pmis, 0);
    assert.deepEqual(
      r.counters.map((c) => c.read()),
      [10n ** 12n, 12n * 10n ** 12n],
    );
  });

  test('10^12 events re-armed every 10^11: exactly 10 PMIs at the exact events', () => {
    const period = 10n ** 11n;
    const spec: CounterSpec = {
      kind: 'gp',
      fixed: 0,
      quantity: 'instructions',
      cpl: 'all',
      start: WRAP48 - period,
      period,
      cmask: 0,
    };
    const r = rig('amd', [spec], true);
    r.cpu.retire({ instructions: 1e12 });
    assert.deepEqual(r.nonZeroAtPmi, []);
    assert.equal(r.pmis, 10);
    assert.equal(r.counters[0]!.read(), WRAP48 - period);
  });

  test('a 48-bit counter wraps more than once inside one block when left alone', () => {
    const spec: CounterSpec = {
      kind: 'gp',
      fixed: 0,
      quantity: 'instructions',
      cpl: 'all',
      start: WRAP48 - 5n,
      period: 1n,
      cmask: 0,
    };
    const r = rig('intel', [spec], false);
    r.cpu.retire({ instructions: 2 ** 49 });
    assert.equal(r.pmis, 2);
    assert.equal(r.counters[0]!.read(), WRAP48 - 5n);
  });
});

// ---------------------------------------------------------------------------
// The bank on its own.

function bank1(quantity: Quantity, start: number, width = 48): CounterBank {
  const bank = new CounterBank(1);
  bank.limit[0] = 2 ** width;
  bank.quantity[0] = quantity;
  bank.cplMask[0] = COUNT_CPL0 | COUNT_CPL3;
  bank.modeMask[0] = COUNT_HOST | COUNT_GUEST;
  bank.active[0] = 1;
  bank.interrupt[0] = 1;
  bank.value[0] = start;
  return bank;
}

function block(instructions: number): Float64Array {
  const q = new Float64Array(QUANTITY_COUNT);
  q[Quantity.Instructions] = instructions;
  q[Quantity.Cycles] = instructions;
  return q;
}

describe('CounterBank', () => {
  test('holds at most 32 counters, the width of the overflow mask it reports', () => {
    assert.equal(new CounterBank(MAX_BANK_COUNTERS).size, 32);
    assert.throws(() => new CounterBank(33), RangeError);
    // A custom model beyond it is refused when its CPU is built, not miscounted.
    assert.throws(() => cpuOf(variant('intel-sapphire-rapids', { gpCounters: 30 })), RangeError);
  });

  test('reports wrapped counters and the interrupt flag to the sink', () => {
    const bank = bank1(Quantity.Instructions, 2 ** 16 - 3, 16);
    const calls: [number, boolean][] = [];
    bank.retire(block(10), 3, false, { overflow: (w, i) => calls.push([w, i]) });
    assert.deepEqual(calls, [[1, true]]);
    assert.equal(bank.value[0], 7);
    bank.interrupt[0] = 0;
    bank.value[0] = 2 ** 16 - 1;
    bank.retire(block(1), 0, false, { overflow: (w, i) => calls.push([w, i]) });
    assert.deepEqual(calls[1], [1, false]);
  });

  test('does not keep the caller’s block: the caller may reuse it', () => {
    const bank = bank1(Quantity.Instructions, 0);
    const q = block(10);
    bank.retire(q, 0, false, { overflow: () => {} });
    assert.equal(q[Quantity.Instructions], 10);
  });

  test('inactive, wrong CPL, wrong mode or no quantity: nothing counts', () => {
    const cases: [string, (b: CounterBank) => void, number, boolean][] = [
      ['inactive', (b) => (b.active[0] = 0), 0, false],
      ['CPL 3 only, block at 0', (b) => (b.cplMask[0] = COUNT_CPL3), 0, false],
      ['CPL 0 only, block at 3', (b) => (b.cplMask[0] = COUNT_CPL0), 3, false],
      ['host only, block in guest', (b) => (b.modeMask[0] = COUNT_HOST), 0, true],
      ['guest only, block in host', (b) => (b.modeMask[0] = COUNT_GUEST), 0, false],
      ['no quantity', (b) => (b.quantity[0] = Quantity.None), 0, false],
    ];
    for (const [what, setup, cpl, guest] of cases) {
      const bank = bank1(Quantity.Instructions, 5);
      setup(bank);
      bank.retire(block(100), cpl, guest, { overflow: () => assert.fail(what) });
      assert.equal(bank.value[0], 5, what);
    }
  });

  test('PMI handlers that keep overflowing by retiring work are cut off at a nesting limit', () => {
    const bank = bank1(Quantity.Instructions, 2 ** 48 - 1);
    let depth = 0;
    const sink: OverflowSink = {
      overflow: () => {
        depth++;
        bank.value[0] = 2 ** 48 - 1;
        bank.retire(block(1), 0, false, sink);
      },
    };
    assert.throws(() => bank.retire(block(1), 0, false, sink), /nested/);
    assert.ok(depth >= 1 && depth <= 8, `depth ${depth}`);
    // The bank is usable again afterwards.
    bank.value[0] = 0;
    bank.retire(block(5), 0, false, { overflow: () => assert.fail('no overflow') });
    assert.equal(bank.value[0], 5);
  });
});

describe('cmaskCycles', () => {
  test('cycles with at least CMASK events, events spread evenly', () => {
    assert.equal(cmaskCycles(1000, 1000, 1, false), 1000);
    assert.equal(cmaskCycles(1000, 1000, 2, false), 0);
    assert.equal(cmaskCycles(1500, 1000, 2, false), 500);
    assert.equal(cmaskCycles(3000, 1000, 2, false), 1000);
    assert.equal(cmaskCycles(500, 1000, 1, false), 500);
    assert.equal(cmaskCycles(10, 0, 1, false), 0, 'no cycles, nothing');
  });

  test('INV counts the other cycles', () => {
    assert.equal(cmaskCycles(1500, 1000, 2, true), 500);
    assert.equal(cmaskCycles(3000, 1000, 2, true), 0);
    assert.equal(cmaskCycles(0, 1000, 1, true), 1000);
  });

  test('property: within [0, cycles]; CMASK >= 2 counts fewer than the events; INV complements', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e10 }),
        fc.integer({ min: 1, max: 1e10 }),
        fc.integer({ min: 1, max: 255 }),
        (evts, cycles, cmask) => {
          const n = cmaskCycles(evts, cycles, cmask, false);
          const inv = cmaskCycles(evts, cycles, cmask, true);
          assert.ok(n >= 0 && n <= cycles);
          assert.ok(Math.abs(n + inv - cycles) <= 1e-6 * cycles);
          assert.ok(
            n * cmask <= evts + 1e-6 * evts,
            'each counted cycle holds at least CMASK events',
          );
          if (cmask >= 2 && evts > 0) assert.ok(n < evts);
          // Monotone in CMASK.
          assert.ok(cmaskCycles(evts, cycles, cmask + 1, false) <= n);
        },
      ),
      RUNS,
    );
  });
});
