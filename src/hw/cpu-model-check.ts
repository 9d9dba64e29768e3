/**
 * The CPU model a caller names or gives (createHost's `cpu`): a preset by
 * name, or a CpuModel of one's own, checked field by
 * field before a CPU is built from it: a null model was read as "reading
 * 'vendor' of null", a negative counter count as "Invalid array length", a
 * missing one as "NaN counters", and a counter 100 bits wide was taken as
 * given (the counter MSRs are 64 bits). The upper bound on counters is the
 * counter bank's (hw/counter-bank.ts), which refuses it as the CPU is built.
 */
import { showValue } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';
import { CPU_MODEL_NAMES, CPU_MODELS, type CpuModel, type CpuModelName } from './cpu-models.ts';

type Rule = (value: unknown) => string | undefined;

const whole =
  (min: number, max: number, optional = false): Rule =>
  (v) =>
    (optional && v === undefined) ||
    (Number.isSafeInteger(v) && (v as number) >= min && (v as number) <= max)
      ? undefined
      : `expected a whole number from ${min} to ${max}`;
const flag =
  (optional = false): Rule =>
  (v) =>
    (optional && v === undefined) || typeof v === 'boolean' ? undefined : 'expected true or false';
const U32 = 2 ** 32 - 1;

const RULES: Record<keyof CpuModel, Rule> = {
  name: (v) => (typeof v === 'string' ? undefined : 'expected a string'),
  vendor: (v) => (v === 'intel' || v === 'amd' ? undefined : "expected 'intel' or 'amd'"),
  pmuVersion: whole(0, 255),
  gpCounters: whole(0, U32),
  fixedCounters: whole(0, U32),
  gpWidth: whole(1, 64),
  fixedWidth: whole(0, 64),
  fullWidthWrites: flag(),
  perfMonV2: flag(),
  perfCtrExtCore: flag(),
  unavailableEvents: whole(0, U32),
  eventsLength: whole(0, 255),
  fixedCounterMask: whole(0, U32),
  perfCapabilities: (v) =>
    typeof v === 'bigint' && v >= 0n && v < 1n << 64n
      ? undefined
      : 'expected a bigint in [0, 2^64)',
  topdownSlotsPerCycle: (v) =>
    typeof v === 'number' && Number.isFinite(v) && v >= 0
      ? undefined
      : 'expected a number of at least 0',
  tscHz: (v) =>
    typeof v === 'number' && Number.isFinite(v) && v > 0
      ? undefined
      : 'expected a frequency in Hz above 0',
  vmExitSavesGlobalCtrl: flag(true),
  cpuidSignature: whole(0, U32, true),
  tsx: flag(true),
  tsxCtrl: flag(true),
  taaNo: flag(true),
};

/** Throws a TypeError (not an object, an unknown field) or RangeError naming `cpu.FIELD`. */
export function checkCpuModel(model: unknown): asserts model is CpuModel {
  if (model === null || typeof model !== 'object' || Array.isArray(model))
    throw new TypeError(
      `cpu: expected a CPU model name or a CpuModel object, got ${showValue(model)}`,
    );
  const unknown = unknownKey(model, Object.keys(RULES), 'CpuModel field');
  if (unknown !== undefined) throw new TypeError(`cpu: ${unknown}`);
  for (const [field, rule] of Object.entries(RULES)) {
    const value = (model as Record<string, unknown>)[field];
    const problem = rule(value);
    if (problem !== undefined)
      throw new RangeError(`cpu.${field}: ${problem}, got ${showValue(value)}`);
  }
}

/** Resolve a preset name or a custom model; throws RangeError on an unknown name. */
export function resolveCpuModel(model: CpuModelName | CpuModel | undefined): CpuModel {
  if (model === undefined) return CPU_MODELS['intel-sapphire-rapids'];
  if (typeof model === 'string') {
    const found = (CPU_MODELS as Record<string, CpuModel>)[model];
    if (!found) {
      throw new RangeError(
        `unknown CPU model '${model}' (expected one of: ${CPU_MODEL_NAMES.join(', ')})`,
      );
    }
    return found;
  }
  checkCpuModel(model);
  return model;
}
