/**
 * Shared helpers for the hw tests: building CPUs, programming counters the
 * way a driver does, and asserting #GP.
 */
import assert from 'node:assert/strict';

import { CPU_MODELS, type CpuModel, type CpuModelName } from '../../src/hw/cpu-models.ts';
import { PhysicalCpu } from '../../src/hw/cpu.ts';
import { CpuFault } from '../../src/hw/fault.ts';
import { EVTSEL, LVT, MSR } from '../../src/hw/msr.ts';

export const INTEL_MODELS: CpuModelName[] = [
  'intel-haswell',
  'intel-skylake',
  'intel-icelake',
  'intel-sapphire-rapids',
  'intel-emerald-rapids',
];
export const AMD_MODELS: CpuModelName[] = ['amd-zen3', 'amd-zen4'];

/** 2^48 as a bigint and as a number. */
export const WRAP48 = 1n << 48n;
export const WRAP48_NUM = 2 ** 48;

/** The PMI vector the tests program into LVTPC. */
export const PMI_VECTOR = 0xfe;

export function cpuOf(model: CpuModelName | CpuModel, id = 0): PhysicalCpu {
  return new PhysicalCpu(id, typeof model === 'string' ? CPU_MODELS[model] : model);
}

/** Asserts that `fn` raises #GP (vector 13) from the silicon. */
export function assertGp(fn: () => unknown, message?: string): void {
  assert.throws(
    fn,
    (e: unknown) => e instanceof CpuFault && e.exception === '#GP' && e.vector === 13,
    message,
  );
}

/** An event selector: event select (12-bit on AMD), umask, and flag bits. */
export function evtsel(event: number, umask: number, ...flags: bigint[]): bigint {
  let v = BigInt(event & 0xff) | (BigInt(umask & 0xff) << 8n);
  if (event > 0xff) v |= BigInt(event >> 8) << 32n; // AMD event select [11:8] -> [35:32]
  for (const f of flags) v |= f;
  return v;
}

/** Counting at every privilege level, enabled. */
export const ALL = EVTSEL.USR | EVTSEL.OS | EVTSEL.EN;
/** ALL plus the APIC interrupt on overflow. */
export const ALL_INT = ALL | EVTSEL.INT;

/** Unmask LVTPC with a fixed-delivery vector. */
export function unmaskLvtpc(cpu: PhysicalCpu, vector = PMI_VECTOR): void {
  cpu.wrmsr(MSR.X2APIC_LVTPC, BigInt(vector));
}

export function nmiLvtpc(cpu: PhysicalCpu): void {
  cpu.wrmsr(MSR.X2APIC_LVTPC, BigInt(LVT.DM_NMI));
}

/** Bit indices set in a bigint. */
export function bitsOf(v: bigint): number[] {
  const out: number[] = [];
  for (let i = 0; v >> BigInt(i) !== 0n; i++) if ((v >> BigInt(i)) & 1n) out.push(i);
  return out;
}

export function popcount(v: bigint): number {
  return bitsOf(v).length;
}

/** The model with some fields replaced (a custom part). */
export function variant(name: CpuModelName, patch: Partial<CpuModel>): CpuModel {
  return { ...CPU_MODELS[name], ...patch, name: `${name}-variant` };
}
