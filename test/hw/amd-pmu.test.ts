import { describe, test } from 'node:test';
import assert from 'node:assert/strict';

import type { PhysicalCpu } from '../../src/hw/cpu.ts';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import {
  ALL,
  ALL_INT,
  AMD_MODELS,
  WRAP48,
  assertGp,
  cpuOf,
  evtsel,
  unmaskLvtpc,
  variant,
} from './helpers.ts';

const CTL = (i: number) => MSR.MSR_F15H_PERF_CTL0 + 2 * i;
const CTR = (i: number) => MSR.MSR_F15H_PERF_CTR0 + 2 * i;
const GLOBAL_STATUS = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS;
const GLOBAL_CTL = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL;
const STATUS_CLR = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR;
const STATUS_SET = MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET;
const INSTRUCTIONS = evtsel(0xc0, 0, ALL);

function program(cpu: PhysicalCpu, i: number, sel: bigint, start = 0n): () => bigint {
  cpu.wrmsr(CTR(i), start);
  cpu.wrmsr(CTL(i), sel);
  return () => cpu.rdmsr(CTR(i));
}

describe('AMD counter MSRs', () => {
  for (const name of AMD_MODELS) {
    test(`${name}: six F15H PERF_CTL/PERF_CTR pairs at 0xC0010200 + 2i / + 2i + 1`, () => {
      const cpu = cpuOf(name);
      assert.equal(CTL(5), 0xc001020a);
      assert.equal(CTR(5), 0xc001020b);
      for (let i = 0; i < 6; i++) {
        cpu.wrmsr(CTL(i), BigInt(0x100 * i + 0xc0));
        cpu.wrmsr(CTR(i), BigInt(1000 + i));
      }
      for (let i = 0; i < 6; i++) {
        assert.equal(cpu.rdmsr(CTL(i)), BigInt(0x100 * i + 0xc0));
        assert.equal(cpu.rdmsr(CTR(i)), BigInt(1000 + i));
        assert.equal(cpu.rdpmc(i), BigInt(1000 + i));
      }
      assertGp(() => cpu.rdmsr(CTL(6)));
      assertGp(() => cpu.wrmsr(CTR(6), 0n));
      assertGp(() => cpu.rdpmc(6));
      assertGp(() => cpu.rdpmc(0x4000_0000));
      assertGp(() => cpu.rdpmc(-1));
    });

    test(`${name}: the K7 MSRs alias counters 0-3 (PerfCtrExtCore)`, () => {
      const cpu = cpuOf(name);
      for (let i = 0; i < 4; i++) {
        cpu.wrmsr(MSR.MSR_K7_EVNTSEL0 + i, INSTRUCTIONS | BigInt(i << 8));
        assert.equal(cpu.rdmsr(CTL(i)), INSTRUCTIONS | BigInt(i << 8));
        cpu.wrmsr(CTR(i), BigInt(77 + i));
        assert.equal(cpu.rdmsr(MSR.MSR_K7_PERFCTR0 + i), BigInt(77 + i));
      }
      // Counting shows through both names.
      cpu.wrmsr(MSR.MSR_K7_EVNTSEL0 + 2, INSTRUCTIONS);
      cpu.wrmsr(MSR.MSR_K7_PERFCTR0 + 2, 0n);
      cpu.retire({ instructions: 42 });
      assert.equal(cpu.rdmsr(CTR(2)), 42n);
      assert.equal(cpu.rdmsr(MSR.MSR_K7_PERFCTR0 + 2), 42n);
    });

    test(`${name}: counter writes keep the low 48 bits`, () => {
      const cpu = cpuOf(name);
      cpu.wrmsr(CTR(0), (1n << 64n) - 1n);
      assert.equal(cpu.rdmsr(CTR(0)), WRAP48 - 1n);
      cpu.wrmsr(CTR(1), WRAP48 + 5n);
      assert.equal(cpu.rdmsr(CTR(1)), 5n);
    });

    test(`${name}: reserved PERF_CTL bits are dropped, not faulted`, () => {
      const cpu = cpuOf(name);
      const implemented =
        0xffff_ffffn | EVTSEL.AMD_EVENT_HI | EVTSEL.AMD_GUEST_ONLY | EVTSEL.AMD_HOST_ONLY;
      cpu.wrmsr(CTL(0), (1n << 64n) - 1n);
      assert.equal(cpu.rdmsr(CTL(0)), implemented);
      cpu.wrmsr(CTL(1), INSTRUCTIONS | (1n << 63n) | (1n << 42n) | (0xfn << 36n));
      assert.equal(cpu.rdmsr(CTL(1)), INSTRUCTIONS);
      cpu.retire({ instructions: 5 });
      assert.equal(cpu.rdmsr(CTR(1)), 5n, 'the dropped bits do not disturb counting');
    });
  }

  test('without PerfCtrExtCore: four K7 counters, no F15H MSRs', () => {
    const cpu = cpuOf(variant('amd-zen3', { perfCtrExtCore: false, gpCounters: 4 }));
    for (let i = 0; i < 4; i++) {
      cpu.wrmsr(MSR.MSR_K7_EVNTSEL0 + i, INSTRUCTIONS);
      cpu.wrmsr(MSR.MSR_K7_PERFCTR0 + i, BigInt(i));
    }
    cpu.retire({ instructions: 10 });
    for (let i = 0; i < 4; i++) assert.equal(cpu.rdpmc(i), BigInt(10 + i));
    assertGp(() => cpu.rdmsr(CTL(0)));
    assertGp(() => cpu.wrmsr(CTR(0), 0n));
    assertGp(() => cpu.rdpmc(4));
  });

  test('a model with fewer than four counters has no K7 MSRs for the missing ones', () => {
    const cpu = cpuOf(variant('amd-zen4', { gpCounters: 3 }));
    cpu.wrmsr(MSR.MSR_K7_EVNTSEL0 + 2, INSTRUCTIONS);
    assert.equal(cpu.rdmsr(MSR.MSR_K7_EVNTSEL0 + 2), INSTRUCTIONS);
    assertGp(() => cpu.rdmsr(MSR.MSR_K7_EVNTSEL0 + 3));
    assertGp(() => cpu.wrmsr(MSR.MSR_K7_PERFCTR0 + 3, 1n));
  });

  test('a six-counter model without PerfCtrExtCore still exposes only the four K7 counters', () => {
    const cpu = cpuOf(variant('amd-zen3', { perfCtrExtCore: false }));
    assertGp(() => cpu.rdpmc(4));
    assertGp(() => cpu.rdmsr(CTL(4)));
  });
});

describe('AMD PerfMonV2 global MSRs', () => {
  test('zen3: the global MSRs do not exist', () => {
    const cpu = cpuOf('amd-zen3');
    for (const msr of [GLOBAL_STATUS, GLOBAL_CTL, STATUS_CLR, STATUS_SET]) {
      assertGp(() => cpu.rdmsr(msr), `rdmsr 0x${msr.toString(16)}`);
      assertGp(() => cpu.wrmsr(msr, 0n), `wrmsr 0x${msr.toString(16)}`);
    }
  });

  test('zen3: counting needs only EN; overflow raises the PMI with no status register', () => {
    const cpu = cpuOf('amd-zen3');
    let pmis = 0;
    cpu.hostInterrupt = () => {
      pmis++;
      assert.equal(cpu.rdmsr(CTR(4)), 0n);
    };
    unmaskLvtpc(cpu);
    const read = program(cpu, 4, evtsel(0xc0, 0, ALL_INT), WRAP48 - 3n);
    cpu.retire({ instructions: 5 });
    assert.equal(read(), 2n);
    assert.equal(pmis, 1);
    assert.equal(cpu.pmu.globalStatus, 0n);
  });

  test('zen4: GLOBAL_CTL resets to every counter enabled and gates counting', () => {
    const cpu = cpuOf('amd-zen4');
    assert.equal(cpu.rdmsr(GLOBAL_CTL), 0x3fn);
    const read0 = program(cpu, 0, INSTRUCTIONS);
    const read5 = program(cpu, 5, INSTRUCTIONS);
    cpu.retire({ instructions: 10 });
    cpu.wrmsr(GLOBAL_CTL, 1n << 5n);
    cpu.retire({ instructions: 10 });
    cpu.wrmsr(GLOBAL_CTL, 0n);
    cpu.retire({ instructions: 10 });
    assert.equal(read0(), 10n);
    assert.equal(read5(), 20n);
    cpu.wrmsr(GLOBAL_CTL, 0x3fn);
    cpu.wrmsr(CTL(0), evtsel(0xc0, 0, EVTSEL.USR | EVTSEL.OS)); // EN clear
    cpu.retire({ instructions: 10 });
    assert.equal(read0(), 10n, 'GLOBAL_CTL does not replace EN');
    assert.equal(read5(), 30n);
  });

  test('zen4: bits of GLOBAL_CTL / STATUS_CLR / STATUS_SET beyond the counters are dropped', () => {
    const cpu = cpuOf('amd-zen4');
    cpu.wrmsr(GLOBAL_CTL, (1n << 64n) - 1n);
    assert.equal(cpu.rdmsr(GLOBAL_CTL), 0x3fn);
    cpu.wrmsr(STATUS_SET, (1n << 64n) - 1n);
    assert.equal(cpu.rdmsr(GLOBAL_STATUS), 0x3fn);
    cpu.wrmsr(STATUS_CLR, (1n << 64n) - 1n);
    assert.equal(cpu.rdmsr(GLOBAL_STATUS), 0n);
  });

  test('zen4: overflow sets GLOBAL_STATUS; STATUS ignores writes; CLR/SET clear/set and read 0', () => {
    const cpu = cpuOf('amd-zen4');
    const read = program(cpu, 3, evtsel(0xc2, 0, ALL), WRAP48 - 2n); // branches, no INT
    cpu.retire({ instructions: 10, branches: 2 });
    assert.equal(read(), 0n);
    assert.equal(cpu.rdmsr(GLOBAL_STATUS), 1n << 3n);
    // Read-only with writes ignored (the PPR's "RO" access type; KVM's
    // kvm_pmu_set_msr() says so for MSR_AMD64_PERF_CNTR_GLOBAL_STATUS): no #GP.
    cpu.wrmsr(GLOBAL_STATUS, 0n);
    cpu.wrmsr(GLOBAL_STATUS, 0b111n);
    assert.equal(cpu.rdmsr(GLOBAL_STATUS), 1n << 3n);
    cpu.wrmsr(STATUS_SET, 0b10n);
    assert.equal(cpu.rdmsr(GLOBAL_STATUS), (1n << 3n) | 0b10n);
    cpu.wrmsr(STATUS_CLR, 1n << 3n);
    assert.equal(cpu.rdmsr(GLOBAL_STATUS), 0b10n);
    assert.equal(cpu.rdmsr(STATUS_CLR), 0n);
    assert.equal(cpu.rdmsr(STATUS_SET), 0n);
  });
});

describe('AMD Host/GuestOnly', () => {
  for (const name of AMD_MODELS) {
    test(`${name}: HostOnly counts outside guest mode, GuestOnly inside, neither or both in both`, () => {
      const cpu = cpuOf(name);
      const host = program(cpu, 0, INSTRUCTIONS | EVTSEL.AMD_HOST_ONLY);
      const guest = program(cpu, 1, INSTRUCTIONS | EVTSEL.AMD_GUEST_ONLY);
      const neither = program(cpu, 2, INSTRUCTIONS);
      const both = program(cpu, 3, INSTRUCTIONS | EVTSEL.AMD_HOST_ONLY | EVTSEL.AMD_GUEST_ONLY);
      cpu.retire({ instructions: 100 });
      cpu.guestMode = true;
      cpu.retire({ instructions: 20, cpl: 3 });
      cpu.guestMode = false;
      cpu.retire({ instructions: 3, cpl: 3 });
      assert.deepEqual([host(), guest(), neither(), both()], [103n, 20n, 123n, 123n]);
    });
  }

  test('Host/GuestOnly combine with USR/OS', () => {
    const cpu = cpuOf('amd-zen4');
    const guestUser = program(
      cpu,
      0,
      evtsel(0xc0, 0, EVTSEL.USR, EVTSEL.EN, EVTSEL.AMD_GUEST_ONLY),
    );
    cpu.guestMode = true;
    cpu.retire({ instructions: 10, cpl: 0 });
    cpu.retire({ instructions: 7, cpl: 3 });
    cpu.guestMode = false;
    cpu.retire({ instructions: 5, cpl: 3 });
    assert.equal(guestUser(), 7n);
  });
});

describe('AMD events', () => {
  test('Zen encodings count their quantity; Intel-only encodings count 0', () => {
    const cpu = cpuOf('amd-zen4');
    const reads = [
      program(cpu, 0, evtsel(0x76, 0, ALL)),
      program(cpu, 1, evtsel(0xc0, 0, ALL)),
      program(cpu, 2, evtsel(0xc2, 0, ALL)),
      program(cpu, 3, evtsel(0xc3, 0, ALL)),
      program(cpu, 4, evtsel(0x3c, 0, ALL)), // Intel cycles
      program(cpu, 5, evtsel(0x2e, 0x4f, ALL)), // Intel LLC references
    ];
    cpu.retire({
      instructions: 1000,
      cycles: 800,
      branches: 100,
      branchMisses: 3,
      llcReferences: 9,
    });
    assert.deepEqual(
      reads.map((r) => r()),
      [800n, 1000n, 100n, 3n, 0n, 0n],
    );
  });

  test('LsDispatch 0x29: umask 1 loads, 2 stores, 4 load-op-stores (both), 3 loads+stores', () => {
    const cpu = cpuOf('amd-zen3');
    const reads = [1, 2, 4, 3, 0].map((umask, i) => program(cpu, i, evtsel(0x29, umask, ALL)));
    cpu.retire({ instructions: 10, loads: 4, stores: 3 });
    assert.deepEqual(
      reads.map((r) => r()),
      [4n, 3n, 7n, 7n, 0n],
    );
  });

  test('the event select is 12 bits: [35:32] above [7:0]', () => {
    const cpu = cpuOf('amd-zen4');
    const high = program(cpu, 0, evtsel(0x1c0, 0, ALL)); // not 0xC0
    const low = program(cpu, 1, evtsel(0x0c0, 0, ALL));
    cpu.retire({ instructions: 50 });
    assert.equal(high(), 0n);
    assert.equal(low(), 50n);
    assert.equal(cpu.rdmsr(CTL(0)) & EVTSEL.AMD_EVENT_HI, 1n << 32n, 'kept in PERF_CTL');
  });

  test('CMASK and INV apply on AMD too', () => {
    const cpu = cpuOf('amd-zen4');
    const cmask = program(cpu, 0, evtsel(0xc0, 0, ALL, 2n << 24n));
    const inv = program(cpu, 1, evtsel(0xc0, 0, ALL, EVTSEL.INV, 2n << 24n));
    cpu.retire({ instructions: 1000 });
    assert.ok(cmask() < 1000n);
    assert.equal(cmask(), 0n);
    assert.equal(inv(), 1000n);
  });
});
