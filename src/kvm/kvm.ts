/**
 * /dev/kvm: the module parameters and VM creation (API.md "KVM").
 */
import type { PhysicalCpu } from '../hw/cpu.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { KvmParams } from './params.ts';
import { Vm, type VmPublic } from './vm-object.ts';

export interface Kvm {
  readonly params: KvmParams;
  createVm(options?: { lapic?: boolean }): VmPublic;
}

export interface KvmHost {
  readonly cpus: readonly PhysicalCpu[];
  readonly perf: PerfKvmExports;
  log(line: string): void;
}

export class KvmModule implements Kvm {
  readonly vms: Vm[] = [];

  constructor(
    readonly params: KvmParams,
    readonly host: KvmHost,
  ) {}

  createVm(options: { lapic?: boolean } = {}): VmPublic {
    if (options === null || typeof options !== 'object') throw new TypeError('createVm: options must be an object');
    const vm = new Vm(this, this.vms.length + 1, options);
    this.vms.push(vm);
    return vm;
  }
}
