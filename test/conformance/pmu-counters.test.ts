/**
 * KVM selftests x86/pmu_counters_test.c, ported to the model's public API.
 *
 * Upstream is Intel-only (TEST_REQUIRE(host_cpu_is_intel)): test_arch_events,
 * test_gp_counters and test_fixed_counters over PMU versions 0-5 and
 * PERF_CAPABILITIES {0, FW_WRITES}, with the guest code (guest_test_arch_event,
 * guest_rd_wr_counters, guest_test_gp_counters, guest_test_fixed_counters)
 * kept as close to the C as the API allows. The AMD cases at the end are the
 * same access rules for AMD's core counters (svm/pmu.c), which upstream's
 * test does not cover.
 *
 * Differences from the C:
 * - GUEST_MEASURE_EVENT's asm is Work: NUM_LOOPS iterations of ENTER,
 *   CLFLUSH, MFENCE, MOV, LEAVE, LOOP plus 2 MOV and 2 XOR; the WRMSR
 *   counted inside the window is the model's own (wrmsr() retires one
 *   instruction, by the hardware or by KVM's kvm_skip_emulated_instruction). The KVM_FEP
 *   variant (is_forced_emulation_enabled) emulates ENTER, LEAVE, LOOP and the
 *   trailing MOV/XORs with execEmulated().
 * - CPUID.0xA EAX[31:24] (the event bit-vector length) cannot be set through
 *   GuestPmuConfig, so the length dimension of test_arch_events is not
 *   ported; the unavailable-events mask is, sampled (every single bit, 0,
 *   all ones and a fixed pseudo-random set) rather than all 2^13 masks.
 * - this_cpu_has(X86_FEATURE_PDCM): the model's CPUID.1 is empty, so the
 *   guest probes IA32_PERF_CAPABILITIES with rdmsr_safe (KVM gives PDCM
 *   exactly with a vPMU).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { MSR, type GuestCpu, type Host } from '../../src/index.ts';
import {
  AMD_CONFIGS,
  EVENTSEL,
  FIXED_PMC_KERNEL,
  GP_VECTOR,
  INTEL_CONFIGS,
  INTEL_RDPMC_FAST,
  INTEL_RDPMC_FIXED,
  MSR_P6_EVNTSEL0,
  MSR_P6_PERFCTR0,
  MSR_P6_PERFCTR1,
  PMU_CAP_FW_WRITES,
  faultVector,
  fixedPmcCtrl,
  fixedPmcGlobalCtrlEnable,
  genmask,
  hostFor,
  rawEvent,
  rdmsrSafe,
  rdpmcSafe,
  vmFor,
  wrmsrSafe,
  type Config,
} from './helpers.ts';

/* Number of iterations of the loop for the guest measurement payload. */
const NUM_LOOPS = 10;
/* Each iteration of the loop retires one branch instruction. */
const NUM_BRANCH_INSNS_RETIRED = NUM_LOOPS;
/* Number of instructions in each loop. 1 ENTER, 1 CLFLUSH/CLFLUSHOPT/NOP, 1 MFENCE, 1 MOV, 1 LEAVE, 1 LOOP. */
const NUM_INSNS_PER_LOOP = 6;
/* 2 MOV, 2 XOR, 1 WRMSR. */
const NUM_EXTRA_INSNS = 5;
const NUM_INSNS_RETIRED = NUM_LOOPS * NUM_INSNS_PER_LOOP + NUM_EXTRA_INSNS;

const MAX_NR_GP_COUNTERS = 8;
const MAX_NR_FIXED_COUNTERS = 3;

/* enum intel_pmu_architectural_events and intel_pmu_arch_events[] (lib/x86/pmu.c). */
const INTEL_ARCH_EVENTS: readonly { name: string; event: bigint; fixed: number }[] = [
  { name: 'cpu cycles', event: rawEvent(0x3c, 0x00), fixed: 1 },
  { name: 'instructions retired', event: rawEvent(0xc0, 0x00), fixed: 0 },
  { name: 'reference cycles', event: rawEvent(0x3c, 0x01), fixed: 2 },
  { name: 'llc references', event: rawEvent(0x2e, 0x4f), fixed: -1 },
  { name: 'llc misses', event: rawEvent(0x2e, 0x41), fixed: -1 },
  { name: 'branches retired', event: rawEvent(0xc4, 0x00), fixed: -1 },
  { name: 'branches mispredicted', event: rawEvent(0xc5, 0x00), fixed: -1 },
  { name: 'topdown slots', event: rawEvent(0xa4, 0x01), fixed: 3 },
  { name: 'topdown be bound', event: rawEvent(0xa4, 0x02), fixed: -1 },
  { name: 'topdown bad spec', event: rawEvent(0x73, 0x00), fixed: -1 },
  { name: 'topdown fe bound', event: rawEvent(0x9c, 0x01), fixed: -1 },
  { name: 'topdown retiring', event: rawEvent(0xc2, 0x02), fixed: -1 },
  { name: 'lbr inserts', event: rawEvent(0xe4, 0x01), fixed: -1 },
];
const NR_INTEL_ARCH_EVENTS = INTEL_ARCH_EVENTS.length;
const enum Idx {
  CPU_CYCLES = 0,
  INSTRUCTIONS_RETIRED = 1,
  REFERENCE_CYCLES = 2,
  LLC_REFERENCES = 3,
  LLC_MISSES = 4,
  BRANCHES_RETIRED = 5,
  TOPDOWN_SLOTS = 7,
  TOPDOWN_BE_BOUND = 8,
  TOPDOWN_FE_BOUND = 10,
  TOPDOWN_RETIRING = 11,
}

/** What the host side syncs into the guest (sync_global_to_guest). */
interface Globals {
  kvmPmuVersion: number;
  hardwarePmuArchEvents: number;
  forcedEmulation: boolean;
}

/** KVM's supported PMU (kvm_cpu_property): the CPUID 0xA of a vCPU created with the defaults. */
function kvmCpuProperties(
  host: Host,
  c: Config,
): { version: number; nrGp: number; nrFixed: number } {
  const vm = vmFor(host, c);
  const a = vm.createVcpu().run((g) => g.cpuid(0xa));
  vm.destroy();
  return { version: a.eax & 0xff, nrGp: (a.eax >>> 8) & 0xff, nrFixed: a.edx & 0x1f };
}

/** this_pmu_has(gp_event) on the host: the architectural events the hardware enumerates. */
function hardwarePmuArchEvents(host: Host): number {
  let events = 0;
  for (let i = 0; i < NR_INTEL_ARCH_EVENTS; i++) {
    if (i < host.model.eventsLength && !((host.model.unavailableEvents >>> i) & 1))
      events |= 1 << i;
  }
  return events;
}

/** pmu_vm_create_with_one_vcpu + run_vcpu: a VM whose guest PMU has this version and PERF_CAPABILITIES. */
function runGuest(
  host: Host,
  c: Config,
  pmu: { version: number; perfCapabilities: bigint } & Record<string, number | bigint>,
  guestCode: (g: GuestCpu) => void,
): void {
  const vm = vmFor(host, c);
  try {
    vm.createVcpu({ pmu }).run(guestCode);
  } finally {
    vm.destroy();
  }
}

function guestGetPmuVersion(g: GuestCpu, G: Globals): number {
  return Math.min(G.kvmPmuVersion, g.cpuid(0xa).eax & 0xff);
}

/** this_cpu_has(X86_FEATURE_PDCM) && rdmsr(MSR_IA32_PERF_CAPABILITIES) & PMU_CAP_FW_WRITES. */
function guestHasFwWrites(g: GuestCpu): boolean {
  const caps = rdmsrSafe(g, MSR.IA32_PERF_CAPABILITIES);
  return caps.vector === 0 && (caps.value & PMU_CAP_FW_WRITES) !== 0n;
}

/** this_pmu_has(fixed_event): counter i is below CPUID.0xA EDX[4:0] or set in ECX. */
function guestHasFixedCounter(g: GuestCpu, i: number): boolean {
  const a = g.cpuid(0xa);
  return (a.edx & 0x1f) > i || ((a.ecx >>> i) & 1) === 1;
}

/** GUEST_MEASURE_EVENT(_msr, _value, clflush, FEP). */
function guestMeasureEvent(g: GuestCpu, ctrlMsr: number, value: bigint, fep: boolean): void {
  g.wrmsr(ctrlMsr, value);
  g.exec({ instructions: 1 }); // mov $NUM_LOOPS, %ecx
  if (!fep) {
    // NUM_LOOPS x (enter, clflush, mfence, mov, leave, loop), then mov, xor, xor.
    g.exec({
      instructions: NUM_LOOPS * NUM_INSNS_PER_LOOP + 3,
      branches: NUM_LOOPS,
      llcReferences: NUM_LOOPS,
      llcMisses: NUM_LOOPS,
      loads: NUM_LOOPS,
    });
  } else {
    for (let i = 0; i < NUM_LOOPS; i++) {
      g.execEmulated({ instructions: 1 }); // KVM_FEP enter $0, $0
      g.exec({ instructions: 3, llcReferences: 1, llcMisses: 1, loads: 1 }); // clflush, mfence, mov
      g.execEmulated({ instructions: 1 }); // KVM_FEP leave
      g.execEmulated({ instructions: 1, branches: 1 }); // KVM_FEP loop 1b
    }
    g.execEmulated({ instructions: 3 }); // KVM_FEP mov %edi, %ecx; xor; xor
  }
  // The window's one WRMSR ("1 WRMSR" of NUM_EXTRA_INSNS) is the model's own:
  // every guest instruction retires exactly once (kvm_skip_emulated_instruction).
  g.wrmsr(ctrlMsr, 0n);
}

/** guest_assert_event_count. */
function guestAssertEventCount(
  g: GuestCpu,
  G: Globals,
  idx: Idx,
  pmc: number,
  pmcMsr: number,
  what: string,
): void {
  const count = g.rdpmc(pmc);
  if (G.hardwarePmuArchEvents & (1 << idx)) {
    switch (idx) {
      case Idx.INSTRUCTIONS_RETIRED:
        assert.equal(count, BigInt(NUM_INSNS_RETIRED), what);
        break;
      case Idx.BRANCHES_RETIRED:
        assert.equal(count, BigInt(NUM_BRANCH_INSNS_RETIRED), what);
        break;
      case Idx.LLC_REFERENCES:
      case Idx.LLC_MISSES:
      case Idx.CPU_CYCLES:
      case Idx.REFERENCE_CYCLES:
      case Idx.TOPDOWN_BE_BOUND:
      case Idx.TOPDOWN_FE_BOUND:
        assert.notEqual(count, 0n, what);
        break;
      case Idx.TOPDOWN_SLOTS:
      case Idx.TOPDOWN_RETIRING:
        assert.ok(
          count >= BigInt(NUM_INSNS_RETIRED),
          `${what}: expected top-down slots >= ${NUM_INSNS_RETIRED}, got ${count}`,
        );
        break;
      default:
        break;
    }
  }
  // sanity_checks: the disabled counter does not count, and KVM emulates the write.
  g.exec({ instructions: NUM_LOOPS, branches: NUM_LOOPS }); // loop .
  assert.equal(g.rdpmc(pmc), count, `${what}: counted while disabled`);
  g.wrmsr(pmcMsr, 0xdeadn);
  assert.equal(g.rdpmc(pmc), 0xdeadn, `${what}: write of 0xdead`);
}

/** GUEST_TEST_EVENT + __guest_test_arch_event. */
function guestTestArchEventOn(
  g: GuestCpu,
  G: Globals,
  idx: number,
  pmc: number,
  pmcMsr: number,
  ctrlMsr: number,
  value: bigint,
  what: string,
): void {
  for (const fep of G.forcedEmulation ? [false, true] : [false]) {
    g.wrmsr(pmcMsr, 0n);
    guestMeasureEvent(g, ctrlMsr, value, fep);
    guestAssertEventCount(g, G, idx, pmc, pmcMsr, `${what}${fep ? ' (KVM_FEP)' : ''}`);
  }
}

/** guest_test_arch_event. */
function guestTestArchEvent(g: GuestCpu, G: Globals, idx: Idx): void {
  const nrGpCounters = (g.cpuid(0xa).eax >>> 8) & 0xff;
  const pmuVersion = guestGetPmuVersion(g, G);
  /* PERF_GLOBAL_CTRL exists only for Architectural PMU Version 2+. */
  const guestHasPerfGlobalCtrl = pmuVersion >= 2;
  /* The host side shouldn't invoke this without a guest PMU. */
  assert.ok(pmuVersion, 'guest PMU version');
  const basePmcMsr = guestHasFwWrites(g) ? MSR.IA32_PMC0 : MSR.IA32_PERFCTR0;
  assert.ok(nrGpCounters, 'GP counters');
  const e = INTEL_ARCH_EVENTS[idx]!;
  for (let i = 0; i < nrGpCounters; i++) {
    const eventsel = EVENTSEL.OS | EVENTSEL.ENABLE | e.event;
    g.wrmsr(MSR_P6_EVNTSEL0 + i, 0n);
    if (guestHasPerfGlobalCtrl) g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n << BigInt(i));
    guestTestArchEventOn(
      g,
      G,
      idx,
      i,
      basePmcMsr + i,
      MSR_P6_EVNTSEL0 + i,
      eventsel,
      `${e.name} on GP ${i}`,
    );
  }
  if (!guestHasPerfGlobalCtrl) return;
  if (e.fixed < 0 || !guestHasFixedCounter(g, e.fixed)) return;
  const i = e.fixed;
  g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, fixedPmcCtrl(i, FIXED_PMC_KERNEL));
  guestTestArchEventOn(
    g,
    G,
    idx,
    (i | INTEL_RDPMC_FIXED) >>> 0,
    MSR.IA32_FIXED_CTR0 + i,
    MSR.IA32_PERF_GLOBAL_CTRL,
    fixedPmcGlobalCtrlEnable(i),
    `${e.name} on fixed ${i}`,
  );
}

function guestTestArchEvents(g: GuestCpu, G: Globals): void {
  for (let i = 0; i < NR_INTEL_ARCH_EVENTS; i++) guestTestArchEvent(g, G, i);
}

/** guest_test_rdpmc (rdpmc_safe; the _fep variant goes through the same KVM path in the model). */
function guestTestRdpmc(
  g: GuestCpu,
  rdpmcIdx: number,
  expectSuccess: boolean,
  expectedVal: bigint,
): void {
  const { vector, value } = rdpmcSafe(g, rdpmcIdx);
  assert.equal(vector, expectSuccess ? 0 : GP_VECTOR, `RDPMC(0x${rdpmcIdx.toString(16)}): vector`);
  if (expectSuccess) assert.equal(value, expectedVal, `RDPMC(0x${rdpmcIdx.toString(16)}) value`);
}

/** guest_rd_wr_counters. */
function guestRdWrCounters(
  g: GuestCpu,
  G: Globals,
  baseMsr: number,
  nrPossibleCounters: number,
  nrCounters: number,
  orMask: number,
): void {
  const pmuHasFastMode = !guestGetPmuVersion(g, G);
  for (let i = 0; i < nrPossibleCounters; i++) {
    const testVal = 0xffffn;
    const msr = baseMsr + i;
    /*
     * Fixed counters are supported if the counter is less than the number of
     * enumerated contiguous counters *or* the counter is explicitly
     * enumerated in the supported counters mask.
     */
    const expectSuccess = i < nrCounters || ((orMask >>> i) & 1) === 1;
    /* KVM drops writes to MSR_P6_PERFCTR[0|1] if the counters are unsupported. */
    const expectedVal = expectSuccess ? testVal : 0n;
    const expectGp = !expectSuccess && msr !== MSR_P6_PERFCTR0 && msr !== MSR_P6_PERFCTR1;
    const gp = expectGp ? GP_VECTOR : 0;
    const where = `MSR 0x${msr.toString(16)}`;

    assert.equal(wrmsrSafe(g, msr, testVal), gp, `WRMSR(${where})`);
    const rd = rdmsrSafe(g, msr);
    assert.equal(rd.vector, gp, `RDMSR(${where})`);
    /* On #GP, the result of RDMSR is undefined. */
    if (!expectGp) assert.equal(rd.value, expectedVal, `RDMSR(${where}) value`);

    let rdpmcIdx = i;
    if (baseMsr === MSR.IA32_FIXED_CTR0) rdpmcIdx = (rdpmcIdx | INTEL_RDPMC_FIXED) >>> 0;
    guestTestRdpmc(g, rdpmcIdx, expectSuccess, expectedVal);

    /* KVM doesn't support non-architectural PMUs: fast mode RDPMC always #GPs. */
    assert.ok(!expectSuccess || !pmuHasFastMode);
    guestTestRdpmc(g, (rdpmcIdx | INTEL_RDPMC_FAST) >>> 0, false, 0n);

    assert.equal(wrmsrSafe(g, msr, 0n), gp, `WRMSR(${where}, 0)`);
  }
}

/** guest_test_gp_counters. */
function guestTestGpCounters(g: GuestCpu, G: Globals): void {
  const pmuVersion = guestGetPmuVersion(g, G);
  const nrGpCounters = pmuVersion ? (g.cpuid(0xa).eax >>> 8) & 0xff : 0;
  /*
   * For v2+ PMUs, PERF_GLOBAL_CTRL's architectural post-RESET value is "Sets
   * bits n-1:0 and clears the upper bits"; with no GP counters it stays 0.
   */
  if (pmuVersion > 1) {
    const globalCtrl = g.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL);
    assert.equal(
      globalCtrl,
      nrGpCounters ? genmask(nrGpCounters - 1, 0) : 0n,
      'GLOBAL_CTRL after RESET',
    );
  }
  const baseMsr = guestHasFwWrites(g) ? MSR.IA32_PMC0 : MSR.IA32_PERFCTR0;
  guestRdWrCounters(g, G, baseMsr, MAX_NR_GP_COUNTERS, nrGpCounters, 0);
}

/** guest_test_fixed_counters. */
function guestTestFixedCounters(g: GuestCpu, G: Globals): void {
  const version = guestGetPmuVersion(g, G);
  const a = g.cpuid(0xa);
  /* Fixed counters require Architectural vPMU Version 2+. */
  const nrFixedCounters = version >= 2 ? a.edx & 0x1f : 0;
  /* The supported bitmask for fixed counters was introduced in PMU version 5. */
  const supportedBitmask = version >= 5 ? a.ecx : 0;
  guestRdWrCounters(
    g,
    G,
    MSR.IA32_FIXED_CTR0,
    MAX_NR_FIXED_COUNTERS,
    nrFixedCounters,
    supportedBitmask,
  );
  for (let i = 0; i < MAX_NR_FIXED_COUNTERS; i++) {
    if (i >= nrFixedCounters && !((supportedBitmask >>> i) & 1)) {
      assert.equal(
        wrmsrSafe(g, MSR.IA32_FIXED_CTR_CTRL, fixedPmcCtrl(i, FIXED_PMC_KERNEL)),
        GP_VECTOR,
        `Expected #GP for counter ${i} in FIXED_CTR_CTRL`,
      );
      assert.equal(
        wrmsrSafe(g, MSR.IA32_PERF_GLOBAL_CTRL, fixedPmcGlobalCtrlEnable(i)),
        GP_VECTOR,
        `Expected #GP for counter ${i} in PERF_GLOBAL_CTRL`,
      );
      continue;
    }
    g.wrmsr(MSR.IA32_FIXED_CTR0 + i, 0n);
    g.wrmsr(MSR.IA32_FIXED_CTR_CTRL, fixedPmcCtrl(i, FIXED_PMC_KERNEL));
    g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, fixedPmcGlobalCtrlEnable(i));
    g.exec({ instructions: NUM_LOOPS, branches: NUM_LOOPS }); // loop .
    g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
    assert.notEqual(g.rdmsr(MSR.IA32_FIXED_CTR0 + i), 0n, `fixed counter ${i} counted`);
  }
}

/** A fixed sample of the 2^13 - 2 multi-event masks test_intel_counters sweeps at the native version. */
function sampledMasks(n: number): number[] {
  const out: number[] = [];
  let x = 0x2545f491;
  while (out.length < n) {
    x = (Math.imul(x, 1103515245) + 12345) >>> 0;
    const k = (x >>> 8) & ((1 << NR_INTEL_ARCH_EVENTS) - 1);
    if (k !== 0 && k !== (1 << NR_INTEL_ARCH_EVENTS) - 1) out.push(k);
  }
  return out;
}

const PERF_CAPS: readonly bigint[] = [0n, PMU_CAP_FW_WRITES];
/* Test up to PMU v5, the last version guaranteed to be backwards compatible with KVM's behavior. */
const MAX_PMU_VERSION = 5;

for (const c of INTEL_CONFIGS) {
  describe(`KVM selftest x86/pmu_counters_test on ${c.label}`, () => {
    const host = hostFor(c);
    const kvm = kvmCpuProperties(host, c);
    const G: Globals = {
      kvmPmuVersion: kvm.version,
      hardwarePmuArchEvents: hardwarePmuArchEvents(host),
      forcedEmulation: false,
    };

    it('KVM enumerates PMU version 2 with the host counters, capped (kvm_init_pmu_capability)', () => {
      assert.equal(kvm.version, 2);
      assert.equal(kvm.nrGp, Math.min(host.model.gpCounters, 8));
      assert.equal(kvm.nrFixed, Math.min(host.model.fixedCounters, 3));
    });

    it('test_arch_events: every known event counts per the hardware, whatever the guest CPUID says', () => {
      for (let v = 0; v <= Math.max(kvm.version, MAX_PMU_VERSION); v++) {
        for (const caps of PERF_CAPS) {
          /* Testing arch events requires a vPMU (there are no negative tests). */
          if (!v) continue;
          const masks = [0, 0xff];
          if (v === kvm.version && caps === PMU_CAP_FW_WRITES) {
            for (let k = 0; k < NR_INTEL_ARCH_EVENTS; k++) masks.push(1 << k);
            masks.push(...sampledMasks(24));
          }
          for (const unavailable of masks) {
            runGuest(
              host,
              c,
              { version: v, perfCapabilities: caps, unavailableEvents: unavailable },
              (g) => guestTestArchEvents(g, G),
            );
          }
        }
      }
    });

    it('test_arch_events with forced emulation (KVM_FEP): KVM counts emulated instructions and branches with the hardware', () => {
      const fep = { ...G, forcedEmulation: true };
      runGuest(
        host,
        c,
        { version: kvm.version, perfCapabilities: PMU_CAP_FW_WRITES, unavailableEvents: 0 },
        (g) => guestTestArchEvents(g, fep),
      );
    });

    it('test_gp_counters: GLOBAL_CTRL reset value, which counter MSRs #GP, legacy PERFCTR0/1 quirk, RDPMC', () => {
      for (let v = 0; v <= MAX_PMU_VERSION; v++) {
        for (const caps of PERF_CAPS) {
          for (let j = 0; j <= kvm.nrGp; j++) {
            runGuest(host, c, { version: v, perfCapabilities: caps, gpCounters: j }, (g) =>
              guestTestGpCounters(g, G),
            );
          }
        }
      }
    });

    it('test_fixed_counters: which fixed-counter MSRs and control bits #GP, and each present one counts', () => {
      for (let v = 0; v <= MAX_PMU_VERSION; v++) {
        for (const caps of PERF_CAPS) {
          for (let j = 0; j <= kvm.nrFixed; j++) {
            for (let k = 0; k <= (1 << kvm.nrFixed) - 1; k++) {
              runGuest(
                host,
                c,
                { version: v, perfCapabilities: caps, fixedCounters: j, fixedCounterMask: k },
                (g) => guestTestFixedCounters(g, G),
              );
            }
          }
        }
      }
    });

    it('full-width IA32_PMCx exist only with PERF_CAPABILITIES.FW_WRITES (the base guest_test_gp_counters picks)', () => {
      for (const caps of PERF_CAPS) {
        runGuest(host, c, { version: 2, perfCapabilities: caps }, (g) => {
          assert.equal(guestHasFwWrites(g), caps !== 0n);
          const nrGp = (g.cpuid(0xa).eax >>> 8) & 0xff;
          for (let i = 0; i < nrGp; i++) {
            const want = caps ? 0 : GP_VECTOR;
            assert.equal(wrmsrSafe(g, MSR.IA32_PMC0 + i, 0x1234n), want, `WRMSR(IA32_PMC${i})`);
            assert.equal(rdmsrSafe(g, MSR.IA32_PMC0 + i).vector, want, `RDMSR(IA32_PMC${i})`);
            // The legacy alias is always there.
            assert.equal(wrmsrSafe(g, MSR.IA32_PERFCTR0 + i, 0x1234n), 0);
          }
        });
      }
    });

    it('GLOBAL_CTRL / STATUS / OVF_CTRL exist from version 2; STATUS is read-only; reserved bits #GP', () => {
      for (let v = 0; v <= MAX_PMU_VERSION; v++) {
        runGuest(host, c, { version: v, perfCapabilities: v ? PMU_CAP_FW_WRITES : 0n }, (g) => {
          const version = guestGetPmuVersion(g, G);
          const gp = version >= 2 ? 0 : GP_VECTOR;
          for (const msr of [
            MSR.IA32_PERF_GLOBAL_CTRL,
            MSR.IA32_PERF_GLOBAL_STATUS,
            MSR.IA32_PERF_GLOBAL_OVF_CTRL,
          ]) {
            assert.equal(rdmsrSafe(g, msr).vector, gp, `v${version}: RDMSR 0x${msr.toString(16)}`);
          }
          if (version < 2) return;
          const a = g.cpuid(0xa);
          const nrGp = (a.eax >>> 8) & 0xff;
          const nrFixed = a.edx & 0x1f;
          const valid = genmask(nrGp - 1, 0) | (genmask(nrFixed - 1, 0) << 32n);
          assert.equal(
            wrmsrSafe(g, MSR.IA32_PERF_GLOBAL_CTRL, valid),
            0,
            'GLOBAL_CTRL: every counter',
          );
          assert.equal(g.rdmsr(MSR.IA32_PERF_GLOBAL_CTRL), valid);
          assert.equal(
            wrmsrSafe(g, MSR.IA32_PERF_GLOBAL_CTRL, 1n << BigInt(nrGp)),
            GP_VECTOR,
            'GLOBAL_CTRL: absent GP counter',
          );
          assert.equal(
            wrmsrSafe(g, MSR.IA32_PERF_GLOBAL_STATUS, 1n),
            GP_VECTOR,
            'GLOBAL_STATUS is read-only',
          );
          assert.equal(
            wrmsrSafe(g, MSR.IA32_PERF_GLOBAL_OVF_CTRL, 1n << 40n),
            GP_VECTOR,
            'OVF_CTRL: reserved bit',
          );
          assert.equal(
            wrmsrSafe(g, MSR.IA32_PERF_GLOBAL_OVF_CTRL, valid),
            0,
            'OVF_CTRL: valid bits',
          );
          assert.equal(g.rdmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL), 0n, 'OVF_CTRL reads 0');
          // An overflow sets the status bit, OVF_CTRL clears it.
          g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
          g.wrmsr(MSR.IA32_PMC0, genmask(47, 0) - 1n);
          g.wrmsr(MSR_P6_EVNTSEL0, EVENTSEL.OS | EVENTSEL.ENABLE | rawEvent(0xc0, 0));
          g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n);
          g.exec({ instructions: 5 });
          g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0n);
          assert.equal(
            g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS),
            1n,
            'GLOBAL_STATUS after an overflow of GP 0',
          );
          g.wrmsr(MSR.IA32_PERF_GLOBAL_OVF_CTRL, 1n);
          assert.equal(g.rdmsr(MSR.IA32_PERF_GLOBAL_STATUS), 0n, 'GLOBAL_STATUS after OVF_CTRL');
        });
      }
    });
  });
}

/*
 * AMD: upstream's test is Intel-only. The same access rules for AMD's core
 * counters (amd_is_valid_msr, get_gp_pmc_amd, amd_rdpmc_ecx_to_pmc): F15H
 * PERF_CTL/CTR i exist for i < the guest's counters, the K7 MSRs alias the
 * first four, RDPMC takes a plain index, there are no fixed counters, and
 * the PerfMonV2 global MSRs exist only for a v2 guest.
 */
const AMD_K7_COUNTERS = 4;
const AMD_F15H_COUNTERS = 6;

for (const c of AMD_CONFIGS) {
  describe(`pmu_counters_test counterpart for AMD core counters on ${c.label}`, () => {
    const host = hostFor(c);
    const perfMonV2 = host.model.perfMonV2;

    it('CPUID 0x80000001 PerfCtrExtCore and 0x80000022 PerfMonV2 / number of core counters', () => {
      runGuest(host, c, { version: 2, perfCapabilities: 0n }, (g) => {
        assert.ok(g.cpuid(0x80000001).ecx & (1 << 23), 'PerfCtrExtCore');
        const ext = g.cpuid(0x80000022);
        assert.equal(ext.eax & 1, perfMonV2 ? 1 : 0, 'PerfMonV2');
        if (perfMonV2) assert.equal(ext.ebx & 0xf, AMD_F15H_COUNTERS);
        assert.equal(g.cpuid(0xa).eax, 0, 'no CPUID 0xA PMU on AMD');
      });
    });

    it('core counters: F15H and K7 counter MSRs, RDPMC, by number of counters', () => {
      for (const version of perfMonV2 ? [1, 2] : [1]) {
        for (let nr = 0; nr <= AMD_F15H_COUNTERS; nr++) {
          runGuest(host, c, { version, perfCapabilities: 0n, gpCounters: nr }, (g) => {
            const v2 = (g.cpuid(0x80000022).eax & 1) === 1;
            const extCore = (g.cpuid(0x80000001).ecx & (1 << 23)) !== 0;
            const n = v2
              ? g.cpuid(0x80000022).ebx & 0xf
              : extCore
                ? AMD_F15H_COUNTERS
                : AMD_K7_COUNTERS;
            const where = `v${v2 ? 2 : 1}, PerfCtrExtCore ${extCore}, ${n} counters`;
            for (let i = 0; i < AMD_F15H_COUNTERS; i++) {
              // F15H PERF_CTRi needs PerfCtrExtCore, and a counter behind it.
              const ctr = MSR.MSR_F15H_PERF_CTR0 + 2 * i;
              const f15hGp = extCore && i < n ? 0 : GP_VECTOR;
              assert.equal(wrmsrSafe(g, ctr, 0xffffn), f15hGp, `${where}: WRMSR PERF_CTR${i}`);
              assert.equal(rdmsrSafe(g, ctr).vector, f15hGp, `${where}: RDMSR PERF_CTR${i}`);
              // The K7 MSRs are valid with any vPMU; one with no counter behind it #GPs.
              const k7 = MSR.MSR_K7_PERFCTR0 + i;
              const k7Gp = i < n ? 0 : GP_VECTOR;
              if (i < AMD_K7_COUNTERS) {
                assert.equal(wrmsrSafe(g, k7, 0xffffn), k7Gp, `${where}: WRMSR K7 PERFCTR${i}`);
                assert.equal(rdmsrSafe(g, k7).vector, k7Gp, `${where}: RDMSR K7 PERFCTR${i}`);
              }
              assert.equal(rdpmcSafe(g, i).vector, i < n ? 0 : GP_VECTOR, `${where}: RDPMC(${i})`);
              if (i >= n) continue;
              const alias = i < AMD_K7_COUNTERS ? k7 : ctr;
              g.wrmsr(alias, 0xffffn);
              assert.equal(g.rdpmc(i), 0xffffn, `${where}: RDPMC(${i})`);
              // Writes above the 48-bit width are dropped, not #GP.
              g.wrmsr(alias, 0xffff_0123_4567_89abn);
              assert.equal(g.rdpmc(i), 0x0123_4567_89abn, `${where}: 48-bit write`);
              if (extCore && i < AMD_K7_COUNTERS) {
                assert.equal(
                  g.rdmsr(ctr),
                  0x0123_4567_89abn,
                  `K7 PERFCTR${i} aliases PERF_CTR${i}`,
                );
                g.wrmsr(ctr, 0x42n);
                assert.equal(g.rdmsr(k7), 0x42n, `PERF_CTR${i} aliases K7 PERFCTR${i}`);
              }
            }
            assert.equal(
              rdpmcSafe(g, AMD_F15H_COUNTERS).vector,
              GP_VECTOR,
              'RDPMC past the counters',
            );
            assert.equal(
              rdpmcSafe(g, INTEL_RDPMC_FIXED).vector,
              GP_VECTOR,
              'no fixed counters on AMD',
            );
            const globals = [
              MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS,
              MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL,
              MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR,
              MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET,
            ];
            for (const msr of globals) {
              assert.equal(
                rdmsrSafe(g, msr).vector,
                v2 ? 0 : GP_VECTOR,
                `RDMSR 0x${msr.toString(16)} (v${v2 ? 2 : 1})`,
              );
            }
            if (v2) {
              assert.equal(
                g.rdmsr(MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL),
                genmask(n - 1, 0),
                'GLOBAL_CTL after RESET',
              );
            }
          });
        }
      }
    });

    it('an AMD guest counts instructions on every core counter, and a disabled counter holds its value', () => {
      runGuest(
        host,
        c,
        { version: perfMonV2 ? 2 : 1, perfCapabilities: 0n, gpCounters: AMD_F15H_COUNTERS },
        (g) => {
          for (let i = 0; i < AMD_F15H_COUNTERS; i++) {
            const ctl = MSR.MSR_F15H_PERF_CTL0 + 2 * i;
            g.wrmsr(MSR.MSR_F15H_PERF_CTR0 + 2 * i, 0n);
            g.wrmsr(ctl, EVENTSEL.OS | EVENTSEL.ENABLE | rawEvent(0xc0, 0));
            // The measured loop plus 2 MOV, 2 XOR; NUM_EXTRA_INSNS's "1 WRMSR" is
            // one of the two WRMSRs around it, which the model retires itself.
            g.exec({ instructions: NUM_INSNS_RETIRED - 1, branches: NUM_BRANCH_INSNS_RETIRED });
            g.wrmsr(ctl, 0n);
            assert.equal(g.rdpmc(i), BigInt(NUM_INSNS_RETIRED), `PERF_CTR${i}`);
            g.exec({ instructions: NUM_LOOPS });
            assert.equal(g.rdpmc(i), BigInt(NUM_INSNS_RETIRED), `PERF_CTR${i} while disabled`);
          }
          assert.equal(
            faultVector(() => g.rdmsr(MSR.IA32_FIXED_CTR0)),
            GP_VECTOR,
            'no Intel fixed counters',
          );
        },
      );
    });
  });
}

/*
 * Not in upstream's test, on every model and design: RDPMC from CPL 3 needs
 * CR4.PCE (kvm_pmu_rdpmc; the check is the CPU's, before any exit), and the
 * OS/USR selector bits decide which privilege level a counter counts.
 */
for (const c of [...INTEL_CONFIGS, ...AMD_CONFIGS]) {
  describe(`privilege rules on ${c.label}`, () => {
    it('RDPMC at CPL 3 #GPs without CR4.PCE; OS / USR select the counted privilege level', () => {
      const host = hostFor(c);
      runGuest(host, c, { version: 2, perfCapabilities: 0n }, (g) => {
        const intel = c.vendor === 'intel';
        const ctl = (i: number) => (intel ? MSR_P6_EVNTSEL0 + i : MSR.MSR_K7_EVNTSEL0 + i);
        const ctr = (i: number) => (intel ? MSR.IA32_PERFCTR0 + i : MSR.MSR_K7_PERFCTR0 + i);
        if (intel) g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 0b111n);
        const insns = rawEvent(0xc0, 0);
        for (const [i, bits] of [EVENTSEL.OS, EVENTSEL.USR, EVENTSEL.OS | EVENTSEL.USR].entries()) {
          g.wrmsr(ctr(i), 0n);
          g.wrmsr(ctl(i), bits | EVENTSEL.ENABLE | insns);
        }
        g.exec({ instructions: 100 }); // CPL 0
        g.exec({ instructions: 30, cpl: 3 });
        for (let i = 0; i < 3; i++) g.wrmsr(ctl(i), 0n);
        g.cpl = 3;
        assert.equal(rdpmcSafe(g, 0).vector, GP_VECTOR, 'RDPMC at CPL 3, CR4.PCE clear');
        g.cr4Pce = true;
        // Every guest instruction retires once at its CPL (kvm_skip_emulated_instruction
        // -> kvm_pmu_instruction_retired after an intercepted one's handler): the
        // CPL-0 WRMSRs count toward OS counters from (and with) the one that enables
        // them up to (not with) the one that disables them. Counter 0: its enabling
        // WRMSR + 4 setting up counters 1 and 2; counter 2: its enabling WRMSR + the
        // 2 disabling counters 0 and 1.
        assert.deepEqual(
          [0, 1, 2].map((i) => g.rdpmc(i)),
          [100n + 1n + 4n, 30n, 100n + 30n + 1n + 2n],
          'OS-only, USR-only, OS|USR',
        );
        g.cpl = 0;
        g.cr4Pce = false;
        assert.equal(g.rdpmc(2), 100n + 30n + 1n + 2n, 'RDPMC at CPL 0 needs no CR4.PCE');
      });
    });
  });
}
