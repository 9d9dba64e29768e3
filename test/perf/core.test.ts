/**
 * The generic perf core (src/perf/core.ts): per-CPU and per-task contexts,
 * groups, pinned vs flexible, multiplexing by rotation, the tick
 * (throttling, frequency mode), sampling at the exact event, and the event
 * operations (read / enable / disable / close).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { CPU_MODELS } from '../../src/hw/cpu-models.ts';
import { DEFAULT_TASK_PID } from '../../src/perf/core.ts';
import type { PerfEvent } from '../../src/perf/perf.ts';
import { counterOf, cyclesFor, kernelOf, machine, throwsErrno } from './helpers.ts';

const MS = 1_000_000;

/** value * enabled / running: perf stat's scaled estimate. */
function estimate(e: PerfEvent): number {
  const { value, timeEnabled, timeRunning } = e.read();
  return timeRunning === 0n ? 0 : (Number(value) * Number(timeEnabled)) / Number(timeRunning);
}

describe('contexts: CPU and task events', () => {
  // perf_event_alloc (kernel/events/core.c): `(unsigned)cpu >= nr_cpu_ids` is
  // -EINVAL unless it is a task event's cpu == -1; so are negative CPUs below -1.
  it('perf_event_open refuses a CPU past the last one, or below -1, with EINVAL', () => {
    const host = machine({ cpus: 2 });
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { cpu: 2 }), 'EINVAL');
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { cpu: -2, pid: 1 }), 'EINVAL');
    throwsErrno(() => host.perf.open({ config: 'cycles' }, { cpu: 0.5 }), 'EINVAL');
    assert.equal(host.perf.open({ config: 'cycles' }, { cpu: 1 }).state, 'active');
    // A task event on any CPU (cpu == -1) is fine; task 5 is not running, so it waits.
    assert.equal(host.perf.open({ config: 'cycles' }, { cpu: -1, pid: 5 }).state, 'inactive');
  });

  it('a CPU event counts every task on its CPU and nothing on other CPUs', () => {
    const host = machine({ cpus: 2 });
    const e = host.perf.open({ config: 'branches' }, { cpu: 1 });
    host.exec({ instructions: 100, branches: 10, cpu: 1, pid: 2 });
    host.exec({ instructions: 100, branches: 20, cpu: 1, pid: 3 });
    host.exec({ instructions: 100, branches: 40, cpu: 0, pid: 4 });
    assert.equal(e.read().value, 30n);
  });

  it('a task event follows its task across CPUs, counting and accruing enabled time only while it runs', () => {
    const host = machine({ cpus: 2 });
    const e = host.perf.open({ config: 'branches' }, { pid: 2 });
    host.exec({ instructions: 2000, branches: 5, cpu: 0, pid: 2 }); // 1000 ns
    host.exec({ instructions: 4000, branches: 50, cpu: 0, pid: 3 }); // 2000 ns, not ours
    host.exec({ instructions: 6000, branches: 7, cpu: 1, pid: 2 }); // 3000 ns on the other CPU
    host.exec({ instructions: 8000, branches: 70, cpu: 1, pid: 4 });
    const r = e.read();
    assert.equal(r.value, 12n);
    assert.equal(r.timeEnabled, 4000n);
    assert.equal(r.timeRunning, 4000n);
  });

  // event_filter_match (kernel/events/core.c): an event with cpu != -1 goes on
  // only where event->cpu == smp_processor_id(); CPU 0 is a CPU like any other.
  it('a task event bound to a CPU counts only while its task runs there', () => {
    for (const [bound, other] of [
      [1, 0],
      [0, 1],
    ] as const) {
      const host = machine({ cpus: 2 });
      const e = host.perf.open({ config: 'branches' }, { pid: 2, cpu: bound });
      host.exec({ instructions: 100, branches: 5, cpu: other, pid: 2 });
      host.exec({ instructions: 100, branches: 9, cpu: bound, pid: 2 });
      assert.equal(e.read().value, 9n, `bound to CPU ${bound}`);
    }
  });

  it('pid 0 (and no target) means the calling task, which host.exec runs by default', () => {
    const host = machine();
    assert.equal(DEFAULT_TASK_PID, 1);
    const me = host.perf.open({ config: 'branches' });
    const pid0 = host.perf.open({ config: 'branches' }, { pid: 0 });
    host.exec({ instructions: 10, branches: 3 });
    host.exec({ instructions: 10, branches: 100, pid: 5 });
    assert.deepEqual([me.read().value, pid0.read().value], [3n, 3n]);
    assert.equal(kernelOf(me).ctx.kind, 'task');
    assert.equal(kernelOf(me).ctx.owner, DEFAULT_TASK_PID);
  });

  it('an event opened for a task that is not running waits inactive, then goes on when it runs', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches' }, { pid: 9 });
    assert.equal(e.state, 'inactive');
    host.exec({ instructions: 10, branches: 4, pid: 9 });
    assert.equal(e.state, 'active');
    host.exec({ instructions: 10, branches: 4, pid: 1 });
    assert.equal(e.state, 'inactive');
    assert.equal(e.read().value, 4n);
  });

  it('software events count nanoseconds on their clock: cpu-clock per CPU, task-clock while the task runs', () => {
    const host = machine();
    const cpuClock = host.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 });
    const taskClock = host.perf.open({ pmu: 'software', config: 'task-clock' }, { pid: 2 });
    host.exec({ instructions: 2000, pid: 2 }); // 1000 ns
    host.exec({ instructions: 6000, pid: 3 }); // 3000 ns
    assert.equal(cpuClock.read().value, 4000n);
    assert.equal(taskClock.read().value, 1000n);
  });

  it('the uncore counts memory reads of every task on its CPU', () => {
    const host = machine();
    const u = host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    host.exec({ instructions: 100, llcMisses: 7, pid: 2 });
    host.exec({ instructions: 100, llcMisses: 5, pid: 3 });
    assert.equal(u.read().value, 12n);
  });
});

describe('groups', () => {
  it('are scheduled as a unit: all members run for the same time, or none runs', () => {
    const host = machine();
    const leader = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const siblings = Array.from({ length: 7 }, () =>
      host.perf.open({ config: 'branch-misses' }, { cpu: 0 }, leader),
    );
    assert.ok([leader, ...siblings].every((e) => e.state === 'active'));
    const tooBig = host.perf.open({ config: 'cache-misses' }, { cpu: 0 });
    host.perf.open({ config: 'cache-references' }, { cpu: 0 }, tooBig);
    assert.equal(tooBig.state, 'inactive');
    for (let i = 0; i < 10; i++)
      host.exec({ instructions: cyclesFor(host, 2 * MS), branches: 100, branchMisses: 10 });
    const running = [leader, ...siblings].map((e) => e.read().timeRunning);
    assert.ok(running.every((t) => t === running[0]));
    assert.ok(running[0]! < leader.read().timeEnabled, 'the two groups took turns');
    assert.ok(tooBig.read().timeRunning > 0n);
  });

  it('a group that can never fit never runs', () => {
    const host = machine({ cpu: 'intel-skylake' });
    const leader = host.perf.open({ config: 'branches' }, { cpu: 0 });
    for (let i = 0; i < 4; i++) host.perf.open({ config: 'branches' }, { cpu: 0 }, leader);
    for (let i = 0; i < 5; i++) host.exec({ instructions: cyclesFor(host, 3 * MS), branches: 10 });
    assert.equal(leader.read().timeRunning, 0n);
    assert.ok(leader.read().timeEnabled > 0n);
  });

  it('a software leader with hardware siblings is scheduled on the hardware PMU', () => {
    const host = machine();
    const leader = host.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 });
    const hw = host.perf.open({ config: 'branches' }, { cpu: 0 }, leader);
    assert.equal(hw.state, 'active');
    host.exec({ instructions: 200, branches: 2 });
    assert.deepEqual([leader.read().value, hw.read().value], [100n, 2n]);
  });

  it('closing the leader promotes the siblings to singleton groups that keep counting', () => {
    const host = machine();
    const leader = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const a = host.perf.open({ config: 'branch-misses' }, { cpu: 0 }, leader);
    const b = host.perf.open({ config: 'cache-misses' }, { cpu: 0 }, leader);
    host.exec({ instructions: 100, branches: 10, branchMisses: 1, llcMisses: 2 });
    leader.close();
    assert.equal(leader.state, 'dead');
    for (const s of [a, b]) {
      assert.equal(kernelOf(s).isGroupLeader, true);
      assert.ok(kernelOf(s).ctx.flexible.includes(kernelOf(s)));
      assert.equal(s.state, 'active');
    }
    host.exec({ instructions: 100, branchMisses: 3, llcMisses: 4 });
    assert.deepEqual([a.read().value, b.read().value], [4n, 6n]);
    // The promoted siblings are groups of their own now: they can be grouped with.
    const c = host.perf.open({ config: 'branches' }, { cpu: 0 }, a);
    assert.equal(kernelOf(c).groupLeader, kernelOf(a));
  });

  it('closing a sibling leaves the rest of the group', () => {
    const host = machine();
    const leader = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const a = host.perf.open({ config: 'branch-misses' }, { cpu: 0 }, leader);
    a.close();
    assert.deepEqual(kernelOf(leader).siblings, []);
    throwsErrno(() => a.read(), 'EBADF');
    host.exec({ instructions: 10, branches: 1 });
    assert.equal(leader.read().value, 1n);
  });
});

describe('pinned and flexible groups', () => {
  it('pinned groups are scheduled first: a late pinned event pushes a flexible one off its counter', () => {
    const host = machine();
    const flexible = Array.from({ length: 8 }, () =>
      host.perf.open({ config: 'branches' }, { cpu: 0 }),
    );
    const pinned = host.perf.open({ config: 'branch-misses', pinned: true }, { cpu: 0 });
    assert.equal(pinned.state, 'active');
    assert.equal(flexible.filter((e) => e.state === 'active').length, 7);
    for (let i = 0; i < 10; i++)
      host.exec({ instructions: cyclesFor(host, 2 * MS), branchMisses: 10 });
    const r = pinned.read();
    assert.equal(r.timeEnabled, r.timeRunning, 'a pinned event is never multiplexed');
    assert.equal(r.value, 100n);
  });

  it('a pinned group that cannot get its counters goes to error (reads are zeros) until enabled again', () => {
    const host = machine();
    const pins = Array.from({ length: 8 }, () =>
      host.perf.open({ config: 'branches', pinned: true }, { cpu: 0 }),
    );
    const failed = host.perf.open({ config: 'branch-misses', pinned: true }, { cpu: 0 });
    assert.equal(failed.state, 'error');
    host.exec({ instructions: 1000, branchMisses: 10 });
    assert.deepEqual(failed.read(), { value: 0n, timeEnabled: 0n, timeRunning: 0n });
    pins[0]!.close();
    assert.equal(failed.state, 'error', 'freeing a counter does not revive it');
    failed.enable();
    assert.equal(failed.state, 'active');
    host.exec({ instructions: 1000, branchMisses: 10 });
    assert.equal(failed.read().value, 10n);
  });

  it('after a pinned failure the later pinned groups of that PMU in that pass also go to error (can_add_hw)', () => {
    const host = machine();
    for (let i = 0; i < 7; i++) host.perf.open({ config: 'branches', pinned: true }, { cpu: 0 });
    // Task 2's pinned groups are scheduled in one pass when task 2 runs.
    const pair = host.perf.open({ config: 'branches', pinned: true }, { pid: 2 });
    host.perf.open({ config: 'branches' }, { pid: 2 }, pair);
    const single = host.perf.open({ config: 'branch-misses', pinned: true }, { pid: 2 });
    host.exec({ instructions: 10, pid: 2 });
    assert.equal(pair.state, 'error', '7 + 2 > 8 GP counters');
    assert.equal(single.state, 'error', 'not tried although GP 7 is free');
    single.enable();
    assert.equal(single.state, 'active', 'enabling tries it again');
    // A new CPU pinned event goes before the task's pinned ones: it takes GP 7, the task's single loses it.
    const later = host.perf.open({ config: 'cache-misses', pinned: true }, { cpu: 0 });
    assert.deepEqual([later.state, single.state, pair.state], ['active', 'error', 'error']);
  });

  it('time starts at the open: an event opened late does not inherit its context time', () => {
    const host = machine();
    const early = host.perf.open({ config: 'branches' }, { cpu: 0 });
    host.exec({ instructions: 2000 }); // 1000 ns
    const late = host.perf.open({ config: 'branch-misses' }, { cpu: 0 });
    const task = host.perf.open({ config: 'cache-misses' }, { pid: 1 });
    host.exec({ instructions: 4000 }); // 2000 ns
    assert.equal(early.read().timeEnabled, 3000n);
    assert.deepEqual([late.read().timeEnabled, late.read().timeRunning], [2000n, 2000n]);
    assert.equal(task.read().timeEnabled, 2000n);
  });

  it('disabled events are off: not scheduled, no time, until enabled', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', disabled: true }, { cpu: 0 });
    assert.equal(e.state, 'off');
    host.exec({ instructions: 2000, branches: 10 });
    assert.deepEqual(e.read(), { value: 0n, timeEnabled: 0n, timeRunning: 0n });
    e.enable();
    host.exec({ instructions: 2000, branches: 10 });
    e.disable();
    assert.equal(e.state, 'off');
    host.exec({ instructions: 2000, branches: 10 });
    assert.deepEqual(e.read(), { value: 10n, timeEnabled: 1000n, timeRunning: 1000n });
  });

  it('disabling or enabling a leader disables or enables its group', () => {
    const host = machine();
    const leader = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const sib = host.perf.open({ config: 'branch-misses' }, { cpu: 0 }, leader);
    leader.disable();
    assert.equal(sib.state, 'off');
    leader.enable();
    assert.equal(sib.state, 'active');
    sib.disable();
    assert.deepEqual([leader.state, sib.state], ['active', 'off']);
  });
});

describe('multiplexing', () => {
  it('rotates on the 4 ms multiplexing timer at HZ=250 (1 ms at HZ=1000) only while a group waits', () => {
    for (const [hz, intervalMs] of [
      [250, 4],
      [1000, 1],
    ] as const) {
      const host = machine({ hz });
      assert.equal(host.perfCore.muxIntervalNs, intervalMs * MS);
      for (let i = 0; i < 8; i++) host.perf.open({ config: 'branches' }, { cpu: 0 });
      host.exec({ instructions: cyclesFor(host, 40 * MS) });
      assert.equal(host.perfCore.rotations, 0, 'everything fits: no rotation');
      host.perf.open({ config: 'branches' }, { cpu: 0 });
      host.exec({ instructions: cyclesFor(host, 40 * MS) });
      assert.equal(host.perfCore.rotations, 40 / intervalMs);
    }
  });

  it('time_running < time_enabled and value * enabled / running estimates a uniform workload closely', () => {
    const host = machine();
    const evs = Array.from({ length: 16 }, () =>
      host.perf.open({ config: 'branches' }, { cpu: 0 }),
    );
    const blocks = 250; // 100 ms in 0.4 ms blocks
    for (let i = 0; i < blocks; i++)
      host.exec({ instructions: cyclesFor(host, 0.4 * MS), branches: 40_000 });
    const truth = blocks * 40_000;
    for (const e of evs) {
      const r = e.read();
      assert.ok(r.timeRunning > 0n && r.timeRunning < r.timeEnabled);
      assert.equal(r.timeEnabled, 100n * BigInt(MS));
      assert.ok(
        Math.abs(estimate(e) - truth) / truth < 0.01,
        `estimate ${estimate(e)} vs ${truth}`,
      );
    }
    // Every event got its share: 8 counters for 16 events is half the time on average.
    const share = evs.reduce((s, e) => s + Number(e.read().timeRunning), 0) / (16 * 100 * MS);
    assert.ok(Math.abs(share - 0.5) < 0.01, `average share ${share}`);
  });

  it('property: with more flexible events than counters, every estimate is within 1% of the truth', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 9, max: 24 }),
        fc.integer({ min: 1, max: 1000 }),
        (n, density) => {
          const host = machine();
          const evs = Array.from({ length: n }, () =>
            host.perf.open({ config: 'branches' }, { cpu: 0 }),
          );
          const blockCycles = cyclesFor(host, 0.5 * MS);
          for (let i = 0; i < 200; i++)
            host.exec({ instructions: blockCycles, branches: density * 100 });
          const truth = 200 * density * 100;
          for (const e of evs) assert.ok(Math.abs(estimate(e) - truth) / truth < 0.01);
        },
      ),
      { numRuns: 12 },
    );
  });

  it('the first flexible failure stops later flexible groups of that PMU in that context only', () => {
    const host = machine({ cpus: 1 });
    for (let i = 0; i < 7; i++) host.perf.open({ config: 'branches' }, { cpu: 0 });
    const pair = host.perf.open({ config: 'branches' }, { cpu: 0 });
    host.perf.open({ config: 'branches' }, { cpu: 0 }, pair);
    const single = host.perf.open({ config: 'branch-misses' }, { cpu: 0 });
    assert.equal(pair.state, 'inactive');
    assert.equal(single.state, 'inactive', 'would fit on GP 7, but a group before it failed');
    const uncore = host.perf.open({ pmu: 'uncore_imc', config: 'data_reads' }, { cpu: 0 });
    assert.equal(uncore.state, 'active', 'the uncore PMU has its own can_add_hw');
    const task = host.perf.open({ config: 'cache-misses' }, { pid: 1 });
    assert.equal(task.state, 'active', 'the task context has its own can_add_hw');
    const cpuClock = host.perf.open({ pmu: 'software', config: 'cpu-clock' }, { cpu: 0 });
    assert.equal(cpuClock.state, 'active', 'software groups always go on');
  });

  it('a CPU-context rotation moves the task context flexible groups too: CPU groups keep priority', () => {
    const host = machine();
    const cpuEvents = Array.from({ length: 9 }, () =>
      host.perf.open({ config: 'branches' }, { cpu: 0 }),
    );
    const task = host.perf.open({ config: 'branch-misses' }, { pid: 1 });
    assert.equal(task.state, 'inactive');
    for (let i = 0; i < 10; i++) host.exec({ instructions: cyclesFor(host, 4 * MS) });
    assert.equal(task.read().timeRunning, 0n, 'never ahead of the CPU context flexible groups');
    assert.ok(cpuEvents.every((e) => e.read().timeRunning > 0n));
  });
});

describe('sampling, the tick and throttling', () => {
  it('property: a samplePeriod event takes exactly floor(events / period) samples (unthrottled) and counts every event', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 2, max: 5000 }),
        fc.array(fc.integer({ min: 0, max: 20_000 }), { minLength: 1, maxLength: 12 }),
        fc.constantFrom('intel-sapphire-rapids' as const, 'amd-zen4' as const, 'amd-zen3' as const),
        (period, blocks, cpu) => {
          // Below the throttling limit (the blocks run within one tick).
          fc.pre(blocks.reduce((a, b) => a + b, 0) / period <= 400);
          const host = machine({ cpu });
          const e = host.perf.open({ config: 'branches', samplePeriod: period }, { cpu: 0 });
          let total = 0;
          for (const b of blocks) {
            host.exec({ instructions: 4 * b + 1, branches: b });
            total += b;
          }
          assert.equal(e.samples, Math.floor(total / period));
          assert.equal(e.read().value, BigInt(total));
        },
      ),
      { numRuns: 150 },
    );
  });

  it('the PMI lands at the exact event: an overflow handler sees the count at the period', () => {
    const host = machine();
    const seen: number[] = [];
    const k = host.perfExports.createKernelCounter(
      { config: 'branches', samplePeriod: 1000 },
      0,
      -1,
      (ev) => seen.push(ev.count),
    );
    host.exec({ instructions: 100_000, branches: 3500 });
    assert.deepEqual(seen, [1000, 2000, 3000]);
    assert.equal(k.samples, 3);
  });

  it('throttles past max_samples_per_tick (100000 / HZ) and unthrottles at the next tick', () => {
    const host = machine();
    assert.equal(host.perfCore.maxSamplesPerTick, 400);
    assert.equal(machine({ hz: 1000 }).perfCore.maxSamplesPerTick, 100);
    const e = host.perf.open({ config: 'branches', samplePeriod: 2 }, { cpu: 0 });
    const k = kernelOf(e);
    // Less than one tick: 5000 overflows offered, 400 + 1 taken (the throttling one keeps its sample).
    host.exec({ instructions: cyclesFor(host, 1 * MS), branches: 10_000 });
    assert.equal(e.samples, 401);
    assert.equal(k.throttled, true);
    assert.equal(k.throttledOverflows, 1);
    assert.equal(e.read().value, 802n, 'a throttled event is stopped');
    // Cross the tick at 4 ms: unthrottled, samples again (and is throttled again).
    host.exec({ instructions: cyclesFor(host, 3.5 * MS), branches: 10_000 });
    assert.ok(e.samples > 401 && e.samples <= 802, `${e.samples}`);
    assert.equal(k.throttledOverflows, 2);
  });

  it('a counting event is never throttled by its PMIs (they only fold the count)', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const k = kernelOf(e);
    assert.equal(k.isSampling, false);
    host.exec({ instructions: 10, branches: 5 });
    assert.equal(k.interrupts, 0);
    assert.equal(e.samples, 0);
  });

  it('a throttled event is unthrottled when it is scheduled in again', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', samplePeriod: 2 }, { pid: 2 });
    host.exec({ instructions: 1000, branches: 1000, pid: 2 });
    assert.equal(kernelOf(e).throttled, true);
    host.exec({ instructions: 10, pid: 3 });
    host.exec({ instructions: 10, branches: 10, pid: 2 });
    assert.equal(kernelOf(e).throttled, false);
    assert.equal(e.samples, 401 + 5);
  });

  it('x86 quirk: a host event never programs fewer than 2 events (period 1 samples every other event); KVM guest events are exempt', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches', samplePeriod: 1 }, { cpu: 0 });
    host.exec({ instructions: 100, branches: 10 });
    assert.equal(e.samples, 5);
    const k = host.perfExports.createKernelCounter(
      { config: 'branch-misses', samplePeriod: 1, excludeHost: true },
      0,
      -1,
      () => {},
    );
    const cpu = host.cpus[0]!;
    const ctrl = host.perfExports.guestSwitchGlobalCtrl(0)!;
    cpu.guestModeExit = (delivery) => {
      cpu.hostInterrupt(delivery);
      cpu.wrmsr(0x38f, ctrl.guest);
    };
    cpu.wrmsr(0x38f, ctrl.guest);
    cpu.guestMode = true;
    cpu.retire({ instructions: 100, branchMisses: 10 });
    cpu.guestMode = false;
    assert.equal(k.samples, 10);
  });

  it('a period longer than the counter range takes several wraps; only the last one is a sample', () => {
    const model = { ...CPU_MODELS['intel-skylake'], name: 'skl-32bit', gpWidth: 32 };
    const host = machine({ cpu: model });
    assert.equal(host.perfCore.x86!.desc.maxPeriod, 2 ** 31 - 1);
    const period = 2 ** 33 + 5;
    const e = host.perf.open({ config: 'branches', samplePeriod: period }, { cpu: 0 });
    const cpu = host.cpus[0]!;
    cpu.retire({ instructions: 1, branches: period - 1 });
    assert.equal(e.samples, 0);
    assert.ok(cpu.interruptsDelivered.nmi >= 4, 'the counter wrapped several times');
    cpu.retire({ instructions: 1, branches: 1 });
    assert.equal(e.samples, 1);
    assert.equal(e.read().value, BigInt(period));
  });

  it('frequency mode converges to the requested rate of samples per simulated second', () => {
    for (const freq of [1000, 4000, 20_000]) {
      const host = machine();
      const e = host.perf.open({ config: 'cycles', sampleFreq: freq }, { cpu: 0 });
      for (let i = 0; i < 50; i++) host.exec({ instructions: cyclesFor(host, 10 * MS) }); // settle
      const before = e.samples;
      for (let i = 0; i < 50; i++) host.exec({ instructions: cyclesFor(host, 10 * MS) }); // 0.5 s
      const rate = (e.samples - before) / 0.5;
      assert.ok(Math.abs(rate - freq) / freq < 0.02, `${freq} Hz requested, ${rate} Hz taken`);
      const ideal = host.model.tscHz / freq;
      assert.ok(Math.abs(kernelOf(e).samplePeriod - ideal) / ideal < 0.02);
    }
  });
});

describe('event operations', () => {
  it('close: the event is dead, its counter is free, reads / enable / disable are EBADF, close again is a no-op', () => {
    const host = machine();
    const e = host.perf.open({ config: 'branches' }, { cpu: 0 });
    const n = host.perfCore.openEvents;
    e.close();
    assert.equal(e.state, 'dead');
    assert.equal(host.perfCore.openEvents, n - 1);
    assert.equal(host.perfCore.x86!.activeEvents(0).length, 0);
    throwsErrno(() => e.read(), 'EBADF');
    throwsErrno(() => e.enable(), 'EBADF');
    throwsErrno(() => e.disable(), 'EBADF');
    e.close();
  });

  it('closing a multiplexed event lets a waiting one in', () => {
    const host = machine();
    const evs = Array.from({ length: 9 }, () => host.perf.open({ config: 'branches' }, { cpu: 0 }));
    const waiting = evs.find((e) => e.state === 'inactive')!;
    evs.find((e) => e.state === 'active')!.close();
    assert.equal(waiting.state, 'active');
  });

  it('perf_event_period (KVM): the new period applies from now, with the PMU disabled', () => {
    const host = machine();
    const k = host.perfExports.createKernelCounter(
      { config: 'branches', samplePeriod: 100 },
      0,
      -1,
      () => {},
    );
    host.exec({ instructions: 1000, branches: 150 });
    assert.equal(k.samples, 1);
    host.perfExports.setPeriod(k, 10);
    host.exec({ instructions: 1000, branches: 25 });
    assert.equal(k.samples, 3);
    assert.equal(host.perfExports.readCounter(k), 175);
    throwsErrno(() => host.perfExports.setPeriod(k, 0), 'EINVAL');
  });

  it('reads fold the hardware count without disturbing it', () => {
    const host = machine();
    const e = host.perf.open({ config: 'instructions' }, { cpu: 0 });
    assert.equal(counterOf(e) >= 32, true);
    let total = 0;
    for (let i = 1; i <= 20; i++) {
      host.exec({ instructions: i * 97 });
      total += i * 97;
      assert.equal(e.read().value, BigInt(total));
    }
  });
});
