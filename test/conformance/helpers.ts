/**
 * Shared pieces of the ported public suites (kvm-unit-tests x86/pmu.c, KVM
 * selftests x86/pmu_counters_test.c and x86/pmu_event_filter_test.c): the
 * model x design matrix, VM construction, the guest's "_safe" accessors, and
 * the encodings the upstream headers define (lib/x86/pmu.h,
 * tools/testing/selftests/kvm/include/x86/pmu.h).
 *
 * Everything here uses the public API only (src/index.ts).
 */
import assert from 'node:assert/strict';
import {
  createHost,
  GuestFault,
  type CpuModelName,
  type GuestCpu,
  type GuestPmuConfig,
  type Host,
  type HostOptions,
  type Vcpu,
  type Vm,
} from '../../src/index.ts';
import type { TestContext } from 'node:test';

export type Design = 'emulated' | 'mediated';
export type Vendor = 'intel' | 'amd';

export interface Config {
  readonly cpu: CpuModelName;
  readonly vendor: Vendor;
  readonly design: Design;
  /** e.g. "intel-skylake/mediated". */
  readonly label: string;
}

/**
 * The matrix: every model with the perf-emulated design, and with the mediated
 * design where the hardware qualifies (Intel PMU v4+ with full-width writes,
 * AMD PerfMonV2). Haswell (v3) and Zen 3 (no PerfMonV2) are emulated only.
 */
const MODELS: readonly { cpu: CpuModelName; vendor: Vendor; designs: readonly Design[] }[] = [
  { cpu: 'intel-sapphire-rapids', vendor: 'intel', designs: ['emulated', 'mediated'] },
  { cpu: 'intel-icelake', vendor: 'intel', designs: ['emulated', 'mediated'] },
  { cpu: 'intel-skylake', vendor: 'intel', designs: ['emulated', 'mediated'] },
  { cpu: 'intel-haswell', vendor: 'intel', designs: ['emulated'] },
  { cpu: 'amd-zen4', vendor: 'amd', designs: ['emulated', 'mediated'] },
  { cpu: 'amd-zen3', vendor: 'amd', designs: ['emulated'] },
];

export const CONFIGS: readonly Config[] = MODELS.flatMap((m) =>
  m.designs.map((design) => ({
    cpu: m.cpu,
    vendor: m.vendor,
    design,
    label: `${m.cpu}/${design}`,
  })),
);
export const INTEL_CONFIGS = CONFIGS.filter((c) => c.vendor === 'intel');
export const AMD_CONFIGS = CONFIGS.filter((c) => c.vendor === 'amd');
/** Models that do not qualify for the mediated vPMU: asking for it gives the emulated design. */
export const NON_QUALIFYING: readonly CpuModelName[] = ['intel-haswell', 'amd-zen3'];

/** A host of the config's model, with enable_mediated_pmu as the design asks, and no host contention. */
export function hostFor(c: Config, options: Omit<HostOptions, 'cpu' | 'kvm'> = {}): Host {
  return createHost({
    ...options,
    cpu: c.cpu,
    kvm: { enableMediatedPmu: c.design === 'mediated' },
  });
}

/** A VM on `host`, checked to run the config's design. */
export function vmFor(host: Host, c: Config): Vm {
  const vm = host.kvm.createVm();
  assert.equal(vm.design, c.design, `${c.label}: the VM got the ${vm.design} design`);
  return vm;
}

/** vm_create_with_one_vcpu: a fresh host, VM and vCPU with the guest PMU userspace asked for. */
export function oneVcpu(
  c: Config,
  pmu?: Partial<GuestPmuConfig>,
): { host: Host; vm: Vm; vcpu: Vcpu } {
  const host = hostFor(c);
  const vm = vmFor(host, c);
  const vcpu = vm.createVcpu(pmu ? { pmu } : {});
  return { host, vm, vcpu };
}

// ---- The guest's exception-safe accessors (rdmsr_safe, wrmsr_safe, rdpmc_safe)

export const GP_VECTOR = 13;

/** Run `fn` in the guest; the vector of the fault it took, 0 if none. Anything else is a test bug. */
export function faultVector(fn: () => unknown): number {
  try {
    fn();
    return 0;
  } catch (e) {
    if (e instanceof GuestFault) return e.vector;
    throw e;
  }
}

export function wrmsrSafe(g: GuestCpu, msr: number, value: bigint): number {
  return faultVector(() => g.wrmsr(msr, value));
}

export function rdmsrSafe(g: GuestCpu, msr: number): { vector: number; value: bigint } {
  let value = 0n;
  const vector = faultVector(() => (value = g.rdmsr(msr)));
  return { vector, value };
}

export function rdpmcSafe(g: GuestCpu, ecx: number): { vector: number; value: bigint } {
  let value = 0n;
  const vector = faultVector(() => (value = g.rdpmc(ecx >>> 0)));
  return { vector, value };
}

/** kvm-unit-tests' report(): collect every failed check of a guest run, then assert none failed. */
export class Report {
  readonly failures: string[] = [];
  readonly skips: string[] = [];
  private readonly prefixes: string[] = [];

  push(prefix: string): void {
    this.prefixes.push(prefix);
  }

  pop(): void {
    this.prefixes.pop();
  }

  report(pass: boolean, name: string, detail = ''): void {
    if (!pass)
      this.failures.push([...this.prefixes, name].join(': ') + (detail ? ` (${detail})` : ''));
  }

  skip(name: string): void {
    this.skips.push([...this.prefixes, name].join(': '));
  }

  /**
   * Assert no check failed, and report each report_skip() as a skipped
   * subtest of `t`, so skips are printed and counted as the runner's skips.
   */
  async assertClean(where: string, t: TestContext): Promise<void> {
    const failed = this.failures.splice(0);
    for (const skipped of this.skips.splice(0))
      await t.test(skipped, { skip: 'report_skip() in kvm-unit-tests' });
    assert.deepEqual(failed, [], `${where}: ${failed.length} check(s) failed`);
  }
}

// ---- Encodings (lib/x86/pmu.h, selftests include/x86/pmu.h, msr-index.h)

export const EVENTSEL = {
  USR: 1n << 16n,
  OS: 1n << 17n,
  EDGE: 1n << 18n,
  INT: 1n << 20n,
  ENABLE: 1n << 22n,
  INV: 1n << 23n,
  CMASK_SHIFT: 24n,
} as const;

/** RAW_EVENT(eventsel, umask): AMD's 12-bit select keeps bits 11:8 in 35:32. */
export function rawEvent(eventsel: number, umask: number): bigint {
  return (BigInt(eventsel & 0xf00) << 24n) | BigInt(eventsel & 0xff) | (BigInt(umask & 0xff) << 8n);
}

export const INTEL_RDPMC_FIXED = 1 << 30;
export const INTEL_RDPMC_FAST = 2 ** 31;

export const FIXED_PMC_KERNEL = 1n;
export const FIXED_PMC_USER = 2n;
export const FIXED_PMC_ENABLE_PMI = 8n;
/** FIXED_PMC_CTRL(idx, val). */
export function fixedPmcCtrl(idx: number, val: bigint): bigint {
  return val << BigInt(idx * 4);
}
/** FIXED_PMC_GLOBAL_CTRL_ENABLE(idx). */
export function fixedPmcGlobalCtrlEnable(idx: number): bigint {
  return 1n << BigInt(32 + idx);
}

export const PMU_CAP_FW_WRITES = 1n << 13n;

/** GENMASK_ULL(hi, lo). */
export function genmask(hi: number, lo: number): bigint {
  if (hi < lo) return 0n;
  return ((1n << BigInt(hi - lo + 1)) - 1n) << BigInt(lo);
}

/** Bits above a counter's width dropped. */
export function widthMask(width: number): bigint {
  return (1n << BigInt(width)) - 1n;
}

/** Legacy MSR names used by the suites, as aliases of the public table's names. */
export const MSR_P6_EVNTSEL0 = 0x186;
export const MSR_P6_EVNTSEL1 = 0x187;
export const MSR_P6_PERFCTR0 = 0xc1;
export const MSR_P6_PERFCTR1 = 0xc2;
