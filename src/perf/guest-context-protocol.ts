/**
 * The mediated vPMU's guest context switch on one CPU, as protocol data:
 * what KVM and perf do around VM-entry and VM-exit, and what can arrive on
 * that CPU meanwhile. One definition, executed by the explorer (vpmu check
 * guest-context) and, for perf's own calls, by the perf core sequentially.
 *
 * Upstream (Linux 7.0):
 *  - perf_load_guest_context() / perf_put_guest_context() (kernel/events/
 *    core.c, "perf: Add APIs to load/put guest mediated PMU context",
 *    42457a7fb6ca): under perf_ctx_lock, with interrupts off, schedule the
 *    exclude_guest events of PMUs with PERF_PMU_CAP_MEDIATED_VPMU out
 *    (ctx_sched_out(EVENT_GUEST), which also stamps the guest time,
 *    __update_context_guest_time(ctx, false)) and back in
 *    (perf_event_sched_in(EVENT_GUEST), whose update_context_time() advances
 *    the guest time over the interval); guest_ctx_loaded is set last at load
 *    and cleared last at put. WARN_ON_ONCE on a double load / a put without
 *    load.
 *  - merge_sched_in() skips such events while is_guest_mediated_pmu_loaded(),
 *    unless the scheduling is the EVENT_GUEST one ("perf: Add a EVENT_GUEST
 *    flag", 4593b4b6e218): the check every other sched-in path (event
 *    install, the multiplexing rotation) relies on.
 *  - perf_load_guest_lvtpc() / perf_put_guest_lvtpc() (arch/x86/events/
 *    core.c): the LVTPC to DM_FIXED | PERF_GUEST_MEDIATED_PMI_VECTOR (0xF5),
 *    then guest_lvtpc_loaded; at put the flag first, then APIC_DM_NMI.
 *    perf_event_nmi_handler() ignores NMIs while guest_lvtpc_loaded.
 *  - kvm_mediated_pmu_load() / kvm_mediated_pmu_put() (arch/x86/kvm/pmu.c),
 *    called by vcpu_enter_guest() (arch/x86/kvm/x86.c) after
 *    local_irq_disable() and before the interrupts are enabled again:
 *    perf_load_guest_context(), GLOBAL_CTRL = 0, perf_load_guest_lvtpc(),
 *    the guest's counters; at put the guest's counters saved and cleared,
 *    perf_put_guest_lvtpc(), perf_put_guest_context().
 *  - Host events for that CPU are installed and removed by a cross-CPU
 *    function call (__perf_install_in_context, __perf_remove_from_context):
 *    an IPI, taken only while that CPU has interrupts on. The multiplexing
 *    rotation (perf_mux_hrtimer_handler -> perf_rotate_context) runs from a
 *    hard-irq hrtimer. The PMI of the counters arrives as the LVTPC says: an
 *    NMI, or the 0xF5 interrupt that KVM handles.
 *
 * How the CPU is modelled: the mutex `cpu` stands for "this CPU runs
 * interrupt-level-exclusive code": the vCPU thread holds it while interrupts
 * are off, an interrupt handler for its whole run. Interrupts enabled between
 * two steps of the vCPU thread are written as `mutex_unlock(cpu);
 * mutex_lock(cpu)`, a window in which one handler may run to its end, as on a
 * real CPU. NMIs are not masked: the PMI threads' calls are atomic (one
 * transition each), as an NMI runs to its end on the CPU it interrupts.
 *
 * Ghost cells and assertions (checker state, no kernel counterpart, marked
 * as such in their step text): `timeguest_open` (the guest time's stamp was
 * taken for the current load and the interval not yet counted),
 * `kvm_switching` (KVM is inside kvm_mediated_pmu_load/put), and WARN sites
 * named after the property they assert.
 */
import { OperationBuilder, type Operation, type Protocol } from '../common/protocol.ts';

export const GUEST_CTX_LOADED = 0;
export const GUEST_LVTPC_LOADED = 1;
export const LVTPC_GUEST_VECTOR = 2;
export const GUEST_PMCS_LOADED = 3;
export const TIMEGUEST_OPEN = 4;
export const KVM_SWITCHING = 5;
/** Cells of host event i: installed, then active (scheduled in, counting). */
export const eventInstalledCell = (i: number): number => 6 + 2 * i;
export const eventActiveCell = (i: number): number => 7 + 2 * i;

const LOADED = 'guest_ctx_loaded';
const LVTPC_FLAG = 'guest_lvtpc_loaded';
const LVTPC_VECTOR = 'lvtpc_guest_vector';
const PMCS = 'guest_pmcs_loaded';
const TIME_OPEN = 'timeguest_open';
const SWITCHING = 'kvm_switching';
const CPU = 'cpu';
const CTX_LOCK = 'perf_ctx_lock';
const installed = (i: number) => `event${i}_installed`;
const active = (i: number) => `event${i}_active`;

/** Kernel WARN_ON_ONCE sites, then the ghost assertions (named after their property). */
export const GUEST_CONTEXT_WARN_SITES = [
  'perf_load_guest_context',
  'perf_put_guest_context',
] as const;
export const GUEST_CONTEXT_ASSERTIONS = [
  'host-off-in-guest',
  'host-back-at-put',
  'guest-time',
  'pmi-routing',
  'half-switched',
] as const;
export type GuestContextAssertion = (typeof GUEST_CONTEXT_ASSERTIONS)[number];

/** How a variant differs from upstream; every field false is upstream. */
export interface GuestContextBugs {
  /** kvm_mediated_pmu_load() before local_irq_disable(): interrupts may arrive between its steps. */
  readonly loadIrqsOn?: boolean;
  /** perf_rotate_context()'s sched-in without merge_sched_in()'s guest-loaded check. */
  readonly rotationIgnoresGuest?: boolean;
  /** kvm_mediated_pmu_put() calls perf_put_guest_context() before perf_put_guest_lvtpc(). */
  readonly lvtpcAfterHostEvents?: boolean;
  /** __perf_install_in_context()'s sched-in without the guest-loaded check. */
  readonly installSkipsGuestCheck?: boolean;
}

export interface GuestContextProtocol extends Protocol {
  /** Host events modelled (cells event0_..). */
  readonly events: number;
}

/**
 * The builder the operations are written with: an OperationBuilder whose
 * shared steps may each be followed by an interrupt window (interrupts on).
 */
class Emitter {
  private windows = false;
  private labels = 0;

  constructor(readonly b: OperationBuilder) {}

  /** Emit `body` with an interrupt window after each shared step. */
  interruptible(on: boolean, body: () => void): this {
    const was = this.windows;
    this.windows = on;
    body();
    this.windows = was;
    return this;
  }

  fresh(name: string): string {
    return `${name}.${this.labels++}`;
  }

  private window(): this {
    if (this.windows) this.b.unlock(CPU).lock(CPU);
    return this;
  }
  lock(m: string): this {
    this.b.lock(m);
    return this.window();
  }
  unlock(m: string): this {
    this.b.unlock(m);
    return this.window();
  }
  store(cell: string, value: number): this {
    this.b.store(cell, value);
    return this.window();
  }
  jumpIfZero(cell: string, target: string): this {
    this.b.jumpIfZero(cell, target);
    return this.window();
  }
  jumpIfNonZero(cell: string, target: string): this {
    this.b.jumpIfNonZero(cell, target);
    return this.window();
  }
  label(name: string): this {
    this.b.label(name);
    return this;
  }
  jump(target: string): this {
    this.b.jump(target);
    return this;
  }
  warn(site: string): this {
    this.b.warnOnce(site);
    return this;
  }
  /** Reaching this step breaks the property (a ghost assertion's failing branch). */
  failAssertion(property: GuestContextAssertion): this {
    this.b.warnOnce(property, `ghost assertion fails: ${property}`);
    return this;
  }
  /** A ghost assertion: `cell` must be `expectZero ? 0 : non-zero` here, else the property is broken. */
  assert(cell: string, expectZero: boolean, property: GuestContextAssertion): this {
    const ok = this.fresh('assert');
    if (expectZero) this.jumpIfZero(cell, ok);
    else this.jumpIfNonZero(cell, ok);
    return this.failAssertion(property).label(ok);
  }
}

function shape(events: number): Pick<Protocol, 'cells' | 'mutexes' | 'warnSites'> {
  const cells = [LOADED, LVTPC_FLAG, LVTPC_VECTOR, PMCS, TIME_OPEN, SWITCHING];
  for (let i = 0; i < events; i++) cells.push(installed(i), active(i));
  return {
    cells,
    mutexes: [CPU, CTX_LOCK],
    warnSites: [...GUEST_CONTEXT_WARN_SITES, ...GUEST_CONTEXT_ASSERTIONS],
  };
}

/**
 * __ctx_time_update() -> update_context_time(): while a guest is loaded the
 * guest time advances with the context time. It must advance over an
 * interval whose stamp this load took, else a stretch of host time would be
 * counted as guest time (deducted twice from exclude_guest events).
 */
function contextTimeUpdate(e: Emitter): void {
  const done = e.fresh('time');
  e.jumpIfZero(LOADED, done).assert(TIME_OPEN, false, 'guest-time').label(done);
}

/** merge_sched_in() for host event i, with or without its guest-loaded check. */
function mergeSchedIn(e: Emitter, i: number, guestCheck: boolean): void {
  const skip = e.fresh('skip');
  e.jumpIfZero(installed(i), skip);
  if (guestCheck) e.jumpIfNonZero(LOADED, skip);
  e.store(active(i), 1).assert(PMCS, true, 'host-off-in-guest').label(skip);
}

/**
 * The prologue load and put share: perf_ctx_lock, then WARN_ON_ONCE and
 * return unless guest_ctx_loaded is as the call needs it (clear for load, set
 * for put). Returns the label of the return.
 */
function lockAndCheckLoaded(e: Emitter, call: 'load' | 'put'): string {
  const ok = e.fresh(call);
  const out = e.fresh(`${call}.out`);
  e.lock(CTX_LOCK);
  if (call === 'load') e.jumpIfZero(LOADED, ok);
  else e.jumpIfNonZero(LOADED, ok);
  e.warn(`perf_${call}_guest_context`).unlock(CTX_LOCK).jump(out).label(ok);
  return out;
}

function perfLoadGuestContext(e: Emitter, events: number): void {
  const out = lockAndCheckLoaded(e, 'load');
  // ctx_sched_out(&cpuctx->ctx, NULL, EVENT_GUEST).
  contextTimeUpdate(e);
  e.store(TIME_OPEN, 1); // __update_context_guest_time(ctx, false): the stamp
  for (let i = 0; i < events; i++) e.store(active(i), 0); // __pmu_ctx_sched_out(EVENT_ALL)
  e.store(LOADED, 1).unlock(CTX_LOCK).label(out);
}

function perfPutGuestContext(e: Emitter, events: number): void {
  const out = lockAndCheckLoaded(e, 'put');
  // perf_event_sched_in(EVENT_GUEST) -> ctx_sched_in(): update_context_time()
  // counts the guest interval (guest_ctx_loaded is still set), then the
  // exclude_guest events go back in.
  contextTimeUpdate(e);
  e.store(TIME_OPEN, 0); // ghost: the interval is counted, once
  for (let i = 0; i < events; i++) mergeSchedIn(e, i, false);
  for (let i = 0; i < events; i++) {
    const back = e.fresh('back');
    e.jumpIfZero(installed(i), back).assert(active(i), false, 'host-back-at-put').label(back);
  }
  e.store(LOADED, 0).unlock(CTX_LOCK).label(out);
}

function perfLoadGuestLvtpc(e: Emitter): void {
  e.store(LVTPC_VECTOR, 1).store(LVTPC_FLAG, 1);
}

function perfPutGuestLvtpc(e: Emitter): void {
  e.store(LVTPC_FLAG, 0).store(LVTPC_VECTOR, 0);
}

/** kvm_mediated_pmu_load(): perf steps aside, the LVTPC, then the guest's counters (live from VM-entry). */
function kvmMediatedPmuLoad(e: Emitter, events: number): void {
  e.store(SWITCHING, 1);
  perfLoadGuestContext(e, events);
  perfLoadGuestLvtpc(e);
  for (let i = 0; i < events; i++) e.assert(active(i), true, 'host-off-in-guest');
  e.store(PMCS, 1).store(SWITCHING, 0);
}

/** kvm_mediated_pmu_put(): VM-exit stops the guest's counters, KVM saves and clears them, then perf. */
function kvmMediatedPmuPut(e: Emitter, events: number, bugs: GuestContextBugs): void {
  e.store(SWITCHING, 1).store(PMCS, 0);
  if (bugs.lvtpcAfterHostEvents) {
    perfPutGuestContext(e, events);
    perfPutGuestLvtpc(e);
  } else {
    perfPutGuestLvtpc(e);
    perfPutGuestContext(e, events);
  }
  e.store(SWITCHING, 0);
}

function operation(events: number, name: string, body: (e: Emitter) => void): Operation {
  const e = new Emitter(new OperationBuilder(shape(events), name));
  body(e);
  return e.b.ret(0).build();
}

export interface GuestContextOperations {
  /** vcpu_enter_guest(): interrupts off, load, the guest runs, put, interrupts on. */
  readonly vcpuEnterGuest: Operation;
  /** The same with an interrupt window while the guest context is loaded. */
  readonly vcpuEnterGuestIrqWindow: Operation;
  /** The vCPU's destruction: no guest context may outlive its run loop. */
  readonly vcpuDestroy: Operation;
  /** __perf_install_in_context / __perf_remove_from_context of host event i (IPI handlers). */
  readonly install: readonly Operation[];
  readonly remove: readonly Operation[];
  /** perf_mux_hrtimer_handler() -> perf_rotate_context() (hard irq). */
  readonly rotate: Operation;
  /** A guest counter / a host counter overflows: where its PMI goes (NMI level, atomic). */
  readonly guestCounterOverflow: Operation;
  readonly hostCounterOverflow: Operation;
  /** perf's own calls, for its sequential executor. */
  readonly perfLoadGuestContext: Operation;
  readonly perfPutGuestContext: Operation;
}

export function guestContextProtocol(
  events: number,
  bugs: GuestContextBugs = {},
  name = 'upstream',
): GuestContextProtocol & { readonly ops: GuestContextOperations } {
  const enter = (irqWindow: boolean) =>
    operation(events, 'vcpu_enter_guest', (e) => {
      e.lock(CPU); // local_irq_disable()
      if (bugs.loadIrqsOn) {
        // The load runs before interrupts are disabled: a window after each step.
        e.unlock(CPU).lock(CPU);
        e.interruptible(true, () => kvmMediatedPmuLoad(e, events));
      } else kvmMediatedPmuLoad(e, events);
      if (irqWindow) e.unlock(CPU).lock(CPU); // host interrupts while the guest context is loaded
      kvmMediatedPmuPut(e, events, bugs);
      e.unlock(CPU); // local_irq_enable()
    });
  const install = Array.from({ length: events }, (_, i) =>
    operation(events, '__perf_install_in_context', (e) => {
      e.lock(CPU).lock(CTX_LOCK).assert(SWITCHING, true, 'half-switched');
      contextTimeUpdate(e);
      e.store(installed(i), 1);
      mergeSchedIn(e, i, !bugs.installSkipsGuestCheck);
      e.unlock(CTX_LOCK).unlock(CPU);
    }),
  );
  const remove = Array.from({ length: events }, (_, i) =>
    operation(events, '__perf_remove_from_context', (e) => {
      e.lock(CPU).lock(CTX_LOCK);
      contextTimeUpdate(e);
      e.store(active(i), 0).store(installed(i), 0).unlock(CTX_LOCK).unlock(CPU);
    }),
  );
  const rotate = operation(events, 'perf_rotate_context', (e) => {
    e.lock(CPU).lock(CTX_LOCK);
    contextTimeUpdate(e);
    for (let i = 0; i < events; i++) e.store(active(i), 0); // ctx_sched_out(EVENT_FLEXIBLE)
    for (let i = 0; i < events; i++) mergeSchedIn(e, i, !bugs.rotationIgnoresGuest);
    e.unlock(CTX_LOCK).unlock(CPU);
  });
  const guestCounterOverflow = operation(events, 'guest counter overflow (PMI)', (e) => {
    const none = e.fresh('none');
    const toKvm = e.fresh('kvm');
    e.jumpIfZero(PMCS, none).jumpIfNonZero(LVTPC_VECTOR, toKvm);
    // An NMI: perf_event_nmi_handler() ignores it while guest_lvtpc_loaded, else takes it.
    e.jumpIfNonZero(LVTPC_FLAG, none).failAssertion('pmi-routing').jump(none);
    e.label(toKvm).label(none);
  });
  const hostCounterOverflow = operation(events, 'host counter overflow (PMI)', (e) => {
    const fire = e.fresh('fire');
    const wrong = e.fresh('wrong');
    const out = e.fresh('out');
    for (let i = 0; i < events; i++) e.jumpIfNonZero(active(i), fire);
    e.jump(out).label(fire);
    // On 0xF5 KVM's handler takes it; as an NMI perf ignores it while guest_lvtpc_loaded.
    e.jumpIfNonZero(LVTPC_VECTOR, wrong).jumpIfNonZero(LVTPC_FLAG, wrong).jump(out);
    e.label(wrong).failAssertion('pmi-routing').label(out);
  });
  const ops: GuestContextOperations = {
    vcpuEnterGuest: enter(false),
    vcpuEnterGuestIrqWindow: enter(true),
    vcpuDestroy: operation(events, 'kvm_arch_vcpu_destroy', (e) => {
      e.assert(LOADED, true, 'host-back-at-put');
    }),
    install,
    remove,
    rotate,
    guestCounterOverflow,
    hostCounterOverflow,
    perfLoadGuestContext: operation(events, 'perf_load_guest_context', (e) =>
      perfLoadGuestContext(e, events),
    ),
    perfPutGuestContext: operation(events, 'perf_put_guest_context', (e) =>
      perfPutGuestContext(e, events),
    ),
  };
  const operations: Record<string, Operation> = {
    vcpu_enter_guest: ops.vcpuEnterGuest,
    kvm_arch_vcpu_destroy: ops.vcpuDestroy,
    perf_rotate_context: ops.rotate,
    perf_load_guest_context: ops.perfLoadGuestContext,
    perf_put_guest_context: ops.perfPutGuestContext,
  };
  return Object.freeze({ name, events, ...shape(events), operations, ops });
}

/** perf's sequential executor: no host event cells (the perf core schedules its real events). */
export const PERF_GUEST_CONTEXT = guestContextProtocol(0);
