/**
 * Model-specific register indices (arch/x86/include/asm/msr-index.h), the
 * public `MSR` table of docs/api.md, and helpers to name them in traces.
 */
import { deepFreeze } from '../common/freeze.ts';

const intel = {
  IA32_PERFCTR0: 0xc1, // legacy GP counter alias, 32-bit writes sign-extended
  IA32_PMC0: 0x4c1, // full-width GP counter alias
  IA32_PERFEVTSEL0: 0x186,
  IA32_FIXED_CTR0: 0x309,
  IA32_PERF_CAPABILITIES: 0x345,
  IA32_FIXED_CTR_CTRL: 0x38d,
  IA32_PERF_GLOBAL_STATUS: 0x38e,
  IA32_PERF_GLOBAL_CTRL: 0x38f,
  IA32_PERF_GLOBAL_OVF_CTRL: 0x390,
  IA32_PERF_GLOBAL_STATUS_SET: 0x391,
  /** Topdown level-1 metrics, beside fixed counter 3 (PERF_CAPABILITIES bit 15; Ice Lake on). */
  MSR_PERF_METRICS: 0x329,
} as const;

const amd = {
  MSR_K7_EVNTSEL0: 0xc0010000,
  MSR_K7_PERFCTR0: 0xc0010004,
  MSR_F15H_PERF_CTL0: 0xc0010200, // PERF_CTLi = base + 2i
  MSR_F15H_PERF_CTR0: 0xc0010201, // PERF_CTRi = base + 2i
  MSR_AMD64_PERF_CNTR_GLOBAL_STATUS: 0xc0000300,
  MSR_AMD64_PERF_CNTR_GLOBAL_CTL: 0xc0000301,
  MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR: 0xc0000302,
  MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_SET: 0xc0000303,
} as const;

const apic = {
  X2APIC_EOI: 0x80b,
  X2APIC_LVTPC: 0x834,
} as const;

/** 0 | 1 | ... | N - 1, for the names of N numbered registers. */
type Below<N extends number, Acc extends number[] = []> = Acc['length'] extends N
  ? Acc[number]
  : Below<N, [...Acc, Acc['length']]>;

/**
 * Numbered registers spelled out, so `MSR.IA32_PMC3` works as in the SDM and
 * `MSR.IA32_PMC8` (no such register) does not compile.
 */
function numbered<P extends string, N extends number>(
  prefix: P,
  base: number,
  count: N,
  stride = 1,
): Record<`${P}${Below<N>}`, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < count; i++) out[`${prefix}${i}`] = base + i * stride;
  return out;
}

/** MSR indices by name: MSR.IA32_PERFEVTSEL0 = 0x186, MSR.IA32_PMC0 = 0x4c1, ... */
export const MSR = deepFreeze({
  ...numbered('IA32_PERFCTR', intel.IA32_PERFCTR0, 8),
  ...numbered('IA32_PMC', intel.IA32_PMC0, 8),
  ...numbered('IA32_PERFEVTSEL', intel.IA32_PERFEVTSEL0, 8),
  ...numbered('IA32_FIXED_CTR', intel.IA32_FIXED_CTR0, 4),
  ...numbered('MSR_K7_EVNTSEL', amd.MSR_K7_EVNTSEL0, 4),
  ...numbered('MSR_K7_PERFCTR', amd.MSR_K7_PERFCTR0, 4),
  ...numbered('MSR_F15H_PERF_CTL', amd.MSR_F15H_PERF_CTL0, 6, 2),
  ...numbered('MSR_F15H_PERF_CTR', amd.MSR_F15H_PERF_CTR0, 6, 2),
  ...intel,
  ...amd,
  ...apic,
});

const names = new Map<number, string>();
for (const [name, index] of Object.entries(MSR)) if (!names.has(index)) names.set(index, name);

/** A readable name for an MSR index, for traces and messages. */
export function msrName(index: number): string {
  return names.get(index) ?? `MSR 0x${index.toString(16)}`;
}

/** All 64 bits set: the widest MSR value, and KVM's "~0ull" (every bit reserved). */
export const U64_MAX = 0xffff_ffff_ffff_ffffn;

/** Event selector bits (PERFEVTSEL / AMD PERF_CTL). */
export const EVTSEL = deepFreeze({
  EVENT: 0xffn,
  UMASK: 0xff00n,
  USR: 1n << 16n,
  OS: 1n << 17n,
  EDGE: 1n << 18n,
  PC: 1n << 19n,
  INT: 1n << 20n,
  ANY: 1n << 21n,
  EN: 1n << 22n,
  INV: 1n << 23n,
  CMASK: 0xff000000n,
  IN_TX: 1n << 32n,
  IN_TXCP: 1n << 33n,
  AMD_EVENT_HI: 0xfn << 32n,
  AMD_GUEST_ONLY: 1n << 40n,
  AMD_HOST_ONLY: 1n << 41n,
} as const);

/** FIXED_CTR_CTRL: a 4-bit field per fixed counter. */
export const FIXED_CTRL = deepFreeze({
  OS: 0x1,
  USR: 0x2,
  ANY: 0x4,
  PMI: 0x8,
  bits: 4,
} as const);

/** GLOBAL_STATUS / GLOBAL_CTRL: bit i GP counter i, bit 32+i fixed counter i. */
export const GLOBAL = deepFreeze({
  FIXED_SHIFT: 32,
  /** GLOBAL_CTRL bit 48 enables PERF_METRICS; GLOBAL_STATUS bit 48 is its overflow (GLOBAL_CTRL_EN_PERF_METRICS). */
  PERF_METRICS: 1n << 48n,
  STATUS_BUFFER_OVF: 1n << 62n,
  STATUS_COND_CHGD: 1n << 63n,
} as const);

/** PERF_CAPABILITIES bits the model reads. */
export const PERF_CAP = deepFreeze({
  FW_WRITES: 1n << 13n,
  PERF_METRICS: 1n << 15n,
} as const);

/** Local APIC LVT bits. */
export const LVT = deepFreeze({
  VECTOR: 0xff,
  DELIVERY_MODE_MASK: 0x700,
  DM_FIXED: 0x000,
  DM_LOWEST: 0x100,
  DM_NMI: 0x400,
  DM_EXTINT: 0x700,
  /** Delivery status (APIC_SEND_PENDING): read-only on the part, stored by KVM's emulation. */
  SEND_PENDING: 1 << 12,
  MASKED: 1 << 16,
} as const);

/** RDPMC ECX: type in [31:16]; 0 GP, 0x4000 (bit 30) fixed. */
export const RDPMC = deepFreeze({
  FIXED: 1 << 30,
  /** PERF_METRICS through RDPMC (INTEL_PMC_FIXED_RDPMC_METRICS, bit 29). */
  METRICS: 1 << 29,
  INDEX_MASK: 0xffff,
} as const);
