/**
 * The simulated timeline as a Chrome Trace Event Format file (the JSON that
 * Perfetto, ui.perfetto.dev, and chrome://tracing open): what `vpmu run
 * --trace FILE.json` writes. docs/reports.md says how to read it.
 *
 * The recorder attaches probes to the same trace points the cost meter
 * prices (common/tracepoint.ts), and changes nothing in the run: it reads
 * clocks and counters without executing any modelled instruction.
 *
 * One process per vPMU design; in it one thread track per host CPU (timer
 * interrupts, perf's NMI handler, PMIs, multiplexing rotations) and one per
 * vCPU (VM-exits named by reason, the world switch's put and load nested in
 * them, injected interrupts, the guest kernel's timer interrupts and PMI
 * handler, the perf calls KVM makes), and counter tracks (the cycles the
 * cost model priced on each CPU so far, the guest's counter values).
 *
 * Size is bounded: only events that begin inside the window are kept, and at
 * most `maxEventsPerDesign` of them per design (metadata apart); what was
 * left out is counted in the file's otherData.
 */
import { Attachments } from '../common/tracepoint.ts';
import type { PhysicalCpu } from '../hw/cpu.ts';
import { RDPMC } from '../hw/msr.ts';
import { EmulatedVpmu } from '../kvm/emulated-vpmu.ts';
import type { VcpuImpl } from '../kvm/vcpu.ts';
import type { PerfCore } from '../perf/core.ts';
import type { CostMeter } from './cost-meter.ts';
import { DEFAULT_MAX_TRACE_EVENTS } from './trace-limits.ts';
import { item } from '../common/item.ts';

/** One Trace Event Format event: times in microseconds. */
export interface TraceEvent {
  name: string;
  cat: string;
  ph: 'X' | 'i' | 'C' | 'M';
  ts: number;
  dur?: number;
  pid: number;
  tid: number;
  /** Instant events: scoped to their thread. */
  s?: 't';
  args?: Record<string, string | number | boolean>;
}

export interface TraceFile {
  traceEvents: TraceEvent[];
  otherData: {
    generator: string;
    windowS: { start: number; end: number | null };
    maxEventsPerDesign: number;
    designs: { design: string; pid: number; events: number; leftOut: number }[];
  };
}

export interface TraceOptions {
  /** Simulated seconds [start, end) on each CPU's clock (end may be Infinity); default: the whole run. */
  window?: { start: number; end: number };
  /** Events kept per design, metadata apart; default DEFAULT_MAX_TRACE_EVENTS. */
  maxEventsPerDesign?: number;
}

export { DEFAULT_MAX_TRACE_EVENTS };

/** Thread ids: host CPU c is CPU_TID + c, the n-th vCPU of a design VCPU_TID + n. */
const CPU_TID = 1;
const VCPU_TID = 1000;

/** The kernel's category of each kind of event (the filter box in Perfetto). */
type Category = 'kvm' | 'perf' | 'irq' | 'hw' | 'guest' | 'overhead';

interface OpenSlice {
  readonly name: string;
  readonly cat: Category;
  readonly startNs: number;
  args: Record<string, string | number | boolean>;
}

/** A track: its thread id, the clock its times are read from, and its open slices. */
export class Track {
  readonly open: OpenSlice[] = [];
  constructor(
    readonly tid: number,
    readonly cpu: PhysicalCpu,
  ) {}
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Whole nanoseconds as the format's microseconds. Perfetto's JSON importer
 * turns them back into integer ns by rounding in recent versions and by
 * truncation in older ones; k ns written as (k + 0.01) / 1000 comes back as
 * k either way, so slices that end together still nest. (The file has no
 * displayTimeUnit: Perfetto reads "ns" there as the unit of ts.)
 */
const micros = (ns: number) => (ns + 0.01) / 1000;

export class TraceRecorder {
  private readonly events: TraceEvent[] = [];
  private readonly startNs: number;
  private readonly endNs: number;
  private readonly options: Required<Pick<TraceOptions, 'maxEventsPerDesign'>> & TraceOptions;
  private readonly designs: TraceFile['otherData']['designs'] = [];
  private attachments = new Attachments();
  private pid = 0;
  private kept = 0;
  private leftOut = 0;
  private vcpus = 0;
  /** The vCPU track last in KVM on each host CPU (by id): where KVM's perf calls land. */
  private inKvm: (Track | undefined)[] = [];

  constructor(options: TraceOptions = {}) {
    const max = options.maxEventsPerDesign ?? DEFAULT_MAX_TRACE_EVENTS;
    if (!Number.isSafeInteger(max) || max < 0)
      throw new RangeError(`maxEventsPerDesign: expected a whole number >= 0, got ${max}`);
    const window = options.window;
    if (window && !(window.start >= 0 && window.end > window.start))
      throw new RangeError(
        `window: expected 0 <= start < end (seconds), got ${window.start}:${window.end}`,
      );
    this.options = { ...options, maxEventsPerDesign: max };
    this.startNs = window ? window.start * 1e9 : 0;
    this.endNs = window ? window.end * 1e9 : Infinity;
  }

  /** A design's run begins on `host`: its process, its CPUs' tracks, the host's trace points. */
  beginDesign(
    design: string,
    host: { readonly cpus: readonly PhysicalCpu[]; readonly perfCore: PerfCore },
    meter: CostMeter,
  ): void {
    this.attachments.detachAll();
    this.pid++;
    this.kept = 0;
    this.leftOut = 0;
    this.vcpus = 0;
    this.inKvm = [];
    this.metadata('process_name', 0, { name: `design: ${design}` });
    this.metadata('process_sort_index', 0, { sort_index: this.pid });
    this.designs.push({ design, pid: this.pid, events: 0, leftOut: 0 });
    const tracks = host.cpus.map((cpu) => {
      const track = new Track(CPU_TID + cpu.id, cpu);
      this.metadata('thread_name', track.tid, { name: `CPU ${cpu.id}` });
      this.metadata('thread_sort_index', track.tid, { sort_index: track.tid });
      this.attachments.add(cpu.trace.pmi, (delivery, guestMode) =>
        this.instant(track, 'PMI', 'hw', {
          delivery:
            delivery === null ? 'masked' : delivery.nmi ? 'NMI' : `vector ${hex(delivery.vector)}`,
          guestMode,
        }),
      );
      return track;
    });
    const perf = host.perfCore.trace;
    this.attachments.add(perf.timerEntry, (cpu) => {
      const track = item(tracks, cpu);
      this.counter(track, `CPU ${cpu}`, { 'priced cycles': meter.pricedCycles(track.cpu) });
      this.begin(track, 'timer interrupt', 'irq', { rotations: 0 });
    });
    this.attachments.add(perf.rotate, (cpu) => {
      const track = item(tracks, cpu);
      this.instant(track, 'perf rotate', 'perf');
      const timer = track.open.at(-1);
      if (timer?.name === 'timer interrupt')
        timer.args.rotations = Number(timer.args.rotations) + 1;
    });
    this.attachments.add(perf.timerExit, (cpu) => this.end(item(tracks, cpu), 'timer interrupt'));
    this.attachments.add(perf.nmiEntry, (cpu) =>
      this.begin(item(tracks, cpu), 'perf NMI handler', 'perf'),
    );
    this.attachments.add(perf.nmiExit, (cpu, handled, samples) =>
      this.end(item(tracks, cpu), 'perf NMI handler', { handled, samples }),
    );
    this.attachments.add(perf.kvmCall, (call) => {
      // The load / put of the guest context are the world-switch slices already.
      if (call === 'perf_load_guest_context' || call === 'perf_put_guest_context') return;
      const current = meter.current;
      if (!current) return;
      this.instant(this.inKvm[current.id] ?? item(tracks, current.id), call, 'perf');
    });
  }

  /**
   * A vCPU's track: its exits (named by reason, with the MSR, whether KVM took
   * the fastpath, and what the meter priced), the world switch, injections.
   */
  attachVcpu(vcpu: VcpuImpl, guest: string, meter: CostMeter): Track {
    const track = new Track(VCPU_TID + this.vcpus++, vcpu.hostCpu);
    this.metadata('thread_name', track.tid, {
      name: `${guest} vCPU ${vcpu.id} (CPU ${vcpu.hostCpu.id})`,
    });
    this.metadata('thread_sort_index', track.tid, { sort_index: track.tid });
    const cpuId = vcpu.hostCpu.id;
    const worldSwitch = vcpu.designName !== 'emulated';
    const trace = vcpu.trace;
    this.attachments.add(trace.exit, (reason, fastpath, msr) => {
      this.inKvm[cpuId] = track;
      this.begin(track, reason, 'kvm', msr >= 0 ? { msr: hex(msr), fastpath } : { fastpath });
    });
    this.attachments.add(trace.entry, () => {
      const exit = track.open.at(-1);
      if (exit?.cat === 'kvm') this.end(track, exit.name, { pricedCycles: meter.lastExitCycles });
    });
    if (worldSwitch) {
      this.attachments.add(trace.pmuSwitch, (half, done) => {
        this.inKvm[cpuId] = track;
        const name = half === 'put' ? 'PMU put' : 'PMU load';
        if (done) this.end(track, name);
        else this.begin(track, name, 'perf');
      });
    }
    this.attachments.add(trace.inject, (vector) =>
      this.instant(
        track,
        vector === 2 ? 'PMI injected' : `interrupt ${hex(vector)} injected`,
        'kvm',
        {
          vector,
        },
      ),
    );
    return track;
  }

  /**
   * A guest kernel's perf on `vcpu`'s track: its timer interrupts (with the
   * guest's counter values as KVM or the hardware holds them), its PMI
   * handler (with the samples it wrote), its rotations.
   */
  attachGuestPerf(perf: PerfCore, vcpu: VcpuImpl, track: Track, guest: string): void {
    const trace = perf.trace;
    this.attachments.add(trace.timerEntry, () => {
      this.counter(track, guest, guestCounters(vcpu));
      this.begin(track, 'guest timer interrupt', 'guest');
    });
    this.attachments.add(trace.timerExit, () => this.end(track, 'guest timer interrupt'));
    this.attachments.add(trace.rotate, () => this.instant(track, 'guest perf rotate', 'guest'));
    this.attachments.add(trace.nmiEntry, () =>
      this.begin(track, 'guest perf NMI handler', 'guest'),
    );
    this.attachments.add(trace.nmiExit, (_cpu, handled, samples) =>
      this.end(track, 'guest perf NMI handler', { handled, samples }),
    );
  }

  /** The design's run is over: stop listening. */
  endDesign(): void {
    this.attachments.detachAll();
    const d = this.designs.at(-1);
    if (d) {
      d.events = this.kept;
      d.leftOut = this.leftOut;
    }
  }

  /** The file: events in time order per track (a slice before the slices it contains). */
  toJSON(): TraceFile {
    const order = (e: TraceEvent) => (e.ph === 'M' ? 0 : 1);
    const traceEvents = [...this.events].sort(
      (a, b) =>
        a.pid - b.pid ||
        order(a) - order(b) ||
        a.tid - b.tid ||
        a.ts - b.ts ||
        (b.dur ?? 0) - (a.dur ?? 0),
    );
    return {
      traceEvents,
      otherData: {
        generator: 'vpmu run --trace',
        windowS: {
          start: this.startNs / 1e9,
          end: Number.isFinite(this.endNs) ? this.endNs / 1e9 : null,
        },
        maxEventsPerDesign: this.options.maxEventsPerDesign,
        designs: this.designs.map((d) => ({ ...d })),
      },
    };
  }

  // ---- events

  private metadata(name: string, tid: number, args: Record<string, string | number>): void {
    this.events.push({ name, cat: '__metadata', ph: 'M', ts: 0, pid: this.pid, tid, args });
  }

  /** Keep an event that begins at `ns`, if it is inside the window and under the cap. */
  private keep(ns: number, event: TraceEvent): void {
    if (ns < this.startNs || ns >= this.endNs) return;
    if (this.kept >= this.options.maxEventsPerDesign) {
      this.leftOut++;
      return;
    }
    this.kept++;
    this.events.push(event);
  }

  private begin(
    track: Track,
    name: string,
    cat: Category,
    args: Record<string, string | number | boolean> = {},
  ): void {
    track.open.push({ name, cat, startNs: Math.round(track.cpu.nowNs), args });
  }

  /** Close the innermost open slice called `name` (any left open inside it are dropped). */
  private end(
    track: Track,
    name: string,
    args: Record<string, string | number | boolean> = {},
  ): void {
    let slice: OpenSlice | undefined;
    while ((slice = track.open.pop()) && slice.name !== name);
    if (!slice) return;
    const endNs = Math.round(track.cpu.nowNs);
    this.keep(slice.startNs, {
      name,
      cat: slice.cat,
      ph: 'X',
      ts: micros(slice.startNs),
      dur: micros(endNs - slice.startNs),
      pid: this.pid,
      tid: track.tid,
      args: { ...slice.args, ...args },
    });
  }

  private instant(
    track: Track,
    name: string,
    cat: Category,
    args?: Record<string, string | number | boolean>,
  ): void {
    const ns = Math.round(track.cpu.nowNs);
    this.keep(ns, {
      name,
      cat,
      ph: 'i',
      s: 't',
      ts: micros(ns),
      pid: this.pid,
      tid: track.tid,
      ...(args ? { args } : {}),
    });
  }

  private counter(track: Track, name: string, values: Record<string, number>): void {
    const ns = Math.round(track.cpu.nowNs);
    this.keep(ns, {
      name,
      cat: 'overhead',
      ph: 'C',
      ts: micros(ns),
      pid: this.pid,
      tid: 0,
      args: values,
    });
  }
}

/**
 * The guest's enabled counters as they stand, read without executing
 * anything: from the hardware while a mediated vPMU's state is loaded, else
 * KVM's saved value (for the perf-emulated vPMU, plus what its backing perf
 * event had counted when perf last updated it).
 */
// Non-null assertions index the guest PMU's counters below its nrArch* counts,
// the lengths GuestPmu guarantees (see its class).
function guestCounters(vcpu: VcpuImpl): Record<string, number> {
  const pmu = vcpu.pmu;
  const values: Record<string, number> = {};
  const emulated = vcpu.design instanceof EmulatedVpmu ? vcpu.design : null;
  const hardware = vcpu.loaded ? vcpu.hostCpu.pmu : null;
  for (let i = 0; i < pmu.nrArchGpCounters; i++) {
    const pmc = pmu.gpCounters[i]!;
    if (!pmu.isPmcLocallyEnabled(pmc)) continue;
    values[`PMC${i}`] = hardware
      ? hardware.rdpmcNumber(i)
      : emulated
        ? emulated.peekCounter(pmc)
        : pmc.counter;
  }
  for (let i = 0; i < pmu.nrArchFixedCounters; i++) {
    const pmc = pmu.fixedCounters[i]!;
    if (!pmu.isPmcLocallyEnabled(pmc)) continue;
    values[`FIXED${i}`] = hardware
      ? hardware.rdpmcNumber(RDPMC.FIXED | i)
      : emulated
        ? emulated.peekCounter(pmc)
        : pmc.counter;
  }
  return values;
}
