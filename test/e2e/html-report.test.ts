/**
 * The HTML report in a real browser (Debian's Chromium through
 * playwright-core): every chart draws, nothing is logged as an error, nothing
 * is loaded from anywhere. Without /usr/bin/chromium this fails in CI
 * (process.env.CI; .ci/run installs it) and is skipped elsewhere.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { Browser } from 'playwright-core';
import { renderHtml, renderSweepHtml } from '../../src/report/html.ts';
import { reportFixture, sweepFixture } from '../report/fixtures.ts';
import { checkChartsRender, chromiumMissing, launchChromium } from './browser.ts';

const missing = chromiumMissing();
const skip = missing !== undefined && !process.env.CI ? `skipped: ${missing}` : false;

describe('the HTML report in Chromium', { skip, timeout: 180_000 }, () => {
  let browser: Browser;
  let dir: string;

  before(async () => {
    if (missing) throw new Error(`${missing}; CI needs it (.ci/run installs it before npm test)`);
    dir = mkdtempSync(join(tmpdir(), 'vpmu-html-'));
    browser = await launchChromium();
  });

  after(async () => {
    await browser?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  function write(name: string, html: string): string {
    const path = join(dir, name);
    writeFileSync(path, html);
    return path;
  }

  test('a run report: four charts, each an SVG with drawn marks; no console or page error', async () => {
    const path = write('report.html', await renderHtml(reportFixture({ refusal: true })));
    const result = await checkChartsRender(path, browser);
    assert.deepEqual(result, { charts: 4, errors: [] });
  });

  test('a report with hostile text from the scenario file still renders cleanly', async () => {
    const report = reportFixture({
      scenario: '</title><script>alert(1)</script>',
      description: '<img src=x onerror="console.error(1)">',
      guests: ['vm<0>', 'vm&1'],
    });
    const result = await checkChartsRender(
      write('hostile.html', await renderHtml(report)),
      browser,
    );
    assert.deepEqual(result, { charts: 4, errors: [] });
  });

  test('a sweep report: the sweep chart draws', async () => {
    const path = write('sweep.html', await renderSweepHtml(sweepFixture()));
    assert.deepEqual(await checkChartsRender(path, browser), { charts: 1, errors: [] });
  });

  test('empty data: notes instead of charts, and still no error', async () => {
    const report = reportFixture({ noGuestEvents: true, timeline: 0 });
    const result = await checkChartsRender(write('empty.html', await renderHtml(report)), browser);
    assert.deepEqual(result, { charts: 2, errors: [] });
  });

  test('the checker itself: it reports a figure without marks, console and page errors, and outside loads', async () => {
    const path = write(
      'broken.html',
      `<!doctype html><html><body>
<figure data-chart="no-svg"><p>nothing</p></figure>
<figure data-chart="empty"><svg width="100" height="50"><g class="mark-rect role-mark"></g></svg></figure>
<figure data-chart="fine"><svg width="100" height="50"><g class="mark-rect role-mark"><rect width="10" height="10"/></g></svg></figure>
<img src="http://127.0.0.1:9/x.png">
<script>console.error('boom'); throw new Error('bang');</script>
</body></html>`,
    );
    const result = await checkChartsRender(path, browser);
    assert.equal(result.charts, 3);
    const text = result.errors.join('\n');
    assert.match(text, /figure\[data-chart=no-svg\] has no <svg>/);
    assert.match(
      text,
      /figure\[data-chart=empty\]: no mark element with a non-empty box \(0 marks\)/,
    );
    assert.doesNotMatch(text, /data-chart=fine/);
    assert.match(text, /console error: boom/);
    assert.match(text, /page error: bang/);
    assert.match(text, /the page loaded http:\/\/127\.0\.0\.1:9\/x\.png/);
  });
});

test(
  'checkChartsRender launches its own browser when given none',
  {
    skip: missing !== undefined && !process.env.CI ? `skipped: ${missing}` : false,
    timeout: 120_000,
  },
  async () => {
    if (missing) assert.fail(`${missing}; CI needs it (.ci/run installs it before npm test)`);
    const dir = mkdtempSync(join(tmpdir(), 'vpmu-html-'));
    try {
      const path = join(dir, 'report.html');
      writeFileSync(path, await renderHtml(reportFixture()));
      assert.deepEqual(await checkChartsRender(path), { charts: 4, errors: [] });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
