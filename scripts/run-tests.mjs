#!/usr/bin/env node
// Runs every test file under test/ with the node test runner.
// Node 20's `--test` does not expand globs, so the files are listed here
// explicitly. Extra arguments narrow the run to paths containing them:
//   node scripts/run-tests.mjs perf/ kvm/filter
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';

function findTests(dir) {
  const found = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) found.push(...findTests(path));
    else if (name.endsWith('.test.ts')) found.push(path);
  }
  return found;
}

const filters = process.argv.slice(2);
const files = findTests('test').filter(
  (f) => filters.length === 0 || filters.some((x) => relative('test', f).includes(x)),
);
if (files.length === 0) {
  console.error(`run-tests: no test file matches ${filters.join(' ')}`);
  process.exit(2);
}
// The end-to-end tests run `vpmu` as users do, from the compiled dist/: build
// it first if src/ changed since (bin/vpmu.mjs would otherwise fall back to
// the sources and say so on stderr).
if (files.some((f) => relative('test', f).startsWith(`e2e${sep}`))) {
  const build = spawnSync(process.execPath, ['scripts/build.mjs', '--if-stale'], {
    stdio: 'inherit',
  });
  if (build.status !== 0) process.exit(build.status ?? 1);
}
const result = spawnSync(process.execPath, ['--import', 'tsx', '--test', ...files], {
  stdio: 'inherit',
});
process.exit(result.status ?? 1);
