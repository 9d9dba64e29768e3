/**
 * docs/api.md is the contract of src/index.ts: every name the package root
 * exports is documented there, and the page's table of exports lists nothing
 * the root does not export. The names are read from the source of
 * src/index.ts, so a new export without documentation fails here.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import * as api from '../../src/index.ts';

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

/** Backticked names in the first column of the "Exports at a glance" table. */
function tabledNames(page: string): string[] {
  const section = page.split('## Exports at a glance')[1]!.split('\n## ')[0]!;
  const names: string[] = [];
  for (const line of section.split('\n')) {
    const first = /^\|([^|]*)\|/.exec(line)?.[1];
    if (!first) continue;
    for (const m of first.matchAll(/`([A-Za-z_$][\w$]*)`/g)) names.push(m[1]!);
  }
  return names;
}

describe('docs/api.md against src/index.ts', () => {
  const index = read('src/index.ts');
  const page = read('docs/api.md');
  const exported = exportedNames(index);

  it('reads the exports (a value export it finds is a real runtime export)', () => {
    assert.ok(exported.length >= 30, `only ${exported.length} exports read`);
    for (const value of ['createHost', 'encodeMaskedEntry', 'MSR', 'ERRNO', 'PerfError'])
      assert.ok(exported.includes(value) && value in api, value);
  });

  it('every export is named in the table of exports', () => {
    const tabled = new Set(tabledNames(page));
    assert.deepEqual(
      exported.filter((name) => !tabled.has(name)),
      [],
    );
  });

  it('the table names nothing that is not exported', () => {
    const names = new Set(exported);
    assert.deepEqual(
      tabledNames(page).filter((name) => !names.has(name)),
      [],
    );
  });

  it('every runtime export of the package root is in the table', () => {
    const tabled = new Set(tabledNames(page));
    assert.deepEqual(
      Object.keys(api).filter((name) => !tabled.has(name)),
      [],
    );
  });
});
