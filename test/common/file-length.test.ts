/**
 * No file in src/ over 750 lines: a file holds one concept, and one that
 * grows past this has taken in a second (split it, in a commit of its own,
 * before adding to it). The test names each file over the limit.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { it } from 'node:test';
import { SRC, sourceFiles } from './source-files.ts';

const MAX_LINES = 750;

it(`no file in src/ is over ${MAX_LINES} lines`, () => {
  const files = sourceFiles();
  assert.ok(files.length > 50, `found only ${files.length} source files under ${SRC}`);
  const over = files
    .map((file) => ({ file, lines: readFileSync(join(SRC, file), 'utf8').split('\n').length - 1 }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `src/${f.file}: ${f.lines} lines`);
  assert.deepEqual(over, []);
});
