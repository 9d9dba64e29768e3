/**
 * The perf tool (src/guest/perf-session.ts): event names as perf writes
 * them, what each counts on Intel and AMD, and `perf stat` / `perf record`
 * sessions over a perf core, here the host's (HostMachine): scaling by
 * enabled/running under multiplexing, sampling by period or frequency,
 * refusals with their errno, and stopping early.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from '../common/fc.ts';
import { PerfError } from '../../src/common/errors.ts';
import { Quantity } from '../../src/hw/events.ts';
import {
  PerfSession,
  eventQuantity,
  parseEventSpec,
  type PerfSessionSpec,
} from '../../src/guest/perf-session.ts';
import { SPECINT_DEFAULTS, Truth, computeBlocks } from '../../src/guest/workloads.ts';
import { CostMeter } from '../../src/sim/cost-meter.ts';
import { CostModel } from '../../src/sim/cost-model.ts';
import { HostMachine } from '../../src/sim/host.ts';

describe('parseEventSpec', () => {
  it('named events, counting at every CPL', () => {
    for (const name of [
      'cycles',
      'instructions',
      'ref-cycles',
      'cache-references',
      'cache-misses',
      'branches',
      'branch-misses',
      'topdown-slots',
    ]) {
      assert.deepEqual(parseEventSpec(name), {
        spec: name,
        config: name,
        excludeUser: false,
        excludeKernel: false,
      });
    }
  });

  it('raw rUUEE: umask << 8 | event select, hex, any case, up to 8 digits', () => {
    assert.equal(parseEventSpec('r01c2').config, 0x01c2);
    assert.equal(parseEventSpec('r81d0').config, 0x81d0);
    assert.equal(parseEventSpec('rc0').config, 0xc0);
    assert.equal(parseEventSpec('R4F2E').config, 0x4f2e);
    assert.equal(parseEventSpec('r12345678').config, 0x12345678);
    assert.equal(parseEventSpec('r81d0:u').spec, 'r81d0:u');
  });

  it(':u counts user only, :k kernel only, :uk (or :ku) both', () => {
    const mods = (s: string) => {
      const e = parseEventSpec(s);
      return [e.excludeUser, e.excludeKernel];
    };
    assert.deepEqual(mods('branches:u'), [false, true]);
    assert.deepEqual(mods('branches:k'), [true, false]);
    assert.deepEqual(mods('branches:uk'), [false, false]);
    assert.deepEqual(mods('r00c0:ku'), [false, false]);
    assert.deepEqual(mods('r00c0:k'), [true, false]);
  });

  it('errors: RangeError naming the event as written', () => {
    const cases: [string, RegExp][] = [
      ['', /^event '': expected a perf event name or rUUEE/],
      ['cycles:x', /^event 'cycles:x': expected/],
      ['cycles:', /^event 'cycles:': expected/],
      ['cycles:u:k', /^event 'cycles:u:k': expected/],
      ['0xc0', /^event '0xc0': expected/],
      ['cpu/cycles/', /^event 'cpu\/cycles\/': expected/],
      ['instructionz', /^event 'instructionz': unknown event 'instructionz'/],
      ['rxyz', /^event 'rxyz': unknown event 'rxyz'/],
      ['r123456789', /^event 'r123456789': unknown event 'r123456789'/],
      ['cpu-clock', /^event 'cpu-clock': unknown event/],
    ];
    for (const [spec, message] of cases) {
      assert.throws(
        () => parseEventSpec(spec),
        (e: unknown) => e instanceof RangeError && message.test(e.message),
        spec,
      );
    }
  });

  it('never throws anything but RangeError, whatever the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20 }), (text) => {
        try {
          parseEventSpec(text);
        } catch (error) {
          assert.ok(error instanceof RangeError);
        }
      }),
      { numRuns: 500 },
    );
  });
});

describe('eventQuantity', () => {
  const q = (spec: string, vendor: 'intel' | 'amd') => eventQuantity(parseEventSpec(spec), vendor);

  it('named events are the same quantity on both vendors', () => {
    for (const vendor of ['intel', 'amd'] as const) {
      assert.equal(q('cycles', vendor), Quantity.Cycles);
      assert.equal(q('instructions:u', vendor), Quantity.Instructions);
      assert.equal(q('ref-cycles', vendor), Quantity.RefCycles);
      assert.equal(q('cache-references', vendor), Quantity.LlcReferences);
      assert.equal(q('cache-misses', vendor), Quantity.LlcMisses);
      assert.equal(q('branches', vendor), Quantity.Branches);
      assert.equal(q('branch-misses', vendor), Quantity.BranchMisses);
      assert.equal(q('topdown-slots', vendor), Quantity.TopdownSlots);
    }
  });

  it('Intel raw encodings', () => {
    assert.equal(q('r003c', 'intel'), Quantity.Cycles);
    assert.equal(q('r013c', 'intel'), Quantity.RefCycles);
    assert.equal(q('r00c0', 'intel'), Quantity.Instructions);
    assert.equal(q('r4f2e', 'intel'), Quantity.LlcReferences);
    assert.equal(q('r412e', 'intel'), Quantity.LlcMisses);
    assert.equal(q('r00c4', 'intel'), Quantity.Branches);
    assert.equal(q('r00c5', 'intel'), Quantity.BranchMisses);
    assert.equal(q('r81d0', 'intel'), Quantity.Loads);
    assert.equal(q('r82d0', 'intel'), Quantity.Stores);
    assert.equal(q('r83d0', 'intel'), Quantity.LoadsAndStores);
    assert.equal(q('r01a4', 'intel'), Quantity.TopdownSlots);
    // AMD's encodings mean nothing countable here.
    assert.equal(q('r0076', 'intel'), Quantity.None);
    assert.equal(q('r00c2', 'intel'), Quantity.None);
  });

  it('AMD raw encodings', () => {
    assert.equal(q('r0076', 'amd'), Quantity.Cycles);
    assert.equal(q('r00c0', 'amd'), Quantity.Instructions);
    assert.equal(q('r00c2', 'amd'), Quantity.Branches);
    assert.equal(q('r00c3', 'amd'), Quantity.BranchMisses);
    assert.equal(q('r0129', 'amd'), Quantity.Loads);
    assert.equal(q('r0229', 'amd'), Quantity.Stores);
    assert.equal(q('r0329', 'amd'), Quantity.LoadsAndStores);
    assert.equal(q('r0429', 'amd'), Quantity.LoadsAndStores);
    // Intel's encodings.
    assert.equal(q('r00c4', 'amd'), Quantity.None);
    assert.equal(q('r003c', 'amd'), Quantity.None);
    assert.equal(q('r81d0', 'amd'), Quantity.None);
  });
});

/** A host CPU retiring a SPECint-like mix for `ns`, with the ground truth kept. */
function runWork(host: HostMachine, cpu: number, ns: number, truth: Truth): void {
  const c = host.cpus[cpu]!;
  const cycles = Math.round((ns * c.model.tscHz) / 1e9);
  // Pieces of 1 ms, as a scheduler would run a task: the work is uniform over time.
  const piece = c.model.tscHz / 1000;
  for (let done = 0; done < cycles; done += piece) {
    for (const block of computeBlocks(SPECINT_DEFAULTS, Math.min(piece, cycles - done))) {
      truth.record(block, c.model.topdownSlotsPerCycle);
      host.exec({ ...block, cpu });
    }
  }
}

const GP_EVENTS = [
  'branches',
  'branch-misses',
  'cache-references',
  'cache-misses',
  'r81d0',
  'r82d0',
  'r83d0',
  'branches:u',
  'branch-misses:u',
  'cache-misses:u',
];

describe('PerfSession: perf stat on a host', () => {
  it('events that fit count exactly, with running == enabled', () => {
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    const session = new PerfSession(host.perfCore, {
      mode: 'stat',
      events: ['cycles', 'instructions', 'branches', 'branch-misses:k'],
    });
    session.open([{ cpu: 0 }], host.cpus[0]!.nowNs);
    const truth = new Truth();
    runWork(host, 0, 10e6, truth);
    const readings = session.read();
    assert.deepEqual(
      readings.map((r) => r.event.spec),
      ['cycles', 'instructions', 'branches', 'branch-misses:k'],
    );
    for (const r of readings) {
      const expected = truth.total(
        eventQuantity(r.event, 'intel'),
        !r.event.excludeUser,
        !r.event.excludeKernel,
      );
      assert.equal(r.raw, expected, r.event.spec);
      assert.equal(r.scaled, expected);
      assert.equal(r.running, r.enabled);
      assert.ok(Math.abs(r.enabled - 10e6) < 1e3, `${r.enabled} ns enabled`);
      assert.equal(r.samples, 0);
      assert.equal(r.refused, undefined);
    }
  });

  it('more events than counters: multiplexed, running < enabled, scaled = raw * enabled / running, near the truth', () => {
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids', hz: 1000 });
    const session = new PerfSession(host.perfCore, { mode: 'stat', events: GP_EVENTS });
    session.open([{ cpu: 0 }], 0);
    const truth = new Truth();
    runWork(host, 0, 50e6, truth);
    const readings = session.read();
    assert.equal(readings.length, GP_EVENTS.length);
    assert.ok(host.perfCore.rotations > 10, `${host.perfCore.rotations} rotations`);
    for (const r of readings) {
      assert.ok(
        r.running < r.enabled,
        `${r.event.spec}: running ${r.running} < enabled ${r.enabled}`,
      );
      assert.ok(r.running > 0.5 * r.enabled, `${r.event.spec}: ran ${r.running / r.enabled}`);
      assert.equal(r.scaled, (r.raw * r.enabled) / r.running);
      assert.ok(r.raw < r.scaled);
      const expected = truth.total(
        eventQuantity(r.event, 'intel'),
        !r.event.excludeUser,
        !r.event.excludeKernel,
      );
      const error = Math.abs(r.scaled - expected) / expected;
      assert.ok(error < 0.05, `${r.event.spec}: scaled ${r.scaled} vs truth ${expected}`);
    }
  });

  it('a system-wide session sums its CPUs (each one scaled on its own)', () => {
    const host = new HostMachine({ cpu: 'amd-zen4', cpus: 2 });
    const session = new PerfSession(host.perfCore, {
      mode: 'stat',
      events: ['instructions', 'branches'],
    });
    session.open([{ cpu: 0 }, { cpu: 1 }], 0);
    assert.equal(session.events.length, 4, 'an event per CPU');
    const truth = new Truth();
    runWork(host, 0, 4e6, truth);
    runWork(host, 1, 6e6, truth);
    const [instructions, branches] = session.read();
    assert.equal(instructions!.raw, truth.total(Quantity.Instructions, true, true));
    assert.equal(branches!.raw, truth.total(Quantity.Branches, true, true));
    assert.ok(Math.abs(instructions!.enabled - 10e6) < 1e3, 'enabled summed over CPUs');
  });

  it('passes the attributes: exclude_guest, pinned, user / kernel', () => {
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    const session = new PerfSession(host.perfCore, {
      mode: 'stat',
      events: ['branches:u'],
      excludeGuest: true,
      pinned: true,
    });
    session.open([{ cpu: 0 }], 0);
    const attr = session.events[0]!.kernel!.attr;
    assert.equal(attr.config, 'branches');
    assert.equal(attr.excludeGuest, true);
    assert.equal(attr.pinned, true);
    assert.equal(attr.excludeKernel, true);
    assert.equal(attr.excludeUser, false);
    assert.equal(attr.samplePeriod, undefined);
    assert.equal(attr.sampleFreq, undefined);
  });

  it('an unparsable event name is the caller’s error (RangeError), not a refusal', () => {
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    const session = new PerfSession(host.perfCore, { mode: 'stat', events: ['cycles', 'bogus'] });
    assert.throws(() => session.open([{ cpu: 0 }], 0), RangeError);
  });
});

describe('PerfSession: perf record', () => {
  function recordOn(spec: Omit<PerfSessionSpec, 'mode'>) {
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    const session = new PerfSession(host.perfCore, { mode: 'record', ...spec });
    session.open([{ cpu: 0 }], 0);
    return { host, session };
  }

  it('-c period: one sample per period of the event', () => {
    const { host, session } = recordOn({ events: ['instructions'], period: 1_000_000 });
    assert.equal(session.events[0]!.kernel!.attr.samplePeriod, 1_000_000);
    assert.equal(session.events[0]!.kernel!.attr.sampleFreq, undefined);
    const truth = new Truth();
    runWork(host, 0, 20e6, truth);
    const [r] = session.read();
    const expected = truth.total(Quantity.Instructions, true, true) / 1_000_000;
    assert.ok(Math.abs(r!.samples - expected) <= 1, `${r!.samples} samples, ${expected} expected`);
    assert.equal(r!.raw, truth.total(Quantity.Instructions, true, true));
  });

  it('-F frequency: the period adapts until the event samples at that frequency', () => {
    const { host, session } = recordOn({ events: ['cycles'], frequency: 1000 });
    assert.equal(session.events[0]!.kernel!.attr.sampleFreq, 1000);
    // Price the PMIs (as the simulator does): perf's frequency estimate divides by the
    // time between overflows, and an unpriced PMI takes none.
    const meter = new CostMeter(new CostModel());
    meter.attachHost(host);
    runWork(host, 0, 120e6, new Truth());
    const settled = session.read()[0]!.samples;
    const kernel = session.events[0]!.kernel!;
    // 1000 samples a second of a 2 GHz CPU's cycles: a period of 2,000,000.
    assert.ok(Math.abs(kernel.samplePeriod - 2e6) < 0.1 * 2e6, `period ${kernel.samplePeriod}`);
    const t0 = host.cpus[0]!.nowNs;
    runWork(host, 0, 40e6, new Truth());
    const seconds = (host.cpus[0]!.nowNs - t0) / 1e9;
    const rate = (session.read()[0]!.samples - settled) / seconds;
    assert.ok(Math.abs(rate - 1000) < 100, `${rate} samples a second`);
  });

  it('neither: perf record’s default, -F 4000', () => {
    const { session } = recordOn({ events: ['cycles'] });
    assert.equal(session.events[0]!.kernel!.attr.sampleFreq, 4000);
  });
});

describe('PerfSession: refusals', () => {
  it('an event the PMU cannot count is refused with its errno; the others count', () => {
    const host = new HostMachine({ cpu: 'amd-zen4' });
    const session = new PerfSession(host.perfCore, {
      mode: 'stat',
      events: ['ref-cycles', 'instructions', 'topdown-slots'],
    });
    session.open([{ cpu: 0 }], 0);
    assert.deepEqual(
      session.events.map((e) => [e.parsed.spec, e.refused, e.kernel === null]),
      [
        ['ref-cycles', 'ENOENT', true],
        ['instructions', undefined, false],
        ['topdown-slots', 'ENOENT', true],
      ],
    );
    runWork(host, 0, 1e6, new Truth());
    const readings = session.read();
    assert.deepEqual(
      readings.map((r) => [r.event.spec, r.refused, r.raw, r.scaled]),
      [
        ['ref-cycles', 'ENOENT', 0, 0],
        ['instructions', undefined, readings[1]!.raw, readings[1]!.raw],
        ['topdown-slots', 'ENOENT', 0, 0],
      ],
    );
    assert.ok(readings[1]!.raw > 0);
  });

  it('an include-guest event while a mediated VM exists: EOPNOTSUPP; an exclude-guest one counts', () => {
    const host = new HostMachine({
      cpu: 'intel-sapphire-rapids',
      kvm: { enableMediatedPmu: true },
    });
    host.kvm.createVm().createVcpu({});
    const include = new PerfSession(host.perfCore, { mode: 'stat', events: ['cycles'] });
    include.open([{ cpu: 0 }], 0);
    assert.equal(include.read()[0]!.refused, 'EOPNOTSUPP');
    const exclude = new PerfSession(host.perfCore, {
      mode: 'stat',
      events: ['cycles'],
      excludeGuest: true,
    });
    exclude.open([{ cpu: 0 }], 0);
    assert.equal(exclude.read()[0]!.refused, undefined);
  });

  it('refusals survive stop()', () => {
    const host = new HostMachine({ cpu: 'amd-zen4' });
    const session = new PerfSession(host.perfCore, { mode: 'stat', events: ['ref-cycles'] });
    session.open([{ cpu: 0 }], 0);
    session.stop();
    assert.equal(session.read()[0]!.refused, 'ENOENT');
  });
});

describe('PerfSession: stop', () => {
  it('keeps the readings at the stop, closes the events, and is idempotent', () => {
    const host = new HostMachine({ cpu: 'intel-sapphire-rapids' });
    const before = host.perfCore.openEvents;
    const session = new PerfSession(host.perfCore, {
      mode: 'stat',
      events: ['instructions', 'branches'],
    });
    session.open([{ cpu: 0 }], 0);
    assert.equal(host.perfCore.openEvents, before + 2);
    const truth = new Truth();
    runWork(host, 0, 2e6, truth);
    session.stop();
    assert.equal(host.perfCore.openEvents, before);
    const atStop = session.read();
    assert.equal(atStop[0]!.raw, truth.total(Quantity.Instructions, true, true));
    runWork(host, 0, 2e6, new Truth());
    assert.deepEqual(session.read(), atStop);
    session.stop();
    assert.deepEqual(session.read(), atStop);
    // The kernel events are gone.
    assert.throws(
      () => host.perfCore.read(session.events[0]!.kernel!),
      (e: unknown) => e instanceof PerfError && e.errno === 'EBADF',
    );
  });

  it('stopping an include-guest session lets a mediated VM be created', () => {
    const host = new HostMachine({
      cpu: 'intel-sapphire-rapids',
      kvm: { enableMediatedPmu: true },
    });
    const session = new PerfSession(host.perfCore, { mode: 'stat', events: ['cycles'] });
    session.open([{ cpu: 0 }], 0);
    assert.throws(
      () => host.kvm.createVm().createVcpu({}),
      (e: unknown) => (e as { errno?: string }).errno === 'EBUSY',
    );
    session.stop();
    assert.doesNotThrow(() => host.kvm.createVm().createVcpu({}));
  });
});
