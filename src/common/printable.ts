/**
 * Text from a user's file (a scenario's description, a value it got wrong)
 * is shown on a terminal with its control characters escaped: an ESC in a
 * description must not recolour, clear or retitle the user's terminal.
 * C0 controls (but for newline and tab), DEL and C1 controls become \xNN.
 */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f]/g, (ch) => {
    return `\\x${ch.charCodeAt(0).toString(16).padStart(2, '0')}`;
  });
}

/** A found value as a message shows it after "got": 'spec', 3, true, a list, nothing. */
export function showValue(value: unknown): string {
  if (value === undefined) return 'nothing';
  if (value === null) return 'null';
  if (typeof value === 'string') {
    const s = value.length > 40 ? `${value.slice(0, 37)}...` : value;
    return `'${printable(s.replace(/\n/g, '\\n'))}'`;
  }
  if (typeof value === 'bigint') return `0x${value.toString(16)}`;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (Array.isArray(value)) return value.length === 0 ? 'an empty list' : 'a list';
  if (typeof value === 'object') return 'a mapping';
  return typeof value;
}

/** An error line longer than this is shortened in its middle (see abbreviateLines). */
export const MAX_ERROR_LINE = 400;

/**
 * Text for an error message with every line at most `max` characters: a
 * longer line (a 100,000-character name or path the user gave) keeps its
 * beginning (where: file, line, field) and its end (what was expected and
 * what was found), and says how much was left out between them.
 */
export function abbreviateLines(text: string, max = MAX_ERROR_LINE): string {
  return text
    .split('\n')
    .map((line) => {
      if (line.length <= max) return line;
      // A third for the beginning, two for the end: the place is short, while
      // "expected ..." can list every choice (the built-in scenarios, say).
      const head = Math.floor((max - 40) / 3);
      const tail = max - 40 - head;
      const omitted = line.length - head - tail;
      return `${line.slice(0, head)} [... ${omitted} characters ...] ${line.slice(-tail)}`;
    })
    .join('\n');
}
