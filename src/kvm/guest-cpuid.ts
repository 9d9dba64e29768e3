/**
 * The guest CPUID userspace sets besides the PMU's leaves (KVM_SET_CPUID2),
 * as far as KVM's vPMU reads it: CPUID.(EAX=7,ECX=0):EBX, whose TSX bits
 * intel_pmu_refresh tests (docs/api.md "VcpuOptions"). KVM does not mask
 * what userspace sets: the guest reads the leaf back as it was given.
 */
import { KvmError } from '../common/errors.ts';
import { showValue } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';
import { CPUID7_EBX, type CpuidResult } from '../hw/cpu.ts';

/** The guest CPUID leaves the model holds, as userspace sets them. */
export interface GuestCpuidConfig {
  /** CPUID.(EAX=7,ECX=0):EBX (bit 4 HLE, bit 11 RTM, ...). Default 0. */
  leaf7Ebx: number;
}

/** Every field of GuestCpuidConfig, for refusing misspelt ones. */
const GUEST_CPUID_FIELDS: Record<keyof GuestCpuidConfig, true> = { leaf7Ebx: true };

/** A createVcpu `cpuid` option checked and completed with its defaults. */
export function resolveGuestCpuid(cpuid: unknown): GuestCpuidConfig {
  if (cpuid === undefined) return { leaf7Ebx: 0 };
  if (cpuid === null || typeof cpuid !== 'object')
    throw new TypeError(`createVcpu: cpuid must be an object, got ${showValue(cpuid)}`);
  const unknown = unknownKey(cpuid, Object.keys(GUEST_CPUID_FIELDS), 'cpuid field');
  if (unknown !== undefined) throw new TypeError(`createVcpu: ${unknown}`);
  const { leaf7Ebx = 0 } = cpuid as Partial<GuestCpuidConfig>;
  if (!Number.isInteger(leaf7Ebx) || leaf7Ebx < 0 || leaf7Ebx > 0xffffffff)
    throw new KvmError(
      'EINVAL',
      `cpuid.leaf7Ebx must be a 32-bit unsigned integer, got ${showValue(leaf7Ebx)}`,
    );
  return { leaf7Ebx };
}

/** The guest's CPUID.7.0 as KVM returns it: userspace's EBX, the rest 0 (no subleaf beyond 0). */
export function guestCpuidLeaf7(config: GuestCpuidConfig): CpuidResult {
  return { eax: 0, ebx: config.leaf7Ebx, ecx: 0, edx: 0 };
}

/**
 * boot_cpu_has(X86_FEATURE_HLE) || boot_cpu_has(X86_FEATURE_RTM): the host
 * CPU's CPUID.7.0 after the kernel's tsx_init (tsx=off clears both bits on a
 * part with IA32_TSX_CTRL).
 */
export function bootCpuHasTsx(cpu: {
  cpuid(leaf: number, subleaf?: number): CpuidResult;
}): boolean {
  return (cpu.cpuid(7, 0).ebx & (CPUID7_EBX.HLE | CPUID7_EBX.RTM)) !== 0;
}
