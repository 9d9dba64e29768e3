/**
 * Simulator speed against a baseline commit, side by side on this machine
 * (issue 9 section 5): the baseline tree is extracted with `git archive` into
 * a temporary directory (sharing this checkout's node_modules), and each
 * scenario runs in both trees, alternately, in processes of their own. The
 * ratio is wall seconds per simulated design-second, baseline over current;
 * the overheads of both runs are compared too (the same seed must give the
 * same figures unless a named fidelity fix changed them).
 *   node --import tsx bench/speed.ts [--baseline COMMIT] [--duration S] [--repeat N]
 *     [--scenarios a,b,...]
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const arg = (name: string, fallback: string) => {
  const i = process.argv.indexOf(name);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : fallback;
};
const BASELINE = arg('--baseline', 'd25ad7a');
const DURATION = arg('--duration', '5');
const REPEAT = Number(arg('--repeat', '1'));
const SCENARIOS = arg('--scenarios', 'specint-sampling,specint-multiplex,fio-exits').split(',');

interface Timing {
  wall: number;
  designSeconds: number;
  overhead: Record<string, number>;
}

function timed(tree: string, scenario: string): Timing {
  const result = spawnSync(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'bench/speed-run.ts'), tree, scenario, DURATION],
    { cwd: ROOT, encoding: 'utf8' },
  );
  if (result.status !== 0) throw new Error(`${tree} ${scenario}: ${result.stderr}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as Timing;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const baseline = mkdtempSync(join(tmpdir(), 'vpmu-baseline-'));
try {
  execFileSync('sh', ['-c', `git -C "${ROOT}" archive ${BASELINE} | tar -x -C "${baseline}"`]);
  symlinkSync(join(ROOT, 'node_modules'), join(baseline, 'node_modules'));
  const head = execFileSync('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD'], {
    encoding: 'utf8',
  }).trim();
  console.log(
    `\n== simulator speed: ${BASELINE} (baseline) against this tree (${head}), ${DURATION} simulated s per design, median of ${REPEAT} ==`,
  );
  console.log(
    'scenario             baseline s/design-s  current s/design-s   speed-up  same overheads',
  );
  const ratios: number[] = [];
  for (const scenario of SCENARIOS) {
    const old: Timing[] = [];
    const now: Timing[] = [];
    for (let k = 0; k < REPEAT; k++) {
      // Alternate, so load on the machine falls on both trees alike.
      old.push(timed(baseline, scenario));
      now.push(timed(ROOT, scenario));
    }
    const perOld = median(old.map((t) => t.wall / t.designSeconds));
    const perNow = median(now.map((t) => t.wall / t.designSeconds));
    const same = JSON.stringify(old[0]!.overhead) === JSON.stringify(now[0]!.overhead);
    ratios.push(perOld / perNow);
    console.log(
      `${scenario.padEnd(20)} ${perOld.toFixed(3).padStart(19)} ${perNow.toFixed(3).padStart(19)} ${`${(perOld / perNow).toFixed(2)}x`.padStart(10)}  ${same ? 'yes' : `no: ${JSON.stringify(old[0]!.overhead)} -> ${JSON.stringify(now[0]!.overhead)}`}`,
    );
  }
  const geomean = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length);
  console.log(`speed-up, geometric mean: ${geomean.toFixed(2)}x (target: 3x)`);
} finally {
  rmSync(baseline, { recursive: true, force: true });
}
