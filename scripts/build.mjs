#!/usr/bin/env node
// `npm run build` (and `prepare`, so `npm install` in a checkout, an install
// from git and `npm pack` all build): compiles src/ to ESM JavaScript and
// declaration files in dist/ (tsconfig.build.json; incremental), removes
// compiled files whose source is gone, and stamps dist/.built.
//   node scripts/build.mjs             build
//   node scripts/build.mjs --if-stale  build only when src/ changed since the last build
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { BUILD_STAMP, distStaleness } from './dist-freshness.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

if (process.argv.includes('--if-stale')) {
  const stale = distStaleness(ROOT);
  if (stale === undefined) process.exit(0);
  console.error(`build: ${stale}; compiling`);
}

/** Whether each src/X.ts has its dist/X.js (tsc --incremental trusts its build info, not the disk). */
function everyOutputPresent(dir) {
  for (const entry of readdirSync(join(ROOT, 'src', dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!everyOutputPresent(path)) return false;
    } else if (
      entry.name.endsWith('.ts') &&
      !existsSync(join(ROOT, 'dist', path.replace(/\.ts$/, '.js')))
    ) {
      return false;
    }
  }
  return true;
}
if (!everyOutputPresent('')) rmSync(join(ROOT, 'dist', '.tsbuildinfo'), { force: true });

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
const result = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], {
  cwd: ROOT,
  stdio: 'inherit',
});
if (result.status !== 0) process.exit(result.status ?? 1);

/** Remove dist/X.js and dist/X.d.ts whose src/X.ts no longer exists (a renamed or deleted file). */
function pruneOrphans(dir) {
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      pruneOrphans(path);
      if (readdirSync(path).length === 0) rmSync(path, { recursive: true });
      continue;
    }
    const m = /^(.*)\.(d\.ts|js)$/.exec(entry.name);
    if (!m) continue;
    const source = join(ROOT, 'src', relative(join(ROOT, 'dist'), dir), `${m[1]}.ts`);
    if (!existsSync(source)) rmSync(path);
  }
}
pruneOrphans(join(ROOT, 'dist'));
writeFileSync(join(ROOT, BUILD_STAMP), `${new Date().toISOString()}\n`);
