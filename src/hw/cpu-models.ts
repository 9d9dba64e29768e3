/**
 * CPU model presets: the PMU each real part exposes (CPUID 0xA on Intel,
 * CPUID 0x80000001 / 0x80000022 on AMD, IA32_PERF_CAPABILITIES), as Linux
 * enumerates it. Counts are per logical CPU with SMT on, as perf sees them.
 */
import { deepFreeze } from '../common/freeze.ts';
import { PERF_CAP } from './msr.ts';

export type Vendor = 'intel' | 'amd';

export interface CpuModel {
  readonly name: string;
  readonly vendor: Vendor;
  /** Intel architectural perfmon version (CPUID 0xA EAX[7:0]); AMD: 2 with PerfMonV2, else 1. */
  readonly pmuVersion: number;
  readonly gpCounters: number;
  readonly fixedCounters: number;
  readonly gpWidth: number;
  readonly fixedWidth: number;
  /** Intel: PERF_CAPABILITIES bit 13, writes to IA32_PMCx load all counter bits. */
  readonly fullWidthWrites: boolean;
  /** AMD: global control/status MSRs (CPUID 0x80000022 EAX[0]). */
  readonly perfMonV2: boolean;
  /** AMD: six F15H PERF_CTL/CTR pairs (CPUID 0x80000001 ECX[23]). */
  readonly perfCtrExtCore: boolean;
  /** CPUID 0xA EBX: a set bit means that architectural event is NOT available. */
  readonly unavailableEvents: number;
  /** CPUID 0xA EAX[31:24]: length of the EBX bit vector. */
  readonly eventsLength: number;
  /** CPUID 0xA ECX (v5+): supported fixed counters bitmap. */
  readonly fixedCounterMask: number;
  /** IA32_PERF_CAPABILITIES (Intel; 0n on AMD). */
  readonly perfCapabilities: bigint;
  /** Topdown slots per core cycle (fixed counter 3), where present. */
  readonly topdownSlotsPerCycle: number;
  /** Nominal (TSC) frequency in Hz: converts cycles to nanoseconds. */
  readonly tscHz: number;
  /**
   * Intel VMX: the VM-exit control "save IA32_PERF_GLOBAL_CTRL" (bit 30,
   * cpu_has_save_perf_global_ctrl), first in Sapphire Rapids. Without it KVM
   * saves a mediated guest's GLOBAL_CTRL through the VM-exit MSR-store list
   * (commit d374b89edbb9). Absent in a custom model: present. AMD: unused.
   */
  readonly vmExitSavesGlobalCtrl?: boolean;
  /**
   * CPUID.1 EAX (family, model, stepping 0), from which Linux's perf driver
   * picks the model's event constraints (intel_pmu_init). Absent: 0, no
   * model-specific table.
   */
  readonly cpuidSignature?: number;
  /**
   * Intel TSX: the part enumerates HLE and RTM in CPUID.(EAX=7,ECX=0):EBX at
   * reset (bits 4 and 11), and its event selectors take IN_TX / IN_TXCP (SDM
   * vol. 3 20.3.6.5: "may only be set if the processor supports HLE or
   * RTM"). Absent: no TSX.
   */
  readonly tsx?: boolean;
  /**
   * IA32_ARCH_CAPABILITIES.TSX_CTRL_MSR: the part has IA32_TSX_CTRL (0x122),
   * through which the host kernel's tsx= option disables TSX and clears its
   * CPUID bits (arch/x86/kernel/cpu/tsx.c, tsx_ctrl_is_supported: only
   * MDS_NO=1 parts get it). Absent: no TSX_CTRL, tsx= does nothing.
   */
  readonly tsxCtrl?: boolean;
  /**
   * IA32_ARCH_CAPABILITIES.TAA_NO: not affected by TSX Asynchronous Abort.
   * Without it, a part with TSX or TSX_CTRL has X86_BUG_TAA
   * (cpu_set_bug_bits), and tsx=auto turns TSX off. Absent: affected.
   */
  readonly taaNo?: boolean;
}

export type CpuModelName =
  | 'intel-sapphire-rapids'
  | 'intel-emerald-rapids'
  | 'intel-icelake'
  | 'intel-skylake'
  | 'intel-haswell'
  | 'amd-zen4'
  | 'amd-zen3';

/**
 * IA32_PERF_CAPABILITIES from its fields (SDM vol. 4, MSR 0x345):
 * [5:0] LBR format, 6 PEBS trap, 7 PEBS arch regs, [11:8] PEBS record format,
 * 12 freeze-while-SMM, 13 full-width writes, 14 PEBS baseline, 15 perf metrics,
 * 16 PEBS output to PT.
 */
function perfCapabilities(f: {
  lbrFormat: number;
  pebsFormat: number;
  baseline?: boolean;
  perfMetrics?: boolean;
  pebsOutputPt?: boolean;
}): bigint {
  let v = BigInt(f.lbrFormat) | (1n << 6n) | (1n << 7n) | (BigInt(f.pebsFormat) << 8n);
  v |= 1n << 12n; // freeze while SMM
  v |= 1n << 13n; // full-width writes
  if (f.baseline) v |= 1n << 14n;
  if (f.perfMetrics) v |= 1n << 15n;
  if (f.pebsOutputPt) v |= 1n << 16n;
  return v;
}

const intelBase = {
  vendor: 'intel' as const,
  gpWidth: 48,
  fixedWidth: 48,
  fullWidthWrites: true,
  perfMonV2: false,
  perfCtrExtCore: false,
  unavailableEvents: 0,
};

const amdBase = {
  vendor: 'amd' as const,
  gpCounters: 6,
  fixedCounters: 0,
  gpWidth: 48,
  fixedWidth: 0,
  fullWidthWrites: false,
  perfCtrExtCore: true,
  unavailableEvents: 0,
  eventsLength: 0,
  fixedCounterMask: 0,
  perfCapabilities: 0n,
  topdownSlotsPerCycle: 0,
};

/** Arch perfmon v5 from Ice Lake on: 8 GP counters per thread, 4 fixed (fixed 3 = topdown slots). */
const perfmonV5 = {
  ...intelBase,
  pmuVersion: 5,
  gpCounters: 8,
  fixedCounters: 4,
  eventsLength: 8,
  fixedCounterMask: 0xf,
};

/** The core PMU of Sapphire Rapids, which Emerald Rapids shares. */
const sapphireRapidsCore = {
  ...perfmonV5,
  vmExitSavesGlobalCtrl: true,
  tsx: true,
  tsxCtrl: true,
  taaNo: true,
  perfCapabilities: perfCapabilities({
    lbrFormat: 0x3f,
    pebsFormat: 4,
    baseline: true,
    perfMetrics: true,
    pebsOutputPt: true,
  }),
  topdownSlotsPerCycle: 6,
};

export const CPU_MODELS: Readonly<Record<CpuModelName, CpuModel>> = deepFreeze({
  // Haswell-EP (Xeon E5 v3): arch perfmon v3, 4 GP per thread with HT, 3 fixed.
  'intel-haswell': {
    ...intelBase,
    name: 'intel-haswell',
    cpuidSignature: 0x306f0, // family 6, model 0x3f
    vmExitSavesGlobalCtrl: false,
    // TSX is off on Haswell-EP: the microcode for erratum HSW136 disables it.
    tsx: false,
    pmuVersion: 3,
    gpCounters: 4,
    fixedCounters: 3,
    eventsLength: 7,
    fixedCounterMask: 0,
    perfCapabilities: perfCapabilities({ lbrFormat: 4, pebsFormat: 2 }),
    topdownSlotsPerCycle: 0,
    tscHz: 2_300_000_000,
  },
  // Skylake-SP: v4, 4 GP per thread with HT, 3 fixed, full-width writes.
  'intel-skylake': {
    ...intelBase,
    name: 'intel-skylake',
    cpuidSignature: 0x50650, // family 6, model 0x55
    vmExitSavesGlobalCtrl: false,
    // TSX (HLE, RTM); MDS_NO=0, so no TSX_CTRL: tsx= leaves it on (tsx.c).
    // Affected by TAA (TAA_NO=0): X86_BUG_TAA, mitigated by VERW instead.
    tsx: true,
    tsxCtrl: false,
    taaNo: false,
    pmuVersion: 4,
    gpCounters: 4,
    fixedCounters: 3,
    eventsLength: 7,
    fixedCounterMask: 0,
    perfCapabilities: perfCapabilities({ lbrFormat: 5, pebsFormat: 3 }),
    topdownSlotsPerCycle: 0,
    tscHz: 2_100_000_000,
  },
  // Ice Lake-SP: v5, 8 GP, 4 fixed (fixed 3 = topdown slots), perf metrics.
  'intel-icelake': {
    ...perfmonV5,
    name: 'intel-icelake',
    cpuidSignature: 0x606a0, // family 6, model 0x6a
    vmExitSavesGlobalCtrl: false,
    // TSX with TSX_CTRL, not affected by TAA (MDS_NO=1, TAA_NO=1).
    tsx: true,
    tsxCtrl: true,
    taaNo: true,
    perfCapabilities: perfCapabilities({
      lbrFormat: 5,
      pebsFormat: 4,
      baseline: true,
      perfMetrics: true,
    }),
    topdownSlotsPerCycle: 5,
    tscHz: 2_000_000_000,
  },
  // Sapphire Rapids: v5, 8 GP, 4 fixed, architectural LBR (format 0x3f), PEBS format 4 ("PEBS fmt4+-baseline").
  'intel-sapphire-rapids': {
    ...sapphireRapidsCore,
    name: 'intel-sapphire-rapids',
    cpuidSignature: 0x806f0, // family 6, model 0x8f
    tscHz: 2_000_000_000,
  },
  // Emerald Rapids: the same core PMU as Sapphire Rapids.
  'intel-emerald-rapids': {
    ...sapphireRapidsCore,
    name: 'intel-emerald-rapids',
    cpuidSignature: 0xc06f0, // family 6, model 0xcf
    tscHz: 1_900_000_000,
  },
  // Zen 3: six core counters (PerfCtrExtCore), no PerfMonV2.
  'amd-zen3': {
    ...amdBase,
    name: 'amd-zen3',
    pmuVersion: 1,
    perfMonV2: false,
    tscHz: 2_450_000_000,
  },
  // Zen 4: PerfMonV2 global control/status MSRs, six core counters.
  'amd-zen4': {
    ...amdBase,
    name: 'amd-zen4',
    pmuVersion: 2,
    perfMonV2: true,
    tscHz: 2_400_000_000,
  },
});

export const CPU_MODEL_NAMES = Object.keys(CPU_MODELS) as CpuModelName[];

/**
 * Topdown metrics in hardware: IA32_PERF_METRICS (0x329) and bit 48 of
 * GLOBAL_CTRL / GLOBAL_STATUS, on an Intel part with fixed counter 3 whose
 * PERF_CAPABILITIES has bit 15 (SDM vol. 3 20.3.9.3; Ice Lake and later here).
 */
export function hasPerfMetrics(model: CpuModel): boolean {
  return (
    model.vendor === 'intel' &&
    model.pmuVersion >= 2 &&
    model.fixedCounters >= 4 &&
    (model.perfCapabilities & (1n << 15n)) !== 0n
  );
}

/**
 * Full-width writes as the part reports them: IA32_PERF_CAPABILITIES bit 13,
 * set only with full-width writes and that bit in its capabilities (as
 * IntelPmu.perfCapabilities reads back).
 */
export function reportsFullWidthWrites(model: CpuModel): boolean {
  return model.fullWidthWrites && (model.perfCapabilities & PERF_CAP.FW_WRITES) !== 0n;
}

/**
 * Whether the hardware qualifies for the mediated vPMU (docs/mediated-vpmu.md
 * 4.1). Intel: intel_pmu_is_mediated_pmu_supported wants version 4+ and
 * PERF_CAP_FW_WRITES in the host's IA32_PERF_CAPABILITIES.
 */
export function qualifiesForMediatedVpmu(model: CpuModel): boolean {
  if (model.vendor === 'intel') return model.pmuVersion >= 4 && reportsFullWidthWrites(model);
  return model.perfMonV2;
}
