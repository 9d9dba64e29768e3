/**
 * How perf keeps sampling rates in bounds (kernel/events/core.c): frequency
 * mode steers an event's sample period toward attr.sample_freq
 * (perf_adjust_period), and the interrupt-rate limit lowers
 * max_samples_per_tick (and with it kernel.perf_event_max_sample_rate) when
 * PMIs take too long (perf_sample_event_took). The throttling that limit
 * drives (__perf_event_account_interrupt, unthrottling at the tick) is the
 * core's (core.ts).
 */
import { MAX_SAMPLE_RATE } from './attr.ts';
import type { KernelEvent } from './event.ts';

/** sysctl kernel.perf_cpu_time_max_percent default. */
const CPU_TIME_MAX_PERCENT = 25;
/** PMI lengths averaged by perf_sample_event_took. */
const NR_ACCUMULATED_SAMPLES = 128;

/** perf_sample_event_took and the limits it lowers. */
export class SampleRateLimit {
  // The non-null assertion reads `runningSampleLength` (nrCpus entries, from
  // the constructor) at a cpu < nrCpus: the core's own CPU numbers (core.ts).
  /** max_samples_per_tick: lowered by sampleEventTook() when PMIs take too long. */
  maxSamplesPerTick: number;
  /** sysctl kernel.perf_event_max_sample_rate (lowered with it). */
  maxSampleRate: number;
  /** perf_sample_allowed_ns: the average PMI length allowed before the rate is lowered. */
  private sampleAllowedNs: number;
  /** running_sample_length, per CPU (indexed with `!`: one entry per CPU): a decaying sum of the last ~128 PMI lengths. */
  private readonly runningSampleLength: number[];

  constructor(
    nrCpus: number,
    private readonly hz: number,
    maxSampleRate = MAX_SAMPLE_RATE,
  ) {
    this.maxSampleRate = maxSampleRate;
    this.maxSamplesPerTick = Math.ceil(maxSampleRate / hz);
    // DEFAULT_SAMPLE_PERIOD_NS * perf_cpu_time_max_percent (25) / 100.
    this.sampleAllowedNs = ((1e9 / maxSampleRate) * CPU_TIME_MAX_PERCENT) / 100;
    this.runningSampleLength = new Array<number>(nrCpus).fill(0);
  }

  /**
   * perf_sample_event_took: keep a decaying average of PMI handler lengths;
   * when it exceeds the allowed length (a PMI rate that would take more than
   * perf_cpu_time_max_percent of the CPU), lower max_samples_per_tick, and
   * with it kernel.perf_event_max_sample_rate, to fit 25% below it. Returns
   * the kernel's log line when it lowered them, else null.
   */
  sampleEventTook(cpu: number, lengthNs: number): string | null {
    if (this.sampleAllowedNs === 0) return null;
    let running = this.runningSampleLength[cpu]!;
    running -= running / NR_ACCUMULATED_SAMPLES;
    running += lengthNs;
    this.runningSampleLength[cpu] = running;
    let average = running / NR_ACCUMULATED_SAMPLES;
    if (average <= this.sampleAllowedNs) return null;
    const allowed = this.sampleAllowedNs;
    average += average / 4;
    const tickNs = 1e9 / this.hz;
    let max = (tickNs / 100) * CPU_TIME_MAX_PERCENT;
    max = average < max ? Math.floor(max / average) : 1;
    this.sampleAllowedNs = average;
    this.maxSamplesPerTick = Math.max(1, max);
    this.maxSampleRate = this.maxSamplesPerTick * this.hz;
    return `perf: interrupt took too long (${Math.round(average)} > ${Math.round(allowed)}), lowering kernel.perf_event_max_sample_rate to ${this.maxSampleRate}`;
  }
}

/**
 * perf_adjust_period: steer the sample period of frequency-mode event `e`
 * toward sample_freq, through a low-pass filter, from `count` events in
 * `nsec`. A period left far beyond the new one is cut short (restarting the
 * event when `restart`, i.e. when it is counting now).
 */
export function adjustPeriod(
  cpu: number,
  e: KernelEvent,
  nsec: number,
  count: number,
  restart: boolean,
): void {
  const freq = e.attr.sampleFreq;
  if (freq === undefined) return; // a period-mode event: no frequency to steer toward
  const period = Math.floor((count * 1e9) / (nsec * freq));
  let delta = period - e.samplePeriod;
  delta = delta >= 0 ? delta + 7 : delta - 7;
  delta = Math.trunc(delta / 8);
  e.samplePeriod = Math.max(1, e.samplePeriod + delta);
  if (e.periodLeft > 8 * e.samplePeriod) {
    if (restart) e.pmu.stop(cpu, e);
    e.periodLeft = 0;
    if (restart) e.pmu.start(cpu, e);
  }
}

/**
 * perf_adjust_freq_unthr_events, at the tick, over the CPU's active hardware
 * events that are throttled or in frequency mode (the caller has disabled the
 * PMUs): unthrottle; a period-mode event is restarted where it stopped (start
 * without PERF_EF_RELOAD), a frequency-mode one gets its period adjusted from
 * the count of the last tick and is reloaded only if the count moved.
 */
export function unthrottleAndAdjustFreq(
  cpu: number,
  events: readonly KernelEvent[],
  tickNs: number,
): void {
  for (const e of events) {
    if (e.throttled) {
      e.throttled = false;
      if (e.attr.sampleFreq === undefined) e.pmu.start(cpu, e, false);
    }
    if (e.attr.sampleFreq === undefined) continue;
    e.pmu.stop(cpu, e);
    const delta = e.count - e.freqCountStamp;
    e.freqCountStamp = e.count;
    if (delta > 0) adjustPeriod(cpu, e, tickNs, delta, false);
    e.pmu.start(cpu, e, delta > 0);
  }
}
