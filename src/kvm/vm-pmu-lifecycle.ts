/**
 * A KVM VM's PMU lifecycle (arch/x86/kvm/x86.c): the mediated PMU is created
 * in perf when the first vCPU is created (sticky: a failed vCPU creation does
 * not undo it), KVM_CAP_PMU_CAPABILITY may only disable (or re-enable) the
 * PMU before that, and destroying the VM releases the mediated PMU once.
 *
 * The creation and release themselves run the protocol data of
 * vm-lifecycle-protocol.ts (kvm->lock, created_mediated_pmu, perf's calls
 * inlined): the same definition the interleaving explorer checks.
 */
import { KvmError } from '../common/errors.ts';
import type { PerfKvmExports } from '../perf/kvm-exports.ts';
import type { AccountingProtocol } from '../perf/mediated-protocol.ts';
import type { KvmParams } from './params.ts';
import {
  VM_CELLS,
  vmLifecycleProtocol,
  type VmLifecycleProtocol,
} from './vm-lifecycle-protocol.ts';
import { item } from '../common/item.ts';

/** The lifecycle protocol for one VM, per accounting variant (built once). */
const protocols = new Map<AccountingProtocol, VmLifecycleProtocol>();
function lifecycleFor(perf: AccountingProtocol): VmLifecycleProtocol {
  let protocol = protocols.get(perf);
  if (!protocol) {
    protocol = vmLifecycleProtocol(1, 'upstream', perf);
    protocols.set(perf, protocol);
  }
  return protocol;
}

/** KVM_PMU_CAP_DISABLE (include/uapi/linux/kvm.h), the only KVM_CAP_PMU_VALID_MASK bit. */
export const KVM_PMU_CAP_DISABLE = 1;
const KVM_CAP_PMU_VALID_MASK = KVM_PMU_CAP_DISABLE;

/** KVM's advice when perf refuses the mediated PMU (kvm_arch_vcpu_precreate). */
export const MEDIATED_PMU_EBUSY_MESSAGE =
  'kvm: Failed to enable mediated vPMU, try disabling system wide perf events and nmi_watchdog.';

export interface VmOptions {
  /** An in-kernel local APIC (KVM_CREATE_IRQCHIP); without one the VM has no PMU. */
  lapic?: boolean;
}

/** Indices into the VM's protocol cells (VM_CELLS' order). */
const CREATED = 0;
const VCPUS = 1;
const ENABLE_PMU = 2;
const IRQCHIP = 3;

export class VmPmuLifecycle {
  /**
   * The VM's protocol cells: kvm->arch.created_mediated_pmu,
   * kvm->created_vcpus, kvm->arch.enable_pmu, irqchip_in_kernel().
   */
  // Non-null assertions index `cells` by the constants above, each below VM_CELLS.length.
  private readonly cells = new Int32Array(VM_CELLS.length);
  destroyed = false;
  readonly lapic: boolean;

  constructor(
    private readonly params: KvmParams,
    private readonly perf: PerfKvmExports,
    private readonly log: (line: string) => void,
    options: VmOptions = {},
  ) {
    if (options.lapic !== undefined && typeof options.lapic !== 'boolean')
      throw new TypeError(`createVm: lapic must be a boolean, got ${String(options.lapic)}`);
    this.lapic = options.lapic ?? true;
    this.cells[IRQCHIP] = this.lapic ? 1 : 0;
    // kvm->arch.enable_pmu starts as the module's enable_pmu; only the first
    // vCPU's precreate turns it off, and only for the mediated vPMU.
    this.enablePmu = params.enablePmu;
  }

  /** kvm->arch.enable_pmu. */
  get enablePmu(): boolean {
    return this.cells[ENABLE_PMU] !== 0;
  }
  set enablePmu(on: boolean) {
    this.cells[ENABLE_PMU] = on ? 1 : 0;
  }

  get mediated(): boolean {
    return this.params.enableMediatedPmu && this.enablePmu;
  }

  /** kvm->arch.created_mediated_pmu. */
  get createdMediatedPmu(): boolean {
    return this.cells[CREATED] !== 0;
  }

  /** kvm->created_vcpus. */
  get createdVcpus(): number {
    return item(this.cells, VCPUS);
  }

  /**
   * kvm_vm_ioctl_create_vcpu up to the vCPU count: under kvm->lock, until the
   * mediated PMU exists, perf_create_mediated_pmu(); -EBUSY fails the vCPU.
   * Without an in-kernel local APIC the protocol turns the VM's PMU off
   * instead (kvm->arch.enable_pmu = false); the legacy design, which never
   * runs it, keeps its PMU without one.
   */
  precreateVcpu(): void {
    this.checkAlive();
    if (!this.mediated) {
      this.cells[VCPUS]!++;
      return;
    }
    const r = this.perf.runMediatedPmuOperation(
      item(lifecycleFor(this.perf.accountingProtocol).createVcpu, 0).op,
      this.cells,
      1,
    );
    if (r !== 0) {
      this.log(MEDIATED_PMU_EBUSY_MESSAGE);
      throw new KvmError(
        'EBUSY',
        'perf refused the mediated PMU: host events that count in guests exist (system-wide perf, NMI watchdog)',
      );
    }
  }

  /**
   * The rest of kvm_vm_ioctl_create_vcpu failed after the precreate: the
   * vcpu_decrement path takes the vCPU back out of kvm->created_vcpus (under
   * kvm->lock). The mediated PMU, if the precreate made it, stays (sticky).
   */
  vcpuCreateFailed(): void {
    this.cells[VCPUS]!--;
  }

  /**
   * KVM_ENABLE_CAP(KVM_CAP_PMU_CAPABILITY) with args[0] = `flags`
   * (kvm_vm_ioctl_enable_cap, x86.c): -EINVAL without the module's
   * enable_pmu or with a bit outside KVM_CAP_PMU_VALID_MASK; then, only
   * before the first vCPU and the mediated PMU, kvm->arch.enable_pmu =
   * !(flags & KVM_PMU_CAP_DISABLE), so 0 turns a disabled PMU back on.
   */
  setPmuCapability(flags: number): void {
    this.checkAlive();
    if (!Number.isSafeInteger(flags) || flags < 0)
      throw new TypeError(`KVM_CAP_PMU_CAPABILITY: flags must be a u64, got ${String(flags)}`);
    if (!this.params.enablePmu)
      throw new KvmError('EINVAL', 'KVM_CAP_PMU_CAPABILITY needs kvm.enable_pmu');
    if (flags & ~KVM_CAP_PMU_VALID_MASK)
      throw new KvmError('EINVAL', `KVM_CAP_PMU_CAPABILITY: unknown flags 0x${flags.toString(16)}`);
    if (this.createdVcpus > 0 || this.createdMediatedPmu) {
      throw new KvmError(
        'EINVAL',
        'KVM_CAP_PMU_CAPABILITY is only accepted before the first vCPU is created',
      );
    }
    this.enablePmu = (flags & KVM_PMU_CAP_DISABLE) === 0;
  }

  /** KVM_CAP_PMU_CAPABILITY with KVM_PMU_CAP_DISABLE. */
  disablePmu(): void {
    this.setPmuCapability(KVM_PMU_CAP_DISABLE);
  }

  /** kvm_arch_destroy_vm: release the mediated PMU, once. */
  destroy(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    if (this.createdMediatedPmu) {
      this.perf.runMediatedPmuOperation(
        item(lifecycleFor(this.perf.accountingProtocol).destroyVm, 0).op,
        this.cells,
        1,
      );
    }
  }

  checkAlive(): void {
    if (this.destroyed)
      throw new KvmError('EBADF', 'the VM has been destroyed (its file is closed)');
  }
}
