/**
 * A VM (docs/api.md "Vm"): its PMU lifecycle, event filter and vCPUs.
 */
import { KvmError } from '../common/errors.ts';
import {
  compileEventFilter,
  type CompiledEventFilter,
  type PmuEventFilter,
} from './event-filter.ts';
import { resolveGuestCpuid } from './guest-cpuid.ts';
import type { KvmModule } from './kvm.ts';
import { VcpuImpl, type Vcpu, type VcpuOptions } from './vcpu.ts';
import { VmPmuLifecycle, type VmOptions } from './vm-pmu-lifecycle.ts';
import type { VpmuDesignName } from './vpmu-design.ts';
import { item } from '../common/item.ts';
import { showValue } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';
import type { GuestPmuConfig } from './pmu-types.ts';

/** Every field of VcpuOptions and of its guest PMU, for refusing misspelt ones. */
const VCPU_OPTIONS: Record<keyof VcpuOptions, true> = { hostCpu: true, pmu: true, cpuid: true };
const GUEST_PMU_FIELDS: Record<keyof GuestPmuConfig, true> = {
  version: true,
  gpCounters: true,
  fixedCounters: true,
  gpWidth: true,
  fixedWidth: true,
  unavailableEvents: true,
  fixedCounterMask: true,
  perfCapabilities: true,
};

/**
 * A JavaScript caller's misspelt option (`{ hostcpu: 1 }`, `{ pmu: { gpCounter: 2 } }`)
 * would otherwise be ignored and KVM's default used, silently.
 */
function checkVcpuOptions(options: object): void {
  const unknown = unknownKey(options, Object.keys(VCPU_OPTIONS));
  if (unknown !== undefined) throw new TypeError(`createVcpu: ${unknown}`);
  resolveGuestCpuid((options as VcpuOptions).cpuid);
  const { pmu } = options as VcpuOptions;
  if (pmu === undefined) return;
  if (pmu === null || typeof pmu !== 'object')
    throw new TypeError(`createVcpu: pmu must be an object, got ${showValue(pmu)}`);
  const unknownField = unknownKey(pmu, Object.keys(GUEST_PMU_FIELDS), 'pmu field');
  if (unknownField !== undefined) throw new TypeError(`createVcpu: ${unknownField}`);
}

export type { VmOptions };

/** docs/api.md "Vm". */
export interface Vm {
  /** True once this VM holds a mediated PMU. */
  readonly mediatedPmu: boolean;
  /** The vPMU design its vCPUs use: 'mediated', 'emulated', 'passthrough-all' (ablation) or 'none'. */
  readonly design: VpmuDesignName;
  /** The first creates the mediated PMU (sticky); may throw KvmError EBUSY. */
  createVcpu(options?: VcpuOptions): Vcpu;
  /** KVM_SET_PMU_EVENT_FILTER. */
  setPmuEventFilter(filter: PmuEventFilter): void;
  /** KVM_CAP_PMU_CAPABILITY(DISABLE): only before the first vCPU, else EINVAL. */
  disablePmu(): void;
  /** KVM_CAP_PMU_CAPABILITY with args[0] = flags: 1 (DISABLE) disables, 0 re-enables; other bits EINVAL. */
  setPmuCapability(flags: number): void;
  /** Releases the mediated PMU, once. */
  destroy(): void;
}

export class KvmVm implements Vm {
  readonly lifecycle: VmPmuLifecycle;
  readonly vcpus: VcpuImpl[] = [];
  private filter: CompiledEventFilter | null = null;
  /**
   * destroy() was called while a vCPU was inside KVM_RUN. As with the
   * kernel's file references (a running vCPU holds a reference on its VM,
   * kvm_destroy_vm runs at the last kvm_put_kvm), the teardown completes
   * when the last running vCPU leaves KVM_RUN.
   */
  private destroyPending = false;

  constructor(
    readonly kvm: KvmModule,
    readonly id: number,
    options: VmOptions,
  ) {
    this.lifecycle = new VmPmuLifecycle(kvm.params, kvm.host.perf, (l) => kvm.host.log(l), options);
  }

  /** True once this VM holds a mediated PMU. */
  get mediatedPmu(): boolean {
    return this.lifecycle.createdMediatedPmu;
  }

  /** The vPMU design this VM's vCPUs use. */
  get design(): VpmuDesignName {
    if (!this.lifecycle.enablePmu) return 'none';
    return this.lifecycle.mediated ? this.kvm.mediatedDesign : 'emulated';
  }

  createVcpu(options: VcpuOptions = {}): Vcpu {
    if (options === null || typeof options !== 'object')
      throw new TypeError('createVcpu: options must be an object');
    checkVcpuOptions(options);
    const hostCpu = options.hostCpu ?? 0;
    const cpus = this.kvm.host.cpus;
    if (!Number.isInteger(hostCpu) || hostCpu < 0 || hostCpu >= cpus.length) {
      throw new KvmError(
        'EINVAL',
        `hostCpu ${String(hostCpu)} does not exist (the host has ${cpus.length} CPUs)`,
      );
    }
    this.checkOpen();
    this.lifecycle.precreateVcpu();
    const kvm = this.kvm;
    const lifecycle = this.lifecycle;
    let vcpu: VcpuImpl;
    try {
      vcpu = new VcpuImpl(
        this.vcpus.length,
        this.id,
        {
          cpu: item(cpus, hostCpu),
          timers: kvm.host.timers,
          perf: kvm.host.perf,
          log: (l) => kvm.host.log(l),
          get enablePmu() {
            return lifecycle.enablePmu;
          },
          design: this.design,
          filter: this.filter,
          setRunning: (v) => kvm.setRunning(hostCpu, v),
          runningOnCpu: () => kvm.runningOn(hostCpu),
          runEnded: () => this.runEnded(),
        },
        options,
      );
    } catch (error) {
      // kvm_vm_ioctl_create_vcpu's vcpu_decrement: the failed vCPU was never created.
      lifecycle.vcpuCreateFailed();
      throw error;
    }
    this.vcpus.push(vcpu);
    return vcpu;
  }

  /** KVM_SET_PMU_EVENT_FILTER: validated, then every vCPU's counters reprogrammed. */
  setPmuEventFilter(filter: PmuEventFilter): void {
    this.checkOpen();
    const compiled = compileEventFilter(filter, item(this.kvm.host.cpus, 0).model.vendor);
    this.filter = compiled;
    for (const vcpu of this.vcpus) vcpu.setFilter(compiled);
  }

  disablePmu(): void {
    this.checkOpen();
    this.lifecycle.disablePmu();
  }

  setPmuCapability(flags: number): void {
    this.checkOpen();
    this.lifecycle.setPmuCapability(flags);
  }

  /**
   * Close the VM and its vCPUs (the last reference: kvm_destroy_vm). Every
   * resource is released exactly once; called while a vCPU runs, the
   * teardown is deferred to the end of that KVM_RUN.
   */
  destroy(): void {
    if (this.lifecycle.destroyed) return;
    if (this.vcpus.some((v) => v.inRun)) {
      this.destroyPending = true;
      return;
    }
    for (const vcpu of this.vcpus) vcpu.destroy();
    this.lifecycle.destroy();
  }

  /**
   * The VM's file is open: not destroyed, no destroy waiting for a running
   * vCPU. destroy() closes the files, so a call after it is an ioctl on a
   * closed descriptor: EBADF, as fs/ioctl.c's ksys_ioctl returns when the fd
   * refers to no file (KVM's own -EIO is for a VM marked dead by a KVM bug,
   * kvm_vm_dead, which a destroy is not).
   */
  private checkOpen(): void {
    this.lifecycle.checkAlive();
    if (this.destroyPending) throw new KvmError('EBADF', 'the VM file is closed (being destroyed)');
  }

  /** A vCPU left KVM_RUN: complete a deferred destroy once none runs. */
  private runEnded(): void {
    if (this.destroyPending && !this.vcpus.some((v) => v.inRun)) {
      this.destroyPending = false;
      this.destroy();
    }
  }
}
