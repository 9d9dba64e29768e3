/**
 * The Perfetto trace (src/sim/trace-recorder.ts, `vpmu run --trace`): the
 * Trace Event Format's required fields for each phase, events in time order
 * on each track, slices that nest (a slice either holds another whole or
 * ends before it begins), the run's own exit counts per design and reason,
 * the window and the event cap, and a run traced is the same run.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EVTSEL, MSR } from '../../src/hw/msr.ts';
import type { EmulatedVpmu } from '../../src/kvm/emulated-vpmu.ts';
import type { VcpuImpl } from '../../src/kvm/vcpu.ts';
import { scenarioToInput } from '../../src/sim/from-scenario.ts';
import { HostMachine } from '../../src/sim/host.ts';
import type { SimulationReport } from '../../src/sim/results.ts';
import { loadScenario } from '../../src/sim/scenario.ts';
import { simulate } from '../../src/sim/simulator.ts';
import {
  TraceRecorder,
  type TraceEvent,
  type TraceFile,
  type TraceOptions,
} from '../../src/sim/trace-recorder.ts';

function traced(
  scenario: string,
  duration: number,
  options: TraceOptions = {},
): { report: SimulationReport; file: TraceFile } {
  const trace = new TraceRecorder(options);
  const report = simulate(scenarioToInput(loadScenario(scenario).scenario), { duration, trace });
  // Through JSON, as the file is written and read.
  return { report, file: JSON.parse(JSON.stringify(trace.toJSON())) as TraceFile };
}

/**
 * Integer ns from the file's microseconds, as older Perfetto importers read
 * them (truncating): the recorder writes whole ns so that this is exact.
 */
const ns = (us: number) => Math.trunc(us * 1000);

/** The Trace Event Format's fields for each phase (the format document, "Event Descriptions"). */
function checkFields(e: TraceEvent): void {
  const where = JSON.stringify(e);
  assert.equal(typeof e.name, 'string', where);
  assert.ok(e.name.length > 0, where);
  assert.ok(['X', 'i', 'C', 'M'].includes(e.ph), where);
  assert.ok(Number.isInteger(e.pid) && e.pid > 0, where);
  assert.ok(Number.isInteger(e.tid) && e.tid >= 0, where);
  assert.ok(Number.isFinite(e.ts) && e.ts >= 0, where);
  // Whole ns, read back the same whether the importer rounds or truncates.
  assert.equal(Math.trunc(e.ts * 1000), Math.round(e.ts * 1000), where);
  if (e.ph === 'X') {
    assert.ok(Number.isFinite(e.dur) && e.dur! >= 0, where);
    assert.equal(Math.trunc(e.dur! * 1000), Math.round(e.dur! * 1000), where);
  } else assert.equal(e.dur, undefined, where);
  if (e.ph === 'i') assert.equal(e.s, 't', where);
  if (e.ph === 'C') {
    assert.ok(e.args && Object.keys(e.args).length > 0, where);
    for (const v of Object.values(e.args)) assert.ok(Number.isFinite(v), where);
  }
  if (e.ph === 'M') {
    assert.ok(
      ['process_name', 'process_sort_index', 'thread_name', 'thread_sort_index'].includes(e.name),
      where,
    );
    const a = e.args!;
    assert.ok(typeof a.name === 'string' || Number.isInteger(a.sort_index), where);
  }
}

/** Per track (pid, tid): non-decreasing ts, and slices nested properly. */
function checkTracks(events: readonly TraceEvent[]): number {
  const tracks = new Map<string, TraceEvent[]>();
  for (const e of events) {
    if (e.ph === 'M' || e.ph === 'C') continue;
    const key = `${e.pid}/${e.tid}`;
    if (!tracks.has(key)) tracks.set(key, []);
    tracks.get(key)!.push(e);
  }
  let slices = 0;
  for (const [key, list] of tracks) {
    const stack: { name: string; end: number }[] = [];
    let last = -Infinity;
    for (const e of list) {
      const start = ns(e.ts);
      assert.ok(start >= last, `${key}: ${e.name} at ${e.ts} us before ${last / 1000} us`);
      last = start;
      while (stack.length > 0 && stack.at(-1)!.end <= start) stack.pop();
      if (e.ph !== 'X') continue;
      slices++;
      const end = start + ns(e.dur!);
      const parent = stack.at(-1);
      assert.ok(
        !parent || end <= parent.end,
        `${key}: ${e.name} [${start}, ${end}] ns overlaps the end of ${parent?.name} (${parent?.end} ns)`,
      );
      stack.push({ name: e.name, end });
    }
  }
  return slices;
}

/** Exit slices per design (process) and reason. */
function exitSlices(file: TraceFile): Map<string, Record<string, number>> {
  const byPid = new Map(file.otherData.designs.map((d) => [d.pid, d.design]));
  const out = new Map<string, Record<string, number>>();
  for (const e of file.traceEvents) {
    if (e.ph !== 'X' || e.cat !== 'kvm') continue;
    const design = byPid.get(e.pid)!;
    const counts = out.get(design) ?? {};
    counts[e.name] = (counts[e.name] ?? 0) + 1;
    out.set(design, counts);
  }
  return out;
}

describe('the trace of a run', () => {
  const { report, file } = traced('specint-sampling', 0.03);
  const events = file.traceEvents;

  it('every event has the fields its phase requires', () => {
    assert.ok(events.length > 1000, `${events.length} events`);
    for (const e of events) checkFields(e);
    // Microseconds, as the format defines ts (no displayTimeUnit, which Perfetto reads as ts's unit).
    assert.ok(!('displayTimeUnit' in file));
  });

  it('a process per design and a named track per host CPU and vCPU', () => {
    const names = events.filter((e) => e.name === 'process_name').map((e) => e.args!.name);
    assert.deepEqual(
      names,
      report.results.map((r) => `design: ${r.design}`),
    );
    for (const pid of [1, 2, 3]) {
      const threads = events
        .filter((e) => e.pid === pid && e.name === 'thread_name')
        .map((e) => e.args!.name);
      assert.deepEqual(threads, ['CPU 0', 'vm0 vCPU 0 (CPU 0)']);
    }
  });

  it('events are in time order on each track, and slices nest', () => {
    assert.ok(checkTracks(events) > 1000);
  });

  it('its exit slices are the run’s own exits, per design and reason', () => {
    const slices = exitSlices(file);
    for (const r of report.results) {
      assert.deepEqual(slices.get(r.design), r.exits, r.design);
      assert.ok(r.totalExits > 0);
    }
  });

  it('the mediated world switch: put and load inside the exits that are not fastpath', () => {
    const mediated = file.otherData.designs.find((d) => d.design === 'mediated')!.pid;
    const mine = events.filter((e) => e.pid === mediated && e.ph === 'X');
    const puts = mine.filter((e) => e.name === 'PMU put');
    const slowExits = mine.filter((e) => e.cat === 'kvm' && e.args!.fastpath === false);
    // One put per slow exit, and one per return of KVM_RUN to the simulator.
    assert.ok(puts.length >= slowExits.length, `${puts.length} puts, ${slowExits.length} exits`);
    for (const exit of slowExits.slice(0, 200)) {
      const [s, e] = [ns(exit.ts), ns(exit.ts + exit.dur!)];
      const inside = mine.filter(
        (x) => x.tid === exit.tid && ns(x.ts) >= s && ns(x.ts) + ns(x.dur!) <= e,
      );
      assert.deepEqual(
        inside.filter((x) => x !== exit).map((x) => x.name),
        ['PMU put', 'PMU load'],
      );
    }
    const emulated = file.otherData.designs.find((d) => d.design === 'emulated')!.pid;
    assert.ok(!events.some((e) => e.pid === emulated && e.name === 'PMU put'));
  });

  it('an exit slice lasts at least what the meter priced it, MSR exits name their MSR', () => {
    const cpuHz = 2e9; // intel-sapphire-rapids' TSC
    let msrExits = 0;
    for (const e of events) {
      if (e.ph !== 'X' || e.cat !== 'kvm') continue;
      const priced = Number(e.args!.pricedCycles);
      assert.ok(priced > 0, JSON.stringify(e));
      assert.ok(ns(e.dur!) + 1 >= (priced / cpuHz) * 1e9, JSON.stringify(e));
      if (e.name.startsWith('MSR_')) {
        msrExits++;
        assert.match(String(e.args!.msr), /^0x[0-9a-f]+$/);
      }
    }
    assert.ok(msrExits > 0);
  });

  it('counter tracks: the priced cycles only grow; guest counters while the guest profiles', () => {
    for (const pid of [1, 2, 3]) {
      const priced = events
        .filter((e) => e.pid === pid && e.ph === 'C' && e.name === 'CPU 0')
        .map((e) => Number(e.args!['priced cycles']));
      assert.ok(priced.length > 3);
      for (let i = 1; i < priced.length; i++) assert.ok(priced[i]! >= priced[i - 1]!);
      const guest = events.filter((e) => e.pid === pid && e.ph === 'C' && e.name === 'vm0');
      assert.ok(guest.some((e) => Object.keys(e.args!).length > 0));
    }
  });

  it('PMIs and injected interrupts are instants', () => {
    for (const name of ['PMI', 'PMI injected']) {
      const found = events.filter((e) => e.name === name);
      assert.ok(found.length > 0, name);
      for (const e of found) assert.equal(e.ph, 'i');
    }
  });
});

describe('bounds', () => {
  it('the window keeps only events that begin in it, and the exits in it are a subset', () => {
    const whole = traced('fio-exits', 0.02);
    const { file } = traced('fio-exits', 0.02, { window: { start: 0.005, end: 0.01 } });
    const timed = file.traceEvents.filter((e) => e.ph !== 'M');
    assert.ok(timed.length > 0);
    for (const e of timed) assert.ok(e.ts >= 5000 && e.ts < 10_000, JSON.stringify(e));
    checkTracks(file.traceEvents);
    const part = exitSlices(file);
    const all = exitSlices(whole.file);
    for (const [design, counts] of part) {
      for (const [reason, n] of Object.entries(counts)) {
        assert.ok(n <= all.get(design)![reason]!, `${design} ${reason}`);
      }
    }
    assert.deepEqual(file.otherData.windowS, { start: 0.005, end: 0.01 });
  });

  it('at most maxEventsPerDesign per design; the rest are counted as left out', () => {
    const whole = traced('fio-exits', 0.01);
    const capped = traced('fio-exits', 0.01, { maxEventsPerDesign: 500 });
    for (const d of capped.file.otherData.designs) {
      const timed = capped.file.traceEvents.filter((e) => e.pid === d.pid && e.ph !== 'M');
      assert.equal(timed.length, 500);
      assert.equal(d.events, 500);
      const full = whole.file.otherData.designs.find((x) => x.design === d.design)!;
      assert.equal(full.leftOut, 0);
      assert.equal(d.events + d.leftOut, full.events);
    }
    checkTracks(capped.file.traceEvents);
  });

  it('bad bounds are a RangeError', () => {
    assert.throws(() => new TraceRecorder({ window: { start: 2, end: 1 } }), RangeError);
    assert.throws(() => new TraceRecorder({ window: { start: -1, end: 1 } }), RangeError);
    assert.throws(() => new TraceRecorder({ maxEventsPerDesign: -1 }), RangeError);
    assert.throws(() => new TraceRecorder({ maxEventsPerDesign: 1.5 }), RangeError);
  });
});

describe('tracing changes nothing', () => {
  it('a run traced reports exactly what it reports untraced', () => {
    for (const scenario of ['host-contention', 'specint-multiplex']) {
      const input = scenarioToInput(loadScenario(scenario).scenario);
      const plain = simulate(input, { duration: 0.02 });
      const { report } = traced(scenario, 0.02);
      assert.deepEqual(report, plain, scenario);
    }
  });
});

describe('guest counters read for the trace', () => {
  it('the emulated vPMU: the peeked value is what the guest then reads, and peeking costs nothing', () => {
    const host = new HostMachine({ cpus: 1, kvm: { enableMediatedPmu: false } });
    const cpu = host.cpus[0]!;
    const vcpu = host.kvm.createVm().createVcpu() as VcpuImpl;
    const design = vcpu.design as EmulatedVpmu;
    vcpu.run((g) => {
      g.wrmsr(MSR.IA32_PERFEVTSEL0, 0xc0n | EVTSEL.EN | EVTSEL.OS | EVTSEL.USR);
      g.wrmsr(MSR.IA32_PERF_GLOBAL_CTRL, 1n);
      g.exec({ instructions: 123_456, cycles: 200_000 });
      const tsc = cpu.tsc;
      const accesses = [...cpu.accessCounts];
      const peeked = design.peekCounter(vcpu.pmu.gpCounters[0]!);
      assert.equal(cpu.tsc, tsc);
      assert.deepEqual([...cpu.accessCounts], accesses);
      // The guest's own read exits to KVM, which reads the perf event (pmc_read_counter).
      assert.equal(BigInt(peeked), g.rdmsr(MSR.IA32_PMC0));
      assert.ok(peeked >= 123_456, `${peeked}`);
    });
  });
});
