/**
 * The layering of docs/architecture.md ("Arrows point down only"), checked on
 * every import in src/: static, re-exports and dynamic import() alike, types
 * included ("a lower layer never imports a higher one, not even for a type").
 * A new file that reaches up a layer fails here, naming the import.
 *
 * It also keeps the module graph free of cycles through value imports: a
 * cycle there makes evaluation order matter (a class used before its module
 * has run). Cycles through type-only imports are allowed and listed: they are
 * erased at compile time, and mirror structures that point at each other in
 * the kernel (struct perf_event, perf_event_context and pmu in one header).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { SRC, sourceFiles } from './source-files.ts';

/** What each layer (a folder of src/, or an entry point) may import. */
const MAY_IMPORT: Readonly<Record<string, readonly string[]>> = {
  common: [],
  hw: ['common'],
  perf: ['hw', 'common'],
  kvm: ['perf', 'hw', 'common'],
  guest: ['kvm', 'perf', 'hw', 'common'],
  sim: ['guest', 'kvm', 'perf', 'hw', 'common'],
  report: ['sim', 'guest', 'kvm', 'perf', 'hw', 'common'],
  check: ['kvm', 'perf', 'common'],
  shm: ['check', 'kvm', 'perf', 'common'],
  'index.ts': ['sim', 'check', 'guest', 'kvm', 'perf', 'hw', 'common'],
  'scenarios.ts': ['sim', 'common'],
  cli: ['index.ts', 'report', 'sim', 'check', 'shm', 'guest', 'kvm', 'perf', 'hw', 'common'],
};

/** Type-only cycles, each as its sorted files: erased at compile time (see above). */
const TYPE_ONLY_CYCLES = [
  ['kvm/kvm.ts', 'kvm/vm.ts'],
  ['perf/context.ts', 'perf/event.ts', 'perf/pmu.ts'],
  // The PMU's enumeration (CPUID, x86-pmu-enumerate.ts) and its hardware probe (check_hw_exists).
  ['perf/x86-pmu-check.ts', 'perf/x86-pmu-enumerate.ts'],
];

interface Import {
  from: string;
  to: string;
  typeOnly: boolean;
  line: number;
}

/** Every relative import of a file, with whether it is erased (type-only). */
function importsOf(file: string): Import[] {
  const text = readFileSync(join(SRC, file), 'utf8');
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: Import[] = [];
  const add = (specifier: ts.Expression | undefined, typeOnly: boolean, node: ts.Node) => {
    if (!specifier || !ts.isStringLiteral(specifier) || !specifier.text.startsWith('.')) return;
    const line = source.getLineAndCharacterOfPosition(node.getStart()).line + 1;
    found.push({ from: file, to: normalize(join(dirname(file), specifier.text)), typeOnly, line });
  };
  const visit = (node: ts.Node) => {
    if (ts.isImportDeclaration(node)) {
      const clause = node.importClause;
      const named = clause?.namedBindings;
      const allTypes =
        clause !== undefined &&
        (clause.isTypeOnly ||
          (clause.name === undefined &&
            named !== undefined &&
            ts.isNamedImports(named) &&
            named.elements.length > 0 &&
            named.elements.every((e) => e.isTypeOnly)));
      add(node.moduleSpecifier, allTypes, node);
    } else if (ts.isExportDeclaration(node)) {
      const named = node.exportClause;
      const allTypes =
        node.isTypeOnly ||
        (named !== undefined &&
          ts.isNamedExports(named) &&
          named.elements.length > 0 &&
          named.elements.every((e) => e.isTypeOnly));
      add(node.moduleSpecifier, allTypes, node);
    } else if (ts.isCallExpression(node) && node.expression.kind === ts.SyntaxKind.ImportKeyword) {
      add(node.arguments[0], false, node);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument)) {
      add(node.argument.literal, true, node);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

const layerOf = (file: string) => file.split('/')[0]!;

/** Strongly connected components of more than one file (Tarjan). */
function cycles(files: readonly string[], edges: readonly Import[]): string[][] {
  const next = new Map<string, string[]>(files.map((f) => [f, []]));
  for (const e of edges) next.get(e.from)?.push(e.to);
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  const connect = (v: string) => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    onStack.add(v);
    for (const w of next.get(v) ?? []) {
      if (!next.has(w)) continue;
      if (!index.has(w)) {
        connect(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        component.push(w);
      } while (w !== v);
      if (component.length > 1) found.push(component.sort());
    }
  };
  for (const f of files) if (!index.has(f)) connect(f);
  return found.sort((a, b) => a[0]!.localeCompare(b[0]!));
}

describe('src/ layering (docs/architecture.md)', () => {
  const files = sourceFiles();
  const imports = files.flatMap(importsOf);

  it('reads the imports of every layer', () => {
    assert.ok(files.length >= 100, `only ${files.length} files`);
    for (const layer of Object.keys(MAY_IMPORT))
      assert.ok(
        files.some((f) => f === layer || layerOf(f) === layer),
        `no files in layer ${layer}`,
      );
    assert.ok(imports.some((i) => i.typeOnly) && imports.some((i) => !i.typeOnly));
  });

  it('every layer is one the table knows', () => {
    const unknown = [...new Set(files.map(layerOf))].filter((l) => !(l in MAY_IMPORT));
    assert.deepEqual(unknown, [], 'add the new layer to MAY_IMPORT and docs/architecture.md');
  });

  it('imports point down only, types included', () => {
    const upward = imports
      .filter((i) => layerOf(i.from) !== layerOf(i.to))
      .filter((i) => !(MAY_IMPORT[layerOf(i.from)] ?? []).includes(layerOf(i.to)))
      .map((i) => `src/${i.from}:${i.line} imports src/${i.to}`);
    assert.deepEqual(upward, []);
  });

  it('no cycle through value imports', () => {
    const valueImports = imports.filter((i) => !i.typeOnly);
    assert.deepEqual(cycles(files, valueImports), []);
  });

  it('the type-only cycles are exactly the ones listed', () => {
    assert.deepEqual(cycles(files, imports), TYPE_ONLY_CYCLES);
  });
});
