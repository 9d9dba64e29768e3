/**
 * One timed simulation of a source tree, for bench/speed.ts: imports the
 * tree's own modules, runs a built-in scenario for the given simulated
 * seconds after a short warm-up, and prints one JSON line (wall seconds,
 * simulated design-seconds, each design's overhead).
 *   node --import tsx bench/speed-run.ts TREE SCENARIO SECONDS
 */
import { performance } from 'node:perf_hooks';
import { pathToFileURL } from 'node:url';

const [tree, scenario, seconds] = process.argv.slice(2) as [string, string, string];
// The tree may be another commit's: its modules are typed here by what this script uses.
const module = async <T>(path: string): Promise<T> =>
  (await import(pathToFileURL(`${tree}/${path}`).href)) as T;
const { loadScenario } = await module<{ loadScenario: (name: string) => { scenario: unknown } }>(
  'src/sim/scenario.ts',
);
const { scenarioToInput } = await module<{ scenarioToInput: (scenario: unknown) => unknown }>(
  'src/sim/from-scenario.ts',
);
const { simulate } = await module<{
  simulate: (input: unknown, options: { duration: number }) => unknown;
}>('src/sim/simulator.ts');
const input = scenarioToInput(loadScenario(scenario).scenario);
simulate(input, { duration: 0.05 });
const started = performance.now();
const report = simulate(input, { duration: Number(seconds) }) as {
  duration: number;
  results: { design: string; overheadPercent: number; totalExits: number }[];
};
const wall = (performance.now() - started) / 1000;
console.log(
  JSON.stringify({
    wall,
    designSeconds: report.duration * report.results.length,
    overhead: Object.fromEntries(report.results.map((r) => [r.design, r.overheadPercent])),
  }),
);
