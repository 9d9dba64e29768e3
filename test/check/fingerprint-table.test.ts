import assert from 'node:assert/strict';
import { test } from 'node:test';
import fc from 'fast-check';
import { FingerprintTable } from '../../src/check/fingerprint-table.ts';

test('add reports new fingerprints once, has finds them', () => {
  const table = new FingerprintTable(16);
  assert.equal(table.add(1, 2), true);
  assert.equal(table.add(1, 2), false);
  assert.equal(table.has(1, 2), true);
  assert.equal(table.has(2, 1), false);
  assert.equal(table.size, 1);
});

test('fingerprints that share a slot (same hi) stay distinct by lo', () => {
  const table = new FingerprintTable(16);
  for (let lo = 1; lo <= 6; lo++) assert.equal(table.add(7, lo), true);
  for (let lo = 1; lo <= 6; lo++) assert.equal(table.has(7, lo), true);
  assert.equal(table.has(7, 7), false);
  // Same slot index, different hi: 7 and 7 + capacity collide in the slot, not in the fingerprint.
  assert.equal(table.add(7 + table.capacity, 1), true);
  assert.equal(table.size, 7);
});

test('(0, 0), the empty-slot marker, is still a storable fingerprint', () => {
  const table = new FingerprintTable(16);
  assert.equal(table.add(0, 0), true);
  assert.equal(table.add(0, 0), false);
  assert.equal(table.has(0, 0), true);
});

test('the table doubles past half full and keeps every fingerprint', () => {
  const table = new FingerprintTable(16);
  const before = table.capacity;
  for (let i = 0; i < 1000; i++) table.add(Math.imul(i, 0x9e3779b1), i);
  assert.ok(table.capacity > before);
  assert.ok(table.size * 2 <= table.capacity);
  for (let i = 0; i < 1000; i++) assert.equal(table.has(Math.imul(i, 0x9e3779b1), i), true);
  assert.equal(table.size, 1000);
});

test('behaves as a set of (hi, lo) pairs', () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 3 })), {
        maxLength: 300,
      }),
      (pairs) => {
        const table = new FingerprintTable(16);
        const reference = new Set<string>();
        for (const [hi, lo] of pairs) {
          const key = `${hi},${lo}`;
          assert.equal(table.add(hi, lo), !reference.has(key));
          reference.add(key);
        }
        assert.equal(table.size, reference.size);
      },
    ),
  );
});

test('clear() forgets every fingerprint, including the recently added ones', () => {
  const table = new FingerprintTable(16);
  for (let i = 1; i <= 20; i++) assert.equal(table.add(i, i * 3), true);
  table.clear();
  assert.equal(table.size, 0);
  for (let i = 1; i <= 20; i++) {
    assert.equal(table.has(i, i * 3), false);
    assert.equal(table.add(i, i * 3), true);
  }
});
