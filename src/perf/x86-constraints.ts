/**
 * Per-event counter constraints of x86 core PMUs (arch/x86/events/intel/
 * core.c; AMD's core events have none here): the GP counters an event may use, which x86_schedule_events
 * honours. intel_pmu_init picks the table by CPUID family/model; the first
 * entry that matches an event wins (x86_get_event_constraints), and an event
 * no entry matches may use every GP counter.
 *
 * Modelled: the GP-counter part of intel_spr_event_constraints (Sapphire
 * Rapids and Emerald Rapids, through intel_pmu_init_glc), non-PEBS. Its fixed
 * entries (INST_RETIRED.ANY, CPU_CLK_UNHALTED.CORE) are extended to every GP
 * counter by intel_pmu_check_event_constraints, as the entries matching
 * 0x2e and 0x3c are, so they constrain nothing here; the driver handles the
 * fixed side. Other models: no table in this model (every GP counter).
 */

/**
 * Intel pseudo-encodings that only a fixed counter can count (Linux's
 * ref-cycles 0x0300 on fixed counter 2, topdown slots 0x0400 on fixed 3).
 */
export const INTEL_FIXED_ONLY: ReadonlyMap<bigint, number> = new Map([
  [0x0300n, 2],
  [0x0400n, 3],
]);

/** How an entry matches: the event select only, event and umask, or a range of event selects. */
interface Constraint {
  /** INTEL_EVENT_CONSTRAINT: event select; INTEL_UEVENT_CONSTRAINT: umask << 8 | event. */
  readonly code: number;
  /** INTEL_EVENT_CONSTRAINT_RANGE: the last event select of the range. */
  readonly last?: number;
  readonly umask?: true;
  /** idxmsk: the GP counters allowed. */
  readonly counters: number;
}

const event = (code: number, counters: number): Constraint => ({ code, counters });
const uevent = (code: number, counters: number): Constraint => ({ code, umask: true, counters });
const range = (code: number, last: number, counters: number): Constraint => ({
  code,
  last,
  counters,
});

/** intel_spr_event_constraints, GP entries, in upstream's order. */
const SPR: readonly Constraint[] = Object.freeze([
  event(0x2e, 0xff),
  event(0x3c, 0xff),
  range(0x01, 0x8f, 0xf), // "generally event codes < 0x90 are restricted to counters 0-3"
  uevent(0x01a3, 0xf),
  uevent(0x02a3, 0xf),
  uevent(0x08a3, 0xf),
  uevent(0x04a4, 0x1),
  uevent(0x08a4, 0x1),
  uevent(0x02cd, 0x1),
  event(0xce, 0x1),
  range(0xd0, 0xdf, 0xf),
  range(0x90, 0xfe, 0xff),
]);

/** Display family and model from CPUID.1 EAX (the extended fields folded in). */
function familyModel(signature: number): { family: number; model: number } {
  const base = (signature >> 8) & 0xf;
  const family = base === 0xf ? base + ((signature >> 20) & 0xff) : base;
  let model = (signature >> 4) & 0xf;
  if (base === 6 || base === 0xf) model |= ((signature >> 16) & 0xf) << 4;
  return { family, model };
}

/** The constraint table intel_pmu_init installs for a CPU signature, if the model has one. */
function tableFor(signature: number): readonly Constraint[] | null {
  const { family, model } = familyModel(signature);
  if (family !== 6) return null;
  // INTEL_SAPPHIRERAPIDS_X, INTEL_EMERALDRAPIDS_X
  return model === 0x8f || model === 0xcf ? SPR : null;
}

/**
 * The GP counters (a bitmask) that may count the raw event `raw` (umask << 8 |
 * event select): on Intel, as the model's constraint table says; on AMD, all.
 */
export function gpCounterMask(
  pmu: { vendor: 'intel' | 'amd'; cpuSignature?: number; nrGp: number },
  raw: bigint,
): number {
  const all = (2 ** pmu.nrGp - 1) | 0;
  const table = pmu.vendor === 'intel' ? tableFor(pmu.cpuSignature ?? 0) : null;
  if (!table) return all;
  const select = Number(raw & 0xffn);
  const selectUmask = Number(raw & 0xffffn);
  for (const c of table) {
    const hit = c.umask
      ? selectUmask === c.code
      : c.last !== undefined
        ? select >= c.code && select <= c.last
        : select === c.code;
    if (hit) return c.counters & all;
  }
  return all;
}

/** hweight: the number of counters in a mask (a constraint's weight). */
export function hweight(mask: number): number {
  let n = 0;
  for (let m = mask; m !== 0; m &= m - 1) n++;
  return n;
}
