/**
 * readTextFile (src/common/text-file.ts): UTF-8 text from a regular file,
 * or the problem: a byte that is not UTF-8 at its line and column, a
 * directory, a device, a file past its limit.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from './fc.ts';
import { readTextFile } from '../../src/common/text-file.ts';

let dir = '';
before(() => {
  dir = mkdtempSync(join(tmpdir(), 'vpmu-text-file-'));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Bytes that can never start a UTF-8 sequence (RFC 3629, section 4): continuations, C0, C1, F5-FF. */
const NEVER_FIRST = [
  ...Array.from({ length: 0x40 }, (_, i) => 0x80 + i),
  0xc0,
  0xc1,
  ...Array.from({ length: 11 }, (_, i) => 0xf5 + i),
];

describe('readTextFile', () => {
  it('property: UTF-8 text reads back as written', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary' }), (text) => {
        const file = join(dir, 'ok.txt');
        writeFileSync(file, text, 'utf8');
        assert.deepEqual(readTextFile(file, 'text file'), { text });
      }),
      { numRuns: 50 },
    );
  });

  it('property: a byte that starts no UTF-8 sequence is named at its line and column', () => {
    fc.assert(
      fc.property(
        fc.string({ unit: 'binary' }),
        fc.constantFrom(...NEVER_FIRST),
        fc.string({ unit: 'binary' }),
        (before, byte, rest) => {
          const file = join(dir, 'bad.txt');
          writeFileSync(
            file,
            Buffer.concat([
              Buffer.from(before, 'utf8'),
              Buffer.of(byte),
              Buffer.from(rest, 'utf8'),
            ]),
          );
          const lastLine = before.slice(before.lastIndexOf('\n') + 1);
          assert.deepEqual(readTextFile(file, 'text file'), {
            problem: `expected UTF-8 text (got the byte 0x${byte.toString(16)})`,
            line: before.split('\n').length,
            column: lastLine.length + 1,
          });
        },
      ),
      { numRuns: 100 },
    );
  });

  it('a sequence cut short (é in Latin-1, a three-byte sequence at the end) is named by its first byte', () => {
    const latin1 = join(dir, 'latin1.yaml');
    writeFileSync(latin1, Buffer.from('name: t\ndescription: caf\xe9 au lait\n', 'latin1'));
    assert.deepEqual(readTextFile(latin1, 'scenario file'), {
      problem: 'expected UTF-8 text (got the byte 0xe9)',
      line: 2,
      column: 17,
    });
    const cut = join(dir, 'cut.yaml');
    writeFileSync(cut, Buffer.concat([Buffer.from('name: '), Buffer.of(0xe2, 0x82)]));
    assert.deepEqual(readTextFile(cut, 'scenario file'), {
      problem: 'expected UTF-8 text (got the byte 0xe2)',
      line: 1,
      column: 7,
    });
  });

  it('a directory, a device, a missing file, a file past the limit', () => {
    assert.deepEqual(readTextFile(dir, 'shard file'), {
      problem: 'expected a shard file (got a directory)',
    });
    // /dev/zero was read until memory ran out.
    assert.deepEqual(readTextFile('/dev/zero', 'cost file'), {
      problem: 'expected a cost file (got a device or pipe, not a regular file)',
    });
    assert.deepEqual(readTextFile(join(dir, 'nope'), 'cost file'), {
      problem: 'expected a readable cost file (got ENOENT)',
    });
    const big = join(dir, 'big.yaml');
    writeFileSync(big, 'x'.repeat(1024 * 1024 + 1));
    assert.deepEqual(readTextFile(big, 'scenario file', 1024 * 1024), {
      problem: 'expected a scenario file of at most 1 MiB (got 1048577 bytes)',
    });
  });
});
