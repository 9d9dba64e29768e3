/**
 * check_hw_exists (arch/x86/events/core.c): before registering the core PMU,
 * Linux reads every event selector and FIXED_CTR_CTRL, then flips the low 16
 * bits of a free counter and reads it back. An MSR that faults, or a counter
 * that does not keep what was written, means there is no usable PMU: perf
 * registers no core PMU ("PMU not available due to virtualization, using
 * software events only" in a guest), and perf_event_open() of a hardware
 * event finds no PMU to take it (perf_init_event: -ENOENT).
 *
 * Under KVM this is how a guest learns that its PMU is useless: an AMD guest
 * whose vPMU is off (KVM's kvm_get_msr_common reads the legacy K7 counters as
 * 0 and drops writes to them), or general-purpose counters narrower than the
 * 16 bits the probe flips (KVM masks a legacy write to the counter's width,
 * and refuses a full-width one with bits beyond it).
 */
import { CpuFault } from '../hw/fault.ts';
import { EVTSEL, MSR } from '../hw/msr.ts';
import { GuestFault } from '../common/errors.ts';
import type { X86CpuPort, X86PmuDescription } from './x86-pmu-enumerate.ts';

/** The bits the probe flips: val ^= 0xffffUL. */
const PROBE_BITS = 0xffffn;

/** The MSR of event selector / counter i, as the driver addresses them. */
function selectorMsr(desc: X86PmuDescription, i: number): number {
  if (desc.vendor === 'intel') return MSR.IA32_PERFEVTSEL0 + i;
  return desc.perfCtrExtCore ? MSR.MSR_F15H_PERF_CTL0 + 2 * i : MSR.MSR_K7_EVNTSEL0 + i;
}

function counterMsr(desc: X86PmuDescription, i: number): number {
  if (desc.vendor === 'intel')
    return (desc.fullWidthWrites ? MSR.IA32_PMC0 : MSR.IA32_PERFCTR0) + i;
  return desc.perfCtrExtCore ? MSR.MSR_F15H_PERF_CTR0 + 2 * i : MSR.MSR_K7_PERFCTR0 + i;
}

/** rdmsrq_safe / wrmsrq_safe: a fault is a failed access, not a crash. */
function safely<T>(access: () => T): T | null {
  try {
    return access();
  } catch (error) {
    if (error instanceof CpuFault || error instanceof GuestFault) return null;
    throw error;
  }
}

/**
 * Whether the PMU that `desc` describes works. A counter the BIOS left
 * enabled is skipped (Linux complains and probes another one); when all are,
 * or an access faults, or the flipped value does not read back, it does not.
 */
export function checkHwExists(port: X86CpuPort, desc: X86PmuDescription): boolean {
  let free = -1;
  for (let i = 0; i < desc.nrGp; i++) {
    const sel = safely(() => port.rdmsr(selectorMsr(desc, i)));
    if (sel === null) return false;
    if ((sel & EVTSEL.EN) === 0n) free = i;
  }
  if (desc.nrFixed > 0 && safely(() => port.rdmsr(MSR.IA32_FIXED_CTR_CTRL)) === null) return false;
  if (free < 0) return false;
  const msr = counterMsr(desc, free);
  const value = safely(() => port.rdmsr(msr));
  if (value === null) return false;
  const flipped = value ^ PROBE_BITS;
  const written = safely(() => port.wrmsr(msr, flipped)) !== null;
  const readBack = safely(() => port.rdmsr(msr));
  return written && readBack === flipped;
}
