/**
 * Per-event counter constraints of x86 core PMUs (arch/x86/events/intel/
 * core.c; AMD's core events have none here): the GP counters an event may use, which x86_schedule_events
 * honours. intel_pmu_init picks the table by CPUID family/model; the first
 * entry that matches an event wins (x86_get_event_constraints), and an event
 * no entry matches may use every GP counter.
 *
 * Modelled: the GP-counter parts of intel_spr_event_constraints (Sapphire
 * Rapids and Emerald Rapids, through intel_pmu_init_glc) and of
 * intel_icl_event_constraints (Ice Lake and Tiger Lake), non-PEBS. Their
 * fixed entries on real event codes (INST_RETIRED.ANY 0x00c0, the old
 * INST_RETIRED.PREC_DIST 0x01c0, CPU_CLK_UNHALTED.CORE 0x003c) are extended
 * to every GP counter by intel_pmu_check_event_constraints, as the SPR
 * entries matching 0x2e and 0x3c are, so they constrain nothing here; the
 * pseudo-encodings (event select 0x00) stay on their fixed counter, and the
 * driver handles the fixed side. Other models: no table in this model
 * (every GP counter).
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

/**
 * intel_icl_event_constraints, GP entries, in upstream's order: as added with
 * Ice Lake (6017608936c1), with 0xef on counters 0-3 (ecc2123e09f9, 2021)
 * and the 0x48 range reaching 0x56 (86dca369075b "perf/x86/intel: Fix event
 * constraints for ICL", 2022).
 */
const ICL: readonly Constraint[] = Object.freeze([
  range(0x03, 0x0a, 0xf),
  range(0x1f, 0x28, 0xf),
  event(0x32, 0xf), // SW_PREFETCH_ACCESS.*
  range(0x48, 0x56, 0xf),
  range(0x60, 0x8b, 0xf),
  uevent(0x04a3, 0xff), // CYCLE_ACTIVITY.STALLS_TOTAL
  uevent(0x10a3, 0xff), // CYCLE_ACTIVITY.CYCLES_MEM_ANY
  uevent(0x14a3, 0xff), // CYCLE_ACTIVITY.STALLS_MEM_ANY
  event(0xa3, 0xf), // CYCLE_ACTIVITY.*
  range(0xa8, 0xb0, 0xf),
  range(0xb7, 0xbd, 0xf),
  range(0xd0, 0xe6, 0xf),
  event(0xef, 0xf),
  range(0xf0, 0xf4, 0xf),
]);

/** intel_pmu_init's case labels for each table (INTEL_* model numbers, family 6). */
const TABLE_BY_MODEL: ReadonlyMap<number, readonly Constraint[]> = new Map([
  [0x8f, SPR], // INTEL_SAPPHIRERAPIDS_X
  [0xcf, SPR], // INTEL_EMERALDRAPIDS_X
  [0x6a, ICL], // INTEL_ICELAKE_X
  [0x6c, ICL], // INTEL_ICELAKE_D
  [0x7d, ICL], // INTEL_ICELAKE
  [0x7e, ICL], // INTEL_ICELAKE_L
  [0x8c, ICL], // INTEL_TIGERLAKE_L
  [0x8d, ICL], // INTEL_TIGERLAKE
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
  return TABLE_BY_MODEL.get(model) ?? null;
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
