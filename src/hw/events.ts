/**
 * Hardware events: which retired quantity of a block of Work an event
 * selector counts (docs/x86-pmu.md section 2).
 */
import { deepFreeze } from '../common/freeze.ts';

/** A block of work retired on a CPU (docs/api.md `Work`). */
export interface Work {
  instructions: number;
  branches?: number;
  cycles?: number;
  refCycles?: number;
  llcReferences?: number;
  llcMisses?: number;
  branchMisses?: number;
  loads?: number;
  stores?: number;
  cpl?: 0 | 3;
}

/** The quantities hardware counts, as indices into a Float64Array of a block's counts. */
export const enum Quantity {
  None = -1,
  Instructions = 0,
  Cycles = 1,
  RefCycles = 2,
  LlcReferences = 3,
  LlcMisses = 4,
  Branches = 5,
  BranchMisses = 6,
  TopdownSlots = 7,
  Loads = 8,
  Stores = 9,
  LoadsAndStores = 10,
}
export const QUANTITY_COUNT = 11;

export const QUANTITY_NAMES = deepFreeze([
  'instructions',
  'cycles',
  'ref-cycles',
  'cache-references',
  'cache-misses',
  'branches',
  'branch-misses',
  'topdown-slots',
  'loads',
  'stores',
  'loads+stores',
] as const);

/**
 * Fill `out` with a block's quantities (defaults of docs/api.md: cycles =
 * instructions, refCycles = cycles, the rest 0). No allocation.
 */
export function workQuantities(work: Work, slotsPerCycle: number, out: Float64Array): void {
  const cycles = work.cycles ?? work.instructions;
  out[Quantity.Instructions] = work.instructions;
  out[Quantity.Cycles] = cycles;
  out[Quantity.RefCycles] = work.refCycles ?? cycles;
  out[Quantity.LlcReferences] = work.llcReferences ?? 0;
  out[Quantity.LlcMisses] = work.llcMisses ?? 0;
  out[Quantity.Branches] = work.branches ?? 0;
  out[Quantity.BranchMisses] = work.branchMisses ?? 0;
  out[Quantity.TopdownSlots] = cycles * slotsPerCycle;
  out[Quantity.Loads] = work.loads ?? 0;
  out[Quantity.Stores] = work.stores ?? 0;
  out[Quantity.LoadsAndStores] = (work.loads ?? 0) + (work.stores ?? 0);
}

/** Intel architectural events (event select, umask) -> quantity. */
export function intelEventQuantity(eventSelect: number, umask: number): Quantity {
  switch (eventSelect) {
    case 0x3c:
      return umask === 0x00 ? Quantity.Cycles : umask === 0x01 ? Quantity.RefCycles : Quantity.None;
    case 0xc0:
      return Quantity.Instructions;
    case 0x2e:
      return umask === 0x4f
        ? Quantity.LlcReferences
        : umask === 0x41
          ? Quantity.LlcMisses
          : Quantity.None;
    case 0xc4:
      return Quantity.Branches;
    case 0xc5:
      return Quantity.BranchMisses;
    case 0xa4:
      return umask === 0x01 ? Quantity.TopdownSlots : Quantity.None;
    case 0xd0:
      return umask === 0x81
        ? Quantity.Loads
        : umask === 0x82
          ? Quantity.Stores
          : umask === 0x83
            ? Quantity.LoadsAndStores
            : Quantity.None;
    default:
      return Quantity.None;
  }
}

/** AMD Zen events (12-bit event select, umask) -> quantity. */
export function amdEventQuantity(eventSelect: number, umask: number): Quantity {
  switch (eventSelect) {
    case 0x76:
      return Quantity.Cycles;
    case 0xc0:
      return Quantity.Instructions;
    case 0xc2:
      return Quantity.Branches;
    case 0xc3:
      return Quantity.BranchMisses;
    case 0x29: {
      // LsDispatch: umask 1 loads, 2 stores, 4 load-op-stores (the "both"
      // counterpart of Intel's 0xD0/0x83, docs/x86-pmu.md section 2).
      const loads = (umask & 1) !== 0;
      const stores = (umask & 2) !== 0;
      const both = (umask & 4) !== 0 || (loads && stores);
      return both
        ? Quantity.LoadsAndStores
        : loads
          ? Quantity.Loads
          : stores
            ? Quantity.Stores
            : Quantity.None;
    }
    default:
      return Quantity.None;
  }
}

/** Fixed counter i counts: 0 instructions, 1 core cycles, 2 reference cycles, 3 topdown slots. */
export const FIXED_COUNTER_QUANTITY: readonly Quantity[] = deepFreeze([
  Quantity.Instructions,
  Quantity.Cycles,
  Quantity.RefCycles,
  Quantity.TopdownSlots,
]);

/** A generic event's encodings (umask << 8 | select), null where the vendor has none. */
export interface NamedEventEncoding {
  readonly intel: number | null;
  readonly amd: number | null;
  /** The Intel fixed counter that can count it, or null. */
  readonly fixed: number | null;
}

/**
 * The generic hardware events perf knows by name, with their encodings. The
 * one list of these names: NamedEventName and NAMED_EVENT_NAMES derive from it,
 * so a table keyed by event name that misses or misspells one does not compile.
 */
export const NAMED_EVENTS = deepFreeze({
  cycles: { intel: 0x003c, amd: 0x0076, fixed: 1 },
  instructions: { intel: 0x00c0, amd: 0x00c0, fixed: 0 },
  'ref-cycles': { intel: 0x013c, amd: null, fixed: 2 },
  branches: { intel: 0x00c4, amd: 0x00c2, fixed: null },
  'branch-misses': { intel: 0x00c5, amd: 0x00c3, fixed: null },
  'cache-references': { intel: 0x4f2e, amd: null, fixed: null },
  'cache-misses': { intel: 0x412e, amd: null, fixed: null },
  'topdown-slots': { intel: 0x01a4, amd: null, fixed: 3 },
} as const satisfies Record<string, NamedEventEncoding>);

export type NamedEventName = keyof typeof NAMED_EVENTS;

/** The names of NAMED_EVENTS, in its order. */
export const NAMED_EVENT_NAMES = deepFreeze(Object.keys(NAMED_EVENTS) as NamedEventName[]);

/** Whether `name` is one of NAMED_EVENTS (own keys only: not 'toString'). */
export function isNamedEvent(name: string): name is NamedEventName {
  return Object.hasOwn(NAMED_EVENTS, name);
}

/** The quantities of a block of Work, by name (everything but cpl). */
export const WORK_KEYS = deepFreeze([
  'instructions',
  'branches',
  'cycles',
  'refCycles',
  'llcReferences',
  'llcMisses',
  'branchMisses',
  'loads',
  'stores',
] as const);

/**
 * Split a block of work at `fraction` of the way through (e.g. where a timer
 * fires), in whole events: head + tail = the block, each quantity exactly.
 */
export function splitWork(work: Work, fraction: number): [Work, Work] {
  const f = Math.min(1, Math.max(0, fraction));
  const cycles = work.cycles ?? work.instructions;
  const full: Record<(typeof WORK_KEYS)[number], number> = {
    instructions: work.instructions,
    branches: work.branches ?? 0,
    cycles,
    refCycles: work.refCycles ?? cycles,
    llcReferences: work.llcReferences ?? 0,
    llcMisses: work.llcMisses ?? 0,
    branchMisses: work.branchMisses ?? 0,
    loads: work.loads ?? 0,
    stores: work.stores ?? 0,
  };
  const head: Work = { instructions: 0 };
  const tail: Work = { instructions: 0 };
  if (work.cpl !== undefined) head.cpl = tail.cpl = work.cpl;
  for (const k of WORK_KEYS) {
    const h = Math.floor(full[k] * f);
    head[k] = h;
    tail[k] = full[k] - h;
  }
  return [head, tail];
}
