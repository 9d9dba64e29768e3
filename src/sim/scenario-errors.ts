/**
 * Bad scenarios are data (docs/architecture.md principle 5): every problem names
 * the file, line, column and field, and says what was expected and what was
 * found, one line each:
 *
 *   scenarios/x.yaml:12:7: guests[0].workload.kind: expected one of specint, fio, idle (got 'spec')
 */
import type { Document, LineCounter, Node as YamlNode } from 'yaml';
import { isAlias, isMap, isPair, isScalar, isSeq } from 'yaml';
import type { z } from 'zod';
import { COST_MODELS } from './cost-model.ts';
import { showValue } from '../common/printable.ts';
import { closest } from '../common/spelling.ts';
import { formatPath } from './scenario-text.ts';
import { item } from '../common/item.ts';

export interface ScenarioProblem {
  file: string;
  /** 1-based; 0 when the problem has no place in a file (a --set value, an unknown scenario name). */
  line: number;
  column: number;
  /** The field, as guests[0].workload.kind; '' when the problem is about the whole input. */
  path: string;
  /** What was expected, then (got X). */
  message: string;
}

/** One problem as a line: file:line:column: path: message (parts without a value left out). */
export function formatProblem(p: ScenarioProblem): string {
  const where = p.line > 0 ? `${p.file}:${p.line}:${p.column}` : p.file;
  return [where, p.path, p.message].filter((part) => part !== '').join(': ');
}

/** A scenario that cannot be used; `message` is every problem, one per line. */
export class ScenarioError extends Error {
  readonly problems: ScenarioProblem[];

  constructor(problems: ScenarioProblem[]) {
    super(problems.map(formatProblem).join('\n'));
    this.name = 'ScenarioError';
    this.problems = problems;
  }
}

// ---------------------------------------------------------------- messages for zod's checks

const TYPE_NAMES: Record<string, string> = {
  string: 'a string',
  number: 'a number',
  int: 'a whole number',
  boolean: 'true or false',
  object: 'a mapping',
  array: 'a list',
  bigint: 'a whole number',
  record: 'a mapping',
};

function bound(n: number | bigint): string {
  return typeof n === 'bigint' ? n.toString() : String(n);
}

/**
 * Messages for zod's built-in checks: "what was expected (got X)". Schema-level
 * messages (scenario-schema.ts) take precedence over these.
 */
export function issueMessage(iss: z.core.$ZodRawIssue): string | undefined {
  const got = ` (got ${showValue(iss.input)})`;
  switch (iss.code) {
    case 'invalid_type': {
      const what = TYPE_NAMES[iss.expected] ?? iss.expected;
      return iss.input === undefined
        ? `required: expected ${what}${got}`
        : `expected ${what}${got}`;
    }
    case 'too_small': {
      const min = bound(iss.minimum);
      if (iss.origin === 'array' || iss.origin === 'set') {
        return `expected at least ${min} item${min === '1' ? '' : 's'}${got}`;
      }
      if (iss.origin === 'string') return `expected a non-empty string${got}`;
      return `expected ${iss.inclusive ? 'at least' : 'more than'} ${min}${got}`;
    }
    case 'too_big': {
      const max = bound(iss.maximum);
      if (iss.origin === 'array' && Array.isArray(iss.input))
        return `expected at most ${max} items (got ${iss.input.length})`;
      if (iss.origin === 'array' || iss.origin === 'set')
        return `expected at most ${max} items${got}`;
      if (iss.origin === 'string') return `expected at most ${max} characters${got}`;
      return `expected ${iss.inclusive ? 'at most' : 'less than'} ${max}${got}`;
    }
    case 'invalid_value':
      return iss.values.length === 1
        ? `expected ${showValue(iss.values[0])}${got}`
        : `expected one of ${iss.values.map(String).join(', ')}${got}`;
    case 'invalid_format':
      return `expected text in the format ${iss.pattern ?? iss.format}${got}`;
    case 'not_multiple_of':
      return `expected a multiple of ${bound(iss.divisor)}${got}`;
    case 'invalid_union':
      return `expected one of the allowed forms${got}`;
    default:
      return undefined;
  }
}

// ---------------------------------------------------------------- where a path is in the file

type Seg = PropertyKey;

/**
 * The node for a path (the value node; the key node with `key`), or the
 * deepest node on the way when the path goes further than the file (a
 * missing key: its parent mapping).
 */
export function nodeAt(doc: Document, path: readonly Seg[], key = false): YamlNode | null {
  let node: unknown = doc.contents;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = item(path, i);
    if (isMap(node)) {
      const pair = node.items.find(
        (p) => isPair(p) && isScalar(p.key) && String(p.key.value) === String(seg),
      );
      if (!pair) return node;
      if (key && i === path.length - 1 && isScalar(pair.key)) return pair.key;
      if (pair.value === null) return isScalar(pair.key) ? pair.key : node;
      node = pair.value;
    } else if (isSeq(node) && typeof seg === 'number' && seg < node.items.length) {
      node = node.items[seg];
    } else {
      return (node as YamlNode | null) ?? null;
    }
  }
  if (isAlias(node)) return node;
  return (node as YamlNode | null) ?? null;
}

/** 1-based line and column of a node (1:1 when there is none). */
export function nodePosition(
  node: YamlNode | null,
  lines: LineCounter,
): { line: number; column: number } {
  const offset = node?.range?.[0];
  if (offset === undefined) return { line: 1, column: 1 };
  const pos = lines.linePos(offset);
  return { line: pos.line, column: pos.col };
}

/**
 * Keys no scenario or cost file has and that JavaScript objects treat
 * specially: `__proto__` would replace a mapping's prototype when the YAML is
 * turned into objects (and silently vanish), `constructor` and `prototype`
 * name object internals. They are refused wherever they appear.
 */
export const UNSAFE_KEYS: ReadonlySet<string> = new Set(['__proto__', 'constructor', 'prototype']);

/** One problem for every mapping key in UNSAFE_KEYS, at the key's place in the file. */
export function unsafeKeyProblems(
  doc: Document,
  lines: LineCounter,
  file: string,
): ScenarioProblem[] {
  const problems: ScenarioProblem[] = [];
  const walk = (node: unknown, path: Seg[]): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const key = isScalar(pair.key) ? String(pair.key.value) : undefined;
        if (key !== undefined && UNSAFE_KEYS.has(key)) {
          problems.push({
            file,
            ...nodePosition(pair.key as YamlNode, lines),
            path: formatPath([...path, key]),
            message: `'${key}' is not a field of any mapping here (it names JavaScript's object internals)`,
          });
        } else walk(pair.value, key === undefined ? path : [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    }
  };
  walk(doc.contents, []);
  return problems;
}

// ---------------------------------------------------------------- zod issues -> problems

interface Def {
  type: string;
  innerType?: z.core.$ZodType;
  in?: z.core.$ZodType;
  shape?: Record<string, z.core.$ZodType>;
  element?: z.core.$ZodType;
  valueType?: z.core.$ZodType;
  options?: z.core.$ZodType[];
  discriminator?: string;
  values?: unknown[];
}
const def = (s: z.core.$ZodType) => s._zod.def as unknown as Def;

function unwrap(s: z.core.$ZodType, data: unknown): z.core.$ZodType {
  for (;;) {
    const d = def(s);
    if (d.innerType) s = d.innerType;
    else if (d.type === 'pipe' && d.in) s = d.in;
    else if (d.type === 'union' && d.options) {
      // The option the data picks: by discriminator, else the first object.
      const disc = d.discriminator;
      const value =
        disc && data && typeof data === 'object'
          ? (data as Record<string, unknown>)[disc]
          : undefined;
      const options = d.options.map((o) => unwrap(o, data));
      s =
        options.find((o) => disc && def(def(o).shape?.[disc] ?? o).values?.includes(value)) ??
        options.find((o) => def(o).type === 'object') ??
        item(options, 0);
    } else return s;
  }
}

/** The keys the schema allows at `path` (an object's shape), following the data through unions. */
export function knownKeys(schema: z.core.$ZodType, path: readonly Seg[], data: unknown): string[] {
  let s = unwrap(schema, data);
  let d = data;
  for (const seg of path) {
    d = d && typeof d === 'object' ? (d as Record<PropertyKey, unknown>)[seg] : undefined;
    const sd = def(s);
    const next = sd.shape?.[String(seg)] ?? sd.element ?? sd.valueType;
    if (!next) return [];
    s = unwrap(next, d);
  }
  return Object.keys(def(s).shape ?? {});
}

/** Problems for a failed parse, each at its node, in file order. */
export function issuesToProblems(
  issues: readonly z.core.$ZodIssue[],
  schema: z.core.$ZodType,
  data: unknown,
  locate: (path: readonly Seg[], key: boolean) => { file: string; line: number; column: number },
): ScenarioProblem[] {
  const problems: ScenarioProblem[] = [];
  for (const issue of issues) {
    if (issue.code === 'unrecognized_keys') {
      const known = knownKeys(schema, issue.path, data);
      for (const key of issue.keys) {
        const hint = closest(key, known);
        problems.push({
          ...locate([...issue.path, key], true),
          path: formatPath([...issue.path, key]),
          message: hint
            ? `unknown key, did you mean '${hint}'? (got ${showValue(key)})`
            : `unknown key, expected one of ${known.join(', ')} (got ${showValue(key)})`,
        });
      }
    } else {
      // A custom issue about a key itself (e.g. an unknown cost name) asks to be placed at the key.
      const atKey =
        issue.code === 'custom' && (issue.params as { at?: string } | undefined)?.at === 'key';
      problems.push({
        ...locate(issue.path, atKey),
        path: formatPath(issue.path),
        message: issue.message,
      });
    }
  }
  return sortProblems(problems);
}

export function sortProblems(problems: ScenarioProblem[]): ScenarioProblem[] {
  return problems
    .map((p, i) => ({ p, i }))
    .sort((a, b) => a.p.line - b.p.line || a.p.column - b.p.column || a.i - b.i)
    .map(({ p }) => p);
}

/**
 * A scenario's `costs` key or a cost file's `parameters` key must name a
 * parameter of the cost model in use (docs/cost-model.md): otherwise an issue
 * at the key, with the closest name. Whether it does.
 */
export function checkCostParameterName(
  ctx: z.core.$RefinementCtx,
  costModel: string,
  name: string,
  path: (string | number)[],
): boolean {
  const known: readonly string[] = (COST_MODELS[costModel] ?? []).map((p) => p.name);
  if (known.includes(name)) return true;
  const hint = closest(name, known);
  ctx.addIssue({
    code: 'custom',
    path,
    params: { at: 'key' },
    message:
      `expected a parameter of the '${costModel}' cost model (docs/cost-model.md)` +
      `${hint ? `; did you mean '${hint}'?` : ''} (got ${showValue(name)})`,
  });
  return false;
}
