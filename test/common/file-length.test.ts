/**
 * No file in src/ over 750 lines: a file holds one concept, and one that
 * grows past this has taken in a second (split it, in a commit of its own,
 * before adding to it). The test names each file over the limit.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const MAX_LINES = 750;

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

it(`no file in src/ is over ${MAX_LINES} lines`, () => {
  const files = sourceFiles(SRC);
  assert.ok(files.length > 50, `found only ${files.length} source files under ${SRC}`);
  const over = files
    .map((path) => ({
      file: relative(SRC, path),
      lines: readFileSync(path, 'utf8').split('\n').length - 1,
    }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `src/${f.file}: ${f.lines} lines`);
  assert.deepEqual(over, []);
});
