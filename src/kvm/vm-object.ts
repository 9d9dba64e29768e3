/**
 * A VM (API.md "Vm"): its PMU lifecycle, event filter and vCPUs.
 */
import { KvmError } from '../common/errors.ts';
import type { KvmModule } from './kvm.ts';
import { VmPmuLifecycle } from './vm.ts';

export interface VmPublic {
  readonly mediatedPmu: boolean;
  createVcpu(options?: { hostCpu?: number }): { readonly id: number };
  disablePmu(): void;
  destroy(): void;
}

export class Vm implements VmPublic {
  readonly lifecycle: VmPmuLifecycle;
  private nextVcpuId = 0;

  constructor(
    readonly kvm: KvmModule,
    readonly id: number,
    options: { lapic?: boolean },
  ) {
    this.lifecycle = new VmPmuLifecycle(kvm.params, kvm.host.perf, (l) => kvm.host.log(l), options);
  }

  get mediatedPmu(): boolean {
    return this.lifecycle.createdMediatedPmu;
  }

  createVcpu(options: { hostCpu?: number } = {}): { readonly id: number } {
    const hostCpu = options.hostCpu ?? 0;
    if (!Number.isInteger(hostCpu) || hostCpu < 0 || hostCpu >= this.kvm.host.cpus.length) {
      throw new KvmError('EINVAL', `hostCpu ${hostCpu} does not exist`);
    }
    this.lifecycle.precreateVcpu();
    this.lifecycle.vcpuCreated();
    return { id: this.nextVcpuId++ };
  }

  disablePmu(): void {
    this.lifecycle.disablePmu();
  }

  destroy(): void {
    this.lifecycle.destroy();
  }
}
