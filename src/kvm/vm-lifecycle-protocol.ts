/**
 * A VM's mediated PMU over its lifetime (arch/x86/kvm/x86.c, virt/kvm/kvm_main.c),
 * as protocol data, with perf's accounting calls inlined.
 *
 *   kvm_vm_ioctl_create_vcpu()
 *     mutex_lock(&kvm->lock);
 *     r = kvm_arch_vcpu_precreate(kvm, id);
 *         ...
 *         if (enable_mediated_pmu && kvm->arch.enable_pmu &&
 *             !kvm->arch.created_mediated_pmu) {
 *             if (irqchip_in_kernel(kvm)) {
 *                 r = perf_create_mediated_pmu();
 *                 if (r) return r;             // -EBUSY: an include-guest event exists
 *                 kvm->arch.created_mediated_pmu = true;
 *             } else {
 *                 kvm->arch.enable_pmu = false; // no in-kernel LAPIC: no PMU at all
 *             }
 *         }
 *     if (r) { mutex_unlock(&kvm->lock); return r; }
 *     kvm->created_vcpus++;
 *     mutex_unlock(&kvm->lock);
 *
 *   kvm_arch_destroy_vm()       (after the last reference is dropped)
 *     if (kvm->arch.created_mediated_pmu)
 *         perf_release_mediated_pmu();
 *
 * kvm->lock makes "check the flag, create, set the flag" one critical section,
 * so concurrent first vCPU creations create the mediated PMU once; the flag is
 * set only on success ("sticky": a later vCPU failing does not undo it), so a
 * failed creation leaves nothing for destroy to release.
 *
 * kvm->arch.enable_pmu and irqchip_in_kernel() are cells of the VM (the
 * irqchip is set by KVM_CREATE_IRQCHIP before any vCPU exists, so it does not
 * change here). The protocol assumes the module's enable_mediated_pmu (its
 * caller checks it, with perf's Kconfig), and leaves out the vCPU count
 * limit and the rest of vCPU creation, which touch no shared accounting state.
 */
import { ERRNO } from '../common/errors.ts';
import { StepKind, type Operation, type Protocol, type Step } from '../common/protocol.ts';
import { accountingShape, UPSTREAM, type AccountingProtocol } from '../perf/mediated-protocol.ts';
import { item } from '../common/item.ts';

/** Cell names of VM `v`. */
export const createdFlag = (v: number) => `kvm${v}->arch.created_mediated_pmu`;
export const createdVcpus = (v: number) => `kvm${v}->created_vcpus`;
export const kvmLock = (v: number) => `kvm${v}->lock`;
export const enablePmuFlag = (v: number) => `kvm${v}->arch.enable_pmu`;
export const irqchipInKernel = (v: number) => `irqchip_in_kernel(kvm${v})`;
/** A VM's own cells, in the order they follow perf's in the protocol (VmPmuLifecycle keeps them so). */
export const VM_CELLS = [createdFlag, createdVcpus, enablePmuFlag, irqchipInKernel] as const;

/** Where, inside a KVM operation, the inlined perf calls return or start. */
export interface PerfCallSites {
  /** Steps that mean perf_create_mediated_pmu() returned 0. */
  readonly createReturnedOk: readonly number[];
  /** Steps that mean it returned -EBUSY. */
  readonly createRefused: readonly number[];
  /** The first step of the inlined perf_release_mediated_pmu(). */
  readonly releaseCalled: readonly number[];
}

export interface KvmOperation {
  readonly op: Operation;
  readonly perfCalls: PerfCallSites;
}

export interface VmLifecycleProtocol extends Protocol {
  /** kvm_vm_ioctl_create_vcpu() of VM v. */
  readonly createVcpu: readonly KvmOperation[];
  /** kvm_arch_destroy_vm() of VM v. */
  readonly destroyVm: readonly KvmOperation[];
  /** perf's own entry points, for the event threads. */
  readonly perf: AccountingProtocol;
}

type Line =
  | { label: string }
  | { mark: string }
  | { kind: StepKind; cell: number; target: string | null; value: number; text: string };

/**
 * A small assembler that can splice another protocol's operation in: the
 * callee's cells, mutexes and WARN sites are mapped by name, its jump targets
 * relocated, and each `return v` becomes a jump to where the caller continues.
 */
class KvmOperationAssembler {
  private readonly lines: Line[] = [];
  private inlined = 0;

  constructor(
    private readonly shape: Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'>,
    private readonly name: string,
  ) {}

  label(name: string): this {
    this.lines.push({ label: name });
    return this;
  }
  /** Records the index of the next step under `name` (for PerfCallSites). */
  mark(name: string): this {
    this.lines.push({ mark: name });
    return this;
  }
  step(
    kind: StepKind,
    text: string,
    args: { cell?: string; mutex?: string; target?: string; value?: number } = {},
  ): this {
    let cell = -1;
    if (args.cell !== undefined) cell = this.index(this.shape.cells, args.cell);
    if (args.mutex !== undefined) cell = this.index(this.shape.mutexes, args.mutex);
    this.lines.push({ kind, cell, target: args.target ?? null, value: args.value ?? 0, text });
    return this;
  }

  /**
   * Splices `callee` (an operation of the protocol shaped `calleeShape`) in
   * here. Its `return v` jumps to `continueAt(v)`; `marks(v)` names the mark
   * each such return gets.
   */
  inline(
    callee: Operation,
    calleeShape: Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'>,
    continueAt: (value: number) => string,
    markReturn: (value: number) => string,
    markStart?: string,
  ): this {
    const prefix = `${callee.name}#${this.inlined++}:`;
    if (markStart) this.mark(markStart);
    callee.steps.forEach((s, pc) => {
      this.lines.push({ label: `${prefix}${pc}` });
      let cell = s.cell;
      let value = s.value;
      if (s.kind === StepKind.Lock || s.kind === StepKind.Unlock) {
        cell = this.index(this.shape.mutexes, item(calleeShape.mutexes, s.cell));
      } else if (s.cell >= 0) {
        cell = this.index(this.shape.cells, item(calleeShape.cells, s.cell));
      }
      if (s.kind === StepKind.WarnOnce)
        value = this.index(this.shape.warnSites, item(calleeShape.warnSites, s.value));
      if (s.kind === StepKind.Return) {
        this.mark(markReturn(s.value));
        this.lines.push({
          kind: StepKind.Jump,
          cell: -1,
          target: continueAt(s.value),
          value: 0,
          text: `${s.text} (from ${callee.name})`,
        });
        return;
      }
      const target = s.target >= 0 ? `${prefix}${s.target}` : null;
      this.lines.push({ kind: s.kind, cell, target, value, text: s.text });
    });
    return this;
  }

  build(): { op: Operation; marks: Map<string, number[]> } {
    const labels = new Map<string, number>();
    const marks = new Map<string, number[]>();
    let pc = 0;
    for (const line of this.lines) {
      if ('label' in line) labels.set(line.label, pc);
      else if ('mark' in line) marks.set(line.mark, [...(marks.get(line.mark) ?? []), pc]);
      else pc++;
    }
    const steps: Step[] = [];
    for (const line of this.lines) {
      if (!('kind' in line)) continue;
      let target = -1;
      if (line.target !== null) {
        const t = labels.get(line.target);
        if (t === undefined) throw new Error(`${this.name}: unknown label '${line.target}'`);
        target = t;
      }
      steps.push(
        Object.freeze({
          kind: line.kind,
          cell: line.cell,
          target,
          value: line.value,
          text: line.text,
        }),
      );
    }
    return { op: Object.freeze({ name: this.name, steps: Object.freeze(steps) }), marks };
  }

  private index(names: readonly string[], name: string): number {
    const i = names.indexOf(name);
    if (i < 0) throw new Error(`${this.name}: unknown name '${name}'`);
    return i;
  }
}

/** How KVM's side is written: as upstream, or one of the mutants the explorer must catch. */
export type VmLifecycleVariant = 'upstream' | 'precreate-outside-lock' | 'flag-before-create';

export const VM_LIFECYCLE_VARIANTS: Readonly<
  Record<VmLifecycleVariant, { correct: boolean; summary: string }>
> = {
  upstream: {
    correct: true,
    summary:
      'kvm_arch_vcpu_precreate() under kvm->lock; the flag set only after a successful create',
  },
  'precreate-outside-lock': {
    correct: false,
    summary:
      'the flag check and perf_create_mediated_pmu() outside kvm->lock: two first vCPUs both create',
  },
  'flag-before-create': {
    correct: false,
    summary:
      'created_mediated_pmu set before the call and not cleared on -EBUSY: destroy releases what was never created',
  },
};

const EBUSY = -ERRNO.EBUSY;

function createVcpu(
  shape: Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'>,
  v: number,
  variant: VmLifecycleVariant,
  perf: AccountingProtocol,
): KvmOperation {
  const a = new KvmOperationAssembler(shape, 'kvm_vm_ioctl_create_vcpu');
  const created = createdFlag(v);
  const lock = () => a.step(StepKind.Lock, `mutex_lock(&kvm->lock)`, { mutex: kvmLock(v) });
  const unlock = () => a.step(StepKind.Unlock, `mutex_unlock(&kvm->lock)`, { mutex: kvmLock(v) });
  /** The precreate's condition: kvm->arch.enable_pmu && !created_mediated_pmu, then the irqchip. */
  const checkFlag = () =>
    a
      .step(StepKind.JumpIfZero, 'if (kvm->arch.enable_pmu)', {
        cell: enablePmuFlag(v),
        target: 'vcpu',
      })
      .step(StepKind.JumpIfNonZero, 'if (!kvm->arch.created_mediated_pmu)', {
        cell: created,
        target: 'vcpu',
      })
      .step(StepKind.JumpIfZero, 'if (irqchip_in_kernel(kvm))', {
        cell: irqchipInKernel(v),
        target: 'no-lapic',
      });
  /**
   * Without an in-kernel LAPIC the VM gets no PMU: kvm->arch.enable_pmu =
   * false. Placed just before the `vcpu` label, so no jump goes backwards
   * (the explorer's partial-order reduction needs a loop-free protocol).
   */
  const noLapicThenVcpu = () =>
    a
      .step(StepKind.Jump, 'goto vcpu', { target: 'vcpu' })
      .label('no-lapic')
      .step(StepKind.Store, 'kvm->arch.enable_pmu = false', { cell: enablePmuFlag(v), value: 0 })
      .label('vcpu');
  const perfCreate = (onOk: string) =>
    a.inline(
      perf.operations.create,
      accountingShape,
      (r) => (r === 0 ? onOk : 'busy'),
      (r) => (r === 0 ? 'ok' : 'refused'),
    );
  const setFlag = () =>
    a.step(StepKind.Store, 'kvm->arch.created_mediated_pmu = true', { cell: created, value: 1 });
  const countVcpu = () => a.step(StepKind.Inc, 'kvm->created_vcpus++', { cell: createdVcpus(v) });

  /** perf_create_mediated_pmu(), then on success the flag. */
  const createThenFlag = () => {
    perfCreate('mark');
    a.label('mark');
    setFlag();
  };
  /** The vCPU counted, kvm->lock released (on -EBUSY too if `locked`), the return. */
  const countAndReturn = (locked: boolean, busy: string) => {
    countVcpu();
    unlock();
    a.step(StepKind.Return, 'return 0', { value: 0 });
    a.label('busy');
    if (locked) unlock();
    a.step(StepKind.Return, busy, { value: EBUSY });
  };

  if (variant === 'upstream') {
    lock();
    checkFlag();
    createThenFlag();
    noLapicThenVcpu();
    countAndReturn(true, 'return -EBUSY');
  } else if (variant === 'precreate-outside-lock') {
    checkFlag();
    createThenFlag();
    noLapicThenVcpu();
    lock();
    countAndReturn(false, 'return -EBUSY');
  } else {
    lock();
    checkFlag();
    setFlag();
    perfCreate('vcpu');
    noLapicThenVcpu();
    countAndReturn(true, 'return -EBUSY (flag left set)');
  }
  const { op, marks } = a.build();
  return {
    op,
    perfCalls: {
      createReturnedOk: marks.get('ok') ?? [],
      createRefused: marks.get('refused') ?? [],
      releaseCalled: [],
    },
  };
}

function destroyVm(
  shape: Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'>,
  v: number,
  perf: AccountingProtocol,
): KvmOperation {
  const a = new KvmOperationAssembler(shape, 'kvm_arch_destroy_vm');
  a.step(StepKind.JumpIfZero, 'if (kvm->arch.created_mediated_pmu)', {
    cell: createdFlag(v),
    target: 'out',
  });
  a.inline(
    perf.operations.release,
    accountingShape,
    () => 'out',
    () => 'released',
    'release',
  );
  a.label('out');
  a.step(StepKind.Return, 'return', { value: 0 });
  const { op, marks } = a.build();
  return {
    op,
    perfCalls: {
      createReturnedOk: [],
      createRefused: [],
      releaseCalled: marks.get('release') ?? [],
    },
  };
}

/** The protocol for `vms` VMs, each with its own kvm->lock and flags, sharing perf's accounting. */
export function vmLifecycleProtocol(
  vms: number,
  variant: VmLifecycleVariant = 'upstream',
  perf: AccountingProtocol = UPSTREAM,
): VmLifecycleProtocol {
  const cells = [...accountingShape.cells];
  const mutexes = [...accountingShape.mutexes];
  for (let v = 0; v < vms; v++) {
    cells.push(...VM_CELLS.map((name) => name(v)));
    mutexes.push(kvmLock(v));
  }
  const shape = { cells, mutexes, warnSites: accountingShape.warnSites };
  const createVcpus = Array.from({ length: vms }, (_, v) => createVcpu(shape, v, variant, perf));
  const destroyVms = Array.from({ length: vms }, (_, v) => destroyVm(shape, v, perf));
  const operations: Record<string, Operation> = { ...perf.operations };
  for (let v = 0; v < vms; v++) {
    operations[`create_vcpu@${v}`] = item(createVcpus, v).op;
    operations[`destroy_vm@${v}`] = item(destroyVms, v).op;
  }
  return Object.freeze({
    name: `vm-lifecycle:${variant}`,
    ...shape,
    operations: Object.freeze(operations),
    createVcpu: createVcpus,
    destroyVm: destroyVms,
    perf,
  });
}
