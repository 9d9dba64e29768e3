/**
 * The simulator (src/sim/simulator.ts) on small inputs built here (0.02 to
 * 0.05 simulated seconds): guest accuracy against ground truth, multiplexing,
 * the overhead ordering of the designs and that it comes from the priced
 * operations, host contention under the legacy design, the mediated
 * refusals in both orders, an exit-heavy I/O guest, determinism, progress.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CpuModelName } from '../../src/hw/cpu-models.ts';
import type { DesignResult, GuestEventResult, SimulationReport } from '../../src/sim/results.ts';
import {
  Simulation,
  errorPercent,
  simulate,
  type SimulationInput,
} from '../../src/sim/simulator.ts';

type Design = SimulationInput['designs'][number];
type GuestInput = SimulationInput['guests'][number];

const ALL_DESIGNS: Design[] = ['emulated', 'mediated', 'passthrough-all'];
const INTEL_FIT = [
  'cycles',
  'instructions',
  'branches',
  'branch-misses',
  'cache-references',
  'cache-misses',
];
/** Zen 4 has no named cache events (ENOENT): GP events it can count, 6 of its 6 counters. */
const AMD_FIT = [
  'cycles',
  'instructions',
  'branches',
  'branch-misses',
  'instructions:u',
  'branches:k',
];
const TEN_GP = [
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

function guest(overrides: Partial<GuestInput> = {}): GuestInput {
  return { name: 'vm0', hostCpu: 0, hz: 250, workload: { kind: 'specint' }, ...overrides };
}

function input(overrides: Partial<SimulationInput> = {}): SimulationInput {
  return {
    name: 'test',
    description: 'a test input',
    machine: { cpu: 'intel-sapphire-rapids', cpus: 1, hz: 250, nmiWatchdog: false },
    costModel: 'default',
    costs: {},
    duration: 0.02,
    seed: 1,
    designs: ['emulated', 'mediated'],
    guests: [guest()],
    ...overrides,
  };
}

/** The basic-sampling setup: perf record -F 1000 with six events that fit. */
function basicSampling(overrides: Partial<SimulationInput> = {}): SimulationInput {
  return input({
    designs: ALL_DESIGNS,
    guests: [guest({ perf: { mode: 'record', frequency: 1000, events: INTEL_FIT } })],
    ...overrides,
  });
}

const byDesign = (report: SimulationReport, design: Design): DesignResult =>
  report.results.find((r) => r.design === design)!;

/**
 * Exact up to the guest's own operations: every guest instruction retires once
 * (kvm_skip_emulated_instruction -> kvm_pmu_instruction_retired, or the
 * hardware), so an instructions event also counts the guest kernel's MSR
 * accesses, RDPMCs, timer writes and HLTs that fall in its window, beyond the
 * workload's truth: |counted - truth| <= operationInstructions.
 */
function exactButOwnOperations(e: GuestEventResult): boolean {
  return Math.abs(e.counted - e.truth) <= e.operationInstructions + 1e-9 * e.truth;
}

describe('errorPercent', () => {
  it('(counted - truth) / truth in %, 0 for 0 of 0, 100 for something of nothing', () => {
    assert.equal(errorPercent(110, 100), 10);
    assert.equal(errorPercent(0, 100), -100);
    assert.equal(errorPercent(0, 0), 0);
    assert.equal(errorPercent(5, 0), 100);
  });
});

describe('the report', () => {
  it('names the run and carries the cost table and each design once, in order', () => {
    const report = simulate(
      input({
        costs: { 'perf.period': 5000 },
        published: { test: 't', source: 's', overheadPercent: { emulated: 30 } },
      }),
      { duration: 0.01, seed: 9 },
    );
    assert.equal(report.scenario, 'test');
    assert.equal(report.description, 'a test input');
    assert.equal(report.duration, 0.01, 'the option overrides the input');
    assert.equal(report.seed, 9);
    assert.equal(report.cpu, 'intel-sapphire-rapids');
    assert.equal(report.costModel, 'default');
    assert.deepEqual(report.published, {
      test: 't',
      source: 's',
      overheadPercent: { emulated: 30 },
    });
    assert.deepEqual(
      report.results.map((r) => r.design),
      ['emulated', 'mediated'],
    );
    const period = report.costParameters.find((p) => p.name === 'perf.period')!;
    assert.equal(period.cycles, 5000);
    assert.match(period.source, /^override \(default 11880: /);
    for (const r of report.results) {
      // The simulated time is at least the duration on the guest's CPU (2 GHz).
      assert.ok(r.elapsedCycles >= 0.01 * 2e9, `${r.design}: ${r.elapsedCycles}`);
      assert.ok(r.workCycles > 0 && r.workCycles <= r.elapsedCycles);
      assert.equal(
        r.totalExits,
        Object.values(r.exits).reduce((a, b) => a + b, 0),
      );
    }
  });

  it('a bad cost override or cost model is a RangeError naming it, before anything runs', () => {
    assert.throws(() => simulate(input({ costs: { 'exit.nope': 1 } })), /costs\.exit\.nope/);
    assert.throws(() => simulate(input({ costs: { 'perf.period': -1 } })), /costs\.perf\.period/);
    assert.throws(() => simulate(input({ costModel: 'fast' })), /unknown cost model 'fast'/);
  });
});

describe('accuracy: events that fit are counted exactly', () => {
  const cases: [CpuModelName, string[]][] = [
    ['intel-sapphire-rapids', INTEL_FIT],
    ['amd-zen4', AMD_FIT],
  ];
  for (const [cpu, events] of cases) {
    for (const mode of ['stat', 'record'] as const) {
      it(`${cpu}, perf ${mode}: every design counts the truth, running == enabled`, () => {
        const report = simulate(
          input({
            machine: { cpu, cpus: 1, hz: 250, nmiWatchdog: false },
            designs: ALL_DESIGNS,
            guests: [
              guest({ perf: { mode, events, ...(mode === 'record' ? { frequency: 1000 } : {}) } }),
            ],
          }),
        );
        for (const r of report.results) {
          assert.deepEqual(
            r.guestEvents.map((e) => e.event),
            events,
          );
          assert.deepEqual(r.refusals, []);
          for (const e of r.guestEvents) {
            const label = `${cpu} ${r.design} ${e.event}`;
            assert.equal(e.guest, 'vm0');
            assert.ok(e.truth > 0, label);
            if (e.throttled) {
              // perf_sample_event_took lowered the sample rate and the event was
              // throttled (stopped until the next tick): it can only under-count.
              assert.equal(mode, 'record', label);
              assert.ok(e.errorPercent < 0, `${label}: ${e.errorPercent}%`);
            } else {
              assert.ok(exactButOwnOperations(e), `${label}: ${e.errorPercent}%`);
            }
            // Scaled by enabled / running = 1 (up to rounding).
            assert.ok(Math.abs(e.counted - e.raw) <= 1e-9 * e.raw, label);
            assert.equal(e.timeRunningNs, e.timeEnabledNs, label);
            if (mode === 'record') {
              assert.ok(e.samples! > 0, label);
              assert.ok(e.expectedSamples! > 0, label);
            } else {
              assert.equal(e.samples, undefined);
            }
          }
          // The user/kernel split is honoured: instructions:u below instructions.
          const get = (name: string) => r.guestEvents.find((e) => e.event === name)?.truth;
          if (get('instructions:u') !== undefined) {
            assert.ok(get('instructions:u')! < get('instructions')!);
          }
        }
      });
    }
  }
});

describe('multiplexing', () => {
  it('10 GP events on 8 counters: time_running < time_enabled, scaled estimates near the truth', () => {
    const report = simulate(
      input({
        duration: 0.05,
        guests: [guest({ hz: 1000, perf: { mode: 'stat', events: TEN_GP } })],
      }),
    );
    for (const r of report.results) {
      assert.equal(r.guestEvents.length, 10);
      for (const e of r.guestEvents) {
        const label = `${r.design} ${e.event}`;
        assert.ok(e.timeRunningNs < e.timeEnabledNs, label);
        assert.ok(e.timeRunningNs > 0.5 * e.timeEnabledNs, label);
        assert.ok(e.raw < e.counted, `${label}: scaled up from the raw count`);
        assert.ok(
          Math.abs(e.counted - (e.raw * e.timeEnabledNs) / e.timeRunningNs) <= 1e-6 * e.counted,
        );
        assert.ok(Math.abs(e.errorPercent) < 5, `${label}: ${e.errorPercent}%`);
        // The raw count alone would be far off: it is the scaling that makes the estimate.
        assert.ok(errorPercent(e.raw, e.truth) < -10, label);
      }
    }
  });
});

describe('overhead', () => {
  it('basic sampling: emulated > mediated > passthrough-all, across seeds and short durations', () => {
    for (const seed of [1, 2, 3]) {
      for (const duration of [0.02, 0.03, 0.05]) {
        const report = simulate(basicSampling({ seed, duration }));
        const [e, m, p] = ALL_DESIGNS.map((d) => byDesign(report, d).overheadPercent) as [
          number,
          number,
          number,
        ];
        assert.ok(e > m && m > p && p > 0, `seed ${seed}, ${duration} s: ${e} > ${m} > ${p}`);
        assert.ok(e < 100);
      }
    }
  });

  it('is computed from the priced operations: 1 - work / (work + what was charged)', () => {
    const report = simulate(basicSampling());
    for (const r of report.results) {
      const charged = r.costBreakdown.reduce((s, c) => s + c.cycles, 0);
      const fromCharges = (1 - r.workCycles / (r.workCycles + charged)) * 100;
      // The final read of the guest's counters (after the measured interval) is in the
      // breakdown but not in the overhead: a few exits.
      assert.ok(
        Math.abs(r.overheadPercent - fromCharges) < 0.5,
        `${r.design}: ${r.overheadPercent} vs ${fromCharges}`,
      );
      for (let i = 1; i < r.costBreakdown.length; i++) {
        assert.ok(r.costBreakdown[i - 1]!.cycles >= r.costBreakdown[i]!.cycles);
      }
    }
    // The legacy design pays KVM's perf calls; the mediated ones never call perf per counter.
    const params = (d: Design) => byDesign(report, d).costBreakdown.map((c) => c.parameter);
    assert.ok(params('emulated').includes('perf.period'));
    assert.ok(!params('mediated').includes('perf.period'));
    assert.ok(params('mediated').includes('perf.guest-context'));
    assert.ok(!params('emulated').includes('perf.guest-context'));
  });

  it('follows the cost model: a free perf_event_period() lowers the emulated overhead only', () => {
    // Long enough for frequency mode to settle, so overheads have room below 100%.
    const settled = { duration: 0.1 };
    const base = simulate(basicSampling(settled));
    const free = simulate(basicSampling({ ...settled, costs: { 'perf.period': 0 } }));
    const pricier = simulate(basicSampling({ ...settled, costs: { 'perf.period': 50_000 } }));
    const o = (r: SimulationReport, d: Design) => byDesign(r, d).overheadPercent;
    assert.ok(o(free, 'emulated') < o(base, 'emulated') - 5, `${o(free, 'emulated')}`);
    assert.ok(o(pricier, 'emulated') > o(base, 'emulated') + 5, `${o(pricier, 'emulated')}`);
    assert.equal(o(free, 'mediated'), o(base, 'mediated'));
    assert.equal(o(free, 'passthrough-all'), o(base, 'passthrough-all'));
    // And a cheaper world switch (its MSR writes) lowers the mediated overhead.
    const cheapWrmsr = simulate(
      basicSampling({ ...settled, costs: { 'msr.wrmsr': 0, 'msr.wrmsr-counter': 0 } }),
    );
    assert.ok(o(cheapWrmsr, 'mediated') < o(base, 'mediated') - 1);
  });

  it('a guest without perf pays next to nothing on any design', () => {
    const report = simulate(input({ designs: ALL_DESIGNS }));
    for (const r of report.results) {
      assert.ok(r.overheadPercent < 1, `${r.design}: ${r.overheadPercent}`);
      assert.deepEqual(r.guestEvents, []);
      assert.equal(r.guestPmis, 0);
    }
  });
});

describe('host contention (8 pinned exclude-guest GP events on the guest’s CPU)', () => {
  const events = [...INTEL_FIT];
  const report = simulate(
    input({
      duration: 0.03,
      guests: [guest({ perf: { mode: 'stat', events } })],
      host: {
        perf: [
          {
            name: 'monitor',
            mode: 'stat',
            events: TEN_GP.slice(0, 7).concat('branches:k'),
            cpus: [0],
            excludeGuest: true,
            pinned: true,
          },
        ],
      },
    }),
  );
  const errors = (d: Design) =>
    Object.fromEntries(byDesign(report, d).guestEvents.map((e) => [e.event, e.errorPercent]));

  it('emulated: the guest’s GP events lose their counts, its fixed-counter events stay exact', () => {
    const e = errors('emulated');
    for (const gp of ['branches', 'branch-misses', 'cache-references', 'cache-misses']) {
      assert.ok(e[gp]! < -50, `${gp}: ${e[gp]}%`);
    }
    assert.ok(Math.abs(e.cycles!) < 1e-9, `cycles: ${e.cycles}%`);
    const instructions = byDesign(report, 'emulated').guestEvents.find(
      (g) => g.event === 'instructions',
    )!;
    assert.ok(exactButOwnOperations(instructions), `instructions: ${e.instructions}%`);
  });

  it('mediated: the guest owns the PMU while it runs, every event exact', () => {
    for (const e of byDesign(report, 'mediated').guestEvents) {
      assert.ok(exactButOwnOperations(e), `${e.event}: ${e.errorPercent}%`);
    }
  });

  it('the host events are all there, none refused, and count no guest work', () => {
    for (const r of report.results) {
      assert.equal(r.hostEvents.length, 8);
      for (const h of r.hostEvents) {
        assert.equal(h.name, 'monitor');
        assert.equal(h.refused, undefined);
        // No host task runs: exclude-guest events have nothing to count.
        assert.equal(h.truth, 0);
        assert.equal(h.counted, 0, `${r.design} ${h.event}`);
      }
    }
  });
});

describe('mediated refusals (docs/mediated-vpmu.md 3.1)', () => {
  // The built-in mediated-refused scenario, on a 0.04 s timeline.
  const stat = { mode: 'stat' as const, events: ['cycles', 'instructions'] };
  const refusedInput = input({
    duration: 0.04,
    machine: { cpu: 'intel-sapphire-rapids', cpus: 2, hz: 250, nmiWatchdog: false },
    guests: [
      guest({ name: 'vm0', hostCpu: 0, startAt: 0.005, perf: stat }),
      guest({ name: 'vm1', hostCpu: 1, startAt: 0.02, perf: stat }),
    ],
    host: {
      perf: [
        {
          name: 'early',
          mode: 'stat',
          events: ['cycles'],
          excludeGuest: false,
          startAt: 0,
          stopAt: 0.01,
        },
        { name: 'late', mode: 'stat', events: ['cycles'], excludeGuest: false, startAt: 0.03 },
      ],
    },
  });
  const report = simulate(refusedInput);
  const mediated = byDesign(report, 'mediated');
  const emulated = byDesign(report, 'emulated');

  it('a VM created while an include-guest host session exists is refused: EBUSY', () => {
    assert.equal(mediated.refusals.length, 1);
    assert.equal(mediated.refusals[0]!.guest, 'vm0');
    assert.equal(mediated.refusals[0]!.errno, 'EBUSY');
    assert.match(mediated.refusals[0]!.message, /EBUSY/);
    // The refused guest never ran: no events, no exits of its own.
    assert.deepEqual([...new Set(mediated.guestEvents.map((e) => e.guest))], ['vm1']);
  });

  it('an include-guest session opened after a mediated VM: its events refused, EOPNOTSUPP', () => {
    const late = mediated.hostEvents.filter((h) => h.name === 'late');
    assert.deepEqual(late, [{ name: 'late', event: 'cycles', refused: 'EOPNOTSUPP' }]);
    const early = mediated.hostEvents.find((h) => h.name === 'early')!;
    assert.equal(early.refused, undefined);
  });

  it('the VM created after the session closed runs, with exact counts', () => {
    for (const e of mediated.guestEvents) assert.ok(exactButOwnOperations(e), e.event);
  });

  it('the emulated design refuses nobody', () => {
    assert.deepEqual(emulated.refusals, []);
    assert.ok(emulated.hostEvents.every((h) => h.refused === undefined));
    assert.deepEqual([...new Set(emulated.guestEvents.map((e) => e.guest))], ['vm0', 'vm1']);
  });

  it('a host session’s truth is what ran while it was open (startAt / stopAt)', () => {
    // 'early' (0 to 0.01 s) under the mediated design saw no work at all: vm0 was
    // refused and vm1 starts at 0.02 s.
    const early = mediated.hostEvents.find((h) => h.name === 'early')!;
    assert.equal(early.counted, 0);
    assert.equal(early.truth, 0);
    assert.equal(early.errorPercent, 0);
    // Under the emulated design the include-guest sessions count the guests' work
    // while open: 'early' vm0's first 5 ms, 'late' the last 10 ms of both.
    for (const name of ['early', 'late']) {
      const h = emulated.hostEvents.find((x) => x.name === name)!;
      assert.ok(h.truth! > 0, name);
      assert.ok(Math.abs(h.errorPercent!) < 1, `${name}: counted ${h.counted}, truth ${h.truth}`);
    }
  });
});

describe('host tasks and host sessions', () => {
  const seen: number[] = [];
  const report = simulate(
    input({
      duration: 0.04,
      machine: { cpu: 'intel-sapphire-rapids', cpus: 2, hz: 250, nmiWatchdog: false },
      guests: [
        guest({ perf: { mode: 'stat', events: ['cycles', 'branches'] } }),
        guest({ name: 'vm1', hostCpu: 1 }),
      ],
      host: {
        tasks: [{ cpu: 0, share: 0.5, workload: { kind: 'specint' } }],
        perf: [
          {
            name: 'window',
            mode: 'stat',
            events: ['instructions', 'branches:u'],
            excludeGuest: true,
            startAt: 0.01,
            stopAt: 0.03,
          },
          { name: 'all', mode: 'stat', events: ['cycles'], excludeGuest: true },
        ],
      },
    }),
    { progress: (f) => seen.push(f) },
  );

  it('exclude-guest host events count the host task exactly, over their own window', () => {
    for (const r of report.results) {
      const all = r.hostEvents.find((h) => h.name === 'all')!;
      // The task has half of CPU 0 for 0.04 s: about 0.02 s of a 2 GHz CPU.
      assert.ok(Math.abs(all.truth! - 0.02 * 2e9) < 0.01 * 0.02 * 2e9, `${r.design}: ${all.truth}`);
      const window = r.hostEvents.filter((h) => h.name === 'window');
      assert.equal(window.length, 2);
      for (const h of [all, ...window]) {
        assert.ok(
          Math.abs(h.errorPercent!) < 1e-9,
          `${r.design} ${h.name} ${h.event}: ${h.errorPercent}`,
        );
      }
      // Half the run (0.01 to 0.03 s) of a specint task at IPC 1.5.
      const instructions = window.find((h) => h.event === 'instructions')!;
      assert.ok(
        Math.abs(instructions.truth! - 0.01 * 2e9 * 1.5) < 0.02 * 0.01 * 2e9 * 1.5,
        `${r.design}: ${instructions.truth}`,
      );
    }
  });

  it('mediated: exclude-guest host events are not enabled while a guest is loaded', () => {
    const all = (d: Design) => byDesign(report, d).hostEvents.find((h) => h.name === 'all')!;
    // Two CPUs for 0.04 s: 80 ms enabled under the legacy design...
    assert.ok(Math.abs(all('emulated').timeEnabledNs! - 80e6) < 0.01 * 80e6);
    // ...and only the host's share of CPU 0 under the mediated one (vm1 has all of CPU 1).
    assert.ok(all('mediated').timeEnabledNs! < 0.3 * 80e6, `${all('mediated').timeEnabledNs}`);
  });

  it('the guest sharing its CPU with a task still counts exactly, and progress stays monotone over 2 CPUs', () => {
    for (const r of report.results) {
      for (const e of r.guestEvents) assert.ok(exactButOwnOperations(e), e.event);
    }
    for (let i = 1; i < seen.length; i++) assert.ok(seen[i]! >= seen[i - 1]!);
    assert.equal(seen.at(-1), 1);
  });
});

describe('an I/O-bound guest (fio)', () => {
  const fio = (iops: number) =>
    simulate(
      input({
        guests: [
          guest({
            workload: { kind: 'fio', iops, instructionsPerIo: 20_000, exitsPerIo: 2, ipc: 1 },
            perf: { mode: 'stat', events: ['cycles', 'instructions', 'branches', 'branch-misses'] },
          }),
        ],
      }),
    );
  const busy = fio(50_000);

  it('exits on every doorbell and completion: IO_INSTRUCTION and EXTERNAL_INTERRUPT', () => {
    for (const r of busy.results) {
      // 0.02 s at 50,000 IOPS: about 1,000 I/Os.
      assert.ok(r.exits.IO_INSTRUCTION! >= 800, `${r.design}: ${r.exits.IO_INSTRUCTION}`);
      assert.ok(r.exits.EXTERNAL_INTERRUPT! >= 800, `${r.design}: ${r.exits.EXTERNAL_INTERRUPT}`);
      const io = r.costBreakdown.find((c) => c.parameter === 'exit.io-handler')!;
      assert.equal(io.count, r.exits.IO_INSTRUCTION);
      for (const e of r.guestEvents) assert.ok(exactButOwnOperations(e), e.event);
    }
  });

  it('both designs pay PMU work on each of those exits while the guest counts instructions', () => {
    const count = (d: Design, parameter: string) =>
      byDesign(busy, d).costBreakdown.find((c) => c.parameter === parameter)?.count ?? 0;
    const io = (d: Design) => byDesign(busy, d).exits.IO_INSTRUCTION!;
    // Mediated: the world switch (perf_put/load_guest_context) around every full exit.
    assert.ok(count('mediated', 'perf.guest-context') >= 2 * io('mediated'));
    // Legacy: kvm_skip_emulated_instruction -> kvm_pmu_instruction_retired ->
    // KVM_REQ_PMU: the instructions counter's event is paused and resumed
    // (reprogram_counter) for every OUT KVM skips.
    assert.ok(count('emulated', 'perf.pause') >= io('emulated'));
  });

  it('idle time (HLT, waiting for the device) is not overhead', () => {
    const idle = fio(5_000);
    for (const r of idle.results) {
      assert.ok(r.exits.HLT! > 0, `${r.design}: HLT exits`);
      // Most of the time is idle...
      assert.ok(r.workCycles < 0.5 * r.elapsedCycles, `${r.design}: work ${r.workCycles}`);
      // ...yet the overhead is the share of the busy time that was not work.
      const charged = r.costBreakdown.reduce((s, c) => s + c.cycles, 0);
      const fromCharges = (1 - r.workCycles / (r.workCycles + charged)) * 100;
      const idleCounted = (1 - r.workCycles / r.elapsedCycles) * 100;
      assert.ok(
        r.overheadPercent < idleCounted,
        `${r.design}: ${r.overheadPercent} (${idleCounted} with idle time counted)`,
      );
      assert.ok(
        Math.abs(r.overheadPercent - fromCharges) < 1,
        `${r.design}: ${r.overheadPercent} vs ${fromCharges}`,
      );
    }
  });
});

describe('determinism and progress', () => {
  it('the same input and seed give the same report, deep equal', () => {
    const make = () =>
      basicSampling({
        machine: { cpu: 'intel-sapphire-rapids', cpus: 2, hz: 250, nmiWatchdog: false },
        guests: [
          guest({ perf: { mode: 'record', frequency: 1000, events: INTEL_FIT } }),
          guest({
            name: 'vm1',
            hostCpu: 1,
            workload: { kind: 'fio' },
            perf: { mode: 'stat', events: TEN_GP },
          }),
        ],
        host: { tasks: [{ cpu: 1, share: 0.3, workload: { kind: 'specint' } }] },
      });
    const a = simulate(make(), { seed: 5 });
    const b = simulate(make(), { seed: 5 });
    assert.deepEqual(a, b);
    assert.equal(a.seed, 5);
  });

  it('progress: within [0, 1], never going back, ending at exactly 1', () => {
    const seen: number[] = [];
    simulate(basicSampling({ duration: 0.03 }), { progress: (f) => seen.push(f) });
    assert.ok(seen.length > 3 * 3, `${seen.length} progress reports`);
    for (let i = 0; i < seen.length; i++) {
      assert.ok(seen[i]! >= 0 && seen[i]! <= 1, `${seen[i]}`);
      if (i > 0) assert.ok(seen[i]! >= seen[i - 1]!, `${seen[i - 1]} then ${seen[i]}`);
    }
    assert.equal(seen.at(-1), 1);
    // One report at the end of each design, at its share of the run.
    for (const f of [1 / 3, 2 / 3])
      assert.ok(
        seen.some((s) => Math.abs(s - f) < 1e-12),
        `${f}`,
      );
  });

  it('a Simulation runs a single design on its own', () => {
    const sim = new Simulation(basicSampling());
    const result = sim.runDesign('mediated');
    assert.equal(result.design, 'mediated');
    assert.equal(result.guestEvents.length, INTEL_FIT.length);
  });
});

describe('the timeline', () => {
  it('covers the window asked for on the first guest’s CPU, and is capped', () => {
    const report = simulate(basicSampling(), { timelineWindowNs: 1e6 });
    for (const r of report.results) {
      assert.ok(r.timeline.length > 0, r.design);
      assert.ok(r.timeline.length <= 4000);
      for (const t of r.timeline) {
        assert.ok(t.timeNs >= 0 && t.timeNs < 1e6, `${r.design}: ${t.timeNs}`);
        assert.equal(t.guest === 'vm0' || t.guest === 'host', true);
      }
    }
    const longer = simulate(basicSampling(), { timelineWindowNs: 5e6 });
    assert.ok(
      byDesign(longer, 'mediated').timeline.length > byDesign(report, 'mediated').timeline.length,
    );
  });
});

describe('simulate called from JavaScript without types', () => {
  // A hand-built input with a field missing or misspelt is refused naming
  // the field, before a machine is built; a misspelt design no longer runs
  // silently as the perf-emulated one.
  const bad = (value: unknown) => value as SimulationInput;
  const cases: [RegExp, () => unknown][] = [
    [/^simulate: expected a SimulationInput object/, () => simulate(bad(undefined))],
    [/^simulate: expected a SimulationInput object/, () => simulate(bad('specint-sampling'))],
    [/^simulate: expected an options object/, () => simulate(input(), bad(0.01))],
    [
      /^simulate: input\.machine: expected an object/,
      () => simulate(bad({ ...input(), machine: undefined })),
    ],
    [
      /^simulate: input\.costs: expected an object/,
      () => simulate(bad({ ...input(), costs: null })),
    ],
    [/^simulate: input\.guests: expected a non-empty list/, () => simulate(input({ guests: [] }))],
    [
      /^simulate: input\.guests\[0\]: expected an object/,
      () => simulate(bad({ ...input(), guests: [null] })),
    ],
    [
      /^simulate: input\.designs: expected a non-empty list/,
      () => simulate(bad({ ...input(), designs: 'mediated' })),
    ],
    [
      /^simulate: input\.designs\[1\]: expected 'emulated' or a mediated design .* got 'mediatd'/,
      () => simulate(bad({ ...input(), designs: ['emulated', 'mediatd'] })),
    ],
    [/^simulate: duration must be from/, () => simulate(input(), bad({ duration: '0.01' }))],
  ];
  for (const [message, call] of cases)
    it(message.source, () => {
      assert.throws(
        call,
        (e: unknown) =>
          (e instanceof TypeError || e instanceof RangeError) && message.test(e.message),
      );
    });
});
