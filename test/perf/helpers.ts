/**
 * Shared helpers for the perf tests (not a test file itself): a host with its
 * white-box handles, errno assertions, and an MSR spy that wraps a physical
 * CPU's port (wrmsr / rdmsr / rdpmc) to count what the x86 driver does.
 */
import assert from 'node:assert/strict';
import { KernelError, type Errno } from '../../src/common/errors.ts';
import type { PhysicalCpu } from '../../src/hw/cpu.ts';
import { MSR, msrName } from '../../src/hw/msr.ts';
import type { KernelEvent } from '../../src/perf/event.ts';
import type { PerfEvent } from '../../src/perf/perf.ts';
import { HostMachine, type HostOptions } from '../../src/sim/host.ts';

/** A host with its white-box handles (cpus, perfCore, perfExports). */
export function machine(options: HostOptions = {}): HostMachine {
  return new HostMachine(options);
}

/** Assert that `fn` throws a KernelError (of class `cls`) with this errno. */
export function throwsErrno(
  fn: () => unknown,
  errno: Errno,
  cls: new (...args: never[]) => KernelError = KernelError,
): void {
  assert.throws(fn, (error: unknown) => {
    assert.ok(error instanceof cls, `expected a ${cls.name}, got ${String(error)}`);
    assert.equal(error.errno, errno, (error as Error).message);
    return true;
  });
}

/** The errno of what `fn` throws, or null if it returns. */
export function errnoOf(fn: () => unknown): Errno | null {
  try {
    fn();
    return null;
  } catch (error) {
    if (error instanceof KernelError) return error.errno;
    throw error;
  }
}

export type Access =
  | { op: 'wrmsr'; msr: number; value: bigint }
  | { op: 'rdmsr'; msr: number }
  | { op: 'rdpmc'; ecx: number };

/** Counting wrappers around one CPU's MSR port. */
export class MsrSpy {
  readonly log: Access[] = [];

  constructor(readonly cpu: PhysicalCpu) {
    const wrmsr = cpu.wrmsr.bind(cpu);
    const rdmsr = cpu.rdmsr.bind(cpu);
    const rdpmc = cpu.rdpmc.bind(cpu);
    cpu.wrmsr = (msr, value) => {
      this.log.push({ op: 'wrmsr', msr, value });
      wrmsr(msr, value);
    };
    cpu.rdmsr = (msr) => {
      this.log.push({ op: 'rdmsr', msr });
      return rdmsr(msr);
    };
    cpu.rdpmc = (ecx) => {
      this.log.push({ op: 'rdpmc', ecx });
      return rdpmc(ecx);
    };
    // The same instructions with number values (the driver's counter writes and reads).
    const rdpmcNumber = cpu.rdpmcNumber.bind(cpu);
    cpu.wrmsrNumber = (msr, value) => cpu.wrmsr(msr, BigInt(value));
    cpu.rdpmcNumber = (ecx) => {
      this.log.push({ op: 'rdpmc', ecx });
      return rdpmcNumber(ecx);
    };
  }

  reset(): void {
    this.log.length = 0;
  }

  get total(): number {
    return this.log.length;
  }

  count(op: Access['op'], msr?: number): number {
    return this.log.filter(
      (a) => a.op === op && (msr === undefined || ('msr' in a && a.msr === msr)),
    ).length;
  }

  writes(msr: number): bigint[] {
    return this.log.flatMap((a) => (a.op === 'wrmsr' && a.msr === msr ? [a.value] : []));
  }

  /** The accesses as short strings ('wr GLOBAL_CTRL', 'rd GLOBAL_STATUS', 'rdpmc'), for sequence checks. */
  shape(): string[] {
    return this.log.map((a) => {
      if (a.op === 'rdpmc') return 'rdpmc';
      const name = SHORT.get(a.msr) ?? classify(a.msr);
      return `${a.op === 'wrmsr' ? 'wr' : 'rd'} ${name}`;
    });
  }
}

const SHORT = new Map<number, string>([
  [MSR.IA32_PERF_GLOBAL_CTRL, 'GLOBAL_CTRL'],
  [MSR.IA32_PERF_GLOBAL_STATUS, 'GLOBAL_STATUS'],
  [MSR.IA32_PERF_GLOBAL_OVF_CTRL, 'OVF_CTRL'],
  [MSR.IA32_FIXED_CTR_CTRL, 'FIXED_CTR_CTRL'],
  [MSR.X2APIC_LVTPC, 'LVTPC'],
  [MSR.MSR_AMD64_PERF_CNTR_GLOBAL_CTL, 'GLOBAL_CTRL'],
  [MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS, 'GLOBAL_STATUS'],
  [MSR.MSR_AMD64_PERF_CNTR_GLOBAL_STATUS_CLR, 'STATUS_CLR'],
]);

/** EVTSEL or COUNTER for the per-counter MSRs of either vendor. */
function classify(msr: number): string {
  if (msr >= MSR.IA32_PERFEVTSEL0 && msr < MSR.IA32_PERFEVTSEL0 + 8) return 'EVTSEL';
  if (msr >= MSR.IA32_PMC0 && msr < MSR.IA32_PMC0 + 8) return 'COUNTER';
  if (msr >= MSR.IA32_PERFCTR0 && msr < MSR.IA32_PERFCTR0 + 8) return 'COUNTER';
  if (msr >= MSR.IA32_FIXED_CTR0 && msr < MSR.IA32_FIXED_CTR0 + 4) return 'COUNTER';
  if (msr >= MSR.MSR_F15H_PERF_CTL0 && msr < MSR.MSR_F15H_PERF_CTL0 + 12) {
    return (msr - MSR.MSR_F15H_PERF_CTL0) % 2 === 0 ? 'EVTSEL' : 'COUNTER';
  }
  if (msr >= MSR.MSR_K7_EVNTSEL0 && msr < MSR.MSR_K7_EVNTSEL0 + 4) return 'EVTSEL';
  if (msr >= MSR.MSR_K7_PERFCTR0 && msr < MSR.MSR_K7_PERFCTR0 + 4) return 'COUNTER';
  return msrName(msr);
}

/** The TSC cycles a host CPU takes for `ns` nanoseconds. */
export function cyclesFor(host: HostMachine, ns: number): number {
  return Math.round((ns * host.model.tscHz) / 1e9);
}

/** The perf core's struct perf_event behind a public handle (white-box). */
export function kernelOf(event: PerfEvent): KernelEvent {
  const kernel = (event as unknown as { kernel?: KernelEvent }).kernel;
  assert.ok(kernel, 'not a PerfEvent of this model');
  return kernel;
}

/** The hardware counter index an event is on (GP i, fixed 32 + j), or -1. */
export function counterOf(event: PerfEvent): number {
  return kernelOf(event).idx;
}
