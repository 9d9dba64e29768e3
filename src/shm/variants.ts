/**
 * The accounting variants stress can run: the explorer's catalogue
 * (upstream, v6 and the mutants), so both executors run the same data.
 */
import { CHECKED_ACCOUNTING_VARIANTS } from '../check/accounting-variants.ts';
import type { AccountingProtocol } from '../perf/mediated-protocol.ts';

/**
 * Mutants whose failure is a hang (a leaked mutex, a busy retry loop a thread
 * runs against its own VM) would stall a stress run: the explorer shows those.
 */
const HANGS = ['leak-mutex-on-refusal', 'retry-instead-of-refusing'];

export const STRESS_VARIANTS = Object.keys(CHECKED_ACCOUNTING_VARIANTS).filter(
  (name) => !HANGS.includes(name),
);

export function accountingVariant(name: string): AccountingProtocol {
  const variant = CHECKED_ACCOUNTING_VARIANTS[name];
  if (!variant || HANGS.includes(name))
    throw new RangeError(
      `not a stress variant: '${name}' (expected one of ${STRESS_VARIANTS.join(', ')})`,
    );
  return variant.protocol;
}
