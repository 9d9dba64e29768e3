/**
 * What the host and KVM can give a guest's PMU (arch/x86/kvm/pmu.c's
 * kvm_init_pmu_capability, perf_get_x86_pmu_capability) and the guest PMU
 * configuration a VMM resolves from it, with the PMU leaves of its CPUID
 * (cpuid.c). The vendor halves come from intel-pmu.ts and amd-pmu.ts.
 */
import { KvmError } from '../common/errors.ts';
import type { CpuModel, Vendor } from '../hw/cpu-models.ts';
import { qualifiesForMediatedVpmu } from '../hw/cpu-models.ts';
import { PERF_CAP, U64_MAX } from '../hw/msr.ts';
import { amdPmuCpuid, amdPmuOps } from './amd-pmu.ts';
import { intelPmuCpuidLeafA, intelPmuOps } from './intel-pmu.ts';
import {
  MAX_COUNTER_WIDTH,
  type CpuidRegs,
  type GuestPmuConfig,
  type HostPmuCapability,
  type KvmPmuCapability,
  type KvmPmuOps,
} from './pmu-types.ts';
import {
  DEFAULT_VPMU_SERIES,
  intelFixedCountersOffered,
  offersPerfMetrics,
  type VpmuSeries,
} from './vpmu-series.ts';

/** kvm_pmu_ops for a vendor. */
export function kvmPmuOps(vendor: Vendor): KvmPmuOps {
  return vendor === 'amd' ? amdPmuOps : intelPmuOps;
}

/** perf_get_x86_pmu_capability() on this host. */
export function hostPmuCapability(model: CpuModel): HostPmuCapability {
  return {
    // Perf reports version 0 for AMD cores without PerfMonV2.
    version: model.vendor === 'amd' ? (model.perfMonV2 ? 2 : 0) : model.pmuVersion,
    numCountersGp: model.gpCounters,
    numCountersFixed: model.fixedCounters,
    // Both widths are x86_pmu.cntval_bits, the GP counters' width (CPUID 0xA
    // EAX[23:16]): perf never reads the fixed counters' own width (EDX[12:5]).
    bitWidthGp: model.gpCounters ? model.gpWidth : 0,
    bitWidthFixed: model.fixedCounters ? model.gpWidth : 0,
    eventsMask: model.unavailableEvents,
    eventsMaskLen: model.eventsLength,
    mediated: qualifiesForMediatedVpmu(model),
  };
}

const NO_PMU = {
  version: 0,
  numCountersGp: 0,
  numCountersFixed: 0,
  bitWidthGp: 0,
  bitWidthFixed: 0,
};

/**
 * kvm_init_pmu_capability's verdict on the module's enable_pmu: forced off
 * when perf reports no GP counters, fewer than the vendor's architectural
 * minimum (MIN_NR_GP_COUNTERS: Intel 1, AMD 4; upstream WARNs for a non-zero
 * count below it), or an Intel PMU of version 0. The forced value is the one
 * KVM_CAP_PMU_CAPABILITY, kvm->arch.enable_pmu and enable_mediated_pmu see.
 * (Hybrid CPUs, which also force it off, are not modelled.)
 */
export function kvmEnablePmu(hostModel: CpuModel, requested = true): boolean {
  const host = hostPmuCapability(hostModel);
  if (!requested) return false;
  if (!host.numCountersGp || host.numCountersGp < kvmPmuOps(hostModel.vendor).MIN_NR_GP_COUNTERS)
    return false;
  return hostModel.vendor !== 'intel' || host.version !== 0;
}

/**
 * kvm_init_pmu_capability (pmu.c) for a host: what KVM offers its guests.
 * - enable_pmu is forced off as kvmEnablePmu says.
 * - enable_mediated_pmu is forced off unless enable_pmu, perf's
 *   PERF_PMU_CAP_MEDIATED_VPMU and the vendor check (Intel: v4+ and full-width
 *   writes; AMD: PerfMonV2) all hold.
 * - Then: version = min(host, 2) (also with the mediated vPMU), GP counters
 *   capped at KVM_MAX_NR_{INTEL,AMD}_GP_COUNTERS (8, 6), fixed counters at
 *   KVM_MAX_NR_FIXED_COUNTERS (3: fixed counter 3, topdown slots, is not
 *   offered in 7.0), widths and the event mask as perf reports them.
 * - Under the posted topdown series (vpmu-series.ts) with the mediated vPMU:
 *   4 fixed counters and the host's PERF_CAPABILITIES.PERF_METRICS.
 */
export function kvmPmuCapability(
  hostModel: CpuModel,
  options: {
    mediated?: boolean;
    enablePmu?: boolean;
    series?: VpmuSeries;
    /** boot_cpu_has(HLE) || boot_cpu_has(RTM) (guest-cpuid.ts bootCpuHasTsx); default false. */
    bootCpuHasTsx?: boolean;
  } = {},
): KvmPmuCapability {
  const series = options.series ?? DEFAULT_VPMU_SERIES;
  const ops = kvmPmuOps(hostModel.vendor);
  const host = hostPmuCapability(hostModel);
  if (Math.max(hostModel.gpWidth, hostModel.fixedWidth) > MAX_COUNTER_WIDTH) {
    throw new RangeError(
      `${hostModel.name}: counters wider than ${MAX_COUNTER_WIDTH} bits are not modelled`,
    );
  }
  const enablePmu = kvmEnablePmu(hostModel, options.enablePmu ?? true);
  const mediated =
    enablePmu &&
    (options.mediated ?? false) &&
    host.mediated &&
    ops.isMediatedPmuSupported(host, hostModel);
  const amd = hostModel.vendor === 'amd';
  const common = {
    vendor: hostModel.vendor,
    enablePmu,
    mediated,
    eventsMask: enablePmu ? host.eventsMask : 0,
    eventsMaskLen: enablePmu ? host.eventsMaskLen : 0,
    perfCapabilities: enablePmu
      ? ops.supportedPerfCapabilities(hostModel, mediated) |
        (offersPerfMetrics(series, mediated)
          ? hostModel.perfCapabilities & PERF_CAP.PERF_METRICS
          : 0n)
      : 0n,
    series,
    // X86_FEATURE_HLE/RTM are Intel's: an AMD host never has them.
    bootCpuHasTsx: !amd && (options.bootCpuHasTsx ?? false),
    perfCtrExtCore: enablePmu && amd && hostModel.perfCtrExtCore,
    perfMonV2: enablePmu && amd && hostModel.perfMonV2,
    host,
  };
  if (!enablePmu) return Object.freeze({ ...common, ...NO_PMU });
  return Object.freeze({
    ...common,
    version: amd ? (hostModel.perfMonV2 ? 2 : 1) : Math.min(host.version, 2),
    numCountersGp: Math.min(host.numCountersGp, ops.MAX_NR_GP_COUNTERS),
    numCountersFixed: Math.min(
      host.numCountersFixed,
      amd ? ops.MAX_NR_FIXED_COUNTERS : intelFixedCountersOffered(series, mediated),
    ),
    bitWidthGp: host.bitWidthGp,
    bitWidthFixed: host.bitWidthFixed,
  });
}

function checkField(name: string, value: unknown, max: number): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > max) {
    throw new KvmError(
      'EINVAL',
      `pmu.${name} must be an integer in 0..${max}, got ${typeof value === 'number' ? value : `a ${typeof value}`}`,
    );
  }
  return value;
}

/**
 * The guest configuration a VMM asks for, clamped the way a VMM that builds
 * its guest CPUID from KVM_GET_SUPPORTED_CPUID does, and then as KVM's refresh
 * (intel_pmu_refresh / amd_pmu_refresh) clamps it: every missing field is
 * KVM's default (what it supports), version = min(KVM's, requested), counts
 * and widths = min(requested, KVM's). Intel version 1 has no fixed counters;
 * version 0 (or a host without a vPMU) is "no PMU". CPUID 0xA ECX is a v5+
 * field and so always 0 here (KVM reports 0 and ignores it). A requested
 * unavailable-event mask can only add unavailable events.
 *
 * AMD: the count is what the CPUID bits can express: with PerfMonV2,
 * 0x80000022 EBX[3:0]; without, 6 with PerfCtrExtCore (requested > 4) else 4.
 * Widths are 48, there are no fixed counters and no PERF_CAPABILITIES.
 *
 * PERF_CAPABILITIES bits KVM does not support, and an LBR or PEBS format
 * vmx_set_msr refuses, are rejected with EINVAL, as KVM rejects the
 * host-initiated WRMSR that would set them.
 */
export function resolveGuestPmuConfig(
  cap: KvmPmuCapability,
  requested: Partial<GuestPmuConfig> = {},
): GuestPmuConfig {
  const version = checkField('version', requested.version, 255);
  const gp = checkField('gpCounters', requested.gpCounters, 255);
  const fixed = checkField('fixedCounters', requested.fixedCounters, 31);
  const gpWidth = checkField('gpWidth', requested.gpWidth, 255);
  const fixedWidth = checkField('fixedWidth', requested.fixedWidth, 255);
  const unavailable = checkField('unavailableEvents', requested.unavailableEvents, 0xffffffff);
  checkField('fixedCounterMask', requested.fixedCounterMask, 0xffffffff);
  const perfCaps = requested.perfCapabilities;
  if (
    perfCaps !== undefined &&
    (typeof perfCaps !== 'bigint' || perfCaps < 0n || perfCaps > U64_MAX)
  ) {
    throw new KvmError(
      'EINVAL',
      `pmu.perfCapabilities must be a u64 bigint, got ${String(perfCaps)}`,
    );
  }
  if (perfCaps !== undefined && (perfCaps & ~cap.perfCapabilities) !== 0n) {
    throw new KvmError(
      'EINVAL',
      `PERF_CAPABILITIES 0x${perfCaps.toString(16)} has bits KVM does not support (0x${cap.perfCapabilities.toString(16)})`,
    );
  }
  if (perfCaps !== undefined) {
    const vendorError = kvmPmuOps(cap.vendor).perfCapabilitiesWriteError(
      cap.perfCapabilities,
      perfCaps,
    );
    if (vendorError !== null)
      throw new KvmError('EINVAL', `PERF_CAPABILITIES 0x${perfCaps.toString(16)}: ${vendorError}`);
  }
  const none: GuestPmuConfig = {
    version: 0,
    gpCounters: 0,
    fixedCounters: 0,
    gpWidth: 0,
    fixedWidth: 0,
    unavailableEvents: 0,
    fixedCounterMask: 0,
    perfCapabilities: 0n,
  };
  const v = Math.min(version ?? cap.version, cap.version);
  if (!cap.enablePmu || v === 0) return none;

  if (cap.vendor === 'amd') {
    const want = gp ?? cap.numCountersGp;
    const count = v >= 2 ? want : want > 4 && cap.perfCtrExtCore ? 6 : 4;
    return { ...none, version: v, gpCounters: Math.min(count, cap.numCountersGp), gpWidth: 48 };
  }
  const lenMask = cap.eventsMaskLen >= 32 ? 0xffffffff : (1 << cap.eventsMaskLen) - 1;
  return {
    version: v,
    gpCounters: Math.min(gp ?? cap.numCountersGp, cap.numCountersGp),
    gpWidth: Math.min(gpWidth ?? cap.bitWidthGp, cap.bitWidthGp),
    fixedCounters: v >= 2 ? Math.min(fixed ?? cap.numCountersFixed, cap.numCountersFixed) : 0,
    fixedWidth: v >= 2 ? Math.min(fixedWidth ?? cap.bitWidthFixed, cap.bitWidthFixed) : 0,
    unavailableEvents: (((unavailable ?? 0) | cap.eventsMask) & lenMask) >>> 0,
    fixedCounterMask: 0,
    perfCapabilities: perfCaps ?? cap.perfCapabilities,
  };
}

/**
 * The guest's CPUID for the PMU leaves, from its configuration: Intel leaf 0xA;
 * AMD leaf 0x80000022 and, for 0x80000001, only ECX[23] (PerfCtrExtCore), to be
 * ORed into the rest of that leaf. null for any other leaf.
 */
export function guestPmuCpuid(
  cap: KvmPmuCapability,
  config: GuestPmuConfig,
  leaf: number,
  subleaf = 0,
): CpuidRegs | null {
  if (cap.vendor === 'intel') return leaf === 0xa ? intelPmuCpuidLeafA(cap, config) : null;
  return amdPmuCpuid(cap, config, leaf, subleaf);
}
