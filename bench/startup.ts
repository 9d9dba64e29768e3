/**
 * CLI start-up: wall time of `vpmu --version`, `vpmu --help` and
 * `vpmu scenarios` (bin/vpmu.mjs running the compiled dist/, as an installed
 * package does), beside `node -e 0`, the floor any Node program pays. The
 * target (issue 10 §3) is under 0.3 s each on a 2-core machine; the figures
 * are the median and the fastest of RUNS starts of each, after two warm-up
 * rounds.
 */
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../', import.meta.url));
const BIN = fileURLToPath(new URL('../bin/vpmu.mjs', import.meta.url));
const RUNS = 15;

const COMMANDS: [string, string[]][] = [
  ['node -e 0', ['-e', '0']],
  ['vpmu --version', [BIN, '--version']],
  ['vpmu --help', [BIN, '--help']],
  ['vpmu scenarios', [BIN, 'scenarios']],
];

function start(args: string[]): number {
  const begun = performance.now();
  const r = spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });
  const ms = performance.now() - begun;
  if (r.status !== 0) throw new Error(`node ${args.join(' ')} exited ${r.status}: ${r.stderr}`);
  // bin/vpmu.mjs says so when it falls back to the sources: that is not start-up from dist/.
  if (r.stderr.includes('through tsx')) throw new Error(`dist/ is stale: ${r.stderr.trim()}`);
  return ms;
}

function main(): void {
  // The compiled CLI is what is measured: bring dist/ up to date first.
  const build = spawnSync(process.execPath, ['scripts/build.mjs', '--if-stale'], {
    cwd: ROOT,
    stdio: 'inherit',
  });
  if (build.status !== 0) process.exit(build.status ?? 1);

  console.log(`\n== CLI start-up: wall ms over ${RUNS} starts each (target: under 300 ms) ==`);
  // Round-robin, two warm-up rounds first: a change in the machine's load
  // (other processes) then weighs on every command alike.
  const times: number[][] = COMMANDS.map(() => []);
  for (let round = -2; round < RUNS; round++) {
    COMMANDS.forEach(([, args], k) => {
      const ms = start(args);
      if (round >= 0) times[k]!.push(ms);
    });
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const floor = median(times[0]!);
  console.log('command              median   fastest   median over node -e 0');
  COMMANDS.forEach(([name], k) => {
    const m = median(times[k]!);
    const over = k === 0 ? '' : `${m >= floor ? '+' : ''}${(m - floor).toFixed(0)}`;
    console.log(
      `${name.padEnd(18)} ${m.toFixed(0).padStart(8)} ${Math.min(...times[k]!)
        .toFixed(0)
        .padStart(9)}   ${over.padStart(21)}`,
    );
  });
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
