/**
 * Checking a block of Work from a caller: every quantity a non-negative safe
 * integer, the CPL 0 or 3. A bad block is refused with one clear message.
 */
import { WORK_KEYS, type Work } from './events.ts';

export function validateWork(work: Work, where: string): void {
  if (work === null || typeof work !== 'object')
    throw new TypeError(`${where}: work must be an object`);
  for (const key of WORK_KEYS) {
    const v = work[key];
    if (v === undefined && key !== 'instructions') continue;
    if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
      throw new RangeError(
        `${where}: work.${key} must be a non-negative integer, got ${String(v)}`,
      );
    }
  }
  if (work.cpl !== undefined && work.cpl !== 0 && work.cpl !== 3) {
    throw new RangeError(`${where}: work.cpl must be 0 or 3, got ${String(work.cpl)}`);
  }
}
