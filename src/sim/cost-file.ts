/**
 * A calibration file (`vpmu run --costs FILE.yaml`): costs measured on a real
 * host that replace the defaults, each a value (which pins the parameter) or
 * a value with its own range and source (which `--samples` draws from).
 * Validated like a scenario: every problem at file:line:column, one line each
 * (exit 2). docs/calibration.md says how to measure each parameter.
 *
 *   host: Xeon 8480+, Linux 6.12, mitigations=auto
 *   parameters:
 *     exit.roundtrip: 1450
 *     perf.period: { cycles: 6100, range: [5800, 6500], source: 'funclatency, 200 calls' }
 */
import { z } from 'zod';
import { COST_MODELS, type CostOverride } from './cost-model.ts';
import {
  checkCostParameterName,
  issueMessage,
  issuesToProblems,
  nodeAt,
  nodePosition,
  ScenarioError,
} from './scenario-errors.ts';
import { MAX_COST_CYCLES } from './run-limits.ts';
import { showValue } from '../common/printable.ts';
import { parseYamlFile, readInputFile } from './yaml-file.ts';

const cycles = z.number().min(0).max(MAX_COST_CYCLES);

const MeasuredSchema = z.strictObject({
  cycles,
  range: z.tuple([cycles, cycles]).optional(),
  source: z.string().min(1).optional(),
});

const CostFileSchema = z
  .strictObject({
    costModel: z.enum(Object.keys(COST_MODELS) as [string, ...string[]]).default('default'),
    host: z.string().min(1).optional(),
    parameters: z.record(
      z.string(),
      z.union([cycles, MeasuredSchema], {
        error: (iss) =>
          `expected cycles (a number) or { cycles, range: [low, high], source } (got ${showValue(iss.input)})`,
      }),
    ),
  })
  .superRefine((file, ctx) => {
    for (const [name, value] of Object.entries(file.parameters)) {
      if (!checkCostParameterName(ctx, file.costModel, name, ['parameters', name])) continue;
      if (typeof value === 'number' || !value.range) continue;
      const [low, high] = value.range;
      if (!(low <= value.cycles && value.cycles <= high))
        ctx.addIssue({
          code: 'custom',
          path: ['parameters', name, 'range'],
          message: `expected [low, high] with low <= cycles (${value.cycles}) <= high (got [${low}, ${high}])`,
        });
    }
  });

export interface CostFile {
  file: string;
  costModel: string;
  host?: string;
  parameters: Record<string, CostOverride>;
}

/** Parse and validate a calibration file's text; `file` names it in messages. Throws ScenarioError. */
export function parseCostFile(text: string, file: string): CostFile {
  const { doc, lines, data } = parseYamlFile(text, file, 'a mapping with parameters');
  const result = CostFileSchema.safeParse(data, { error: issueMessage });
  if (!result.success)
    throw new ScenarioError(
      issuesToProblems(result.error.issues, CostFileSchema, data, (path, key) => ({
        file,
        ...nodePosition(nodeAt(doc, path, key), lines),
      })),
    );
  const parameters: Record<string, CostOverride> = {};
  for (const [name, value] of Object.entries(result.data.parameters)) {
    parameters[name] =
      typeof value === 'number'
        ? { cycles: value, source: `measured (${file})` }
        : {
            cycles: value.cycles,
            ...(value.range ? { range: [value.range[0], value.range[1]] as const } : {}),
            source: value.source ?? `measured (${file})`,
          };
  }
  return {
    file,
    costModel: result.data.costModel,
    ...(result.data.host ? { host: result.data.host } : {}),
    parameters,
  };
}

/** Read a calibration file. Throws ScenarioError (one line per problem). */
export function loadCostFile(path: string): CostFile {
  if (typeof path !== 'string')
    throw new TypeError(`loadCostFile: expected a file path (a string), got ${typeof path}`);
  return parseCostFile(readInputFile(path, path, 'cost file'), path);
}

/**
 * The costs a scenario runs with once a calibration file is applied: the
 * file's parameters replace the scenario's own overrides of the same name.
 */
export function withCostFile<T extends { costModel: string; costs: Record<string, CostOverride> }>(
  input: T,
  costs: CostFile,
): T {
  const isObject = (v: unknown): v is Record<string, unknown> =>
    v !== null && typeof v === 'object' && !Array.isArray(v);
  if (!isObject(input) || typeof input.costModel !== 'string' || !isObject(input.costs))
    throw new TypeError(
      `withCostFile: expected a simulation input with costModel and costs (from scenarioToInput), got ${showValue(input)}`,
    );
  if (!isObject(costs) || typeof costs.costModel !== 'string' || !isObject(costs.parameters))
    throw new TypeError(
      `withCostFile: expected a cost file (from loadCostFile or parseCostFile), got ${showValue(costs)}`,
    );
  if (costs.costModel !== input.costModel)
    throw new ScenarioError([
      {
        file: costs.file,
        line: 0,
        column: 0,
        path: 'costModel',
        message: `expected the scenario's cost model '${input.costModel}' (got ${showValue(costs.costModel)})`,
      },
    ]);
  return { ...input, costs: { ...input.costs, ...costs.parameters } };
}
