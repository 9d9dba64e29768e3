import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { LOAD, SharedFingerprintTable } from '../../src/check/shared-fingerprint-table.ts';

// Fingerprints whose first word is non-zero and second word odd are stored as
// they are (the table keeps 63 bits: see shared-fingerprint-table.ts).
const storable = fc.tuple(
  fc.integer({ min: 1, max: 0xffffffff }).map((h) => h | 0),
  fc.integer({ min: 0, max: 0x7fffffff }).map((l) => (2 * l + 1) | 0),
);

test('add says "new" exactly once per fingerprint, whatever the order', () => {
  fc.assert(
    fc.property(fc.array(storable, { maxLength: 400 }), (fingerprints) => {
      const table = new SharedFingerprintTable(1024);
      const seen = new Set<string>();
      for (const [hi, lo] of fingerprints) {
        const key = `${hi}:${lo}`;
        assert.equal(table.add(hi, lo), !seen.has(key), key);
        seen.add(key);
      }
    }),
  );
});

test('two fingerprints that share a slot stay distinct by their second word', () => {
  const table = new SharedFingerprintTable(1024);
  for (let lo = 1; lo <= 11; lo += 2) assert.equal(table.add(7, lo), true);
  assert.equal(table.add(7 + table.capacity, 1), true);
  for (let lo = 1; lo <= 11; lo += 2) assert.equal(table.add(7, lo), false);
});

test('the 63-bit mapping: a zero first word and the low bit of the second are not kept', () => {
  const table = new SharedFingerprintTable(1024);
  assert.equal(table.add(0, 5), true);
  // 0 stands in for 0x9e3779b9 (the empty-slot marker cannot be stored) ...
  assert.equal(table.add(0x9e3779b9 | 0, 5), false);
  // ... and the second word is kept with its low bit set.
  assert.equal(table.add(3, 4), true);
  assert.equal(table.add(3, 5), false);
});

test('rehashInto: stripes copied by separate callers make one larger table with every fingerprint', () => {
  fc.assert(
    fc.property(
      fc.uniqueArray(storable, { maxLength: 700, selector: ([h, l]) => `${h}:${l}` }),
      fc.integer({ min: 1, max: 5 }),
      (fingerprints, parts) => {
        const small = new SharedFingerprintTable(1024);
        for (const [hi, lo] of fingerprints) small.add(hi, lo);
        const bigger = new SharedFingerprintTable(4096);
        for (let part = 0; part < parts; part++) small.rehashInto(bigger, part, parts);
        // A fresh view of the buffer, without the cache of the thread that filled it.
        const view = new SharedFingerprintTable(bigger.buffer);
        for (const [hi, lo] of fingerprints) assert.equal(view.add(hi, lo), false);
        assert.equal(
          view.add(1, 0x7fffffff),
          !fingerprints.some(([h, l]) => h === 1 && l === 0x7fffffff),
        );
      },
    ),
  );
});

test('another thread sees what one stored: the table lives in the shared buffer', () => {
  const a = new SharedFingerprintTable(1024);
  const b = new SharedFingerprintTable(a.buffer);
  assert.equal(a.add(11, 13), true);
  assert.equal(b.add(11, 13), false);
  assert.equal(b.add(13, 11), true);
  assert.equal(a.add(13, 11), false);
  assert.equal(b.capacity, a.capacity);
});

test('forStates sizes a table for its states at LOAD, in a power of two', () => {
  for (const states of [1, 1000, 100_000]) {
    const table = SharedFingerprintTable.forStates(states);
    assert.ok(table.capacity * LOAD >= states);
    assert.equal(table.capacity & (table.capacity - 1), 0);
  }
});

test('a half given unsigned is the same fingerprint as given signed (the hand-over seeds with unsigned halves)', () => {
  const a = new SharedFingerprintTable(1024);
  assert.equal(a.add(-1, 3), true);
  // Another thread, without the first one's cache: the slot itself must match.
  const b = new SharedFingerprintTable(a.buffer);
  assert.equal(b.add(0xffffffff, 3), false);
  assert.equal(b.add(0x80000000, 0xfffffffd), true);
  assert.equal(new SharedFingerprintTable(a.buffer).add(-0x80000000, -3), false);
});
