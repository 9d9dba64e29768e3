/**
 * The text files vpmu reads (scenarios, cost files, merge's shards): a
 * regular file, not larger than its limit, in UTF-8. Node's 'utf8' decoding
 * turns a byte that is not UTF-8 into U+FFFD without a word, so a Latin-1
 * file would be read as something else than what it says; and a device
 * (/dev/zero) would be read until memory runs out. Each is a problem with,
 * for a bad byte, its line and column.
 */
import { isUtf8 } from 'node:buffer';
import { readFileSync, statSync } from 'node:fs';

/** The text of a file, or why it cannot be read (`line`/`column` 1-based, where a bad byte is). */
export type TextFile =
  | { readonly text: string }
  | { readonly problem: string; readonly line?: number; readonly column?: number };

/**
 * Read `path` as UTF-8 text; `what` names what it should be in a problem
 * ('scenario file'), `maxBytes` bounds its size (checked before reading).
 */
export function readTextFile(path: string, what: string, maxBytes = Infinity): TextFile {
  let stat;
  try {
    stat = statSync(path);
  } catch (error) {
    return { problem: `expected a readable ${what} (got ${errnoCode(error)})` };
  }
  if (stat.isDirectory()) return { problem: `expected a ${what} (got a directory)` };
  if (!stat.isFile())
    return { problem: `expected a ${what} (got a device or pipe, not a regular file)` };
  if (stat.size > maxBytes)
    return {
      problem: `expected a ${what} of at most ${sizeText(maxBytes)} (got ${stat.size} bytes)`,
    };
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    return { problem: `expected a readable ${what} (got ${errnoCode(error)})` };
  }
  if (isUtf8(bytes)) return { text: bytes.toString('utf8') };
  const bad = firstBadByte(bytes);
  return {
    problem: `expected UTF-8 text (got the byte 0x${bad.byte.toString(16).padStart(2, '0')})`,
    line: bad.line,
    column: bad.column,
  };
}

const errnoCode = (error: unknown): string =>
  (error as NodeJS.ErrnoException).code ?? String(error);

const sizeText = (bytes: number): string =>
  bytes % (1024 * 1024) === 0 ? `${bytes / (1024 * 1024)} MiB` : `${bytes} bytes`;

/**
 * Where UTF-8 decoding of `bytes` (known to be invalid) first fails: the
 * byte that starts the broken sequence, and its line and column in
 * characters, as a YAML position counts. The decoder is fed a byte at a
 * time; a sequence's bytes decode to nothing until it is whole.
 */
function firstBadByte(bytes: Uint8Array): { byte: number; line: number; column: number } {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  let column = 1;
  /** Where the sequence being decoded began. */
  let start = 0;
  // Non-null assertions: bytes[start] is in range, as `start` is at most the
  // index of the byte that failed, or of a byte of the unfinished sequence at
  // the end, and `bytes` is known not to decode, so it is not empty.
  for (let i = 0; i < bytes.length; i++) {
    let decoded: string;
    try {
      decoded = decoder.decode(bytes.subarray(i, i + 1), { stream: true });
    } catch {
      return { byte: bytes[start]!, line, column };
    }
    if (decoded === '') continue;
    start = i + 1;
    for (const ch of decoded) {
      if (ch === '\n') {
        line++;
        column = 1;
      } else column += ch.length;
    }
  }
  // A sequence cut off by the end of the file.
  return { byte: bytes[start]!, line, column };
}
