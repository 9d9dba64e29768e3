/**
 * The catalogue of models by name, with their parameters: what the CLI, the
 * schedule strings and the benchmarks build models from.
 */
import { showValue } from '../common/printable.ts';
import { CHECKED_ACCOUNTING_VARIANTS } from './accounting-variants.ts';
import { accountingModel, DEFAULT_ACCOUNTING_PARAMS } from './accounting-model.ts';
import {
  DEFAULT_LIFECYCLE_PARAMS,
  LIFECYCLE_VARIANT_NAMES,
  lifecycleModel,
} from './lifecycle-model.ts';
import {
  DEFAULT_GUEST_CONTEXT_PARAMS,
  GUEST_CONTEXT_VARIANTS,
  guestContextModel,
} from './guest-context-model.ts';
import type { Model } from './model-definition.ts';
import { VM_LIFECYCLE_VARIANTS } from '../kvm/vm-lifecycle-protocol.ts';

export const MODEL_KINDS = ['accounting', 'vm-lifecycle', 'guest-context'] as const;
export type ModelKind = (typeof MODEL_KINDS)[number];

/** Bad input from a user (a flag, a schedule string): the CLI prints it as one line, exit 2. */
export class BadInput extends Error {
  constructor(
    readonly flag: string,
    message: string,
  ) {
    super(`${flag}: ${message}`);
    this.name = 'BadInput';
  }
}

export type ModelParams = Record<string, number | boolean>;

interface ParamSpec {
  readonly name: string;
  readonly kind: 'count' | 'flag';
  readonly min: number;
  readonly max: number;
}

const ACCOUNTING_PARAMS: readonly ParamSpec[] = [
  { name: 'vms', kind: 'count', min: 0, max: 12 },
  { name: 'events', kind: 'count', min: 0, max: 12 },
  { name: 'rounds', kind: 'count', min: 1, max: 20 },
  { name: 'exempt', kind: 'count', min: 0, max: 4 },
  { name: 'stray-release', kind: 'flag', min: 0, max: 1 },
];
const LIFECYCLE_PARAMS: readonly ParamSpec[] = [
  { name: 'vms', kind: 'count', min: 1, max: 4 },
  { name: 'vcpus', kind: 'count', min: 1, max: 6 },
  { name: 'events', kind: 'count', min: 0, max: 6 },
  { name: 'rounds', kind: 'count', min: 1, max: 10 },
  { name: 'no-lapic', kind: 'flag', min: 0, max: 1 },
];

const GUEST_CONTEXT_PARAMS: readonly ParamSpec[] = [
  { name: 'rounds', kind: 'count', min: 1, max: 4 },
  { name: 'events', kind: 'count', min: 0, max: 3 },
  { name: 'rotations', kind: 'count', min: 0, max: 4 },
  { name: 'pmis', kind: 'count', min: 0, max: 4 },
  { name: 'irq-window', kind: 'flag', min: 0, max: 1 },
];

export function paramSpecs(kind: ModelKind): readonly ParamSpec[] {
  if (kind === 'guest-context') return GUEST_CONTEXT_PARAMS;
  return kind === 'accounting' ? ACCOUNTING_PARAMS : LIFECYCLE_PARAMS;
}

export function variantNames(kind: ModelKind): string[] {
  parseModelKind(kind); // from JavaScript: an unknown kind is refused, not read as vm-lifecycle
  if (kind === 'guest-context') return Object.keys(GUEST_CONTEXT_VARIANTS);
  return kind === 'accounting' ? Object.keys(CHECKED_ACCOUNTING_VARIANTS) : LIFECYCLE_VARIANT_NAMES;
}

export function variantInfo(
  kind: ModelKind,
  variant: string,
): { correct: boolean; summary: string } | undefined {
  if (kind === 'guest-context') return GUEST_CONTEXT_VARIANTS[variant];
  return kind === 'accounting'
    ? CHECKED_ACCOUNTING_VARIANTS[variant]
    : VM_LIFECYCLE_VARIANTS[variant as keyof typeof VM_LIFECYCLE_VARIANTS];
}

export function parseModelKind(text: string): ModelKind {
  if ((MODEL_KINDS as readonly string[]).includes(text)) return text as ModelKind;
  throw new BadInput('model', `expected one of ${MODEL_KINDS.join(', ')}, got ${showValue(text)}`);
}

/** Builds a model, validating every parameter (BadInput names the offending one). */
export function buildModel(kind: ModelKind, variant: string, params: ModelParams): Model {
  if (!variantNames(kind).includes(variant)) {
    throw new BadInput(
      '--variant',
      `expected one of ${variantNames(kind).join(', ')} for ${kind}, got ${showValue(variant)}`,
    );
  }
  const specs = paramSpecs(kind);
  for (const name of Object.keys(params)) {
    if (!specs.some((s) => s.name === name)) {
      throw new BadInput(
        `--${name}`,
        `not a parameter of the ${kind} model (it has ${specs.map((s) => s.name).join(', ')})`,
      );
    }
  }
  for (const spec of specs) {
    const value = params[spec.name];
    if (value === undefined) continue;
    if (spec.kind === 'flag') {
      if (typeof value !== 'boolean')
        throw new BadInput(`--${spec.name}`, 'is a flag and takes no value');
      continue;
    }
    if (
      typeof value !== 'number' ||
      !Number.isInteger(value) ||
      value < spec.min ||
      value > spec.max
    ) {
      throw new BadInput(
        `--${spec.name}`,
        `expected an integer from ${spec.min} to ${spec.max}, got ${showValue(value)}`,
      );
    }
  }
  const count = (name: string, fallback: number) =>
    (params[name] as number | undefined) ?? fallback;
  if (kind === 'accounting') {
    const d = DEFAULT_ACCOUNTING_PARAMS;
    const p = {
      vms: count('vms', d.vms),
      events: count('events', d.events),
      rounds: count('rounds', d.rounds),
      exempt: count('exempt', d.exempt),
      strayRelease: params['stray-release'] === true,
    };
    if (p.strayRelease && p.vms !== 1) {
      throw new BadInput(
        '--stray-release',
        `needs exactly one VM thread (--vms 1), got --vms ${p.vms}`,
      );
    }
    if (p.vms + p.events + p.exempt > 30) throw new BadInput('--vms', 'at most 30 threads in all');
    return accountingModel(variant, p);
  }
  if (kind === 'guest-context') {
    const g = DEFAULT_GUEST_CONTEXT_PARAMS;
    return guestContextModel(variant, {
      rounds: count('rounds', g.rounds),
      events: count('events', g.events),
      rotations: count('rotations', g.rotations),
      pmis: count('pmis', g.pmis),
      irqWindow: params['irq-window'] === true,
    });
  }
  const d = DEFAULT_LIFECYCLE_PARAMS;
  const p = {
    vms: count('vms', d.vms),
    vcpus: count('vcpus', d.vcpus),
    events: count('events', d.events),
    rounds: count('rounds', d.rounds),
    noLapic: params['no-lapic'] === true,
  };
  if (p.vms * (p.vcpus + 1) + p.events > 30)
    throw new BadInput('--vcpus', 'at most 30 threads in all');
  return lifecycleModel(variant, p);
}
