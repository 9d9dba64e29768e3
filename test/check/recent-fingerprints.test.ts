import assert from 'node:assert/strict';
import { test } from 'node:test';
import { RecentFingerprints } from '../../src/check/recent-fingerprints.ts';

test('a fingerprint is seen from its second meeting on, its halves read as 32 bits', () => {
  const recent = new RecentFingerprints(16);
  assert.equal(recent.seen(7, 9), false);
  assert.equal(recent.seen(7, 9), true);
  assert.equal(recent.seen(0xffffffff, 0x80000001), false);
  assert.equal(recent.seen(-1, -0x7fffffff), true);
});

test('direct-mapped: a fingerprint with the same slot (second half mod entries) replaces the one there', () => {
  const recent = new RecentFingerprints(16);
  recent.seen(1, 3);
  assert.equal(recent.seen(2, 3 + 16), false);
  assert.equal(recent.seen(1, 3), false, 'evicted');
  assert.equal(recent.seen(5, 4), false, 'another slot');
  assert.equal(recent.seen(1, 3), true);
  recent.clear();
  assert.equal(recent.seen(1, 3), false);
});
