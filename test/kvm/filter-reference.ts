/**
 * KVM's event filter rules read straight off upstream, for tests to check the
 * model against (arch/x86/kvm/pmu.c). Written without any helper of
 * src/kvm/event-filter.ts, so that a test comparing the two can fail.
 */

/**
 * Upstream's rule read straight off the uapi entries, one entry at a time, with
 * no sorting, grouping or decoding helper of the model (arch/x86/kvm/pmu.c):
 * convert_to_masked_filter keeps a plain entry only if it has no bit outside
 * kvm_pmu_ops.EVENTSEL_EVENT | ARCH_PERFMON_EVENTSEL_UMASK and gives it an
 * all-ones umask mask and no exclude; filter_contains_match compares the
 * entry's KVM_PMU_MASKED_ENTRY_EVENT_SELECT bits with `eventsel &
 * EVENTSEL_EVENT`; is_filter_entry_match is `(umask & mask) == match`;
 * is_gp_event_allowed: (an include matches and no exclude does) == ALLOW.
 */
export function upstreamGpAllowed(
  vendor: 'intel' | 'amd',
  action: 'allow' | 'deny',
  masked: boolean,
  events: readonly bigint[],
  eventsel: bigint,
): boolean {
  // AMD64_EVENTSEL_EVENT is bits 7:0 and 35:32; ARCH_PERFMON_EVENTSEL_EVENT bits 7:0.
  const eventselEvent = vendor === 'amd' ? 0xf_0000_00ffn : 0xffn;
  const entrySelectBits = 0xf_0000_00ffn; // KVM_PMU_MASKED_ENTRY_EVENT_SELECT
  const umask = (eventsel >> 8n) & 0xffn;
  let included = false;
  let excluded = false;
  for (const e of events) {
    if (!masked && (e & ~(eventselEvent | 0xff00n)) !== 0n) continue;
    const mask = masked ? e >> 56n : 0xffn;
    const match = (e >> 8n) & 0xffn;
    const exclude = masked && ((e >> 55n) & 1n) === 1n;
    if ((e & entrySelectBits) !== (eventsel & eventselEvent)) continue;
    if ((umask & mask) !== match) continue;
    if (exclude) excluded = true;
    else included = true;
  }
  return (included && !excluded) === (action === 'allow');
}

/**
 * is_fixed_event_allowed: fixed counter `index` is judged by
 * fixed_counter_bitmap alone (events[] is not consulted); DENY with its bit
 * set or ALLOW with its bit clear denies it.
 */
export function upstreamFixedAllowed(
  action: 'allow' | 'deny',
  fixedCounterBitmap: number,
  index: number,
): boolean {
  const bit = ((fixedCounterBitmap >>> index) & 1) === 1;
  if (action === 'deny' && bit) return false;
  if (action === 'allow' && !bit) return false;
  return true;
}
