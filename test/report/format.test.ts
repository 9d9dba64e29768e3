import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  escapeHtml,
  formatCount,
  formatPercent,
  formatRunning,
  formatSignedPercent,
  notCounted,
  round,
} from '../../src/report/format.ts';

test('formatCount: rounded, en_US thousands separators, as perf stat prints', () => {
  assert.equal(formatCount(1_234_567_890), '1,234,567,890');
  assert.equal(formatCount(999.5), '1,000');
  assert.equal(formatCount(0), '0');
  assert.equal(formatCount(Number.NaN), 'n/a');
});

test('formatPercent and formatSignedPercent: two decimals, a sign unless zero', () => {
  assert.equal(formatPercent(6.2149), '6.21%');
  assert.equal(formatSignedPercent(0.0149), '+0.01%');
  assert.equal(formatSignedPercent(-37.5), '-37.50%');
  assert.equal(formatSignedPercent(-0.001), '0.00%');
  assert.equal(formatSignedPercent(Infinity), '+inf%');
  assert.equal(formatSignedPercent(Number.NaN), 'n/a');
});

test('formatRunning: perf stat prints (xx.xx%) only when the event ran less than it was enabled', () => {
  assert.equal(formatRunning(1e9, 0.625e9), '(62.50%)');
  assert.equal(formatRunning(1e9, 1e9), '');
  assert.equal(formatRunning(0, 0), '');
  assert.equal(formatRunning(undefined, 5), '');
  assert.equal(notCounted(1e9, 0), true);
  assert.equal(notCounted(0, 0), false);
});

test('round: decimals, no -0, non-finite kept', () => {
  assert.equal(round(6.054321987, 4), 6.0543);
  assert.equal(round(31.87315, 4), 31.8732);
  assert.ok(Object.is(round(-0.00001, 4), 0));
  assert.equal(round(Infinity, 4), Infinity);
});

test('escapeHtml: the five characters that matter in content and quoted attributes', () => {
  assert.equal(
    escapeHtml(`<script>alert("x" & 'y')</script>`),
    '&lt;script&gt;alert(&quot;x&quot; &amp; &#39;y&#39;)&lt;/script&gt;',
  );
});
