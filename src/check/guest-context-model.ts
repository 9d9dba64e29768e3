/**
 * The guest-context model: one CPU switching between the host's and a
 * mediated guest's PMU (src/perf/guest-context-protocol.ts), against what
 * can arrive on that CPU meanwhile.
 *
 *   vcpu        R times vcpu_enter_guest() (interrupts off; load; the guest
 *               runs; put; interrupts on), then the vCPU is destroyed.
 *   eventI      R times: install host event I on this CPU (an IPI), remove
 *               it (an IPI).
 *   rotation    K times perf_rotate_context() (the multiplexing hrtimer).
 *   guest-pmi   P times: a guest counter overflows (NMI level, atomic).
 *   host-pmi    P times: a host counter overflows (NMI level, atomic).
 *
 * With --irq-window the vCPU takes host interrupts once while its guest
 * context is loaded. Upstream never does (vcpu_enter_guest() loads and puts
 * with interrupts off); the flag shows what merge_sched_in()'s guest-loaded
 * check guards against should a caller ever do so.
 */
import {
  GUEST_CONTEXT_ASSERTIONS,
  GUEST_CONTEXT_WARN_SITES,
  guestContextProtocol,
  type GuestContextBugs,
} from '../perf/guest-context-protocol.ts';
import type { Call, Model, ThreadSpec } from './model-definition.ts';
import type { PropertyName } from './properties.ts';
import { item } from '../common/item.ts';

export interface GuestContextParams {
  rounds: number;
  events: number;
  rotations: number;
  pmis: number;
  irqWindow: boolean;
}

export const DEFAULT_GUEST_CONTEXT_PARAMS: GuestContextParams = {
  rounds: 1,
  events: 1,
  rotations: 1,
  pmis: 1,
  irqWindow: false,
};

export interface GuestContextVariant {
  readonly bugs: GuestContextBugs;
  readonly correct: boolean;
  readonly summary: string;
}

export const GUEST_CONTEXT_VARIANTS: Readonly<Record<string, GuestContextVariant>> = {
  upstream: {
    bugs: {},
    correct: true,
    summary: 'as merged for Linux 7.0: load and put with interrupts off, LVTPC switched inside',
  },
  'load-irqs-on': {
    bugs: { loadIrqsOn: true },
    correct: false,
    summary: 'kvm_mediated_pmu_load() runs before local_irq_disable()',
  },
  'rotation-ignores-guest': {
    bugs: { rotationIgnoresGuest: true },
    correct: false,
    summary: "perf_rotate_context()'s sched-in skips merge_sched_in()'s guest-loaded check",
  },
  'lvtpc-after-host-events': {
    bugs: { lvtpcAfterHostEvents: true },
    correct: false,
    summary: 'put re-enables the host events (perf_put_guest_context) before restoring the LVTPC',
  },
  'install-skips-guest-check': {
    bugs: { installSkipsGuestCheck: true },
    correct: false,
    summary: "__perf_install_in_context()'s sched-in skips the guest-loaded check",
  },
};

export function guestContextModel(variantName: string, params: GuestContextParams): Model {
  const variant = GUEST_CONTEXT_VARIANTS[variantName];
  if (!variant) throw new RangeError(`unknown guest-context variant '${variantName}'`);
  const protocol = guestContextProtocol(params.events, variant.bugs, variantName);
  const ops = protocol.ops;
  const repeat = (calls: Call[], n: number): Call[] =>
    Array.from({ length: n }, () => calls).flat();

  const enter: Call = { op: params.irqWindow ? ops.vcpuEnterGuestIrqWindow : ops.vcpuEnterGuest };
  const threads: ThreadSpec[] = [
    {
      name: 'vcpu',
      symmetryClass: 'vcpu',
      calls: [...repeat([enter], params.rounds), { op: ops.vcpuDestroy }],
    },
  ];
  // Each host event has its own cells: every event thread is a class of its own.
  for (let i = 0; i < params.events; i++) {
    threads.push({
      name: `event${i}`,
      symmetryClass: `event${i}`,
      calls: repeat([{ op: item(ops.install, i) }, { op: item(ops.remove, i) }], params.rounds),
    });
  }
  if (params.rotations > 0) {
    threads.push({
      name: 'rotation',
      symmetryClass: 'rotation',
      calls: repeat([{ op: ops.rotate }], params.rotations),
    });
  }
  if (params.pmis > 0) {
    threads.push({
      name: 'guest-pmi',
      symmetryClass: 'guest-pmi',
      calls: repeat([{ op: ops.guestCounterOverflow, atomic: true }], params.pmis),
    });
    threads.push({
      name: 'host-pmi',
      symmetryClass: 'host-pmi',
      calls: repeat([{ op: ops.hostCounterOverflow, atomic: true }], params.pmis),
    });
  }
  const assertions: Record<number, PropertyName> = {};
  GUEST_CONTEXT_ASSERTIONS.forEach((property, i) => {
    assertions[GUEST_CONTEXT_WARN_SITES.length + i] = property;
  });
  const modelParams: Record<string, number | boolean> = {
    rounds: params.rounds,
    events: params.events,
    rotations: params.rotations,
    pmis: params.pmis,
  };
  if (params.irqWindow) modelParams['irq-window'] = true;
  return {
    kind: 'guest-context',
    variant: variantName,
    params: modelParams,
    protocol,
    cellLabels: protocol.cells,
    initialCells: protocol.cells.map(() => 0),
    counterCells: [],
    holderSlots: 0,
    threads,
    assertions,
  };
}
