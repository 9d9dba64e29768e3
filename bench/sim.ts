/**
 * Simulator performance: for each built-in scenario, simulated cycles and
 * VM-exits (with their world switch) per wall second, and peak memory; then
 * the 10-simulated-second specint-sampling run the README quotes.
 * Targets (issue 5): >= 1,000,000 simulated VM-exits per wall second, and a
 * 10 s specint-sampling run in under 5 wall seconds with under 200 MB RSS.
 */
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { listBuiltinScenarios, loadScenario } from '../src/sim/scenario.ts';
import { scenarioToInput } from '../src/sim/from-scenario.ts';
import { simulate } from '../src/sim/simulator.ts';

interface Row {
  scenario: string;
  simulatedSeconds: number;
  wallSeconds: number;
  cyclesPerWallSecond: number;
  exitsPerWallSecond: number;
  peakRssMb: number;
}

export function measure(name: string, duration?: number): Row {
  const input = scenarioToInput(loadScenario(name).scenario);
  let peak = process.memoryUsage().rss;
  const started = performance.now();
  const report = simulate(input, {
    ...(duration !== undefined ? { duration } : {}),
    progress: () => {
      peak = Math.max(peak, process.memoryUsage().rss);
    },
  });
  const wall = (performance.now() - started) / 1000;
  peak = Math.max(peak, process.memoryUsage().rss);
  const cycles = report.results.reduce((s, r) => s + r.elapsedCycles, 0);
  const exits = report.results.reduce((s, r) => s + r.totalExits, 0);
  return {
    scenario: name,
    simulatedSeconds: report.duration * report.results.length,
    wallSeconds: wall,
    cyclesPerWallSecond: cycles / wall,
    exitsPerWallSecond: exits / wall,
    peakRssMb: peak / 2 ** 20,
  };
}

export const fmt = (n: number, digits = 0) =>
  n.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });

if (process.argv[1] === fileURLToPath(import.meta.url)) builtins();

function builtins(): void {
  console.log('\n== simulator: built-in scenarios (each design simulated in turn) ==');
  // Warm up the JIT on a short run first, as a long run would be.
  simulate(scenarioToInput(loadScenario('specint-sampling').scenario), { duration: 0.05 });
  const rows = listBuiltinScenarios().map((s) => measure(s.name));
  console.log(
    'scenario             sim s  wall s   sim cycles/wall s   exits/wall s   peak RSS MB',
  );
  for (const r of rows) {
    console.log(
      `${r.scenario.padEnd(20)} ${fmt(r.simulatedSeconds, 2).padStart(5)} ${fmt(r.wallSeconds, 2).padStart(7)} ${fmt(r.cyclesPerWallSecond).padStart(19)} ${fmt(r.exitsPerWallSecond).padStart(14)} ${fmt(r.peakRssMb, 1).padStart(13)}`,
    );
  }
}
