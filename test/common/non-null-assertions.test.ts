/**
 * noUncheckedIndexedAccess is on (tsconfig.json), so an index the compiler
 * cannot prove in range needs either a check (`item()` of
 * src/common/arrays.ts) or a non-null assertion `x!` with the reason it is in
 * range written down. This keeps the second half of that rule: every `!` in
 * src/ lies inside a class, function or module whose comments state the
 * invariant, in a comment that says "non-null assertion" or quotes `!` (one
 * per class or function group, as src/check/engine.ts has above `Engine`). A new `!`
 * without one fails here, naming its file and line.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';
import { SRC, sourceFiles } from './source-files.ts';

// "non-null assertion" (also across a comment's line break), or `!` quoted in backticks.
const JUSTIFICATION = /non-null[\s*/]+assertion|`[^`\n]*!`/i;

/** The comments of a node: leading comments, and every comment inside it. */
function commentsOf(node: ts.Node, text: string): string[] {
  const found: string[] = [];
  const scan = ts.createScanner(ts.ScriptTarget.Latest, false, ts.LanguageVariant.Standard, text);
  scan.resetTokenState(node.getFullStart());
  const end = node.getEnd();
  for (let kind = scan.scan(); kind !== ts.SyntaxKind.EndOfFileToken; kind = scan.scan()) {
    if (scan.getTokenEnd() > end) break;
    if (
      kind === ts.SyntaxKind.SingleLineCommentTrivia ||
      kind === ts.SyntaxKind.MultiLineCommentTrivia
    ) {
      found.push(scan.getTokenText());
    }
  }
  return found;
}

/** Comments at the top level of a file (between its statements, not inside them). */
function moduleComments(file: ts.SourceFile): string[] {
  const text = file.getFullText();
  return file.statements.flatMap((statement) =>
    (ts.getLeadingCommentRanges(text, statement.getFullStart()) ?? []).map((range) =>
      text.slice(range.pos, range.end),
    ),
  );
}

/** Where a `!` may be justified: its enclosing class, function or method, or the module. */
function isScope(node: ts.Node): boolean {
  return (
    ts.isClassLike(node) ||
    ts.isFunctionDeclaration(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessorDeclaration(node) ||
    ts.isSetAccessorDeclaration(node) ||
    ts.isVariableStatement(node)
  );
}

interface Unjustified {
  file: string;
  line: number;
  text: string;
}

/** Every non-null assertion of a source text that no comment in scope justifies. */
export function unjustifiedAssertions(name: string, text: string): Unjustified[] {
  const file = ts.createSourceFile(name, text, ts.ScriptTarget.Latest, true);
  const moduleJustified = moduleComments(file).some((c) => JUSTIFICATION.test(c));
  const out: Unjustified[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isNonNullExpression(node) && !moduleJustified) {
      let justified = false;
      for (let scope: ts.Node | undefined = node.parent; scope; scope = scope.parent) {
        if (isScope(scope) && commentsOf(scope, text).some((c) => JUSTIFICATION.test(c))) {
          justified = true;
          break;
        }
      }
      if (!justified) {
        const { line } = file.getLineAndCharacterOfPosition(node.getStart());
        out.push({ file: name, line: line + 1, text: node.getText() });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(file);
  return out;
}

describe('non-null assertions in src/ (noUncheckedIndexedAccess)', () => {
  it('finds an unjustified `!` and accepts one under a stated invariant', () => {
    const bare =
      'export class A {\n  xs = [1];\n  f(i: number) {\n    return this.xs[i]!;\n  }\n}\n';
    assert.deepEqual(unjustifiedAssertions('a.ts', bare), [
      { file: 'a.ts', line: 4, text: 'this.xs[i]!' },
    ]);
    const inClass = bare.replace(
      '  xs = [1];',
      '  // Non-null assertions here index xs below its length.\n  xs = [1];',
    );
    assert.deepEqual(unjustifiedAssertions('a.ts', inClass), []);
    const atModule = `// Non-null assertions below index xs below its length.\n${bare}`;
    assert.deepEqual(unjustifiedAssertions('a.ts', atModule), []);
    // A comment in another class does not cover this one.
    const elsewhere = `class B {\n  // Non-null assertions: none here really.\n  y = 1;\n}\n${bare}`;
    assert.equal(unjustifiedAssertions('a.ts', elsewhere).length, 1);
    const quoted = bare.replace(
      '  xs = [1];',
      '  // xs is read with `!` below its length.\n  xs = [1];',
    );
    assert.deepEqual(unjustifiedAssertions('a.ts', quoted), []);
    // `!==` and a logical `!` are not assertions.
    assert.deepEqual(unjustifiedAssertions('b.ts', 'export const t = !(1 !== 2);\n'), []);
  });

  it('every `!` in src/ lies under a comment stating why it is in range', () => {
    const found = sourceFiles().flatMap((file) =>
      unjustifiedAssertions(file, readFileSync(join(SRC, file), 'utf8')),
    );
    assert.deepEqual(
      found.map((u) => `src/${u.file}:${u.line}: ${u.text}`),
      [],
      'each `!` needs item() (src/common/arrays.ts) or a "Non-null assertion" comment in its class, function or module saying why the index is in range',
    );
  });
});
