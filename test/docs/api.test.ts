/**
 * docs/api.md is the contract of the package's two entry points, src/index.ts
 * ('vpmu') and src/scenarios.ts ('vpmu/scenarios'): every name each exports
 * is documented in its table there, and each table lists nothing its entry
 * point does not export. The names are read from the sources, so a new export
 * without documentation fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as api from '../../src/index.ts';
import * as scenarios from '../../src/scenarios.ts';

const read = (path: string) => readFileSync(new URL(`../../${path}`, import.meta.url), 'utf8');

/** Names exported by `export { a, type B, ... } from '...'` and `export type { ... }` statements. */
function exportedNames(source: string): string[] {
  const names: string[] = [];
  for (const m of source.matchAll(/export\s+(?:type\s+)?\{([^}]*)\}/g)) {
    for (const part of m[1]!.split(',')) {
      const name = part
        .trim()
        .replace(/^type\s+/, '')
        .split(/\s+as\s+/)
        .pop()!
        .trim();
      if (name !== '') names.push(name);
    }
  }
  return names;
}

/** Backticked names in the first column of the table under the heading `heading`. */
function tabledNames(page: string, heading: string): string[] {
  const parts = page.split(`\n## ${heading}\n`);
  assert.equal(parts.length, 2, `docs/api.md has one section '## ${heading}'`);
  const section = parts[1]!.split('\n## ')[0]!;
  const names: string[] = [];
  for (const line of section.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1];
    if (!first) continue;
    for (const m of first.matchAll(/`([A-Za-z_$][\w$]*)`/g)) names.push(m[1]!);
  }
  return names;
}

const ENTRY_POINTS = [
  { source: 'src/index.ts', heading: 'Exports at a glance', module: api as object },
  {
    source: 'src/scenarios.ts',
    heading: 'Exports of vpmu/scenarios',
    module: scenarios as object,
  },
] as const;

for (const { source, heading, module } of ENTRY_POINTS) {
  describe(`docs/api.md ('${heading}') against ${source}`, () => {
    const page = read('docs/api.md');
    const exported = exportedNames(read(source));
    const tabled = tabledNames(page, heading);

    it('reads the exports (each name it finds that is a value is a real runtime export)', () => {
      assert.ok(exported.length >= 8, `only ${exported.length} exports read`);
      const runtime = Object.keys(module);
      assert.ok(runtime.length >= 5, `only ${runtime.length} runtime exports`);
      for (const name of runtime) assert.ok(exported.includes(name), name);
    });

    it('every export is named in the table of exports', () => {
      const names = new Set(tabled);
      assert.deepEqual(
        exported.filter((name) => !names.has(name)),
        [],
      );
    });

    it('the table names nothing that is not exported', () => {
      const names = new Set(exported);
      assert.deepEqual(
        tabled.filter((name) => !names.has(name)),
        [],
      );
    });
  });
}

describe('the package root', () => {
  it('exports the names the README tour and the e2e consumer use', () => {
    for (const value of ['createHost', 'encodeMaskedEntry', 'MSR', 'ERRNO', 'PerfError'])
      assert.ok(value in api, value);
  });

  it('keeps the scenario loaders out of the root (they load YAML and zod)', () => {
    for (const name of Object.keys(scenarios)) assert.ok(!(name in api), name);
  });
});
