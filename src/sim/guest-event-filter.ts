/**
 * The event filter a scenario's VMM sets on a guest's VM
 * (KVM_SET_PMU_EVENT_FILTER, src/kvm/event-filter.ts), in the simulator's
 * terms: plain entries as numbers (event select | umask << 8, this CPU's
 * encodings), or masked entries by field, so that a SimulationInput stays
 * plain data (JSON, worker threads) and never holds the 64-bit masked words.
 */
import { KvmError } from '../common/errors.ts';
import type { Vendor } from '../hw/cpu-models.ts';
import { isNamedEvent, NAMED_EVENTS } from '../hw/events.ts';
import {
  encodeMaskedEntry,
  isFixedCounterAllowed,
  isGpEventAllowed,
  type CompiledEventFilter,
  KVM_PMU_EVENT_FLAG_MASKED_EVENTS,
  type MaskedEntry,
  type PmuEventFilter,
} from '../kvm/event-filter.ts';
import type { Vm } from '../kvm/vm.ts';
import { FIXED_IDX } from '../perf/x86-pmu.ts';

export interface GuestEventFilter {
  action: 'allow' | 'deny';
  /** Plain entries: event select | umask << 8 (AMD's select bits 11:8 at 35:32). */
  events?: readonly number[];
  /** Masked entries (KVM_PMU_EVENT_FLAG_MASKED_EVENTS); exclusive with `events`. */
  masked?: readonly MaskedEntry[];
  /** Fixed counters the policy covers, by index: they are judged by this bitmap alone. */
  fixedCounterBitmap?: number;
}

/** The ioctl's argument for a guest's filter. */
export function pmuEventFilterOf(filter: GuestEventFilter): PmuEventFilter {
  const fixedCounterBitmap = filter.fixedCounterBitmap ?? 0;
  if (filter.masked !== undefined)
    return {
      action: filter.action,
      flags: KVM_PMU_EVENT_FLAG_MASKED_EVENTS,
      events: filter.masked.map((m) =>
        encodeMaskedEntry(m.eventSelect, m.mask, m.match, m.exclude),
      ),
      fixedCounterBitmap,
    };
  return {
    action: filter.action,
    events: (filter.events ?? []).map((e) => BigInt(e)),
    fixedCounterBitmap,
  };
}

/**
 * A scenario's filter event ('branches', or raw 'r01c2': umask 0x01, select
 * 0xC2) as a plain entry on this vendor, or null for a named event the
 * vendor has no encoding of ('ref-cycles' on AMD).
 */
export function filterEventEncoding(event: string, vendor: Vendor): number | null {
  if (isNamedEvent(event)) return NAMED_EVENTS[event][vendor];
  return Number.parseInt(event.slice(1), 16);
}

/**
 * Set guest `index`'s filter on its VM. A scenario file's filter was checked
 * by its schema, so KVM accepts it; one that a caller of simulate() built by
 * hand and KVM refuses is that caller's input error, named as such, not a
 * result of the run.
 */
export function setEventFilter(vm: Vm, filter: GuestEventFilter, index: number): void {
  try {
    vm.setPmuEventFilter(pmuEventFilterOf(filter));
  } catch (error) {
    if (!(error instanceof KvmError || error instanceof TypeError || error instanceof RangeError))
      throw error;
    throw new RangeError(`simulate: input.guests[${index}].eventFilter: ${error.message}`, {
      cause: error,
    });
  }
}

/**
 * Whether the VM's filter stops a counter a guest perf event is on (or was
 * last on): pmc_is_event_allowed() as KVM asks it, by the selector the guest
 * programs on a general-purpose counter (is_gp_event_allowed) and by the
 * index of a fixed one (is_fixed_event_allowed). `counters` are the guest
 * kernel's, numbered as its x86 driver numbers them.
 */
export function stoppedByFilter(
  filter: CompiledEventFilter | null,
  counters: readonly { idx: number; config: bigint }[],
): boolean {
  if (filter === null) return false;
  // idx -1: the event never got a counter, so no filter stopped one.
  return counters.some(({ idx, config }) =>
    idx >= FIXED_IDX
      ? !isFixedCounterAllowed(filter, idx - FIXED_IDX)
      : idx >= 0 && !isGpEventAllowed(filter, config),
  );
}
