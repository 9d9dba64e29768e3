/**
 * The machine-readable report (`vpmu run --json`): the SimulationReport
 * itself, keys in a fixed order, numbers rounded so that runs diff cleanly.
 * docs/reports.md documents the shape and the rounding.
 */
import type {
  CostBreakdownEntry,
  CostParameterReport,
  DesignResult,
  GuestEventResult,
  HostEventResult,
  PublishedComparison,
  SimulationReport,
  TimelineEntry,
} from '../sim/results.ts';
import type { VpmuDesignName } from '../kvm/vpmu-design.ts';
import { round } from './format.ts';
import { sweepSummary, type SweepRow } from './summary.ts';
import { likeForLike, type LikeForLikeRow } from '../sim/like-for-like.ts';
import { item } from '../common/item.ts';

/** Percentages (overhead, error): 4 decimals. */
const pct = (x: number): number => round(x, 4);
/** Event counts, exits, cycle totals, ns: whole numbers (perf stat prints counts with %.0f). */
const int = (x: number): number => round(x, 0);
/** Per-operation cycles and expected sample counts: 2 decimals. */
const dec = (x: number): number => round(x, 2);

function opt<T, R>(value: T | undefined, f: (v: T) => R): R | undefined {
  return value === undefined ? undefined : f(value);
}

/** Drops undefined members, so optional fields are absent rather than null. */
function compact<T extends object>(o: T): T {
  for (const key of Object.keys(o) as (keyof T)[]) if (o[key] === undefined) delete o[key];
  return o;
}

function guestEvent(e: GuestEventResult): GuestEventResult {
  return compact({
    guest: e.guest,
    event: e.event,
    truth: int(e.truth),
    counted: int(e.counted),
    refused: e.refused,
    errorPercent: pct(e.errorPercent),
    operationInstructions: int(e.operationInstructions),
    raw: int(e.raw),
    timeEnabledNs: int(e.timeEnabledNs),
    timeRunningNs: int(e.timeRunningNs),
    throttled: opt(e.throttled, int),
    filtered: e.filtered,
    samples: opt(e.samples, int),
    expectedSamples: opt(e.expectedSamples, dec),
  });
}

function hostEvent(h: HostEventResult): HostEventResult {
  return compact({
    name: h.name,
    event: h.event,
    refused: h.refused,
    truth: opt(h.truth, int),
    counted: opt(h.counted, int),
    errorPercent: opt(h.errorPercent, pct),
    timeEnabledNs: opt(h.timeEnabledNs, int),
    timeRunningNs: opt(h.timeRunningNs, int),
  });
}

function timelineEntry(t: TimelineEntry): TimelineEntry {
  return {
    timeNs: dec(t.timeNs),
    guest: t.guest,
    kind: t.kind,
    label: t.label,
    cycles: dec(t.cycles),
  };
}

function costEntry(c: CostBreakdownEntry): CostBreakdownEntry {
  return { parameter: c.parameter, count: int(c.count), cycles: int(c.cycles) };
}

function sortedRecord(
  record: Record<string, number>,
  f: (x: number) => number,
): Record<string, number> {
  return Object.fromEntries(
    Object.keys(record)
      .sort()
      .map((k) => [k, f(item(record, k))]),
  );
}

function designResult(r: DesignResult): DesignResult {
  return {
    design: r.design,
    overheadPercent: pct(r.overheadPercent),
    exits: sortedRecord(r.exits, int),
    totalExits: int(r.totalExits),
    guestPmis: int(r.guestPmis),
    guestEvents: r.guestEvents.map(guestEvent),
    hostEvents: r.hostEvents.map(hostEvent),
    refusals: r.refusals.map((g) => ({ guest: g.guest, errno: g.errno, message: g.message })),
    elapsedCycles: int(r.elapsedCycles),
    workCycles: int(r.workCycles),
    costBreakdown: r.costBreakdown.map(costEntry),
    timeline: r.timeline.map(timelineEntry),
    msrAccesses: {
      rdmsr: int(r.msrAccesses.rdmsr),
      wrmsr: int(r.msrAccesses.wrmsr),
      rdpmc: int(r.msrAccesses.rdpmc),
    },
    ...(r.ranAs !== undefined ? { ranAs: r.ranAs } : {}),
  };
}

function costParameter(p: CostParameterReport): CostParameterReport {
  return { name: p.name, cycles: dec(p.cycles), source: p.source, assumption: p.assumption };
}

function published(p: PublishedComparison): PublishedComparison {
  const overheadPercent: PublishedComparison['overheadPercent'] = {};
  for (const key of Object.keys(p.overheadPercent).sort() as VpmuDesignName[]) {
    const value = p.overheadPercent[key];
    if (value !== undefined) overheadPercent[key] = pct(value);
  }
  return { test: p.test, source: p.source, overheadPercent };
}

/**
 * The report as `vpmu run --json` prints it (`JSON.stringify(toJson(r), null, 2)`).
 * A non-finite number (an error % against a truth of 0) becomes null in JSON.
 */
export function toJson(report: SimulationReport): SimulationReport & JsonDerived {
  const likeForLikeRows = likeForLike(report).map(likeForLikeRow);
  return compact({
    scenario: report.scenario,
    description: report.description,
    seed: report.seed,
    duration: report.duration,
    cpu: report.cpu,
    costModel: report.costModel,
    sweep: report.sweep && { parameter: report.sweep.parameter, value: report.sweep.value },
    published: opt(report.published, published),
    results: report.results.map(designResult),
    costParameters: report.costParameters.map(costParameter),
    likeForLike: likeForLikeRows.length ? likeForLikeRows : undefined,
  });
}

/** Figures `--json` derives from the report (absent without published figures). */
export interface JsonDerived {
  /** The published figures against the designs that produced them (sim/like-for-like.ts). */
  likeForLike?: LikeForLikeRow[];
}

function likeForLikeRow(r: LikeForLikeRow): LikeForLikeRow {
  return compact({
    design: r.design,
    published: pct(r.published),
    simulated: opt(r.simulated, pct),
    ratio: opt(r.ratio, (v) => round(v, 4)),
    agrees: r.agrees,
    linux70Design: r.linux70Design,
    linux70Simulated: opt(r.linux70Simulated, pct),
    dominant: opt(r.dominant, (d) => ({
      parameter: d.parameter,
      count: d.count,
      overheadPoints: pct(d.overheadPoints),
    })),
  });
}

export interface SweepJson {
  scenario: string;
  /** The swept parameter. */
  parameter: string;
  /** One row per swept value, in run order: each design's overhead and mean |error %|. */
  summary: SweepRow[];
  /** The full report of each run, as toJson. */
  runs: SimulationReport[];
}

/** A sweep as `vpmu run --sweep ... --json` prints it. */
export function toSweepJson(reports: SimulationReport[]): SweepJson {
  const summary = sweepSummary(reports);
  const roundAll = (record: SweepRow['overheadPercent']): SweepRow['overheadPercent'] => {
    const out: SweepRow['overheadPercent'] = {};
    for (const d of summary.designs) if (record[d] !== undefined) out[d] = pct(record[d]);
    return out;
  };
  return {
    scenario: reports[0]?.scenario ?? '',
    parameter: summary.parameter,
    summary: summary.rows.map((row) => ({
      value: row.value,
      overheadPercent: roundAll(row.overheadPercent),
      meanAbsErrorPercent: roundAll(row.meanAbsErrorPercent),
    })),
    runs: reports.map(toJson),
  };
}

/** One shard of a sweep (`--sweep ... --shard i/n --json`): src/report/sweep-shards.ts merges them. */
export interface SweepShardJson extends SweepJson {
  /** 'i/n'. */
  shard: string;
  /**
   * The summary rows unrounded (JSON keeps every digit of a double), so that
   * the merged text and HTML match the single run's to the last digit.
   */
  exactSummary: SweepRow[];
}

export function toSweepShardJson(
  reports: SimulationReport[],
  shard: { index: number; count: number },
): SweepShardJson {
  return {
    ...toSweepJson(reports),
    shard: `${shard.index}/${shard.count}`,
    exactSummary: sweepSummary(reports).rows,
  };
}
