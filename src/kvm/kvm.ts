/**
 * /dev/kvm: the module parameters, VM creation, and KVM's side of the
 * mediated PMI (kvm_handle_mediated_pmi: KVM_REQ_PMI on the vCPU running on
 * the CPU that took the 0xF5 interrupt).
 */
import type { PhysicalCpu } from '../hw/cpu.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { KvmParams } from './params.ts';
import type { HostTimers, VcpuImpl } from './vcpu.ts';
import { KvmVm, type Vm, type VmOptions } from './vm.ts';
import { mediatedDesignName, type MediatedDesignName } from './vpmu-design.ts';
import { unknownKey } from '../common/spelling.ts';

/** Every option of createVm (a misspelt one is refused, not ignored). */
const VM_OPTIONS: readonly (keyof VmOptions)[] = ['lapic'];

export interface Kvm {
  readonly params: KvmParams;
  createVm(options?: VmOptions): Vm;
}

export interface KvmHost {
  readonly cpus: readonly PhysicalCpu[];
  readonly perf: PerfKvmExports;
  readonly timers: HostTimers;
  log(line: string): void;
}

export class KvmModule implements Kvm {
  readonly vms: KvmVm[] = [];
  /** The vCPU in KVM_RUN on each host CPU. */
  private readonly running: (VcpuImpl | null)[];

  /** The design mediated VMs run: the series' own, or its everything-passed-through ablation. */
  readonly mediatedDesign: MediatedDesignName;

  constructor(
    readonly params: KvmParams,
    readonly host: KvmHost,
    /** Ablation only: run mediated VMs with selectors passed through too. */
    passthroughAll = false,
  ) {
    this.mediatedDesign = mediatedDesignName(params.series, passthroughAll);
    this.running = host.cpus.map(() => null);
    host.perf.registerMediatedPmiHandler((cpu) => this.running[cpu]?.requestPmi());
  }

  createVm(options: VmOptions = {}): Vm {
    if (options === null || typeof options !== 'object')
      throw new TypeError('createVm: options must be an object');
    const unknown = unknownKey(options, VM_OPTIONS);
    if (unknown !== undefined) throw new TypeError(`createVm: ${unknown}`);
    const vm = new KvmVm(this, this.vms.length + 1, options);
    this.vms.push(vm);
    return vm;
  }

  setRunning(cpu: number, vcpu: VcpuImpl | null): void {
    this.running[cpu] = vcpu;
  }

  /** The vCPU inside KVM_RUN on host CPU `cpu`, if any. */
  runningOn(cpu: number): VcpuImpl | null {
    return this.running[cpu] ?? null;
  }
}
