/**
 * How the x86 driver learns its PMU (init_hw_perf_events): intel_pmu_init /
 * amd_pmu_init read CPUID (and PERF_CAPABILITIES), then check_hw_exists
 * (x86-pmu-check.ts) probes that the counters really count. Apart from the
 * driver (x86-pmu.ts), which runs on what this returns.
 */
import type { CpuidResult } from '../hw/cpu.ts';
import type { MsrPort } from '../hw/fault.ts';
import { MSR, PERF_CAP } from '../hw/msr.ts';
import { checkHwExists } from './x86-pmu-check.ts';

/** What the driver needs of a CPU: the MSR port and CPUID. */
export interface X86CpuPort extends MsrPort {
  cpuid(leaf: number, subleaf?: number): CpuidResult;
}

/** The PMU as the driver enumerated it (x86_pmu after intel_pmu_init / amd_pmu_init). */
export interface X86PmuDescription {
  vendor: 'intel' | 'amd';
  version: number;
  nrGp: number;
  nrFixed: number;
  /** Fixed counters present (v5 CPUID 0xA ECX, else the first nrFixed). */
  fixedMask: number;
  gpWidth: number;
  fixedWidth: number;
  fullWidthWrites: boolean;
  /** CPUID 0xA EBX: architectural events not available. */
  unavailableEvents: number;
  /** AMD: six F15H counters. */
  perfCtrExtCore: boolean;
  perfMonV2: boolean;
  /** Largest sampling period: half the counter range (2^31-1 through the 32-bit legacy alias). */
  maxPeriod: number;
  /** Intel: CPUID.1 EAX, which picks the model's event constraints (x86-constraints.ts). */
  cpuSignature?: number;
}

/** INTEL_PMC_MAX_GENERIC, to which intel_pmu_check_counters_mask clips the GP count (WARN). */
const INTEL_PMC_MAX_GENERIC = 32;

/** init_hw_perf_events: the PMU from CPUID, then check_hw_exists. Null: none usable. */
export function enumerateX86Pmu(port: X86CpuPort): X86PmuDescription | null {
  const desc = describeFromCpuid(port);
  return desc && checkHwExists(port, desc) ? desc : null;
}

/** intel_pmu_init / amd_pmu_init: the PMU that CPUID describes. Null: none. */
function describeFromCpuid(port: X86CpuPort): X86PmuDescription | null {
  const vendorLeaf = port.cpuid(0);
  const intel = vendorLeaf.ebx === 0x756e6547; // "Genu"
  if (intel) {
    const a = port.cpuid(0xa);
    const version = a.eax & 0xff;
    if (version === 0) return null;
    const nrGp = Math.min((a.eax >> 8) & 0xff, INTEL_PMC_MAX_GENERIC);
    const gpWidth = (a.eax >> 16) & 0xff;
    const nrFixedEnum = version >= 2 ? a.edx & 0x1f : 0;
    const fixedWidth = version >= 2 ? (a.edx >> 5) & 0xff : 0;
    let fixedMask = (1 << nrFixedEnum) - 1;
    if (version >= 5 && a.ecx) fixedMask |= a.ecx;
    const nrFixed = fixedMask ? 32 - Math.clz32(fixedMask) : 0;
    let fullWidthWrites = false;
    const leaf1 = port.cpuid(1); // boot_cpu_data: read once
    if (leaf1.ecx & (1 << 15)) {
      fullWidthWrites = (port.rdmsr(MSR.IA32_PERF_CAPABILITIES) & PERF_CAP.FW_WRITES) !== 0n;
    }
    return {
      vendor: 'intel',
      version,
      nrGp,
      nrFixed,
      fixedMask,
      gpWidth,
      fixedWidth,
      fullWidthWrites,
      unavailableEvents: a.ebx,
      perfCtrExtCore: false,
      perfMonV2: false,
      maxPeriod: fullWidthWrites ? 2 ** (gpWidth - 1) - 1 : 2 ** 31 - 1,
      cpuSignature: leaf1.eax,
    };
  }
  const ext = port.cpuid(0x80000001);
  const perfCtrExtCore = (ext.ecx & (1 << 23)) !== 0;
  const v2 = port.cpuid(0x80000022);
  const perfMonV2 = (v2.eax & 1) !== 0;
  const nrGp = perfMonV2 ? v2.ebx & 0xf : perfCtrExtCore ? 6 : 4;
  return {
    vendor: 'amd',
    version: perfMonV2 ? 2 : 1,
    nrGp,
    nrFixed: 0,
    fixedMask: 0,
    gpWidth: 48,
    fixedWidth: 0,
    fullWidthWrites: true,
    unavailableEvents: 0,
    perfCtrExtCore,
    perfMonV2,
    maxPeriod: 2 ** 47 - 1,
  };
}
