/**
 * Array operations for hot paths, where the allocation a built-in makes on
 * the side is measurable (docs/performance.md).
 */

/** Array.prototype.splice(i, 1) without the array of removed elements it returns. */
// The non-null assertion reads array[k] for k < array.length: a hole-free array's element.
export function removeAt<T>(array: T[], i: number): void {
  if (i >= array.length) return; // as splice: nothing there to remove
  for (let k = i + 1; k < array.length; k++) array[k - 1] = array[k]!;
  array.pop(); // the last element, now copied one place down (pop is cheaper than setting length)
}
