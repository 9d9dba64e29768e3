/**
 * The perf tool: `perf stat -e ...` and `perf record -F <hz> -e ...` as
 * sessions over a perf core, guest or host alike (principle 2: a guest
 * kernel runs the very same perf core).
 *
 * Event names follow the tool: named events ('cycles', 'branch-misses'...),
 * raw 'rUUEE' (umask << 8 | event select), with ':u' / ':k' modifiers.
 * perf stat opens each event on its own (not as a group), so events multiplex
 * independently; readings are scaled by time_enabled / time_running.
 */
import { PerfError } from '../common/errors.ts';
import {
  Quantity,
  intelEventQuantity,
  amdEventQuantity,
  isNamedEvent,
  type NamedEventName,
} from '../hw/events.ts';
import type { PerfEventAttr, PerfTarget } from '../perf/attr.ts';
import type { PerfCore } from '../perf/core.ts';
import type { KernelEvent } from '../perf/event.ts';
import { item } from '../common/item.ts';

export interface PerfSessionSpec {
  mode: 'stat' | 'record';
  events: readonly string[];
  /** record -F */
  frequency?: number;
  /** record -c */
  period?: number;
  excludeGuest?: boolean;
  pinned?: boolean;
}

/**
 * perf record's sampling frequency when neither -F nor -c is given
 * (tools/perf/builtin-record.c: record.opts.freq = 4000).
 */
export const DEFAULT_RECORD_FREQUENCY = 4000;

export interface ParsedEvent {
  /** As written. */
  spec: string;
  config: string | number;
  excludeUser: boolean;
  excludeKernel: boolean;
}

/** What each named event counts, in ground-truth terms. */
const NAMED_QUANTITY: Readonly<Record<NamedEventName, Quantity>> = {
  cycles: Quantity.Cycles,
  instructions: Quantity.Instructions,
  'ref-cycles': Quantity.RefCycles,
  'cache-references': Quantity.LlcReferences,
  'cache-misses': Quantity.LlcMisses,
  branches: Quantity.Branches,
  'branch-misses': Quantity.BranchMisses,
  'topdown-slots': Quantity.TopdownSlots,
};

/** Parse 'branch-misses:u' or 'r01c2:k'. Throws RangeError with the event named. */
export function parseEventSpec(spec: string): ParsedEvent {
  const m = /^([a-z][a-z0-9-]*)(?::([uk]+))?$/i.exec(spec.trim());
  if (!m)
    throw new RangeError(
      `event '${spec}': expected a perf event name or rUUEE, with optional :u / :k`,
    );
  const [, name = '', modifiers = ''] = m;
  const user = modifiers.includes('u');
  const kernel = modifiers.includes('k');
  const excludeUser = modifiers !== '' && !user;
  const excludeKernel = modifiers !== '' && !kernel;
  const raw = /^r([0-9a-f]{1,8})$/i.exec(name);
  if (raw) return { spec, config: parseInt(item(raw, 1), 16), excludeUser, excludeKernel };
  if (!isNamedEvent(name)) throw new RangeError(`event '${spec}': unknown event '${name}'`);
  return { spec, config: name, excludeUser, excludeKernel };
}

/** The ground-truth quantity an event counts on this vendor. */
export function eventQuantity(event: ParsedEvent, vendor: 'intel' | 'amd'): Quantity {
  if (typeof event.config === 'string')
    return isNamedEvent(event.config) ? NAMED_QUANTITY[event.config] : Quantity.None;
  const select = event.config & 0xff;
  const umask = (event.config >> 8) & 0xff;
  return vendor === 'intel' ? intelEventQuantity(select, umask) : amdEventQuantity(select, umask);
}

export interface SessionReading {
  event: ParsedEvent;
  /** The errno when perf_event_open refused it. */
  refused?: string;
  raw: number;
  enabled: number;
  running: number;
  /** raw * enabled / running, as perf stat prints it. */
  scaled: number;
  samples: number;
  /** Times the event was throttled (it stopped counting until the next tick). */
  throttled: number;
  /**
   * The counter each of its kernel events is on, or was last on (x86-pmu.ts
   * numbering: fixed counters from FIXED_IDX), with the selector it programs
   * there; -1 for one that never got a counter.
   */
  counters: { idx: number; config: bigint }[];
}

export class PerfSession {
  /** The session's events: each opened (a kernel event) or refused (the errno, no kernel event). */
  readonly events: (
    | { parsed: ParsedEvent; kernel: KernelEvent; refused?: undefined }
    | { parsed: ParsedEvent; kernel: null; refused: string }
  )[] = [];
  /** ns on the session's clock when it started, for expected samples. */
  startedNs = 0;

  constructor(
    private readonly perf: PerfCore,
    readonly spec: PerfSessionSpec,
  ) {}

  /** Open every event on the targets (one per target for system-wide sessions). */
  open(targets: readonly PerfTarget[], nowNs: number): void {
    this.startedNs = nowNs;
    for (const spec of this.spec.events) {
      const parsed = parseEventSpec(spec);
      for (const target of targets) {
        const attr: PerfEventAttr = {
          config: parsed.config,
          excludeUser: parsed.excludeUser,
          excludeKernel: parsed.excludeKernel,
          excludeGuest: this.spec.excludeGuest ?? false,
          pinned: this.spec.pinned ?? false,
        };
        if (this.spec.mode === 'record') {
          if (this.spec.period !== undefined) attr.samplePeriod = this.spec.period;
          else attr.sampleFreq = this.spec.frequency ?? DEFAULT_RECORD_FREQUENCY;
        }
        try {
          this.events.push({ parsed, kernel: this.perf.open(attr, target) });
        } catch (error) {
          if (!(error instanceof PerfError)) throw error;
          this.events.push({ parsed, kernel: null, refused: error.errno });
        }
      }
    }
  }

  /** Read every event (summed over targets), scaled as perf stat does. */
  read(): SessionReading[] {
    if (this.final) return this.final;
    const byEvent = new Map<string, SessionReading>();
    for (const { parsed, kernel, refused } of this.events) {
      let reading = byEvent.get(parsed.spec);
      if (!reading) {
        reading = {
          event: parsed,
          raw: 0,
          enabled: 0,
          running: 0,
          scaled: 0,
          samples: 0,
          throttled: 0,
          counters: [],
        };
        byEvent.set(parsed.spec, reading);
      }
      if (kernel === null) {
        reading.refused = refused;
        continue;
      }
      const r = this.perf.read(kernel);
      reading.raw += r.value;
      reading.enabled += r.enabled;
      reading.running += r.running;
      reading.scaled += r.running > 0 ? (r.value * r.enabled) / r.running : 0;
      reading.samples += kernel.samples;
      reading.throttled += kernel.throttledOverflows;
      reading.counters.push({
        idx: kernel.idx >= 0 ? kernel.idx : kernel.lastIdx,
        config: kernel.hw.config,
      });
    }
    return [...byEvent.values()];
  }

  /** Readings taken when the session stopped early. */
  private final: SessionReading[] | null = null;

  /**
   * The session ends before the run does: its readings are kept and its
   * events closed (so an include-guest session stops blocking mediated VMs).
   */
  stop(): void {
    if (this.final) return;
    this.final = this.read();
    this.close();
  }

  close(): void {
    for (const { kernel } of this.events) if (kernel) this.perf.close(kernel);
  }
}
