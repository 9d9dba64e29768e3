// A worker thread of the run pool (run-pool.ts). Compiled output (a .js
// beside this file) loads directly; from the TypeScript sources, workers
// cannot start from a .ts file under tsx, so register the loader first.
import { existsSync } from 'node:fs';

const compiled = new URL('./run-worker.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('./run-worker.ts');
}
