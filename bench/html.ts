/**
 * The HTML report's rendering time (vega-lite -> vega -> SVG, inlined), on a
 * three-guest report with a 500-point timeline: the time a user waits after
 * the simulation for `--html`. Was a timed assertion in the tests; timing
 * belongs here, where a loaded machine makes a slow figure, not a failure.
 */
import { renderHtml } from '../src/report/html.ts';
import { reportFixture } from '../test/report/fixtures.ts';

const report = reportFixture({ guests: ['vm0', 'vm1', 'vm2'], timeline: 500 });
await renderHtml(report); // warm the modules
const times: number[] = [];
for (let i = 0; i < 5; i++) {
  const start = performance.now();
  await renderHtml(report);
  times.push(performance.now() - start);
}
times.sort((a, b) => a - b);
console.log('\nHTML report (3 guests, 500-point timeline), median of 5');
console.log(`  render ${times[2]!.toFixed(0)} ms (fastest ${times[0]!.toFixed(0)} ms)`);
