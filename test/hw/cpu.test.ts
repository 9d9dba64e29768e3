import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import fc from '../common/fc.ts';

import { CPU_MODELS, CPU_MODEL_NAMES, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { cpuidOf, PhysicalCpu, type CpuidResult } from '../../src/hw/cpu.ts';
import { splitWork, type Work } from '../../src/hw/events.ts';
import type { InterruptDelivery } from '../../src/hw/lapic.ts';
import { EVTSEL, LVT, MSR } from '../../src/hw/msr.ts';
import {
  ALL,
  ALL_INT,
  AMD_MODELS,
  INTEL_MODELS,
  PMI_VECTOR,
  WRAP48,
  assertGp,
  cpuOf,
  evtsel,
  nmiLvtpc,
  unmaskLvtpc,
  variant,
} from './helpers.ts';

function vendorOf(r: CpuidResult): string {
  const bytes = (w: number) =>
    [0, 8, 16, 24].map((s) => String.fromCharCode((w >>> s) & 0xff)).join('');
  return bytes(r.ebx) + bytes(r.edx) + bytes(r.ecx);
}

describe('CPUID', () => {
  test('leaf 0: the vendor string in EBX, EDX, ECX', () => {
    for (const name of INTEL_MODELS)
      assert.equal(vendorOf(cpuOf(name).cpuid(0)), 'GenuineIntel', name);
    for (const name of AMD_MODELS)
      assert.equal(vendorOf(cpuOf(name).cpuid(0)), 'AuthenticAMD', name);
  });

  test('leaf 0 reports a maximum basic leaf that covers 0xA on Intel', () => {
    for (const name of INTEL_MODELS) assert.ok(cpuOf(name).cpuid(0).eax >= 0xa, name);
  });

  test('every register is an unsigned 32-bit value on every leaf', () => {
    for (const name of CPU_MODEL_NAMES) {
      for (const leaf of [0, 1, 0xa, 0x80000000, 0x80000001, 0x80000022]) {
        const r = cpuidOf(CPU_MODELS[name], leaf);
        for (const v of [r.eax, r.ebx, r.ecx, r.edx]) {
          assert.ok(
            Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff,
            `${name} leaf 0x${leaf.toString(16)}`,
          );
        }
      }
    }
  });

  // CPUID.0AH as the real parts return it (Haswell-EP: EAX=0x07300403 EDX=0x603;
  // v5 parts also set EDX[15], AnyThread deprecated, and enumerate ECX).
  const LEAF_A: Record<string, CpuidResult> = {
    'intel-haswell': { eax: 0x07300403, ebx: 0, ecx: 0, edx: 0x603 },
    'intel-skylake': { eax: 0x07300404, ebx: 0, ecx: 0, edx: 0x603 },
    'intel-icelake': { eax: 0x08300805, ebx: 0, ecx: 0xf, edx: 0x8604 },
    'intel-sapphire-rapids': { eax: 0x08300805, ebx: 0, ecx: 0xf, edx: 0x8604 },
    'intel-emerald-rapids': { eax: 0x08300805, ebx: 0, ecx: 0xf, edx: 0x8604 },
  };
  for (const name of INTEL_MODELS) {
    test(`${name}: leaf 0xA encodes version, counters, widths and events`, () => {
      const r = cpuOf(name).cpuid(0xa);
      assert.deepEqual(r, LEAF_A[name]);
      const m = CPU_MODELS[name];
      assert.equal(r.eax & 0xff, m.pmuVersion, 'EAX[7:0] version');
      assert.equal((r.eax >>> 8) & 0xff, m.gpCounters, 'EAX[15:8] GP counters');
      assert.equal((r.eax >>> 16) & 0xff, m.gpWidth, 'EAX[23:16] GP width');
      assert.equal(r.eax >>> 24, m.eventsLength, 'EAX[31:24] EBX length');
      assert.equal(r.ebx, m.unavailableEvents, 'EBX: set bits are unavailable events');
      assert.equal(r.edx & 0x1f, m.fixedCounters, 'EDX[4:0] fixed counters');
      assert.equal((r.edx >>> 5) & 0xff, m.fixedWidth, 'EDX[12:5] fixed width');
      assert.equal(
        ((r.edx >>> 15) & 1) === 1,
        m.pmuVersion >= 5,
        'EDX[15] AnyThread deprecated on v5',
      );
    });
  }

  test('Intel leaf 1 ECX[15] (PDCM): PERF_CAPABILITIES exists', () => {
    for (const name of INTEL_MODELS) assert.equal((cpuOf(name).cpuid(1).ecx >>> 15) & 1, 1, name);
  });

  test('v1 and v2 custom parts: no fixed-counter fields below v2, no ECX bitmap below v5', () => {
    const v1 = cpuidOf(variant('intel-haswell', { pmuVersion: 1 }), 0xa);
    assert.equal(v1.eax & 0xff, 1);
    assert.equal(v1.edx, 0, 'fixed counters are reported from v2 on');
    const v4 = cpuidOf(variant('intel-icelake', { pmuVersion: 4 }), 0xa);
    assert.equal(v4.ecx, 0, 'the fixed-counter bitmap is a v5 field');
    assert.equal(v4.edx & 0x1f, 4);
  });

  test('AMD has no leaf 0xA; Intel has no 0x80000022', () => {
    for (const name of AMD_MODELS)
      assert.deepEqual(cpuOf(name).cpuid(0xa), { eax: 0, ebx: 0, ecx: 0, edx: 0 });
    for (const name of INTEL_MODELS) {
      assert.deepEqual(cpuOf(name).cpuid(0x80000022), { eax: 0, ebx: 0, ecx: 0, edx: 0 });
    }
  });

  test('AMD: 0x80000001 ECX[23] PerfCtrExtCore, 0x80000022 EAX[0] PerfMonV2 and EBX[3:0] counters', () => {
    const want: Record<string, { ext: number; v2: number; n: number }> = {
      'amd-zen3': { ext: 1, v2: 0, n: 0 },
      'amd-zen4': { ext: 1, v2: 1, n: 6 },
    };
    for (const name of AMD_MODELS) {
      const cpu = cpuOf(name);
      assert.ok(cpu.cpuid(0x80000000).eax >= 0x80000022, 'max extended leaf');
      assert.equal((cpu.cpuid(0x80000001).ecx >>> 23) & 1, want[name]!.ext, name);
      const l = cpu.cpuid(0x80000022);
      assert.equal(l.eax & 1, want[name]!.v2, name);
      assert.equal(l.ebx & 0xf, want[name]!.n, name);
    }
    const legacy = cpuidOf(
      variant('amd-zen3', { perfCtrExtCore: false, gpCounters: 4 }),
      0x80000001,
    );
    assert.equal((legacy.ecx >>> 23) & 1, 0);
  });
});

describe('PMI delivery through LVTPC', () => {
  /** A CPU with GP counter 0 one instruction from the wrap, INT set. */
  function armed(name: CpuModelName) {
    const cpu = cpuOf(name);
    const deliveries: InterruptDelivery[] = [];
    const exits: InterruptDelivery[] = [];
    cpu.hostInterrupt = (d) => deliveries.push(d);
    const counter = name.startsWith('amd') ? MSR.MSR_F15H_PERF_CTR0 : MSR.IA32_PMC0;
    const select = name.startsWith('amd') ? MSR.MSR_F15H_PERF_CTL0 : MSR.IA32_PERFEVTSEL0;
    const rearm = () => cpu.wrmsr(counter, WRAP48 - 1n);
    rearm();
    cpu.wrmsr(select, evtsel(0xc0, 0, ALL_INT));
    return { cpu, deliveries, exits, rearm };
  }

  test('LVTPC resets masked', () => {
    for (const name of CPU_MODEL_NAMES) {
      assert.equal(cpuOf(name).rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.MASKED), name);
    }
  });

  for (const name of ['intel-sapphire-rapids', 'amd-zen4'] as const) {
    test(`${name}: masked LVTPC delivers nothing and counts it as masked; status still set`, () => {
      const { cpu, deliveries } = armed(name);
      cpu.retire({ instructions: 1 });
      assert.equal(deliveries.length, 0);
      assert.deepEqual(cpu.interruptsDelivered, { nmi: 0, vectored: 0, masked: 1 });
      assert.equal(cpu.pmu.globalStatus, 1n);
      assert.equal(cpu.lapic.inService, 0);
    });

    test(`${name}: fixed delivery carries the vector and needs an EOI`, () => {
      const { cpu, deliveries } = armed(name);
      unmaskLvtpc(cpu, 0xee);
      cpu.retire({ instructions: 1 });
      assert.deepEqual(deliveries, [{ nmi: false, vector: 0xee }]);
      assert.deepEqual(cpu.interruptsDelivered, { nmi: 0, vectored: 1, masked: 0 });
      assert.equal(cpu.lapic.inService, 1);
      cpu.wrmsr(MSR.X2APIC_EOI, 0n);
      assert.equal(cpu.lapic.inService, 0);
      assert.equal(cpu.lapic.eois, 1);
    });

    test(`${name}: NMI delivery is vector 2 and takes no EOI`, () => {
      const { cpu, deliveries } = armed(name);
      nmiLvtpc(cpu);
      cpu.retire({ instructions: 1 });
      assert.deepEqual(deliveries, [{ nmi: true, vector: 2 }]);
      assert.deepEqual(cpu.interruptsDelivered, { nmi: 1, vectored: 0, masked: 0 });
      assert.equal(cpu.lapic.inService, 0);
    });
  }

  test('Intel sets the LVTPC mask bit on delivery; the next PMI is masked until unmasked', () => {
    const { cpu, deliveries, rearm } = armed('intel-sapphire-rapids');
    unmaskLvtpc(cpu);
    cpu.retire({ instructions: 1 });
    assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.MASKED | PMI_VECTOR));
    rearm();
    cpu.retire({ instructions: 1 });
    assert.equal(deliveries.length, 1);
    assert.equal(cpu.interruptsDelivered.masked, 1);
    unmaskLvtpc(cpu);
    rearm();
    cpu.retire({ instructions: 1 });
    assert.equal(deliveries.length, 2);
  });

  test('Intel also masks on NMI delivery', () => {
    const { cpu } = armed('intel-haswell');
    nmiLvtpc(cpu);
    cpu.retire({ instructions: 1 });
    assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(LVT.MASKED | LVT.DM_NMI));
  });

  test('AMD does not set the mask bit: every overflow is delivered', () => {
    for (const name of AMD_MODELS) {
      const { cpu, deliveries, rearm } = armed(name);
      unmaskLvtpc(cpu);
      for (let k = 0; k < 3; k++) {
        cpu.retire({ instructions: 1 });
        rearm();
      }
      assert.equal(deliveries.length, 3, name);
      assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), BigInt(PMI_VECTOR), name);
    }
  });

  test('in guest mode a PMI exits to guestModeExit, never to the host handler', () => {
    const { cpu, deliveries, exits } = armed('intel-sapphire-rapids');
    cpu.guestModeExit = (d) => exits.push(d);
    unmaskLvtpc(cpu);
    cpu.guestMode = true;
    cpu.retire({ instructions: 1 });
    assert.deepEqual(exits, [{ nmi: false, vector: PMI_VECTOR }]);
    assert.equal(deliveries.length, 0);
  });

  test('guestModeExit is ignored outside guest mode; guest mode without it goes to the host', () => {
    const { cpu, deliveries, exits, rearm } = armed('amd-zen4');
    cpu.guestModeExit = (d) => exits.push(d);
    unmaskLvtpc(cpu);
    cpu.retire({ instructions: 1 });
    assert.equal(deliveries.length, 1);
    assert.equal(exits.length, 0);
    cpu.guestModeExit = null;
    cpu.guestMode = true;
    rearm();
    cpu.retire({ instructions: 1 });
    assert.equal(deliveries.length, 2);
  });

  test('x2APIC EOI: a non-zero write #GPs; EOI is write-only; EOIs are counted', () => {
    const cpu = cpuOf('intel-icelake');
    assertGp(() => cpu.wrmsr(MSR.X2APIC_EOI, 1n));
    assertGp(() => cpu.rdmsr(MSR.X2APIC_EOI));
    cpu.wrmsr(MSR.X2APIC_EOI, 0n);
    cpu.wrmsr(MSR.X2APIC_EOI, 0n);
    assert.equal(cpu.lapic.eois, 2);
    assert.equal(cpu.lapic.inService, 0, 'never below zero');
  });

  test('LVTPC writes: bits above 31 #GP; only vector, delivery mode and mask are kept', () => {
    const cpu = cpuOf('intel-skylake');
    assertGp(() => cpu.wrmsr(MSR.X2APIC_LVTPC, 1n << 32n));
    cpu.wrmsr(MSR.X2APIC_LVTPC, 0xffff_ffffn);
    assert.equal(
      cpu.rdmsr(MSR.X2APIC_LVTPC),
      BigInt(LVT.VECTOR | LVT.DELIVERY_MODE_MASK | LVT.MASKED),
    );
    cpu.wrmsr(MSR.X2APIC_LVTPC, BigInt(0x1000 | 0x42)); // delivery status is read-only
    assert.equal(cpu.rdmsr(MSR.X2APIC_LVTPC), 0x42n);
  });

  test('a handler may retire work and reprogram; the rest of the block is counted after it', () => {
    const cpu = cpuOf('intel-sapphire-rapids');
    unmaskLvtpc(cpu);
    cpu.wrmsr(MSR.IA32_PMC0, WRAP48 - 100n);
    cpu.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, ALL_INT));
    cpu.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, evtsel(0xc0, 0, ALL));
    let seen = -1n;
    cpu.hostInterrupt = () => {
      seen = cpu.rdmsr(MSR.IA32_PMC0 + 1);
      cpu.retire({ instructions: 7 }); // the handler's own instructions
      cpu.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, 0n); // stop counter 1
      unmaskLvtpc(cpu);
    };
    cpu.retire({ instructions: 1000 });
    assert.equal(seen, 100n, 'counter 1 had counted exactly to the overflow point');
    assert.equal(cpu.rdmsr(MSR.IA32_PMC0 + 1), 107n, 'plus the handler, then stopped');
    assert.equal(
      cpu.rdmsr(MSR.IA32_PMC0),
      907n,
      'counter 0: the rest of the block plus the handler',
    );
  });
});

describe('MSR dispatch', () => {
  test('unknown MSRs #GP on every part; the other vendor’s PMU MSRs #GP', () => {
    for (const name of INTEL_MODELS) {
      const cpu = cpuOf(name);
      for (const msr of [
        0,
        0x10,
        MSR.MSR_K7_EVNTSEL0,
        MSR.MSR_F15H_PERF_CTL0,
        MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL,
      ]) {
        assertGp(() => cpu.rdmsr(msr), `${name} 0x${msr.toString(16)}`);
        assertGp(() => cpu.wrmsr(msr, 0n), `${name} 0x${msr.toString(16)}`);
      }
    }
    for (const name of AMD_MODELS) {
      const cpu = cpuOf(name);
      for (const msr of [
        MSR.IA32_PERFCTR0,
        MSR.IA32_PMC0,
        MSR.IA32_PERFEVTSEL0,
        MSR.IA32_FIXED_CTR0,
        MSR.IA32_PERF_CAPABILITIES,
        MSR.IA32_PERF_GLOBAL_CTRL,
      ]) {
        assertGp(() => cpu.rdmsr(msr), `${name} 0x${msr.toString(16)}`);
        assertGp(() => cpu.wrmsr(msr, 0n), `${name} 0x${msr.toString(16)}`);
      }
    }
  });
});

describe('time', () => {
  test('retiring advances the TSC by the reference cycles; nowNs converts at the TSC rate', () => {
    const cpu = cpuOf('intel-sapphire-rapids');
    cpu.retire({ instructions: 1000, cycles: 3000, refCycles: 2000 });
    assert.equal(cpu.tsc, 2000);
    cpu.retire({ instructions: 500 }); // refCycles = cycles = instructions
    assert.equal(cpu.tsc, 2500);
    cpu.stall(1500);
    assert.equal(cpu.tsc, 4000);
    assert.equal(cpu.nowNs, (4000 / 2e9) * 1e9);
  });

  test('LLC misses feed the uncore read counter', () => {
    const cpu = cpuOf('amd-zen4');
    cpu.retire({ instructions: 10, llcMisses: 4 });
    cpu.guestMode = true;
    cpu.retire({ instructions: 10, llcMisses: 5 });
    assert.equal(cpu.uncoreDataReads, 9);
  });

  test('retireUntil stops at the deadline and returns the rest, counted exactly', () => {
    const workArb = fc.record({
      instructions: fc.integer({ min: 0, max: 1e9 }),
      cycles: fc.integer({ min: 1, max: 1e9 }),
      branches: fc.integer({ min: 0, max: 1e8 }),
      cpl: fc.constantFrom<0 | 3>(0, 3),
    });
    fc.assert(
      fc.property(workArb, fc.integer({ min: -1000, max: 2e9 }), (work: Work, deadlineCycles) => {
        const cpu = cpuOf('intel-sapphire-rapids');
        cpu.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, ALL));
        cpu.wrmsr(MSR.IA32_PERFEVTSEL0 + 1, evtsel(0xc4, 0, ALL));
        cpu.wrmsr(MSR.IA32_PERFEVTSEL0 + 2, evtsel(0x3c, 1, ALL));
        cpu.stall(1000);
        const deadlineNs = ((1000 + deadlineCycles) / cpu.model.tscHz) * 1e9;
        const rest = cpu.retireUntil(work, deadlineNs);
        const whole = work.cycles!;
        if (rest === null) {
          assert.ok(
            deadlineCycles >= whole - 1,
            'all retired only when the deadline is not before the end',
          );
          assert.equal(cpu.tsc, 1000 + whole);
        } else {
          assert.ok(deadlineCycles < whole + 1);
          assert.equal(rest.cpl, work.cpl);
          // The part retired ends at the deadline (within a cycle of rounding).
          assert.ok(Math.abs(cpu.tsc - Math.max(1000, 1000 + deadlineCycles)) <= 1);
          cpu.retire(rest);
        }
        assert.equal(cpu.tsc, 1000 + whole, 'head + rest = the whole block');
        assert.equal(cpu.rdmsr(MSR.IA32_PMC0), BigInt(work.instructions));
        assert.equal(cpu.rdmsr(MSR.IA32_PMC0 + 1), BigInt(work.branches!));
        assert.equal(cpu.rdmsr(MSR.IA32_PMC0 + 2), BigInt(whole));
      }),
      { numRuns: 200 },
    );
  });

  test('retireUntil with no deadline retires everything', () => {
    const cpu = cpuOf('amd-zen3');
    assert.equal(cpu.retireUntil({ instructions: 10 }, Infinity), null);
    assert.equal(cpu.tsc, 10);
  });

  test('splitWork pieces retire the same counts as the whole, whatever the fractions', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 1e10 }),
        fc.array(fc.double({ min: 0, max: 1, noNaN: true }), { maxLength: 6 }),
        (n, fractions) => {
          const a = cpuOf('amd-zen4');
          const b = cpuOf('amd-zen4');
          for (const cpu of [a, b]) cpu.wrmsr(MSR.MSR_F15H_PERF_CTL0, evtsel(0xc0, 0, ALL));
          const work: Work = { instructions: n, cycles: Math.floor(n / 2), cpl: 3 };
          a.retire(work);
          let rest = work;
          for (const f of fractions) {
            const [head, tail] = splitWork(rest, f);
            b.retire(head);
            rest = tail;
          }
          b.retire(rest);
          assert.equal(b.rdmsr(MSR.MSR_F15H_PERF_CTR0), a.rdmsr(MSR.MSR_F15H_PERF_CTR0));
          assert.equal(b.tsc, a.tsc);
        },
      ),
      { numRuns: 100 },
    );
  });
});

describe('switchGlobalCtrl (VMCS GLOBAL_CTRL load/save)', () => {
  test('swaps GLOBAL_CTRL and returns the old value; the new value gates counting', () => {
    const cpu = cpuOf('intel-sapphire-rapids');
    cpu.wrmsr(MSR.IA32_PERFEVTSEL0, evtsel(0xc0, 0, ALL));
    assert.equal(cpu.switchGlobalCtrl(0n), 0xffn);
    cpu.retire({ instructions: 10 });
    assert.equal(cpu.rdmsr(MSR.IA32_PMC0), 0n);
    assert.equal(cpu.switchGlobalCtrl(1n), 0n);
    cpu.retire({ instructions: 10 });
    assert.equal(cpu.rdmsr(MSR.IA32_PMC0), 10n);
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), 1n);
  });

  test('reserved bits fault as a WRMSR would', () => {
    const cpu = cpuOf('intel-skylake');
    assertGp(() => cpu.switchGlobalCtrl(1n << 63n));
    assert.equal(cpu.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), 0xfn);
  });
});

describe('EN alone vs USR/OS', () => {
  test('EN without USR or OS counts nothing on either vendor', () => {
    for (const name of ['intel-haswell', 'amd-zen3'] as const) {
      const cpu = cpuOf(name);
      const sel = name.startsWith('amd') ? MSR.MSR_K7_EVNTSEL0 : MSR.IA32_PERFEVTSEL0;
      cpu.wrmsr(sel, evtsel(0xc0, 0, EVTSEL.EN));
      cpu.retire({ instructions: 10, cpl: 3 });
      cpu.retire({ instructions: 10, cpl: 0 });
      assert.equal(cpu.rdpmc(0), 0n, name);
    }
  });
});

describe('WRMSR with a number value', () => {
  // wrmsrNumber is the same instruction as wrmsr with BigInt(value): the
  // bigint write is the reference, for counters (where the number path is
  // taken) and for the registers it hands on to the bigint write.
  const msrsOf = (name: CpuModelName): number[] => {
    const m = CPU_MODELS[name];
    if (m.vendor === 'amd')
      return [MSR.MSR_K7_PERFCTR0, MSR.MSR_F15H_PERF_CTR0 + 2, MSR.MSR_K7_EVNTSEL0];
    return [
      MSR.IA32_PERFCTR0,
      MSR.IA32_PMC0 + 1,
      MSR.IA32_FIXED_CTR0,
      MSR.IA32_PERFEVTSEL0,
      MSR.IA32_PERF_GLOBAL_CTRL,
      MSR.X2APIC_LVTPC,
    ];
  };
  const outcome = (cpu: ReturnType<typeof cpuOf>, msr: number, write: () => void) => {
    let fault = '';
    try {
      write();
    } catch (error) {
      fault = (error as Error).message;
    }
    return { fault, read: cpu.rdmsr(msr), counts: [...cpu.accessCounts], tsc: cpu.tsc };
  };

  test('leaves the state, price and fault of the bigint write', () => {
    fc.assert(
      fc.property(
        fc.constantFrom<CpuModelName>(...INTEL_MODELS, ...AMD_MODELS),
        fc.nat(5),
        fc.oneof(
          fc.maxSafeNat(),
          fc.nat(2 ** 32 + 5),
          fc.constant(2 ** 48 - 1),
          fc.constant(2 ** 48),
        ),
        (name, pick, value) => {
          const msrs = msrsOf(name);
          const msr = msrs[pick % msrs.length]!;
          const byBigint = cpuOf(name);
          const byNumber = cpuOf(name);
          for (const cpu of [byBigint, byNumber]) cpu.accessCycles.fill(7);
          assert.deepEqual(
            outcome(byNumber, msr, () => byNumber.wrmsrNumber(msr, value)),
            outcome(byBigint, msr, () => byBigint.wrmsr(msr, BigInt(value))),
          );
        },
      ),
    );
  });
});

describe('CPUID.7.0:EBX TSX bits and IA32_TSX_CTRL', () => {
  // SDM vol. 2A CPUID leaf 7: EBX bit 4 HLE, bit 11 RTM. tsx.c's tsx_disable
  // sets TSX_CTRL_CPUID_CLEAR, after which neither is enumerated.
  const HLE = 1 << 4;
  const RTM = 1 << 11;
  for (const [name, model] of Object.entries(CPU_MODELS)) {
    test(`${name}: HLE and RTM enumerated iff the part has TSX; tsx_disable clears them where TSX_CTRL exists`, () => {
      const cpu = new PhysicalCpu(0, model);
      const ebx = cpu.cpuid(7, 0).ebx;
      assert.equal(ebx & (HLE | RTM), model.tsx ? HLE | RTM : 0);
      if (model.tsxCtrl) {
        cpu.disableTsx();
        assert.equal(cpu.cpuid(7, 0).ebx & (HLE | RTM), 0);
      } else {
        assert.throws(() => cpu.disableTsx(), /TSX_CTRL/);
        assert.equal(cpu.cpuid(7, 0).ebx, ebx);
      }
    });
  }
});
