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
