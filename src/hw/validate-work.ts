/**
 * Checking a block of Work from a caller: every quantity a non-negative safe
 * integer, the CPL 0 or 3. A bad block is refused with one clear message.
 */
import { showValue } from '../common/printable.ts';
import { unknownKey } from '../common/spelling.ts';
import { WORK_KEYS, type Work } from './events.ts';

/** Every field a block of Work may have. */
const WORK_FIELDS: readonly string[] = [...WORK_KEYS, 'cpl'];

/**
 * `extraFields`: what the caller takes beside the Work's own fields
 * (host.exec's `cpu` and `pid`).
 */
export function validateWork(work: Work, where: string, extraFields: readonly string[] = []): void {
  if (work === null || typeof work !== 'object')
    throw new TypeError(`${where}: work must be an object`);
  // Each field read by name, in WORK_KEYS order (the first bad one is
  // reported): this runs for every block a guest retires, and a loop over
  // the key list read the fields by key and allocated an iterator each time.
  checkQuantity(work.instructions, 'instructions', false, where);
  checkQuantity(work.branches, 'branches', true, where);
  checkQuantity(work.cycles, 'cycles', true, where);
  checkQuantity(work.refCycles, 'refCycles', true, where);
  checkQuantity(work.llcReferences, 'llcReferences', true, where);
  checkQuantity(work.llcMisses, 'llcMisses', true, where);
  checkQuantity(work.branchMisses, 'branchMisses', true, where);
  checkQuantity(work.loads, 'loads', true, where);
  checkQuantity(work.stores, 'stores', true, where);
  if (work.cpl !== undefined && work.cpl !== 0 && work.cpl !== 3) {
    throw new RangeError(`${where}: work.cpl must be 0 or 3, got ${showValue(work.cpl)}`);
  }
  // A misspelt quantity ({ instructions: 5, cycle: 3 }) would read as absent
  // and take its default (cycles = instructions) without a word. for-in over
  // a plain object walks V8's enum cache without allocating, and the switch
  // is a few compares: this runs for every block.
  for (const key in work) {
    if (!isWorkField(key) && !extraFields.includes(key)) {
      const problem = unknownKey({ [key]: true }, [...WORK_FIELDS, ...extraFields], 'field');
      throw new TypeError(`${where}: work: ${problem ?? key}`);
    }
  }
}

/**
 * WORK_FIELDS as a switch, on purpose: 27 ns a block against 48 ns for a Set
 * lookup in a micro-benchmark of this function. test/hw/validate-work.test.ts
 * sets every field, which keeps the two lists in step.
 */
function isWorkField(key: string): boolean {
  switch (key) {
    case 'instructions':
    case 'branches':
    case 'cycles':
    case 'refCycles':
    case 'llcReferences':
    case 'llcMisses':
    case 'branchMisses':
    case 'loads':
    case 'stores':
    case 'cpl':
      return true;
    default:
      return false;
  }
}

function checkQuantity(v: unknown, key: string, optional: boolean, where: string): void {
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${where}: work.${key} must be a non-negative integer, got ${String(v)}`);
  }
}
