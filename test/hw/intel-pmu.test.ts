import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../common/fc.ts';

import { CPU_MODELS, hasPerfMetrics, type CpuModel } from '../../src/hw/cpu-models.ts';
import type { PhysicalCpu } from '../../src/hw/cpu.ts';
import { EVTSEL, GLOBAL, MSR, RDPMC } from '../../src/hw/msr.ts';
import {
  ALL,
  ALL_INT,
  INTEL_MODELS,
  WRAP48,
  assertGp,
  cpuOf,
  evtsel,
  unmaskLvtpc,
  variant,
} from './helpers.ts';

const SPR = 'intel-sapphire-rapids';
const FIXED_ALL = 0x3n; // OS | USR
const INSTRUCTIONS = evtsel(0xc0, 0x00, ALL);

/** GLOBAL_CTRL with every counter of the part enabled. */
function allCounters(m: CpuModel): bigint {
  let v = (1n << BigInt(m.gpCounters)) - 1n;
  for (let j = 0; j < m.fixedCounters; j++) v |= 1n << BigInt(32 + j);
  return v;
}

function enableAll(cpu: PhysicalCpu): void {
  cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, allCounters(cpu.model));
}

/** Program GP counter i and return a reader. */
function gpCounter(cpu: PhysicalCpu, i: number, sel: bigint, start = 0n): () => bigint {
  cpu.wrmsr(MSR.IA32_PMC0 + i, start);
  cpu.wrmsr(MSR.IA32_PERFEVTSEL0 + i, sel);
  return () => cpu.rdmsr(MSR.IA32_PMC0 + i);
}

describe('Intel GP counter writes', () => {
  for (const name of INTEL_MODELS) {
    test(`${name}: legacy 0xC1 writes take the low 32 bits, sign-extended to the width`, () => {
      const cpu = cpuOf(name);
      const width = cpu.model.gpWidth;
      const cases: [bigint, bigint][] = [
        [0n, 0n],
        [1n, 1n],
        [0x7fffffffn, 0x7fffffffn],
        [0x80000000n, (1n << BigInt(width)) - 0x80000000n],
        [0xffffffffn, (1n << BigInt(width)) - 1n],
        [0x1_2345_6789n, 0x2345_6789n], // high bits dropped, bit 31 clear
        [0xabcd_0000_8000_0001n, (1n << BigInt(width)) - 0x7fffffffn],
        [(1n << 64n) - 100n, (1n << BigInt(width)) - 100n], // -100 as a u64
      ];
      for (let i = 0; i < cpu.model.gpCounters; i++) {
        for (const [written, read] of cases) {
          cpu.wrmsr(MSR.IA32_PERFCTR0 + i, written);
          assert.equal(
            cpu.rdmsr(MSR.IA32_PERFCTR0 + i),
            read,
            `PERFCTR${i} <- 0x${written.toString(16)}`,
          );
          assert.equal(
            cpu.rdmsr(MSR.IA32_PMC0 + i),
            read,
            'the full-width alias reads the same counter',
          );
          assert.equal(cpu.rdpmc(i), read, 'rdpmc reads the same counter');
        }
      }
    });

    test(`${name}: full-width 0x4C1 writes load every bit; bits above the width #GP`, () => {
      const cpu = cpuOf(name);
      const top = (1n << BigInt(cpu.model.gpWidth)) - 1n;
      for (let i = 0; i < cpu.model.gpCounters; i++) {
        for (const v of [0n, 0x80000000n, 0xffff_ffffn, 0x1234_5678_9abcn, top]) {
          cpu.wrmsr(MSR.IA32_PMC0 + i, v);
          assert.equal(cpu.rdmsr(MSR.IA32_PMC0 + i), v);
          assert.equal(cpu.rdmsr(MSR.IA32_PERFCTR0 + i), v);
        }
        cpu.wrmsr(MSR.IA32_PMC0 + i, 5n);
        for (const v of [top + 1n, 1n << 63n, (1n << 64n) - 1n]) {
          assertGp(() => cpu.wrmsr(MSR.IA32_PMC0 + i, v), `PMC${i} <- 0x${v.toString(16)}`);
        }
        assert.equal(cpu.rdmsr(MSR.IA32_PMC0 + i), 5n, 'a faulting write changes nothing');
      }
    });
  }

  test('0x4C1 does not exist without full-width writes; 0xC1 still does', () => {
    const cpu = cpuOf(variant('intel-haswell', { fullWidthWrites: false }));
    for (let i = 0; i < 4; i++) {
      assertGp(() => cpu.rdmsr(MSR.IA32_PMC0 + i));
      assertGp(() => cpu.wrmsr(MSR.IA32_PMC0 + i, 0n));
      cpu.wrmsr(MSR.IA32_PERFCTR0 + i, 0xfffffff0n);
      assert.equal(cpu.rdmsr(MSR.IA32_PERFCTR0 + i), WRAP48 - 16n);
    }
  });

  test('a legacy write of -period counts exactly period events to the wrap', () => {
    const cpu = cpuOf(SPR);
    let pmis = 0;
    cpu.hostInterrupt = () => {
      pmis++;
      assert.equal(cpu.rdmsr(MSR.IA32_PERFCTR0), 0n);
    };
    unmaskLvtpc(cpu);
    cpu.wrmsr(MSR.IA32_PERFCTR0, BigInt.asUintN(64, -1000n));
    cpu.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, ALL_INT));
    cpu.retire({ instructions: 999 });
    assert.equal(pmis, 0);
    cpu.retire({ instructions: 1 });
    assert.equal(pmis, 1);
  });
});

/**
 * SDM vol. 3 20.3.6.5 (IN_TX, IN_TXCP), the oracle: bits 63:32 of
 * IA32_PERFEVTSELx are reserved but IN_TX (bit 32) and IN_TXCP (bit 33),
 * which "may only be set if the processor supports HLE or RTM"; IN_TXCP
 * "may only be set for IA32_PERFEVTSEL2".
 */
function sdmAcceptsHighBits(tsx: boolean, index: number, high: bigint): boolean {
  if (high === 0n) return true;
  if (!tsx) return false;
  return high === 1n || (index === 2 && (high === 2n || high === 3n));
}

describe('Intel PERFEVTSEL', () => {
  for (const name of INTEL_MODELS) {
    test(`${name}: bits 63:32 reserved but TSX's IN_TX / IN_TXCP (SDM 20.3.6.5); 31:0 read back`, () => {
      const cpu = cpuOf(name);
      const tsx = cpu.model.tsx === true;
      for (let i = 0; i < cpu.model.gpCounters; i++) {
        const sel = MSR.IA32_PERFEVTSEL0 + i;
        cpu.wrmsr(sel, 0xffff_ffffn);
        assert.equal(cpu.rdmsr(sel), 0xffff_ffffn);
        cpu.wrmsr(sel, INSTRUCTIONS);
        for (let bit = 32n; bit < 64n; bit++) {
          const value = INSTRUCTIONS | (1n << bit);
          if (sdmAcceptsHighBits(tsx, i, 1n << (bit - 32n))) {
            cpu.wrmsr(sel, value);
            assert.equal(cpu.rdmsr(sel), value, `bit ${bit} reads back`);
            cpu.wrmsr(sel, INSTRUCTIONS);
          } else {
            assertGp(() => cpu.wrmsr(sel, value), `bit ${bit}`);
            assertGp(() => cpu.wrmsrNumber(sel, Number(value)), `bit ${bit} (number path)`);
          }
        }
        const both = INSTRUCTIONS | EVTSEL.IN_TX | EVTSEL.IN_TXCP;
        if (tsx && i === 2) cpu.wrmsr(sel, both);
        else assertGp(() => cpu.wrmsr(sel, both));
        assert.equal(cpu.rdmsr(sel), tsx && i === 2 ? both : INSTRUCTIONS);
        cpu.wrmsr(sel, INSTRUCTIONS);
      }
    });
  }

  test('property: a high-half selector write is taken iff the SDM allows it, on both write paths', () => {
    fc.assert(
      fc.property(
        fc.constantFrom(...INTEL_MODELS),
        fc.boolean(),
        fc.nat({ max: 7 }),
        fc.bigInt({ min: 0n, max: (1n << 32n) - 1n }),
        fc.boolean(),
        (name, tsx, index, high, asNumber) => {
          const cpu = cpuOf(variant(name, { tsx }));
          fc.pre(index < cpu.model.gpCounters);
          const msr = MSR.IA32_PERFEVTSEL0 + index;
          const value = INSTRUCTIONS | (high << 32n);
          const write = () =>
            asNumber && value <= BigInt(Number.MAX_SAFE_INTEGER)
              ? cpu.wrmsrNumber(msr, Number(value))
              : cpu.wrmsr(msr, value);
          if (sdmAcceptsHighBits(tsx, index, high)) {
            write();
            assert.equal(cpu.rdmsr(msr), value);
          } else {
            assertGp(write);
            assert.equal(cpu.rdmsr(msr), 0n, 'a faulting write changes nothing');
          }
        },
      ),
    );
  });

  test('IN_TX counts only inside transactions (none here); IN_TXCP alone counts as usual', () => {
    // SDM 20.3.6.5: IN_TX "only include[s] counts that occurred inside a TSX
    // region"; IN_TXCP excludes counts "inside an aborted TSX region". Work
    // in this model never runs in a transaction.
    const cpu = cpuOf(SPR);
    enableAll(cpu);
    const inTx = gpCounter(cpu, 0, INSTRUCTIONS | EVTSEL.IN_TX);
    const plain = gpCounter(cpu, 1, INSTRUCTIONS);
    const inTxcp = gpCounter(cpu, 2, INSTRUCTIONS | EVTSEL.IN_TXCP);
    cpu.retire({ instructions: 1000 });
    assert.equal(inTx(), 0n);
    assert.equal(plain(), 1000n);
    assert.equal(inTxcp(), 1000n);
  });
});

describe('Intel counters that do not exist', () => {
  for (const name of INTEL_MODELS) {
    test(`${name}: #GP past the last GP and fixed counter, and on RDPMC`, () => {
      const cpu = cpuOf(name);
      const { gpCounters: n, fixedCounters: f } = cpu.model;
      for (const msr of [
        MSR.IA32_PERFCTR0 + n,
        MSR.IA32_PMC0 + n,
        MSR.IA32_PERFEVTSEL0 + n,
        MSR.IA32_FIXED_CTR0 + f,
      ]) {
        assertGp(() => cpu.rdmsr(msr), `rdmsr 0x${msr.toString(16)}`);
        assertGp(() => cpu.wrmsr(msr, 0n), `wrmsr 0x${msr.toString(16)}`);
      }
      for (let i = 0; i < n; i++) {
        cpu.rdmsr(MSR.IA32_PERFCTR0 + i);
        cpu.rdmsr(MSR.IA32_PERFEVTSEL0 + i);
      }
      for (let j = 0; j < f; j++) cpu.rdmsr(MSR.IA32_FIXED_CTR0 + j);
      assertGp(() => cpu.rdmsr(MSR.IA32_PERFCTR0 - 1));
      assertGp(() => cpu.rdmsr(MSR.IA32_PERFEVTSEL0 - 1));
      assertGp(() => cpu.rdmsr(MSR.IA32_FIXED_CTR0 - 1));
    });
  }
});

describe('Intel fixed counters and FIXED_CTR_CTRL', () => {
  for (const name of INTEL_MODELS) {
    test(`${name}: fixed counters are full width; above the width #GP`, () => {
      const cpu = cpuOf(name);
      const top = (1n << BigInt(cpu.model.fixedWidth)) - 1n;
      for (let j = 0; j < cpu.model.fixedCounters; j++) {
        cpu.wrmsr(MSR.IA32_FIXED_CTR0 + j, top);
        assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0 + j), top);
        assert.equal(cpu.rdpmc(RDPMC.FIXED | j), top);
        assertGp(() => cpu.wrmsr(MSR.IA32_FIXED_CTR0 + j, top + 1n));
        assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0 + j), top);
      }
    });

    test(`${name}: FIXED_CTR_CTRL takes OS, USR, PMI per existing counter; the rest #GP`, () => {
      const cpu = cpuOf(name);
      const { fixedCounters: f, pmuVersion } = cpu.model;
      const anyThreadOk = pmuVersion >= 3 && pmuVersion < 5;
      let valid = 0n;
      for (let j = 0; j < f; j++) valid |= 0xbn << BigInt(4 * j);
      cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, valid);
      assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL), valid);
      for (let j = 0; j < f; j++) {
        const any = 0x4n << BigInt(4 * j);
        if (anyThreadOk) {
          cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, valid | any);
          assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL), valid | any);
        } else {
          assertGp(
            () => cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, valid | any),
            `AnyThread of counter ${j} on v5`,
          );
        }
      }
      cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, valid);
      // Every bit of a nibble of a counter the part does not have, and every bit above.
      for (let bit = BigInt(4 * f); bit < 64n; bit++) {
        assertGp(() => cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 1n << bit), `bit ${bit}`);
      }
      assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR_CTRL), valid);
    });
  }

  test('AnyThread is a v3 addition: reserved on a v2 part', () => {
    const cpu = cpuOf(variant('intel-haswell', { pmuVersion: 2 }));
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0xbbbn);
    assertGp(() => cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x4n));
  });

  test('each fixed counter counts its own quantity, at the CPLs its nibble selects', () => {
    const cpu = cpuOf(SPR);
    enableAll(cpu);
    // ctr0 OS only, ctr1 USR only, ctr2 both, ctr3 both.
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x1n | (0x2n << 4n) | (0x3n << 8n) | (0x3n << 12n));
    cpu.retire({ instructions: 100, cycles: 300, refCycles: 200, cpl: 0 });
    cpu.retire({ instructions: 10, cycles: 30, refCycles: 20, cpl: 3 });
    assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0), 100n, 'instructions at CPL 0');
    assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0 + 1), 30n, 'cycles at CPL 3');
    assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0 + 2), 220n, 'reference cycles');
    assert.equal(
      cpu.rdmsr(MSR.IA32_FIXED_CTR0 + 3),
      330n * 6n,
      'topdown slots = 6 per cycle on SPR',
    );
  });

  test('a fixed counter with neither OS nor USR, or PMI alone, counts nothing', () => {
    const cpu = cpuOf(SPR);
    enableAll(cpu);
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x8n);
    cpu.retire({ instructions: 100 });
    assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0), 0n);
  });

  test('fixed counters are gated by GLOBAL_CTRL bit 32+i, which is clear at reset', () => {
    const cpu = cpuOf(SPR);
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x3333n);
    cpu.retire({ instructions: 50 });
    for (let j = 0; j < 4; j++) assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0 + j), 0n);
    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n << 33n);
    cpu.retire({ instructions: 50 });
    assert.deepEqual(
      [0, 1, 2, 3].map((j) => cpu.rdmsr(MSR.IA32_FIXED_CTR0 + j)),
      [0n, 50n, 0n, 0n],
    );
  });

  test('a fixed counter overflow sets GLOBAL_STATUS bit 32+i; PMI only with its PMI bit', () => {
    const cpu = cpuOf(SPR);
    let pmis = 0;
    cpu.hostInterrupt = () => pmis++;
    unmaskLvtpc(cpu);
    enableAll(cpu);
    cpu.wrmsr(MSR.IA32_FIXED_CTR0, WRAP48 - 10n);
    cpu.wrmsr(MSR.IA32_FIXED_CTR0 + 1, WRAP48 - 10n);
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x3n | (0xbn << 4n)); // ctr0 no PMI, ctr1 PMI
    cpu.retire({ instructions: 10, cycles: 5 });
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 1n << 32n);
    assert.equal(pmis, 0, 'no PMI without the PMI bit');
    cpu.retire({ instructions: 0, cycles: 5 });
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 3n << 32n);
    assert.equal(pmis, 1);
  });
});

describe('Intel global control and status', () => {
  for (const name of INTEL_MODELS) {
    test(`${name}: GLOBAL_CTRL resets to GENMASK(nr_gp - 1, 0); reserved bits #GP`, () => {
      const cpu = cpuOf(name);
      const m = cpu.model;
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), (1n << BigInt(m.gpCounters)) - 1n);
      cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, allCounters(m));
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), allCounters(m));
      for (const bit of [m.gpCounters, 31, 32 + m.fixedCounters, 47, 62, 63]) {
        assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n << BigInt(bit)), `bit ${bit}`);
      }
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), allCounters(m));
    });

    test(`${name}: GLOBAL_STATUS is read-only`, () => {
      const cpu = cpuOf(name);
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0n);
      assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS, 0n));
      assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS, 1n));
    });

    test(`${name}: OVF_CTRL clears the written bits, reads 0, reserved bits #GP`, () => {
      const cpu = cpuOf(name);
      const m = cpu.model;
      // Overflow GP 0 and 1 and fixed 0.
      enableAll(cpu);
      cpu.wrmsr(MSR.IA32_PMC0, WRAP48 - 1n);
      cpu.wrmsr(MSR.IA32_PMC0 + 1, WRAP48 - 1n);
      cpu.wrmsr(MSR.IA32_FIXED_CTR0, WRAP48 - 1n);
      cpu.wrmsr(MSR.IA32_PERFEVTSEL0, INSTRUCTIONS);
      cpu.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, INSTRUCTIONS);
      cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, FIXED_ALL);
      cpu.retire({ instructions: 1 });
      const status = cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS);
      assert.equal(status, 0b11n | (1n << 32n));
      cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 0b10n);
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0b01n | (1n << 32n));
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL), 0n, 'reads 0');
      for (const bit of [m.gpCounters, 32 + m.fixedCounters, 40]) {
        assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 1n << BigInt(bit)), `bit ${bit}`);
      }
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0b01n | (1n << 32n));
      cpu.wrmsr(
        MSR.IA32_PERF_GLOBAL_OVF_CTRL,
        allCounters(m) | GLOBAL.STATUS_BUFFER_OVF | GLOBAL.STATUS_COND_CHGD,
      );
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0n);
    });

    test(`${name}: GLOBAL_STATUS_SET exists only on v4+ and ORs valid bits in`, () => {
      const cpu = cpuOf(name);
      const m = cpu.model;
      if (m.pmuVersion < 4) {
        assertGp(() => cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET));
        assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 1n));
        return;
      }
      cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 0b100n);
      cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 1n << 33n);
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0b100n | (1n << 33n));
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET), 0n, 'reads 0');
      assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 1n << BigInt(m.gpCounters)));
      assertGp(() =>
        cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 1n << BigInt(32 + m.fixedCounters)),
      );
      // CondChgd (bit 63) cannot be set, only cleared through OVF_CTRL; OvfBuffer (62) can.
      assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, GLOBAL.STATUS_COND_CHGD));
      cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, GLOBAL.STATUS_BUFFER_OVF);
      assert.equal(
        cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS) & GLOBAL.STATUS_BUFFER_OVF,
        GLOBAL.STATUS_BUFFER_OVF,
      );
      cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, GLOBAL.STATUS_BUFFER_OVF);
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0b100n | (1n << 33n));
      // Setting a status bit is not an overflow: no PMI.
      let pmis = 0;
      cpu.hostInterrupt = () => pmis++;
      unmaskLvtpc(cpu);
      cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, 1n);
      assert.equal(pmis, 0);
    });
  }

  test('GLOBAL_CTRL gates GP counting; EN is still required', () => {
    const cpu = cpuOf(SPR);
    const read0 = gpCounter(cpu, 0, INSTRUCTIONS);
    const read1 = gpCounter(cpu, 1, evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.OS)); // no EN
    cpu.retire({ instructions: 10 });
    assert.equal(read0(), 10n, 'reset GLOBAL_CTRL enables GP counters');
    assert.equal(read1(), 0n, 'no EN, no count');
    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
    cpu.retire({ instructions: 10 });
    assert.equal(read0(), 10n, 'globally disabled');
    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b10n);
    cpu.retire({ instructions: 10 });
    assert.equal(read0(), 10n, 'bit 0 still clear');
    cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b11n);
    cpu.retire({ instructions: 10 });
    assert.equal(read0(), 20n);
    assert.equal(read1(), 0n);
  });
});

describe('Intel v1 (custom part)', () => {
  const v1 = variant('intel-haswell', { pmuVersion: 1, fixedCounters: 0, fixedWidth: 0 });

  test('no global MSRs and no fixed counters', () => {
    const cpu = cpuOf(v1);
    for (const msr of [
      MSR.IA32_FIXED_CTR_CTRL,
      MSR.IA32_PERF_GLOBAL_STATUS,
      MSR.IA32_PERF_GLOBAL_CTRL,
      MSR.IA32_PERF_GLOBAL_OVF_CTRL,
      MSR.IA32_PERF_GLOBAL_STATUS_SET,
      MSR.IA32_FIXED_CTR0,
    ]) {
      assertGp(() => cpu.rdmsr(msr), `rdmsr 0x${msr.toString(16)}`);
      assertGp(() => cpu.wrmsr(msr, 0n), `wrmsr 0x${msr.toString(16)}`);
    }
    assertGp(() => cpu.rdpmc(RDPMC.FIXED));
  });

  test('counts with EN alone and still interrupts on overflow', () => {
    const cpu = cpuOf(v1);
    let pmis = 0;
    cpu.hostInterrupt = () => pmis++;
    unmaskLvtpc(cpu);
    const read = gpCounter(cpu, 3, evtsel(0xc4, 0, ALL_INT), WRAP48 - 5n);
    cpu.retire({ instructions: 100, branches: 7 });
    assert.equal(read(), 2n);
    assert.equal(pmis, 1);
    assert.equal(cpu.pmu.globalStatus, 1n << 3n, 'status is internal state on v1');
  });

  test('a v1 part with fixedCounters in its model still has none', () => {
    const cpu = cpuOf(variant('intel-haswell', { pmuVersion: 1 }));
    assertGp(() => cpu.rdmsr(MSR.IA32_FIXED_CTR0));
  });
});

describe('IA32_PERF_CAPABILITIES', () => {
  for (const name of INTEL_MODELS) {
    test(`${name}: reads the model's value; writes #GP`, () => {
      const cpu = cpuOf(name);
      assert.equal(cpu.rdmsr(MSR.IA32_PERF_CAPABILITIES), CPU_MODELS[name].perfCapabilities);
      assertGp(() => cpu.wrmsr(MSR.IA32_PERF_CAPABILITIES, CPU_MODELS[name].perfCapabilities));
      assertGp(() => cpu.wrmsr(MSR.IA32_PERF_CAPABILITIES, 0n));
    });
  }
});

describe('full-width writes and PERF_CAPABILITIES agree', () => {
  // perf's intel_pmu_init uses the IA32_PMCx aliases exactly when
  // PERF_CAPABILITIES.FW_WRITES (bit 13) is set: a part without full-width
  // writes must not report the bit, whatever its model's raw value.
  test('a model with fullWidthWrites false reports no FW_WRITES and has no IA32_PMCx', () => {
    const cpu = cpuOf(variant('intel-skylake', { fullWidthWrites: false }));
    assert.equal(CPU_MODELS['intel-skylake'].perfCapabilities & (1n << 13n), 1n << 13n);
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_CAPABILITIES) & (1n << 13n), 0n);
    assertGp(() => cpu.rdmsr(MSR.IA32_PMC0));
  });
});

describe('Intel RDPMC', () => {
  for (const name of INTEL_MODELS) {
    test(`${name}: type 0 GP, type 0x4000 fixed; any other type or index #GP`, () => {
      const cpu = cpuOf(name);
      const { gpCounters: n, fixedCounters: f } = cpu.model;
      for (let i = 0; i < n; i++) cpu.wrmsr(MSR.IA32_PMC0 + i, BigInt(100 + i));
      for (let j = 0; j < f; j++) cpu.wrmsr(MSR.IA32_FIXED_CTR0 + j, BigInt(200 + j));
      for (let i = 0; i < n; i++) assert.equal(cpu.rdpmc(i), BigInt(100 + i));
      for (let j = 0; j < f; j++) assert.equal(cpu.rdpmc(RDPMC.FIXED | j), BigInt(200 + j));
      assertGp(() => cpu.rdpmc(n));
      assertGp(() => cpu.rdpmc(0xffff));
      assertGp(() => cpu.rdpmc(RDPMC.FIXED | f));
      // The old bit-31 "fast read" and every other type; 0x2000 (ECX bit 29) reads
      // PERF_METRICS where the part has it (tested in 'Fixed counter 3 and PERF_METRICS').
      const others = [0x8000, 0x8000 | 0x4000, 0x0001, 0x4001, 0xffff];
      for (const type of hasPerfMetrics(cpu.model) ? others : [...others, 0x2000]) {
        assertGp(() => cpu.rdpmc(((type << 16) | 0) >>> 0), `type 0x${type.toString(16)}`);
        assertGp(() => cpu.rdpmc((type << 16) | 0), `type 0x${type.toString(16)} (signed ecx)`);
      }
    });
  }

  test('property: RDPMC never returns for an ECX outside the valid set, and reads within the width', () => {
    const cpu = cpuOf(SPR);
    for (let i = 0; i < 8; i++) cpu.wrmsr(MSR.IA32_PMC0 + i, WRAP48 - 1n - BigInt(i));
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0xffff_ffff }), (ecx) => {
        const type = ecx >>> 16;
        const index = ecx & 0xffff;
        const valid =
          (type === 0 && index < 8) || (type === 0x4000 && index < 4) || ecx === RDPMC.METRICS;
        if (!valid) {
          assertGp(() => cpu.rdpmc(ecx));
          return;
        }
        const v = cpu.rdpmc(ecx);
        assert.ok(v >= 0n && (ecx === RDPMC.METRICS || v < WRAP48));
      }),
      { numRuns: 200 },
    );
  });
});

describe('Intel counting rules', () => {
  test('USR counts at CPL 3, OS at CPL 0, both at both; Work defaults to CPL 0', () => {
    const cpu = cpuOf(SPR);
    const usr = gpCounter(cpu, 0, evtsel(0xc0, 0, EVTSEL.USR, EVTSEL.EN));
    const os = gpCounter(cpu, 1, evtsel(0xc0, 0, EVTSEL.OS, EVTSEL.EN));
    const both = gpCounter(cpu, 2, evtsel(0xc0, 0, ALL));
    const none = gpCounter(cpu, 3, evtsel(0xc0, 0, EVTSEL.EN));
    cpu.retire({ instructions: 100, cpl: 3 });
    cpu.retire({ instructions: 20, cpl: 0 });
    cpu.retire({ instructions: 3 });
    assert.equal(usr(), 100n);
    assert.equal(os(), 23n);
    assert.equal(both(), 123n);
    assert.equal(none(), 0n);
  });

  test('every architectural event counts its quantity', () => {
    const cpu = cpuOf(SPR);
    const events: [number, number][] = [
      [0x3c, 0x00],
      [0xc0, 0x00],
      [0x3c, 0x01],
      [0x2e, 0x4f],
      [0x2e, 0x41],
      [0xc4, 0x00],
      [0xc5, 0x00],
      [0xa4, 0x01],
    ];
    const readers = events.map(([sel, umask], i) => gpCounter(cpu, i, evtsel(sel, umask, ALL)));
    cpu.retire({
      instructions: 1000,
      cycles: 700,
      refCycles: 600,
      llcReferences: 50,
      llcMisses: 5,
      branches: 200,
      branchMisses: 9,
    });
    assert.deepEqual(
      readers.map((r) => r()),
      [700n, 1000n, 600n, 50n, 5n, 200n, 9n, 700n * 6n],
    );
  });

  test('MEM_INST_RETIRED loads, stores and both', () => {
    const cpu = cpuOf('intel-icelake');
    const loads = gpCounter(cpu, 0, evtsel(0xd0, 0x81, ALL));
    const stores = gpCounter(cpu, 1, evtsel(0xd0, 0x82, ALL));
    const both = gpCounter(cpu, 2, evtsel(0xd0, 0x83, ALL));
    cpu.retire({ instructions: 10, loads: 4, stores: 3 });
    assert.deepEqual([loads(), stores(), both()], [4n, 3n, 7n]);
  });

  test('Work defaults: cycles = instructions, refCycles = cycles', () => {
    const cpu = cpuOf(SPR);
    const cycles = gpCounter(cpu, 0, evtsel(0x3c, 0, ALL));
    const ref = gpCounter(cpu, 1, evtsel(0x3c, 1, ALL));
    const branches = gpCounter(cpu, 2, evtsel(0xc4, 0, ALL));
    cpu.retire({ instructions: 77 });
    assert.deepEqual([cycles(), ref(), branches()], [77n, 77n, 0n]);
    cpu.retire({ instructions: 10, cycles: 40 });
    assert.deepEqual([cycles(), ref()], [117n, 117n]);
  });

  test('unknown events count 0', () => {
    const cpu = cpuOf(SPR);
    const readers = [
      gpCounter(cpu, 0, evtsel(0x00, 0, ALL)),
      gpCounter(cpu, 1, evtsel(0x76, 0, ALL)), // AMD cycles
      gpCounter(cpu, 2, evtsel(0x3c, 0x02, ALL)),
      gpCounter(cpu, 3, evtsel(0xd0, 0x01, ALL)),
    ];
    cpu.retire({ instructions: 1e6, loads: 10, stores: 10 });
    assert.deepEqual(
      readers.map((r) => r()),
      [0n, 0n, 0n, 0n],
    );
  });

  test('topdown slots: GP 0xA4/0x01 and fixed counter 3 agree (slots per cycle of the part)', () => {
    for (const name of ['intel-icelake', SPR] as const) {
      const cpu = cpuOf(name);
      enableAll(cpu);
      cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, 0x3n << 12n);
      const gp = gpCounter(cpu, 0, evtsel(0xa4, 0x01, ALL));
      cpu.retire({ instructions: 1000, cycles: 400 });
      const want = 400n * BigInt(CPU_MODELS[name].topdownSlotsPerCycle);
      assert.equal(gp(), want, name);
      assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0 + 3), want, name);
    }
  });

  test('CMASK=2 on instructions counts fewer than the instructions', () => {
    const cpu = cpuOf(SPR);
    const cmask2 = gpCounter(cpu, 0, evtsel(0xc0, 0, ALL, 2n << 24n));
    const plain = gpCounter(cpu, 1, INSTRUCTIONS);
    // IPC 1: no cycle retires 2 instructions.
    cpu.retire({ instructions: 1000 });
    assert.equal(plain(), 1000n);
    assert.ok(cmask2() < plain());
    assert.equal(cmask2(), 0n);
    // IPC 3: every cycle retires at least 2, so it counts the cycles.
    cpu.retire({ instructions: 3000, cycles: 1000 });
    assert.equal(plain(), 4000n);
    assert.equal(cmask2(), 1000n);
    assert.ok(cmask2() < plain());
    // IPC 1.5: half the cycles retire 2.
    cpu.retire({ instructions: 1500, cycles: 1000 });
    assert.equal(cmask2(), 1500n);
  });

  test('INV inverts the CMASK comparison', () => {
    const cpu = cpuOf(SPR);
    const inv = gpCounter(cpu, 0, evtsel(0xc0, 0, ALL, EVTSEL.INV, 2n << 24n));
    cpu.retire({ instructions: 1000 }); // IPC 1: every cycle has fewer than 2
    assert.equal(inv(), 1000n);
    cpu.retire({ instructions: 3000, cycles: 1000 }); // IPC 3: none has fewer than 2
    assert.equal(inv(), 1000n);
    cpu.retire({ instructions: 500, cycles: 1000 }); // IPC 0.5: all have fewer than 2
    assert.equal(inv(), 2000n);
  });

  test('a GP overflow without INT sets status and raises no PMI', () => {
    const cpu = cpuOf(SPR);
    let pmis = 0;
    cpu.hostInterrupt = () => pmis++;
    unmaskLvtpc(cpu);
    const read = gpCounter(cpu, 5, INSTRUCTIONS, WRAP48 - 3n);
    cpu.retire({ instructions: 10 });
    assert.equal(read(), 7n);
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 1n << 5n);
    assert.equal(pmis, 0);
  });

  test('reprogramming the event select takes effect for the next block', () => {
    const cpu = cpuOf(SPR);
    const read = gpCounter(cpu, 0, INSTRUCTIONS);
    cpu.retire({ instructions: 10, branches: 4 });
    cpu.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc4, 0, ALL));
    cpu.retire({ instructions: 10, branches: 4 });
    assert.equal(read(), 14n);
  });
});

/**
 * Fixed counter 3 (TOPDOWN.SLOTS) and IA32_PERF_METRICS, per preset. Expected
 * values, from the SDM (vol. 3 20.3.9.3, "Performance Metrics"; vol. 4 MSRs
 * 0x30c and 0x329) and Linux: intel_pmu_init sets GLOBAL_CTRL bit 48
 * (GLOBAL_CTRL_EN_PERF_METRICS) in x86_pmu.intel_ctrl exactly when
 * PERF_CAPABILITIES reports perf_metrics (bit 15), and reads the metrics with
 * RDPMC ECX = INTEL_PMC_FIXED_RDPMC_METRICS (1 << 29). Ice Lake-SP, Sapphire
 * and Emerald Rapids have both; Haswell and Skylake neither.
 */
describe('Fixed counter 3 and PERF_METRICS', () => {
  const EXPECTED: Record<string, { fixed: number; bitmap: number; metrics: boolean }> = {
    'intel-haswell': { fixed: 3, bitmap: 0, metrics: false },
    'intel-skylake': { fixed: 3, bitmap: 0, metrics: false },
    'intel-icelake': { fixed: 4, bitmap: 0xf, metrics: true },
    'intel-sapphire-rapids': { fixed: 4, bitmap: 0xf, metrics: true },
    'intel-emerald-rapids': { fixed: 4, bitmap: 0xf, metrics: true },
  };
  for (const name of INTEL_MODELS) {
    test(`${name}: CPUID.0xA, FIXED_CTR3, PERF_METRICS and GLOBAL_CTRL bit 48 agree`, () => {
      const want = EXPECTED[name];
      assert.ok(want, `no expectation for ${name}`);
      const cpu = cpuOf(name);
      const leaf = cpu.cpuid(0xa);
      assert.equal(leaf.edx & 0x1f, want.fixed, 'CPUID.0xA EDX[4:0]');
      assert.equal(leaf.ecx, want.bitmap, 'CPUID.0xA ECX (fixed-counter bitmap, v5)');
      const fixed3 = MSR.IA32_FIXED_CTR0 + 3;
      const ctrlBit48 = GLOBAL.PERF_METRICS;
      if (want.fixed === 4) {
        cpu.wrmsr(fixed3, 1234n);
        assert.equal(cpu.rdmsr(fixed3), 1234n);
        assert.equal(cpu.rdpmc(RDPMC.FIXED | 3), 1234n);
      } else {
        assertGp(() => cpu.rdmsr(fixed3), 'FIXED_CTR3 without fixed counter 3');
        assertGp(() => cpu.wrmsr(fixed3, 0n));
      }
      assert.equal(hasPerfMetrics(cpu.model), want.metrics);
      if (want.metrics) {
        cpu.wrmsr(MSR.MSR_PERF_METRICS, 0x1122_3344_5566_7788n);
        assert.equal(cpu.rdmsr(MSR.MSR_PERF_METRICS), 0x1122_3344_5566_7788n);
        assert.equal(cpu.rdpmc(RDPMC.METRICS), 0x1122_3344_5566_7788n);
        cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, ctrlBit48);
        assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), ctrlBit48);
        // Its overflow bit can be set and cleared like a counter's.
        cpu.wrmsr(MSR.IA32_PERF_GLOBAL_STATUS_SET, ctrlBit48);
        assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), ctrlBit48);
        cpu.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, ctrlBit48);
        assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0n);
      } else {
        assertGp(() => cpu.rdmsr(MSR.MSR_PERF_METRICS), 'PERF_METRICS absent');
        assertGp(() => cpu.rdpmc(RDPMC.METRICS), 'RDPMC of PERF_METRICS absent');
        assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, ctrlBit48), 'GLOBAL_CTRL bit 48');
      }
    });
  }

  test('a fixed counter past the four the model knows counts nothing', () => {
    const cpu = cpuOf(variant(SPR, { fixedCounters: 5, fixedCounterMask: 0x1f }));
    cpu.wrmsr(MSR.IA32_FIXED_CTR_CTRL, (FIXED_ALL << 16n) | FIXED_ALL); // fixed 4 and 0
    enableAll(cpu);
    cpu.retire({ instructions: 1000 });
    assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0), 1000n);
    assert.equal(cpu.rdmsr(MSR.IA32_FIXED_CTR0 + 4), 0n);
  });

  test('a model with more than 8 fixed counters is refused', () => {
    assert.throws(() => cpuOf(variant(SPR, { fixedCounters: 9 })), RangeError);
  });

  test('a custom model with PERF_CAPABILITIES bit 15 but 3 fixed counters has no PERF_METRICS', () => {
    const cpu = cpuOf(variant('intel-sapphire-rapids', { fixedCounters: 3, fixedCounterMask: 7 }));
    assertGp(() => cpu.rdmsr(MSR.MSR_PERF_METRICS));
    assertGp(() => cpu.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, GLOBAL.PERF_METRICS));
  });
});
