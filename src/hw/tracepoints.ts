/**
 * The hardware's trace points for one logical CPU (see common/tracepoint.ts).
 * MSR accesses have none: each is priced by the CPU itself as it happens
 * (PhysicalCpu.accessCycles), the hottest path of the model.
 */
import { Tracepoint } from '../common/tracepoint.ts';
import type { InterruptDelivery } from './lapic.ts';

export class CpuTracepoints {
  /**
   * A counter overflow asked for a PMI: how LVTPC delivered it (an NMI, or a
   * vector), or null when LVTPC masked it. Fires before the interrupt is
   * taken, in guest or host mode.
   */
  readonly pmi = new Tracepoint<[delivery: InterruptDelivery | null, guestMode: boolean]>('hw:pmi');
}
