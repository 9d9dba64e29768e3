#!/usr/bin/env node
// The `vpmu` command: the compiled CLI in dist/ (`npm run build`; `prepare`
// builds it on `npm install` in a checkout, on an install from git and on
// `npm pack`). In a checkout (src/ is here) whose dist/ is missing or older
// than src/, it runs the TypeScript sources through tsx instead and says so
// on stderr, so an edit is never silently ignored; `npm run build` makes it
// start at full speed again.
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = new URL('../', import.meta.url);
let stale;
if (existsSync(new URL('src/cli/main.ts', root))) {
  const { distStaleness } = await import(new URL('scripts/dist-freshness.mjs', root).href);
  stale = distStaleness(fileURLToPath(root));
}
if (stale === undefined) {
  await import('../dist/cli/main.js');
} else {
  process.stderr.write(`vpmu: ${stale}: running src/ through tsx (npm run build compiles it)\n`);
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}
