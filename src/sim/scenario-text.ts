/**
 * How scenario messages write a path ("did you mean" suggestions: closest in
 * common/spelling.ts; how a found value is shown: showValue in
 * common/printable.ts).
 */

/** A path as the messages write it: guests[0].workload.kind; '(top level)' for the root. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const seg of path) {
    if (typeof seg === 'number') out += `[${seg}]`;
    else {
      const key = String(seg);
      out += /^[A-Za-z_][\w-]*$/.test(key) ? `${out ? '.' : ''}${key}` : `[${JSON.stringify(key)}]`;
    }
  }
  return out || '(top level)';
}
