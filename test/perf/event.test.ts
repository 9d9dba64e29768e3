/**
 * struct perf_event time accounting (src/perf/event.ts) on its context's
 * clock (src/perf/context.ts): total_time_enabled / total_time_running, and
 * the guest clock that an exclude_guest event on a mediated-capable PMU runs
 * on (docs/mediated-vpmu.md 3.2).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import type { PerfEventAttr } from '../../src/perf/attr.ts';
import { EventContext } from '../../src/perf/context.ts';
import { EventState, KernelEvent, STATE_NAMES, type HwConfig } from '../../src/perf/event.ts';
import type { PerfPmu } from '../../src/perf/pmu.ts';

const HW: HwConfig = { config: 0n, fixedIndex: -1, gpMask: 0xf, fixedBits: 0, name: 'test' };
const CAPABLE = { name: 'cpu', mediatedCapable: true } as PerfPmu;
const EXEMPT = { name: 'uncore', mediatedCapable: false } as PerfPmu;

let nextId = 1;
function event(
  ctx: EventContext,
  attr: Partial<PerfEventAttr> = {},
  pmu = CAPABLE,
  leader: KernelEvent | null = null,
) {
  return new KernelEvent(
    nextId++,
    { config: 'cycles', ...attr },
    pmu,
    HW,
    0,
    ctx,
    leader,
    null,
    attr.samplePeriod ?? 0,
  );
}

/** A CPU context active on CPU 0 since t=0. */
function activeContext(): EventContext {
  const ctx = new EventContext('cpu', 0);
  ctx.activate(0, 0);
  return ctx;
}

describe('EventContext clock', () => {
  it('runs only while active, and timeguest only while a guest is loaded', () => {
    const ctx = new EventContext('task', 7);
    assert.equal(ctx.isActive, false);
    ctx.updateTime(100);
    assert.equal(ctx.time, 0);
    ctx.activate(1, 100);
    assert.equal(ctx.activeCpu, 1);
    ctx.updateTime(250);
    assert.equal(ctx.time, 150);
    ctx.guestLoaded = true;
    ctx.updateTime(400);
    assert.deepEqual([ctx.time, ctx.timeguest], [300, 150]);
    ctx.guestLoaded = false;
    ctx.deactivate(500);
    assert.deepEqual([ctx.time, ctx.timeguest, ctx.activeCpu], [400, 150, -1]);
    ctx.updateTime(10_000);
    assert.equal(ctx.time, 400, 'an inactive context keeps its time');
  });

  it('never runs backwards', () => {
    const ctx = activeContext();
    ctx.updateTime(100);
    ctx.updateTime(50);
    assert.equal(ctx.time, 100);
  });

  it('lists pinned before flexible groups, leaders before siblings, and rotates the first flexible group last', () => {
    const ctx = activeContext();
    const p = event(ctx, { pinned: true });
    const a = event(ctx);
    const a1 = event(ctx, {}, CAPABLE, a);
    a.siblings.push(a1);
    const b = event(ctx);
    ctx.pinned.push(p);
    ctx.flexible.push(a, b);
    assert.deepEqual([...ctx.events()], [p, a, a1, b]);
    ctx.rotateFlexible();
    assert.deepEqual(ctx.flexible, [b, a]);
    assert.equal(ctx.isEmpty, false);
    assert.equal(new EventContext('cpu', 1).isEmpty, true);
  });
});

describe('KernelEvent', () => {
  it('starts off when disabled, inactive otherwise', () => {
    const ctx = activeContext();
    assert.equal(event(ctx, { disabled: true }).state, EventState.Off);
    assert.equal(event(ctx).state, EventState.Inactive);
    assert.equal(STATE_NAMES[EventState.Error], 'error');
  });

  it('knows its group: leader, siblings, members', () => {
    const ctx = activeContext();
    const leader = event(ctx);
    const sibling = event(ctx, {}, CAPABLE, leader);
    leader.siblings.push(sibling);
    assert.equal(sibling.groupLeader, leader);
    assert.equal(leader.groupLeader, leader);
    assert.equal(leader.isGroupLeader, true);
    assert.equal(sibling.isGroupLeader, false);
    assert.deepEqual([...leader.members()], [leader, sibling]);
  });

  it('classifies include-guest events on capable PMUs (what 3.1 accounts)', () => {
    const ctx = activeContext();
    assert.equal(event(ctx).isIncludeGuestOnCapablePmu, true);
    assert.equal(event(ctx, { excludeGuest: true }).isIncludeGuestOnCapablePmu, false);
    assert.equal(event(ctx, {}, EXEMPT).isIncludeGuestOnCapablePmu, false);
    assert.equal(event(ctx, { excludeGuest: true }).excludesGuestTime, true);
    // __perf_event_time_ctx: every exclude_guest event loses T_GUEST, any PMU.
    assert.equal(event(ctx, { excludeGuest: true }, EXEMPT).excludesGuestTime, true);
    assert.equal(event(ctx).excludesGuestTime, false);
  });

  it('knows whether it samples and starts its period', () => {
    const ctx = activeContext();
    const e = event(ctx, { samplePeriod: 1234 });
    assert.equal(e.isSampling, true);
    assert.deepEqual([e.samplePeriod, e.periodLeft, e.lastPeriod], [1234, 1234, 1234]);
    assert.equal(event(ctx).isSampling, false);
    assert.equal(event(ctx, { sampleFreq: 99 }).isSampling, true);
  });

  it('accrues enabled time while inactive or active and running time only while active', () => {
    const ctx = activeContext();
    const e = event(ctx);
    ctx.updateTime(100);
    e.setState(EventState.Active); // 100 inactive
    ctx.updateTime(300);
    e.setState(EventState.Off); // 200 active
    ctx.updateTime(1000);
    e.setState(EventState.Inactive); // 700 off
    ctx.updateTime(1050);
    e.setState(EventState.Error); // 50 inactive
    ctx.updateTime(2000);
    e.updateTimes(); // 950 error
    assert.deepEqual([e.totalTimeEnabled, e.totalTimeRunning], [350, 200]);
  });

  it('setState to the same state is a no-op that folds nothing', () => {
    const ctx = activeContext();
    const e = event(ctx);
    ctx.updateTime(100);
    e.setState(EventState.Inactive);
    assert.equal(e.tstamp, 0);
  });

  // __perf_event_time_ctx (kernel/events/core.c): time -= times[T_GUEST] for every
  // exclude_guest event, whatever its PMU's capabilities.
  it('an exclude_guest event excludes guest time exactly on any PMU; an include-guest one keeps it', () => {
    const ctx = activeContext();
    const host = event(ctx, { excludeGuest: true });
    const inclusive = event(ctx);
    const exempt = event(ctx, { excludeGuest: true }, EXEMPT);
    for (const e of [host, inclusive, exempt]) e.setState(EventState.Active);
    ctx.updateTime(1000);
    ctx.guestLoaded = true;
    ctx.updateTime(6000);
    ctx.guestLoaded = false;
    ctx.updateTime(7000);
    for (const e of [host, inclusive, exempt]) e.updateTimes();
    assert.deepEqual([host.totalTimeEnabled, host.totalTimeRunning], [2000, 2000]);
    assert.deepEqual([inclusive.totalTimeEnabled, inclusive.totalTimeRunning], [7000, 7000]);
    assert.deepEqual([exempt.totalTimeEnabled, exempt.totalTimeRunning], [2000, 2000]);
  });

  it('property: enabled/running equal a reference integrated over any history of states, guest time and activity', () => {
    type Op =
      | { kind: 'advance'; dt: number }
      | { kind: 'state'; state: EventState }
      | { kind: 'guest'; on: boolean }
      | { kind: 'active'; on: boolean };
    const op: fc.Arbitrary<Op> = fc.oneof(
      fc.record({ kind: fc.constant('advance' as const), dt: fc.integer({ min: 0, max: 10_000 }) }),
      fc.record({
        kind: fc.constant('state' as const),
        state: fc.constantFrom(
          EventState.Off,
          EventState.Inactive,
          EventState.Active,
          EventState.Error,
        ),
      }),
      fc.record({ kind: fc.constant('guest' as const), on: fc.boolean() }),
      fc.record({ kind: fc.constant('active' as const), on: fc.boolean() }),
    );
    fc.assert(
      fc.property(
        fc.boolean(),
        fc.boolean(),
        fc.array(op, { maxLength: 60 }),
        (excludeGuest, capable, ops) => {
          const ctx = activeContext();
          const e = event(ctx, { excludeGuest }, capable ? CAPABLE : EXEMPT);
          let now = 0;
          let guest = false;
          let active = true;
          const ref = { enabled: 0, running: 0 };
          for (const o of ops) {
            if (o.kind === 'advance') {
              // __perf_event_time_ctx: T_GUEST leaves every exclude_guest event's times.
              const counts = active && !(guest && excludeGuest);
              if (counts && e.state >= EventState.Inactive) ref.enabled += o.dt;
              if (counts && e.state === EventState.Active) ref.running += o.dt;
              now += o.dt;
              continue;
            }
            ctx.updateTime(now);
            if (o.kind === 'state') e.setState(o.state);
            else if (o.kind === 'guest') guest = ctx.guestLoaded = o.on;
            else if (o.on && !active) ctx.activate(0, now);
            else if (!o.on && active) ctx.deactivate(now);
            if (o.kind === 'active') active = o.on;
          }
          ctx.updateTime(now);
          e.updateTimes();
          assert.equal(e.totalTimeEnabled, ref.enabled);
          assert.equal(e.totalTimeRunning, ref.running);
          assert.ok(e.totalTimeRunning <= e.totalTimeEnabled);
        },
      ),
      { numRuns: 300 },
    );
  });
});
