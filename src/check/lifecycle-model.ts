/**
 * The VM lifecycle model: vCPU creations racing on each VM, each VM destroyed
 * after its last vCPU ioctl returned, and event threads accounting
 * include-guest events meanwhile (src/kvm/vm-lifecycle-protocol.ts).
 *
 *   vcpu thread    kvm_vm_ioctl_create_vcpu() once; the first to run creates
 *                  the VM's mediated PMU.
 *   destroy thread kvm_arch_destroy_vm(), starting only once every vcpu
 *                  thread of its VM has finished (an ioctl holds a reference
 *                  to the VM, so the last put, and destroy, comes after it).
 *   event thread   R rounds of account / unaccount-if-accounted.
 *
 * The VM, not a thread, holds the mediated PMU: a holder slot per VM.
 */
import { NR_INCLUDE_GUEST_EVENTS, NR_MEDIATED_PMU_VMS } from '../perf/mediated-protocol.ts';
import {
  VM_LIFECYCLE_VARIANTS,
  vmLifecycleProtocol,
  type VmLifecycleVariant,
} from '../kvm/vm-lifecycle-protocol.ts';
import {
  releasePoints,
  Side,
  threadAcquire,
  threadRelease,
  type Call,
  type Model,
  type ThreadSpec,
} from './model-definition.ts';
import { item } from '../common/item.ts';

export interface LifecycleParams {
  vms: number;
  vcpus: number;
  events: number;
  rounds: number;
  /** VM 0 has no in-kernel local APIC: its first vCPU turns its PMU off instead of creating it. */
  noLapic: boolean;
}

export const DEFAULT_LIFECYCLE_PARAMS: LifecycleParams = {
  vms: 1,
  vcpus: 2,
  events: 1,
  rounds: 1,
  noLapic: false,
};

export const LIFECYCLE_VARIANT_NAMES = Object.keys(VM_LIFECYCLE_VARIANTS);

export function lifecycleModel(variantName: string, params: LifecycleParams): Model {
  if (!(variantName in VM_LIFECYCLE_VARIANTS)) {
    throw new RangeError(`unknown vm-lifecycle variant '${variantName}'`);
  }
  const protocol = vmLifecycleProtocol(params.vms, variantName as VmLifecycleVariant);
  const threads: ThreadSpec[] = [];
  const cellLabels = ['vms', 'events'];
  const initialCells = [0, 0];
  for (let v = 0; v < params.vms; v++) {
    // kvm->arch.enable_pmu starts on; the VM has an in-kernel irqchip unless --no-lapic (VM 0).
    cellLabels.push(`created${v}`, `vcpus${v}`, `pmu${v}`, `irqchip${v}`);
    initialCells.push(0, 0, 1, v === 0 && params.noLapic ? 0 : 1);
    const { op, perfCalls } = item(protocol.createVcpu, v);
    const createVcpu: Call = {
      op,
      justifiedBy: NR_INCLUDE_GUEST_EVENTS,
      ghost: {
        side: Side.MediatedVm,
        holder: v,
        acquiredAt: perfCalls.createReturnedOk,
        refusedAt: perfCalls.createRefused,
        releasedAt: [],
      },
    };
    const destroy = item(protocol.destroyVm, v);
    const destroyVm: Call = {
      op: destroy.op,
      ghost: { ...releasePoints(Side.MediatedVm, v), releasedAt: destroy.perfCalls.releaseCalled },
    };
    const first = threads.length;
    for (let i = 0; i < params.vcpus; i++) {
      threads.push({ name: `vcpu${v}.${i}`, symmetryClass: `vcpu@${v}`, calls: [createVcpu] });
    }
    threads.push({
      name: `destroy${v}`,
      symmetryClass: `destroy@${v}`,
      calls: [destroyVm],
      startsAfter: Array.from({ length: params.vcpus }, (_, i) => first + i),
    });
  }
  const { account: accountOp, unaccount: unaccountOp } = protocol.perf.operations;
  const account = threadAcquire(accountOp, Side.IncludeGuestEvent, NR_MEDIATED_PMU_VMS);
  const unaccount = threadRelease(unaccountOp, Side.IncludeGuestEvent);
  for (let i = 0; i < params.events; i++) {
    threads.push({
      name: `event${i}`,
      symmetryClass: 'event',
      calls: Array.from({ length: params.rounds }, () => [account, unaccount]).flat(),
    });
  }
  return {
    kind: 'vm-lifecycle',
    variant: variantName,
    params: {
      vms: params.vms,
      vcpus: params.vcpus,
      events: params.events,
      rounds: params.rounds,
      ...(params.noLapic ? { 'no-lapic': true } : {}),
    },
    protocol,
    cellLabels,
    initialCells,
    counterCells: [NR_MEDIATED_PMU_VMS, NR_INCLUDE_GUEST_EVENTS],
    holderSlots: params.vms,
    threads,
  };
}
