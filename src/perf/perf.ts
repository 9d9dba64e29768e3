/**
 * The public face of host perf (docs/api.md "Perf"): perf_event_open and the
 * mediated-PMU APIs over the perf core, with bigint counts at the edge.
 */
import { PerfError } from '../common/errors.ts';
import type { PerfEventAttr, PerfTarget } from './attr.ts';
import type { PerfCore } from './core.ts';
import { STATE_NAMES, type KernelEvent } from './event.ts';

export interface PmuInfo {
  readonly name: string;
  readonly capabilities: readonly string[];
}

export interface PerfCount {
  readonly value: bigint;
  /** Nanoseconds the event was enabled. */
  readonly timeEnabled: bigint;
  /** Nanoseconds it was on a counter. */
  readonly timeRunning: bigint;
}

export type PerfEventState = 'off' | 'inactive' | 'active' | 'error' | 'dead';

export interface PerfEvent {
  readonly id: number;
  /** The event's name as perf would print it ('instructions', 'r1c2', 'cpu-clock'...). */
  readonly name: string;
  /** PERF_EVENT_STATE_*: 'error' for a pinned event that could not get a counter (reads return zeros). */
  readonly state: PerfEventState;
  /** Overflows of a sampling event (samples taken). */
  readonly samples: number;
  read(): PerfCount;
  enable(): void;
  disable(): void;
  close(): void;
}

export interface Perf {
  readonly pmus: readonly PmuInfo[];
  open(attr: PerfEventAttr, target?: PerfTarget, group?: PerfEvent): PerfEvent;
  /** perf_create_mediated_pmu(); throws PerfError EBUSY. Absent without CONFIG_PERF_GUEST_MEDIATED_PMU. */
  createMediatedPmu?(): void;
  /** perf_release_mediated_pmu(); underflow: one WARN in dmesg, no change. Absent without the Kconfig. */
  releaseMediatedPmu?(): void;
  readonly nrMediatedPmuVms: number;
  readonly nrIncludeGuestEvents: number;
}

class PerfEventHandle implements PerfEvent {
  constructor(
    private readonly core: PerfCore,
    readonly kernel: KernelEvent,
  ) {}

  get id(): number {
    return this.kernel.id;
  }
  get name(): string {
    return this.kernel.hw.name;
  }
  get state(): PerfEventState {
    return STATE_NAMES[this.kernel.state];
  }
  get samples(): number {
    return this.kernel.samples;
  }
  read(): PerfCount {
    const { value, enabled, running } = this.core.read(this.kernel);
    return {
      // A software clock event counts nanoseconds of a floating-point clock.
      value: BigInt(Math.round(value)),
      timeEnabled: BigInt(Math.round(enabled)),
      timeRunning: BigInt(Math.round(running)),
    };
  }
  enable(): void {
    this.core.enable(this.kernel);
  }
  disable(): void {
    this.core.disable(this.kernel);
  }
  close(): void {
    this.core.close(this.kernel);
  }
}

/** Build the public Perf over a perf core. */
export function createPerf(core: PerfCore): Perf {
  const handles = new WeakMap<PerfEvent, KernelEvent>();
  const perf: Perf = {
    pmus: core.pmus.map((p) => Object.freeze({ name: p.name, capabilities: p.capabilities })),
    open(attr, target, group) {
      let leader: KernelEvent | undefined;
      if (group !== undefined) {
        leader = handles.get(group);
        if (!leader) throw new PerfError('EBADF', 'group is not an event of this host');
      }
      const handle = new PerfEventHandle(core, core.open(attr, target, leader));
      handles.set(handle, handle.kernel);
      return handle;
    },
    get nrMediatedPmuVms() {
      return core.accounting?.nrMediatedPmuVms ?? 0;
    },
    get nrIncludeGuestEvents() {
      return core.accounting?.nrIncludeGuestEvents ?? 0;
    },
  };
  if (core.accounting) {
    perf.createMediatedPmu = () => {
      const r = core.createMediatedPmu();
      if (r !== 0)
        throw new PerfError(
          'EBUSY',
          'events that count in guests exist (exclude_guest=0 on a capable PMU)',
        );
    };
    perf.releaseMediatedPmu = () => core.releaseMediatedPmu();
  }
  return Object.freeze(perf);
}
