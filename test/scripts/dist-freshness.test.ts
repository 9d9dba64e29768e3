/**
 * scripts/dist-freshness.mjs decides whether bin/vpmu.mjs runs the compiled
 * dist/ or falls back to the sources, and whether run-tests.mjs rebuilds:
 * dist/ is stale when it was never built, or when a file under src/ or a
 * tsconfig changed after the last build's stamp.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { BUILD_STAMP, distStaleness } from '../../scripts/dist-freshness.mjs';

let root = '';
const T0 = new Date('2026-01-01T00:00:00Z');
const later = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

/** Write `path` under the temporary root with modification time `at`. */
function file(path: string, at: Date): void {
  const full = join(root, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, '');
  utimesSync(full, at, at);
}

before(() => {
  root = mkdtempSync(join(tmpdir(), 'vpmu-freshness-'));
  file('src/index.ts', T0);
  file('src/kvm/vcpu.ts', T0);
  file('tsconfig.json', T0);
  file('tsconfig.build.json', T0);
});

after(() => {
  if (root) rmSync(root, { recursive: true, force: true });
});

test('never built: stale', () => {
  assert.equal(distStaleness(root), 'dist/ has not been built');
});

test('built after every source: fresh', () => {
  file(BUILD_STAMP, later(10));
  assert.equal(distStaleness(root), undefined);
});

test('a source in a subfolder changed after the build: stale, naming it', () => {
  file('src/kvm/vcpu.ts', later(20));
  assert.equal(distStaleness(root), `${join('src', 'kvm', 'vcpu.ts')} is newer than dist/`);
  file(BUILD_STAMP, later(30));
  assert.equal(distStaleness(root), undefined);
});

test('a tsconfig changed after the build: stale', () => {
  file('tsconfig.build.json', later(40));
  assert.equal(distStaleness(root), 'tsconfig.build.json is newer than dist/');
});
