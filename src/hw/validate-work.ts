/**
 * Checking a block of Work from a caller: every quantity a non-negative safe
 * integer, the CPL 0 or 3. A bad block is refused with one clear message.
 */
import type { Work } from './events.ts';

export function validateWork(work: Work, where: string): void {
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
    throw new RangeError(`${where}: work.cpl must be 0 or 3, got ${String(work.cpl)}`);
  }
}

function checkQuantity(v: unknown, key: string, optional: boolean, where: string): void {
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw new RangeError(`${where}: work.${key} must be a non-negative integer, got ${String(v)}`);
  }
}
