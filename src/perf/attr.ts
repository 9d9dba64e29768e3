/**
 * perf_event_attr as the model takes it (docs/api.md PerfEventAttr), and the
 * generic validation perf_event_open does before a PMU sees the event.
 */
import { PerfError } from '../common/errors.ts';
import { showValue } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';

export interface PerfEventAttr {
  /** PMU name; default 'cpu'. */
  pmu?: string;
  /** A named event ('instructions', 'cycles', ...; software: 'cpu-clock', 'task-clock') or raw (umask << 8 | event select). */
  config: string | number;
  excludeGuest?: boolean;
  excludeHost?: boolean;
  excludeUser?: boolean;
  excludeKernel?: boolean;
  pinned?: boolean;
  disabled?: boolean;
  /** Sampling: overflow every this many events. */
  samplePeriod?: number;
  /** Frequency mode (perf record -F): aim for this many samples per second; the period adapts at each tick. */
  sampleFreq?: number;
}

/** Every field of PerfEventAttr, for refusing the ones it does not have. */
const ATTR_FIELDS: Record<keyof PerfEventAttr, true> = {
  pmu: true,
  config: true,
  excludeGuest: true,
  excludeHost: true,
  excludeUser: true,
  excludeKernel: true,
  pinned: true,
  disabled: true,
  samplePeriod: true,
  sampleFreq: true,
};
const ATTR_FLAGS = [
  'excludeGuest',
  'excludeHost',
  'excludeUser',
  'excludeKernel',
  'pinned',
  'disabled',
] as const satisfies readonly (keyof PerfEventAttr)[];

/** Where an event counts: a CPU (all tasks on it), a task (on any CPU), or a task on one CPU. */
export interface PerfTarget {
  cpu?: number;
  pid?: number;
}

export const PERF_TARGET_FIELDS: readonly (keyof PerfTarget)[] = ['cpu', 'pid'];

/** Validate what perf_event_open checks before any PMU (kernel/events/core.c). */
export function validateAttr(attr: PerfEventAttr, maxSampleRate?: number): void {
  if (attr === null || typeof attr !== 'object')
    throw new PerfError('EFAULT', 'attr is not an object');
  // perf_copy_attr() refuses attr bytes this kernel does not know with E2BIG;
  // here a field the model does not know is most likely a misspelt one.
  const unknown = unknownKey(attr, Object.keys(ATTR_FIELDS), 'attr field');
  if (unknown !== undefined) throw new PerfError('E2BIG', unknown);
  for (const flag of ATTR_FLAGS) {
    const value: unknown = attr[flag];
    if (value !== undefined && typeof value !== 'boolean')
      throw new PerfError('EINVAL', `${flag} must be true or false, got ${showValue(value)}`);
  }
  const { config } = attr;
  if (typeof config === 'number') {
    if (!Number.isSafeInteger(config) || config < 0)
      throw new PerfError('EINVAL', `raw config ${config} is not a non-negative integer`);
  } else if (typeof config !== 'string') {
    throw new PerfError('EINVAL', 'config must be an event name or a raw number');
  }
  if (attr.samplePeriod !== undefined && attr.sampleFreq !== undefined) {
    throw new PerfError(
      'EINVAL',
      'samplePeriod and sampleFreq are exclusive (attr.freq selects one)',
    );
  }
  // sample_period is a u64 (bit 63 set is EINVAL); here a number, so whole
  // and at most 2^53 - 1. 0 is a counting event, as upstream.
  if (
    attr.samplePeriod !== undefined &&
    (!Number.isSafeInteger(attr.samplePeriod) || attr.samplePeriod < 0)
  ) {
    throw new PerfError(
      'EINVAL',
      `samplePeriod must be a whole number from 0 (counting) to 2^53 - 1, got ${showValue(attr.samplePeriod)}`,
    );
  }
  if (attr.sampleFreq !== undefined) {
    if (!Number.isSafeInteger(attr.sampleFreq) || attr.sampleFreq < 0) {
      throw new PerfError(
        'EINVAL',
        `sampleFreq must be a whole number from 0 (counting), got ${showValue(attr.sampleFreq)}`,
      );
    }
    // perf_event_open() refuses a frequency above kernel.perf_event_max_sample_rate
    // as it stands now (perf_sample_event_took() lowers it when PMIs take too
    // long); perf_event_create_kernel_counter() does not check it.
    if (maxSampleRate !== undefined && attr.sampleFreq > maxSampleRate)
      throw new PerfError(
        'EINVAL',
        `sampleFreq ${attr.sampleFreq} exceeds perf_event_max_sample_rate (${maxSampleRate})`,
      );
  }
}

/**
 * perf_copy_attr(): the kernel keeps its own copy of the attr, so a caller
 * that changes its object after perf_event_open changes nothing. A sample
 * period or frequency of 0 makes a counting event (is_sampling_event() tests
 * attr.sample_period != 0, and sample_freq shares its union; perf_event_alloc
 * starts frequency mode at period 1 only for a non-zero sample_freq), so the
 * copy leaves it out.
 */
export function copyAttr(attr: PerfEventAttr): Readonly<PerfEventAttr> {
  const copy = { ...attr };
  if (copy.samplePeriod === 0) delete copy.samplePeriod;
  if (copy.sampleFreq === 0) delete copy.sampleFreq;
  return Object.freeze(copy);
}

/** /proc/sys/kernel/perf_event_max_sample_rate default (DEFAULT_MAX_SAMPLE_RATE), where SampleRateLimit starts. */
export const MAX_SAMPLE_RATE = 100_000;

export function isSampling(attr: PerfEventAttr): boolean {
  return attr.samplePeriod !== undefined || attr.sampleFreq !== undefined;
}
