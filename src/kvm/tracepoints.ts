/**
 * KVM's trace points for one vCPU (the model's counterparts of
 * include/trace/events/kvm.h and arch/x86/kvm/trace.h; see
 * common/tracepoint.ts). A VM-exit is kvm_exit ... kvm_entry: between them
 * the vPMU design's put, KVM's handler, pending requests, the design's load.
 * The exit's reason, whether KVM took it in its fastpath (no PMU world
 * switch), and the MSR of an MSR exit travel with kvm_exit.
 */
import { Tracepoint } from '../common/tracepoint.ts';
import type { ExitReason } from './exits.ts';

/** The two halves of the vPMU world switch (kvm_mediated_pmu_put / kvm_mediated_pmu_load). */
export type PmuSwitch = 'put' | 'load';

export class VcpuTracepoints {
  /** kvm_exit: `msr` is the MSR index of an MSR exit, -1 otherwise. */
  readonly exit = new Tracepoint<[reason: ExitReason, fastpath: boolean, msr: number]>(
    'kvm:kvm_exit',
  );
  /** kvm_entry: back into the guest (after an exit, or at the start of KVM_RUN). */
  readonly entry = new Tracepoint<[]>('kvm:kvm_entry');
  /** kvm_inj_virq: an interrupt (vector 2: the PMI, as an NMI) injected at VM-entry. */
  readonly inject = new Tracepoint<[vector: number]>('kvm:kvm_inj_virq');
  /** The design's half of the world switch begins (`done` false) or ends (`done` true). */
  readonly pmuSwitch = new Tracepoint<[half: PmuSwitch, done: boolean]>('kvm:kvm_pmu_switch');
}
