/**
 * Checked lookups where the model guarantees the entry exists: per-CPU
 * state indexed by a CPU number validated where it came in, counters indexed
 * below their count, a table keyed by a name already checked against it.
 * With noUncheckedIndexedAccess a plain `a[i]` is `T | undefined`;
 * `item(a, i)` is `T`, and a broken guarantee is a RangeError naming the
 * index or key, not an undefined that fails later somewhere else.
 */
export function item<T>(
  table: ArrayLike<T> | Readonly<Partial<Record<string, T>>>,
  key: number | string,
): T {
  const value = (table as Readonly<Record<string | number, T | undefined>>)[key];
  if (value === undefined)
    throw new RangeError(`no entry ${JSON.stringify(key)}: a model invariant broke`);
  return value;
}
