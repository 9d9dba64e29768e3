// Whether dist/ (the compiled library and CLI) is older than the sources it
// is built from. scripts/build.mjs writes dist/.built after each successful
// build; any file under src/, or a tsconfig, changed since makes it stale.
// Used by bin/vpmu.mjs (in a checkout only), scripts/build.mjs --if-stale and
// scripts/run-tests.mjs.
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

/** The stamp scripts/build.mjs writes once tsc has emitted everything. */
export const BUILD_STAMP = join('dist', '.built');

function newestFile(dir, root) {
  let newest = { path: '', mtimeMs: 0 };
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const found = entry.isDirectory()
      ? newestFile(path, root)
      : { path, mtimeMs: statSync(join(root, path)).mtimeMs };
    if (found.mtimeMs > newest.mtimeMs) newest = found;
  }
  return newest;
}

/**
 * Why dist/ under `root` does not reflect the sources, or undefined when it
 * does: never built, or a source newer than the last build.
 */
export function distStaleness(root) {
  let built;
  try {
    built = statSync(join(root, BUILD_STAMP)).mtimeMs;
  } catch {
    return 'dist/ has not been built';
  }
  const sources = [newestFile('src', root)];
  for (const config of ['tsconfig.json', 'tsconfig.build.json']) {
    sources.push({ path: config, mtimeMs: statSync(join(root, config)).mtimeMs });
  }
  const newest = sources.reduce((a, b) => (b.mtimeMs > a.mtimeMs ? b : a));
  return newest.mtimeMs > built ? `${newest.path} is newer than dist/` : undefined;
}
