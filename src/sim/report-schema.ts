/**
 * The shape of a SimulationReport (results.ts) read back from a file: shard 1
 * of `vpmu run --samples N --shard i/n --json` carries the nominal run's
 * report, and `vpmu merge` renders all of it (text, JSON, the HTML page). A
 * file edited or cut short is refused naming the field, instead of failing
 * as "reading 'length' of undefined" in a renderer. The runs of a sweep
 * shard (`--sweep ... --shard i/n --json`) are reports too, as `--json`
 * prints them: a number that was not finite is null there. Loose objects: a
 * key this version does not read passes through.
 */
import { z } from 'zod';

/**
 * A report's schema with `num` for its numbers: a samples shard keeps
 * non-finite ones (shardToText writes them as { nonFinite }; an error %
 * against a truth of 0 is infinite), `--json` writes them as null.
 */
function reportSchema<N extends z.ZodType>(num: N) {
  const optionalNum = num.optional();

  const GuestEventResult = z.looseObject({
    guest: z.string(),
    event: z.string(),
    truth: num,
    counted: num,
    refused: z.string().optional(),
    errorPercent: num,
    operationInstructions: num,
    raw: num,
    timeEnabledNs: num,
    timeRunningNs: num,
    throttled: optionalNum,
    filtered: z.literal(true).optional(),
    samples: optionalNum,
    expectedSamples: optionalNum,
  });

  const HostEventResult = z.looseObject({
    name: z.string(),
    event: z.string(),
    refused: z.string().optional(),
    truth: optionalNum,
    counted: optionalNum,
    errorPercent: optionalNum,
    timeEnabledNs: optionalNum,
    timeRunningNs: optionalNum,
  });

  const DesignResult = z.looseObject({
    design: z.string(),
    overheadPercent: num,
    exits: z.record(z.string(), num),
    totalExits: num,
    guestPmis: num,
    guestEvents: z.array(GuestEventResult),
    hostEvents: z.array(HostEventResult),
    refusals: z.array(z.looseObject({ guest: z.string(), errno: z.string(), message: z.string() })),
    elapsedCycles: num,
    workCycles: num,
    costBreakdown: z.array(z.looseObject({ parameter: z.string(), count: num, cycles: num })),
    timeline: z.array(
      z.looseObject({
        timeNs: num,
        guest: z.string(),
        kind: z.enum(['exit', 'pmi', 'world-switch', 'tick', 'rotation']),
        label: z.string(),
        cycles: num,
      }),
    ),
    msrAccesses: z.looseObject({ rdmsr: num, wrmsr: num, rdpmc: num }),
    ranAs: z.string().optional(),
  });

  return z.looseObject({
    scenario: z.string(),
    description: z.string(),
    seed: num,
    duration: num,
    cpu: z.string(),
    costModel: z.string(),
    results: z.array(DesignResult).min(1),
    costParameters: z.array(
      z.looseObject({ name: z.string(), cycles: num, source: z.string(), assumption: z.boolean() }),
    ),
    published: z
      .looseObject({
        test: z.string(),
        source: z.string(),
        overheadPercent: z.record(z.string(), optionalNum),
      })
      .optional(),
    sweep: z.looseObject({ parameter: z.string(), value: z.string() }).optional(),
  });
}

/** A report as a samples shard file holds it. */
export const SimulationReportSchema = reportSchema(
  z.custom<number>((v) => typeof v === 'number', 'expected a number'),
);

/** A report as `--json` prints it: a number that was not finite is null. */
export const JsonReportSchema = reportSchema(
  z.custom<number | null>((v) => typeof v === 'number' || v === null, 'expected a number or null'),
);

/** The first problem of `value` as a report, its field under `name`: 'nominal.results.0.design: ...', or null. */
export function reportProblem(name: string, value: unknown): string | null {
  const parsed = SimulationReportSchema.safeParse(value);
  if (parsed.success) return null;
  const issue = parsed.error.issues[0];
  return issue
    ? [name, ...issue.path].join('.') + `: ${issue.message}`
    : `${name}: expected a report`;
}

/**
 * A samples shard's nominal report, which `vpmu merge` renders whole (text,
 * JSON, HTML): one edited or cut short is refused naming its field, not read
 * as "properties of undefined" in a renderer. Throws Error.
 */
export function checkNominalReport(nominal: unknown): void {
  const problem = reportProblem('nominal', nominal);
  if (problem !== null) throw new Error(`${problem} (not the nominal report vpmu run writes)`);
}
