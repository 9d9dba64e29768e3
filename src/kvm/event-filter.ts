/**
 * KVM_SET_PMU_EVENT_FILTER: the userspace policy saying which events a guest
 * may count (arch/x86/kvm/pmu.c: kvm_vm_ioctl_set_pmu_event_filter,
 * prepare_filter_lists, is_gp_event_allowed, is_fixed_event_allowed).
 *
 * The uapi struct is `{ action, nevents, fixed_counter_bitmap, flags, events[] }`.
 * KVM turns every entry into a "masked" entry (event select, umask mask, umask
 * match, exclude), sorts them by event select and splits them into includes and
 * excludes. A general-purpose event is then "matched" when some include entry
 * with the same event select matches its umask and no exclude entry does; the
 * action says whether a match means allowed (ALLOW) or denied (DENY). Fixed
 * counters are judged by `fixed_counter_bitmap` alone.
 *
 * This module is pure: it compiles and queries filters. Applying a filter to a
 * vCPU (reprogramming its counters) is GuestPmu.setFilter in guest-pmu.ts, and
 * kicking a vCPU that is in the guest (KVM_REQ_PMU's IPI) VcpuImpl.setFilter.
 */
import { KvmError } from '../common/errors.ts';
import type { Vendor } from '../hw/cpu-models.ts';
import { EVTSEL } from '../hw/msr.ts';
import { deepFreeze } from '../common/freeze.ts';
import { showValue } from '../common/printable.ts';

/** KVM_PMU_EVENT_ALLOW: the uapi value of `action` for an allow list. */
export const KVM_PMU_EVENT_ALLOW = 0;

/** KVM_PMU_EVENT_DENY: the uapi value of `action` for a deny list. */
export const KVM_PMU_EVENT_DENY = 1;

/** KVM_PMU_EVENT_FILTER_MAX_EVENTS: "enough to filter the vast majority of currently defined events". */
export const KVM_PMU_EVENT_FILTER_MAX_EVENTS = 300;

/** KVM_PMU_EVENT_FLAG_MASKED_EVENTS: `events[]` holds masked entries. */
export const KVM_PMU_EVENT_FLAG_MASKED_EVENTS = 1;

/** KVM_PMU_EVENT_FLAGS_VALID_MASK: every other flag bit is EINVAL. */
export const KVM_PMU_EVENT_FLAGS_VALID_MASK = KVM_PMU_EVENT_FLAG_MASKED_EVENTS;

/** The masked-entry layout (include/uapi/asm/kvm.h, KVM_PMU_MASKED_ENTRY_*). */
export const KVM_PMU_MASKED_ENTRY = deepFreeze({
  /** Event select: [7:0] low byte, [35:32] high nibble (AMD's 12-bit select). */
  EVENT_SELECT: 0xffn | (0xfn << 32n),
  UMASK_MATCH: 0xffn << 8n,
  UMASK_MASK: 0xffn << 56n,
  UMASK_MASK_SHIFT: 56n,
  EXCLUDE: 1n << 55n,
} as const);

/**
 * kvm_pmu_ops.EVENTSEL_EVENT: the event-select bits of a selector. Intel has an
 * 8-bit select (ARCH_PERFMON_EVENTSEL_EVENT); AMD a 12-bit one whose high
 * nibble lives in bits 35:32 (AMD64_EVENTSEL_EVENT).
 */
export function eventselEventMask(vendor: Vendor): bigint {
  return vendor === 'amd' ? EVTSEL.EVENT | EVTSEL.AMD_EVENT_HI : EVTSEL.EVENT;
}

/** The filter as userspace hands it to KVM_SET_PMU_EVENT_FILTER (docs/api.md). */
export interface PmuEventFilter {
  /**
   * 'allow' or 'deny', or the uapi's numbers for them, KVM_PMU_EVENT_ALLOW (0)
   * and KVM_PMU_EVENT_DENY (1), so a program written against <linux/kvm.h>
   * reads the same. Anything else is EINVAL.
   */
  action: 'allow' | 'deny' | typeof KVM_PMU_EVENT_ALLOW | typeof KVM_PMU_EVENT_DENY;
  /**
   * The u64 entries. A bigint, or a number that is a safe integer (enough for
   * every plain event: select and umask fit in 36 bits); a masked entry's
   * umask mask lives in bits 63:56, beyond a number's exact range.
   */
  events: readonly (bigint | number)[];
  fixedCounterBitmap?: number;
  flags?: number;
  /**
   * The uapi struct's `__u32 pad[4]`. kvm_vm_ioctl_set_pmu_event_filter never
   * reads it, so whatever it holds (non-zero included) is accepted and ignored.
   */
  pad?: readonly number[];
}

/** One masked entry, decoded. */
export interface MaskedEntry {
  /** 12-bit event select (bits 11:8 are AMD's high nibble). */
  eventSelect: number;
  mask: number;
  match: number;
  exclude: boolean;
}

/**
 * KVM_PMU_ENCODE_MASKED_ENTRY(event_select, mask, match, exclude): [7:0] select
 * low, [15:8] umask match, [35:32] select high, bit 55 exclude, [63:56] umask mask.
 */
export function encodeMaskedEntry(
  eventSelect: number,
  mask: number,
  match: number,
  /** An exclude entry: true, or any non-zero whole number, as the macro's !!(exclude). */
  exclude: boolean | number,
): bigint {
  // The macro truncates each field to its width, as here; what C cannot be
  // given (a missing argument, a fraction, a negative or a string) is refused.
  for (const [name, value] of [
    ['eventSelect', eventSelect],
    ['mask', mask],
    ['match', match],
  ] as const) {
    if (!Number.isSafeInteger(value) || value < 0)
      throw new RangeError(
        `encodeMaskedEntry: ${name}: expected a whole number from 0 (got ${showValue(value)})`,
      );
  }
  // The macro takes !!(exclude): any whole number is an include (0) or an
  // exclude (the KVM selftest's test_filter_ioctl passes 0xf).
  const flag: unknown = exclude;
  if (typeof flag !== 'boolean' && !(Number.isSafeInteger(flag) && (flag as number) >= 0))
    throw new TypeError(
      `encodeMaskedEntry: exclude: expected true, false or a whole number (got ${showValue(flag)})`,
    );
  const select = BigInt(eventSelect >>> 0);
  return (
    (select & 0xffn) |
    ((select & 0xf00n) << 24n) |
    (BigInt(mask & 0xff) << 56n) |
    (BigInt(match & 0xff) << 8n) |
    ((flag ? 1n : 0n) << 55n)
  );
}

/** The inverse of encodeMaskedEntry (bits outside the layout are ignored). */
export function decodeMaskedEntry(entry: bigint): MaskedEntry {
  return {
    eventSelect: Number(entry & 0xffn) | (Number((entry >> 32n) & 0xfn) << 8),
    mask: Number((entry >> 56n) & 0xffn),
    match: Number((entry >> 8n) & 0xffn),
    exclude: (entry & KVM_PMU_MASKED_ENTRY.EXCLUDE) !== 0n,
  };
}

/**
 * struct kvm_x86_pmu_event_filter after prepare_filter_lists: what KVM keeps
 * and consults at every reprogram. `includes` and `excludes` are the sorted
 * masked entries exactly as KVM holds them; `lookup` indexes them by event
 * select so a query costs one Map lookup (KVM bsearches the sorted lists; the
 * answer is the same).
 */
export interface CompiledEventFilter {
  readonly vendor: Vendor;
  readonly action: 'allow' | 'deny';
  readonly flags: number;
  readonly fixedCounterBitmap: number;
  readonly includes: readonly bigint[];
  readonly excludes: readonly bigint[];
  /** Event select -> umask tests, each packed as (mask << 8) | match. */
  readonly lookup: ReadonlyMap<
    number,
    { readonly includes: number[]; readonly excludes: number[] }
  >;
}

/** The 12-bit select of a masked entry: the key entries are grouped by. */
function entrySelect(entry: bigint): number {
  return Number(entry & 0xffn) | (Number((entry >> 32n) & 0xfn) << 8);
}

/**
 * The filter's action as KVM keeps it. The ioctl accepts KVM_PMU_EVENT_ALLOW
 * and KVM_PMU_EVENT_DENY and nothing else (EINVAL), checked before anything
 * else in the struct.
 */
function filterAction(action: unknown): 'allow' | 'deny' {
  if (action === 'allow' || action === KVM_PMU_EVENT_ALLOW) return 'allow';
  if (action === 'deny' || action === KVM_PMU_EVENT_DENY) return 'deny';
  throw new KvmError(
    'EINVAL',
    `KVM_SET_PMU_EVENT_FILTER: bad action ${showValue(action)} (expected 'allow' or 'deny', or KVM_PMU_EVENT_ALLOW (0) or KVM_PMU_EVENT_DENY (1))`,
  );
}

/**
 * kvm_vm_ioctl_set_pmu_event_filter + prepare_filter_lists. Checks in upstream's
 * order: bad action -> EINVAL, unknown flags -> EINVAL, more than 300 events ->
 * E2BIG, then (masked filters) an entry with bits outside event select, umask
 * mask, umask match and exclude -> EINVAL. Plain entries with bits outside
 * event select + umask are dropped silently (convert_to_masked_filter: "To
 * maintain backwards compatibility, impossible filters can't be rejected"); the
 * others become masked entries with an all-ones umask mask (exact umask match).
 *
 * `events` are u64 in the uapi: a bigint outside [0, 2^64) is reduced mod 2^64,
 * as a C cast would; a non-bigint is a TypeError (a caller bug, not a KVM error).
 */
export function compileEventFilter(filter: PmuEventFilter, vendor: Vendor): CompiledEventFilter {
  // copy_from_user of the struct: no struct at all is a bad address.
  if (filter === null || typeof filter !== 'object')
    throw new KvmError('EFAULT', 'KVM_SET_PMU_EVENT_FILTER: the filter must be an object');
  const action = filterAction(filter.action);
  const flags: unknown = filter.flags ?? 0;
  if (
    typeof flags !== 'number' ||
    !Number.isInteger(flags) ||
    flags < 0 ||
    flags > 0xffffffff ||
    (flags & ~KVM_PMU_EVENT_FLAGS_VALID_MASK) !== 0
  ) {
    throw new KvmError('EINVAL', `KVM_SET_PMU_EVENT_FILTER: bad flags ${showValue(flags)}`);
  }
  // copy_from_user of the events that follow the struct: no array, no events to copy.
  if (!Array.isArray(filter.events))
    throw new KvmError('EFAULT', 'KVM_SET_PMU_EVENT_FILTER: events must be an array of bigints');
  if (filter.events.length > KVM_PMU_EVENT_FILTER_MAX_EVENTS) {
    throw new KvmError(
      'E2BIG',
      `KVM_SET_PMU_EVENT_FILTER: ${filter.events.length} events, at most ${KVM_PMU_EVENT_FILTER_MAX_EVENTS}`,
    );
  }
  // A plain loop, not map(): map() skips the holes of a sparse array.
  const events: bigint[] = [];
  for (let i = 0; i < filter.events.length; i++) {
    const e: unknown = filter.events[i];
    if (typeof e === 'bigint') events.push(BigInt.asUintN(64, e));
    else if (Number.isSafeInteger(e)) events.push(BigInt.asUintN(64, BigInt(e as number)));
    else
      throw new TypeError(
        `events[${i}] must be a bigint or a safe integer (a u64 entry), got ${showValue(e)}`,
      );
  }
  // fixed_counter_bitmap is a __u32 in the uapi.
  const bitmap: unknown = filter.fixedCounterBitmap ?? 0;
  if (typeof bitmap !== 'number' || !Number.isInteger(bitmap) || bitmap < 0 || bitmap > 0xffffffff)
    throw new TypeError(
      `fixedCounterBitmap must be an integer in [0, 2^32) (a __u32), got ${showValue(bitmap)}`,
    );
  const fixedCounterBitmap = bitmap >>> 0;
  const masked = (flags & KVM_PMU_EVENT_FLAG_MASKED_EVENTS) !== 0;
  const select = eventselEventMask(vendor);

  let entries: bigint[];
  if (!masked) {
    // convert_to_masked_filter
    const keep = select | EVTSEL.UMASK;
    entries = events
      .filter((e) => (e & ~keep) === 0n)
      .map((e) => e | KVM_PMU_MASKED_ENTRY.UMASK_MASK);
  } else {
    // is_masked_filter_valid: note the select part is the *vendor's* select, so
    // bits 35:32 are stray (EINVAL) on Intel.
    const valid =
      select |
      KVM_PMU_MASKED_ENTRY.UMASK_MASK |
      KVM_PMU_MASKED_ENTRY.UMASK_MATCH |
      KVM_PMU_MASKED_ENTRY.EXCLUDE;
    events.forEach((e, i) => {
      if ((e & ~valid) !== 0n) {
        throw new KvmError(
          'EINVAL',
          `KVM_SET_PMU_EVENT_FILTER: masked entry ${i} (0x${e.toString(16)}) has bits outside select/mask/match/exclude`,
        );
      }
    });
    entries = events;
  }

  // filter_sort_cmp: by event select, excludes (a higher bit) after includes.
  const sortKey = KVM_PMU_MASKED_ENTRY.EVENT_SELECT | KVM_PMU_MASKED_ENTRY.EXCLUDE;
  entries.sort((a, b) => {
    const ka = a & sortKey;
    const kb = b & sortKey;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  // Only masked filters have excludes (plain entries with bit 55 were dropped).
  let nrIncludes = entries.length;
  if (masked) {
    const first = entries.findIndex((e) => (e & KVM_PMU_MASKED_ENTRY.EXCLUDE) !== 0n);
    if (first >= 0) nrIncludes = first;
  }
  const includes = Object.freeze(entries.slice(0, nrIncludes));
  const excludes = Object.freeze(entries.slice(nrIncludes));

  const lookup = new Map<number, { includes: number[]; excludes: number[] }>();
  const add = (entry: bigint, kind: 'includes' | 'excludes'): void => {
    const key = entrySelect(entry);
    let slot = lookup.get(key);
    if (!slot) lookup.set(key, (slot = { includes: [], excludes: [] }));
    const { mask, match } = decodeMaskedEntry(entry);
    slot[kind].push((mask << 8) | match);
  };
  for (const e of includes) add(e, 'includes');
  for (const e of excludes) add(e, 'excludes');

  return Object.freeze({ vendor, action, flags, fixedCounterBitmap, includes, excludes, lookup });
}

/** is_filter_entry_match over one list: (umask & mask) == match. */
function anyMatch(tests: readonly number[], umask: number): boolean {
  for (const t of tests) if ((umask & (t >>> 8)) === (t & 0xff)) return true;
  return false;
}

/**
 * is_gp_event_allowed for an event given as (12-bit select, umask): numbers
 * only, for the GuestPmu's caches.
 */
export function isGpEventSelectAllowed(
  filter: CompiledEventFilter,
  eventSelect: number,
  umask: number,
): boolean {
  const slot = filter.lookup.get(eventSelect);
  const matched =
    slot !== undefined && anyMatch(slot.includes, umask) && !anyMatch(slot.excludes, umask);
  return matched ? filter.action === 'allow' : filter.action === 'deny';
}

/**
 * is_gp_event_allowed: the event select is the selector's vendor select bits
 * (kvm_pmu_ops.EVENTSEL_EVENT), the umask its bits 15:8; every other selector
 * bit (USR, OS, EN, CMASK, ...) is ignored.
 */
export function isGpEventAllowed(filter: CompiledEventFilter, eventsel: bigint): boolean {
  const sel = eventsel & eventselEventMask(filter.vendor);
  return isGpEventSelectAllowed(filter, entrySelect(sel), Number((eventsel >> 8n) & 0xffn));
}

/**
 * is_fixed_event_allowed: fixed counter `index` (0-based) is judged by the
 * bitmap alone; the event list is not consulted. ALLOW: allowed iff its bit is
 * set. DENY: allowed iff its bit is clear.
 */
export function isFixedCounterAllowed(filter: CompiledEventFilter, index: number): boolean {
  const bit = index >= 0 && index < 32 && ((filter.fixedCounterBitmap >>> index) & 1) === 1;
  return filter.action === 'allow' ? bit : !bit;
}
