/**
 * Scenarios: read a scenario file (YAML), validate it against the schema in
 * scenario-schema.ts with every problem placed at its file:line:column, find
 * the built-ins, override fields from the command line (--set, --sweep), and
 * publish the JSON Schema for editors. docs/scenarios.md is the reference.
 */
import { existsSync, statSync } from 'node:fs';
import { relative, resolve } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { BUILTIN_DIR, builtinScenarioNames } from './builtin-scenarios.ts';
import {
  issueMessage,
  issuesToProblems,
  nodeAt,
  nodePosition,
  ScenarioError,
  UNSAFE_KEYS,
} from './scenario-errors.ts';
import { ScenarioSchema, type Scenario } from './scenario-schema.ts';
import { parseYamlFile, readInputFile } from './yaml-file.ts';
import { showValue } from '../common/printable.ts';
import { closest } from '../common/spelling.ts';
import { formatPath } from './scenario-text.ts';
import { item } from '../common/item.ts';

export { DEFAULT_RECORD_FREQUENCY } from '../guest/perf-session.ts';
export {
  COST_MODEL_NAMES,
  HZ_VALUES,
  PERF_EVENT_NAMES,
  SCENARIO_DESIGN_NAMES,
  ScenarioSchema,
  WORKLOAD_KINDS,
  parseEventSpec,
  type CostModelName,
  type EventSpec,
  type GuestPerfSession,
  type GuestSpec,
  type HostPerfSession,
  type HostTaskSpec,
  type Scenario,
  type ScenarioDesignName,
  type ScenarioInput,
  type Workload,
} from './scenario-schema.ts';
export { formatProblem, ScenarioError, type ScenarioProblem } from './scenario-errors.ts';

/** Validate parsed data; problems are placed by `locate`. */
function validate(
  data: unknown,
  locate: (
    path: readonly PropertyKey[],
    key: boolean,
  ) => { file: string; line: number; column: number },
): Scenario {
  const result = ScenarioSchema.safeParse(data, { error: issueMessage });
  if (result.success) return result.data;
  throw new ScenarioError(issuesToProblems(result.error.issues, ScenarioSchema, data, locate));
}

/** Parse and validate a scenario's YAML text; `file` names it in messages. Throws ScenarioError. */
export function parseScenario(text: string, file: string): Scenario {
  const { doc, lines, data } = parseYamlFile(
    text,
    file,
    'a mapping with name, description, machine and guests',
  );
  return validate(data, (path, key) => ({ file, ...nodePosition(nodeAt(doc, path, key), lines) }));
}

/** A path relative to the working directory when inside it, for messages. */
function displayPath(path: string): string {
  const rel = relative(process.cwd(), path);
  return rel && !rel.startsWith('..') ? rel : path;
}

function readScenarioFile(path: string, shown: string): Scenario {
  return parseScenario(readInputFile(path, shown, 'scenario file'), shown);
}

/**
 * A scenario by file path (an existing file) or by built-in name
 * (scenarios/<name>.yaml in the package). Throws ScenarioError.
 */
export function loadScenario(nameOrPath: string): { scenario: Scenario; file: string } {
  if (typeof nameOrPath !== 'string')
    throw new TypeError(
      `loadScenario: expected a built-in scenario name or a file path (a string), got ${typeof nameOrPath}`,
    );
  if (existsSync(nameOrPath)) {
    const stat = statSync(nameOrPath);
    if (stat.isFile())
      return { scenario: readScenarioFile(nameOrPath, nameOrPath), file: nameOrPath };
    const what = stat.isDirectory() ? 'a directory' : 'a device or pipe, not a regular file';
    throw new ScenarioError([
      {
        file: nameOrPath,
        line: 0,
        column: 0,
        path: '',
        message: `expected a scenario file (got ${what})`,
      },
    ]);
  }
  const names = builtinScenarioNames();
  if (names.includes(nameOrPath)) {
    const file = resolve(BUILTIN_DIR, `${nameOrPath}.yaml`);
    return { scenario: readScenarioFile(file, displayPath(file)), file };
  }
  const looksLikePath = /[/\\]|\.ya?ml$/i.test(nameOrPath);
  const hint = closest(nameOrPath, names);
  const message = looksLikePath
    ? `expected an existing scenario file or a built-in scenario name (got no such file)`
    : `expected a scenario file or a built-in scenario: ${names.join(', ')}` +
      `${hint ? `; did you mean '${hint}'?` : ''} (got ${showValue(nameOrPath)})`;
  throw new ScenarioError([{ file: nameOrPath, line: 0, column: 0, path: '', message }]);
}

/** The built-in scenarios, sorted by name. Throws ScenarioError if one is invalid (a bug). */
export function listBuiltinScenarios(): { name: string; description: string; file: string }[] {
  return builtinScenarioNames().map((name) => {
    const { scenario, file } = loadScenario(name);
    return { name: scenario.name, description: scenario.description, file };
  });
}

/** The scenario format as JSON Schema (draft 2020-12), for editors and other tools. */
export function scenarioJsonSchema(): Record<string, unknown> {
  return z.toJSONSchema(ScenarioSchema, { target: 'draft-2020-12', io: 'input' });
}

/**
 * A scenario handed to the API, validated again: a JavaScript caller may
 * build one by hand or change a loaded one, and the simulator trusts its
 * input's shape. Problems are ScenarioError lines naming `origin` and the
 * field; a value that is not an object at all is a TypeError.
 */
export function checkScenario(value: unknown, origin: string): Scenario {
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    throw new TypeError(
      `${origin}: expected a scenario (from loadScenario or parseScenario), got ${showValue(value)}`,
    );
  return validate(toData(value), () => ({ file: origin, line: 0, column: 0 }));
}

// ---------------------------------------------------------------- overrides

/** A validated scenario back to data the schema accepts (perfCapabilities as hex). */
function toData(value: unknown): unknown {
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (Array.isArray(value)) return value.map(toData);
  if (value && typeof value === 'object') {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toData(v)]));
  }
  return value;
}

/** Dotted path with numeric indexes: 'guests.0.perf.frequency' -> ['guests', 0, 'perf', 'frequency']. */
function splitPath(path: string): (string | number)[] | undefined {
  if (!/^[^.\s]+(\.[^.\s]+)*$/.test(path)) return undefined;
  return path.split('.').map((seg) => (/^\d+$/.test(seg) ? Number(seg) : seg));
}

/**
 * The scenario with one field set from the command line (`--set path=value`,
 * each value of `--sweep path=v1,v2`): `path` is dotted with numeric indexes
 * (guests.0.perf.frequency), `value` is read as YAML (100, true, mediated,
 * [a, b]). Setting frequency or period of a perf session drops the other;
 * setting a workload's kind to another kind drops the old kind's fields;
 * overriding what runs (not duration, seed, costs or designs) drops the
 * published figures, which were measured on the scenario as written.
 * The result is validated again; problems name `origin` and the path.
 */
export function applyOverride(
  scenario: Scenario,
  path: string,
  value: string,
  origin: string,
): Scenario {
  const fail = (message: string, at = path): never => {
    throw new ScenarioError([{ file: origin, line: 0, column: 0, path: at, message }]);
  };
  let segs = splitPath(path);
  const unsafeSeg = segs?.find((seg) => typeof seg === 'string' && UNSAFE_KEYS.has(seg));
  if (unsafeSeg !== undefined) {
    return fail(
      `'${String(unsafeSeg)}' is not a field of any scenario (it names JavaScript's object internals)`,
    );
  }
  if (!segs) {
    return fail(
      `expected a dotted path such as guests.0.perf.frequency (got ${showValue(path)})`,
      '',
    );
  }
  // Cost parameter names have dots (perf.tick): after 'costs.' the rest is one name.
  if (segs[0] === 'costs' && segs.length > 2) segs = ['costs', path.slice('costs.'.length)];
  let parsed: unknown;
  try {
    parsed = parseYaml(value, { prettyErrors: false, logLevel: 'error' });
  } catch (error) {
    const first = (error instanceof Error ? error.message : String(error)).split('\n')[0] ?? '';
    return fail(`expected a YAML value: ${first} (got ${showValue(value)})`);
  }
  const data = toData(scenario) as Record<string, unknown>;
  let node: unknown = data;
  for (let i = 0; i < segs.length - 1; i++) {
    const seg = item(segs, i);
    const here = formatPath(segs.slice(0, i + 1));
    if (Array.isArray(node)) {
      if (typeof seg !== 'number')
        return fail(
          `expected a numeric index into the list ${formatPath(segs.slice(0, i))} (got ${showValue(seg)})`,
          here,
        );
      if (seg >= node.length)
        return fail(`expected an index below ${node.length}, the list's length (got ${seg})`, here);
      node = node[seg];
    } else if (node && typeof node === 'object') {
      const obj = node as Record<string, unknown>;
      if (typeof seg === 'number')
        return fail(
          `expected a key, ${formatPath(segs.slice(0, i))} is a mapping (got ${seg})`,
          here,
        );
      if (obj[seg] === undefined) obj[seg] = {};
      node = obj[seg];
    } else {
      return fail(
        `expected a mapping or a list to go into (got ${showValue(node)})`,
        formatPath(segs.slice(0, i)),
      );
    }
  }
  const last = item(segs, segs.length - 1); // a path has at least one segment (checked above)
  if (Array.isArray(node)) {
    if (typeof last !== 'number')
      return fail(`expected a numeric index (got ${showValue(last)})`, formatPath(segs));
    if (last >= node.length)
      return fail(
        `expected an index below ${node.length}, the list's length (got ${last})`,
        formatPath(segs),
      );
    node[last] = parsed;
  } else if (node && typeof node === 'object') {
    if (typeof last === 'number')
      return fail(`expected a key, not an index (got ${last})`, formatPath(segs));
    const obj = node as Record<string, unknown>;
    // A workload is one of several kinds, each with its own fields, and the
    // validated scenario already holds the old kind's defaults: a new kind
    // starts from its own defaults (later --set values refine it).
    if (last === 'kind' && obj.kind !== undefined && obj.kind !== parsed) {
      for (const key of Object.keys(obj)) delete obj[key];
    }
    obj[last] = parsed;
    // A perf session samples by frequency or by period: setting one replaces the other.
    const inPerf =
      segs.length >= 2 && (segs[segs.length - 2] === 'perf' || segs[segs.length - 3] === 'perf');
    if (inPerf && last === 'frequency') delete obj.period;
    if (inPerf && last === 'period') delete obj.frequency;
  } else {
    return fail(
      `expected a mapping or a list to set a field in (got ${showValue(node)})`,
      formatPath(segs.slice(0, -1)),
    );
  }
  // The published figures were measured on the scenario as written: an
  // override of what ran (the machine, a guest, host profiling) makes it
  // another experiment, and comparing with them would mislead (and make
  // --samples exit 1 on a figure that does not apply).
  if (!keepsPublishedFigures(path)) delete data.published;
  return validate(data, () => ({ file: origin, line: 0, column: 0 }));
}

/**
 * Top-level fields an override may change while the published figures still
 * apply: how long and with which seed the scenario runs, the costs (what
 * --samples varies and a calibration replaces), which designs run, and text.
 */
const FIGURE_NEUTRAL_FIELDS: ReadonlySet<string> = new Set([
  'name',
  'description',
  'duration',
  'seed',
  'costModel',
  'costs',
  'designs',
  'published',
]);

/** Whether an override of `path` keeps the scenario's published figures (see applyOverride). */
export function keepsPublishedFigures(path: string): boolean {
  return FIGURE_NEUTRAL_FIELDS.has(path.split('.', 1)[0] ?? '');
}
