/**
 * perf_sample_event_took(): PMI handlers that take too long lower
 * max_samples_per_tick and kernel.perf_event_max_sample_rate, with a line in
 * the kernel log; short handlers leave them alone.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PerfError } from '../../src/common/errors.ts';
import { HostMachine } from '../../src/sim/host.ts';

/** A host whose PMI handler takes `ns` of CPU time (charged on its clock). */
function hostWithPmiCost(ns: number): HostMachine {
  const host = new HostMachine({});
  const cpu = host.cpus[0]!;
  const handleIrq = host.perfCore.x86!.handleIrq.bind(host.perfCore.x86!);
  host.perfCore.x86!.handleIrq = (c) => {
    cpu.stall((ns * cpu.model.tscHz) / 1e9);
    return handleIrq(c);
  };
  return host;
}

describe('perf_sample_event_took', () => {
  it('long PMI handlers lower the sample rate 25% below what fits the CPU budget, and say so', () => {
    const host = hostWithPmiCost(20_000); // 20 us per PMI, 8x the 2.5 us allowed
    const before = host.perfCore.maxSamplesPerTick;
    assert.equal(before, 400); // 100000 / HZ 250
    host.perf.open(
      { config: 'instructions', samplePeriod: 100_000, excludeGuest: true },
      { cpu: 0 },
    );
    host.exec({ instructions: 100_000_000 }); // 1000 PMIs
    const after = host.perfCore.maxSamplesPerTick;
    assert.ok(after < before, `max_samples_per_tick stayed ${after}`);
    // The budget: 25% of a 4 ms tick (1 ms) over (average * 1.25) per PMI. The last
    // lowering happens once the average A passes 1.25x the previous threshold, so
    // A lies in [20 us / 1.25, 20 us] and the limit in [1 ms / 25 us, 1 ms / 20 us].
    assert.ok(after >= 40 && after <= 50, `max_samples_per_tick = ${after}`);
    assert.equal(host.perfCore.maxSampleRate, after * 250);
    assert.ok(
      host.dmesg.some((l) =>
        /^perf: interrupt took too long \(\d+ > \d+\), lowering kernel.perf_event_max_sample_rate to \d+$/.test(
          l,
        ),
      ),
    );
  });

  it('short PMI handlers leave the limits alone', () => {
    const host = hostWithPmiCost(1_000); // 1 us: within the 2.5 us allowed
    host.perf.open(
      { config: 'instructions', samplePeriod: 100_000, excludeGuest: true },
      { cpu: 0 },
    );
    host.exec({ instructions: 100_000_000 });
    assert.equal(host.perfCore.maxSamplesPerTick, 400);
    assert.ok(!host.dmesg.some((l) => l.startsWith('perf: interrupt took too long')));
  });

  it('the lowered limit throttles: at most max_samples_per_tick PMIs per event per tick', () => {
    const host = hostWithPmiCost(100_000); // 100 us: the limit falls to a handful
    const e = host.perf.open(
      { config: 'instructions', samplePeriod: 1_000, excludeGuest: true },
      { cpu: 0 },
    );
    host.exec({ instructions: 40_000_000 }); // 20 ms: 5 ticks
    const limit = host.perfCore.maxSamplesPerTick;
    assert.ok(limit < 20, `limit ${limit}`);
    const ticks = 20e6 / 4e6 + 1;
    assert.ok(e.samples <= 400 + ticks * (limit + 1), `${e.samples} samples`);
  });
});

describe('perf_event_open against the lowered kernel.perf_event_max_sample_rate', () => {
  // kernel/events/core.c, perf_event_open(): "if (attr.sample_freq >
  // sysctl_perf_event_sample_rate) return -EINVAL", the sysctl as
  // perf_sample_event_took() left it.
  it('a frequency above the lowered rate is EINVAL; one at it is accepted', () => {
    const host = hostWithPmiCost(20_000);
    host.perf.open(
      { config: 'instructions', samplePeriod: 100_000, excludeGuest: true },
      { cpu: 0 },
    );
    host.exec({ instructions: 100_000_000 });
    const rate = host.perfCore.maxSampleRate;
    assert.ok(rate < 100_000, `the rate was not lowered (${rate})`);
    assert.throws(
      () => host.perf.open({ config: 'cycles', sampleFreq: rate + 1 }, { cpu: 0 }),
      (e: unknown) => e instanceof PerfError && e.errno === 'EINVAL',
    );
    assert.equal(
      host.perf.open({ config: 'cycles', sampleFreq: rate }, { cpu: 0 }).state,
      'active',
    );
  });
});

describe('a sample period or frequency of 0', () => {
  // is_sampling_event(): attr.sample_period != 0 (sample_freq shares the union).
  for (const attr of [{ samplePeriod: 0 }, { sampleFreq: 0 }])
    it(`${JSON.stringify(attr)} opens a counting event: it counts every event and takes no sample`, () => {
      const host = new HostMachine({});
      const e = host.perf.open({ config: 'instructions', excludeGuest: true, ...attr }, { cpu: 0 });
      host.exec({ instructions: 10_000_000 });
      assert.equal(e.read().value, 10_000_000n);
      assert.equal(e.samples, 0);
    });
});
