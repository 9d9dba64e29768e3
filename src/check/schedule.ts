/**
 * Schedule strings: one line that names a model and a run of it, and that
 * `vpmu check --replay` runs again, step for step.
 *
 *   accounting:upstream:vms=1,events=1,rounds=1:0.0.1.1.0
 *   ^model     ^variant ^parameters              ^threads, one per shared step
 *
 * Parameters are name=value, or a bare name for a flag (stray-release);
 * `properties=a+b` restricts the checked properties (default: all). The
 * steps are thread indices (the order of the model's threads: VM threads,
 * then event threads, then exempt threads; for vm-lifecycle, per VM its vcpu
 * threads then its destroy thread, then event threads). A run that never ends
 * is written stem/loop: the steps after '/' bring the state back to where
 * they started.
 */
import { showValue } from '../common/printable.ts';
import { BadInput, parseModelKind, type ModelKind, type ModelParams } from './model-catalogue.ts';
import { PROPERTY_NAMES, type PropertyName } from './properties.ts';

export interface Schedule {
  kind: ModelKind;
  variant: string;
  params: ModelParams;
  /** null = every property. */
  properties: PropertyName[] | null;
  path: number[];
  /** For a cycle: the index in `path` where the loop starts; else -1. */
  loopStart: number;
}

export function formatSchedule(s: Schedule): string {
  const params = Object.entries(s.params).map(([k, v]) => (v === true ? k : `${k}=${String(v)}`));
  if (s.properties !== null) params.push(`properties=${s.properties.join('+')}`);
  const steps =
    s.loopStart >= 0
      ? `${s.path.slice(0, s.loopStart).join('.')}/${s.path.slice(s.loopStart).join('.')}`
      : s.path.join('.');
  return `${s.kind}:${s.variant}:${params.join(',')}:${steps}`;
}

export function parseSchedule(text: string): Schedule {
  const parts = text.trim().split(':');
  if (parts.length !== 4) {
    throw new BadInput(
      '--replay',
      `expected model:variant:parameters:steps, got ${showValue(text)}`,
    );
  }
  const [kindText, variant, paramText, stepText] = parts as [string, string, string, string];
  const kind = parseModelKind(kindText);
  const params: ModelParams = {};
  let properties: PropertyName[] | null = null;
  const seen = new Set<string>();
  for (const item of paramText.split(',').filter((x) => x !== '')) {
    const eq = item.indexOf('=');
    const key = eq < 0 ? item : item.slice(0, eq);
    // A schedule names each parameter once: a second value would silently win.
    if (seen.has(key)) throw new BadInput('--replay', `parameter ${key} is given twice`);
    seen.add(key);
    if (eq < 0) {
      params[item] = true;
      continue;
    }
    const name = item.slice(0, eq);
    const value = item.slice(eq + 1);
    if (name === 'properties') {
      properties = parseProperties(value.split('+'), '--replay');
      continue;
    }
    if (!/^\d+$/.test(value))
      throw new BadInput('--replay', `parameter ${name} needs an integer, got ${showValue(value)}`);
    params[name] = Number(value);
  }
  const [stem, loop] = stepText.split('/') as [string, string | undefined];
  const steps = (s: string) =>
    s === ''
      ? []
      : s.split('.').map((x) => {
          if (!/^\d+$/.test(x))
            throw new BadInput('--replay', `a step is a thread index, got ${showValue(x)}`);
          return Number(x);
        });
  const stemPath = steps(stem);
  const loopPath = loop === undefined ? [] : steps(loop);
  return {
    kind,
    variant,
    params,
    properties,
    path: [...stemPath, ...loopPath],
    loopStart: loop === undefined ? -1 : stemPath.length,
  };
}

export function parseProperties(names: readonly string[], flag: string): PropertyName[] {
  return names.map((name, i) => {
    if (!(PROPERTY_NAMES as readonly string[]).includes(name)) {
      throw new BadInput(
        flag,
        `expected properties among ${PROPERTY_NAMES.join(', ')}, got ${showValue(name)}`,
      );
    }
    // A property named twice is most likely a slip for another one.
    if (names.indexOf(name) !== i)
      throw new BadInput(flag, `expected each property once, got ${showValue(name)} twice`);
    return name as PropertyName;
  });
}
