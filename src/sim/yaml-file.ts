/**
 * The YAML files vpmu reads (scenarios, calibration files) are read and
 * parsed the same way: a file that cannot be read, YAML that does not parse,
 * a key that names JavaScript's object internals, or an empty document is a
 * ScenarioError with its file:line:column, before any schema sees the data.
 * YAML's warnings are errors-only, so none leaks as '(node:PID) Warning'.
 */
import { readFileSync, statSync } from 'node:fs';
import { MAX_INPUT_FILE_BYTES } from './run-limits.ts';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ScenarioError, unsafeKeyProblems } from './scenario-errors.ts';

/** The text of `path`; `shown` names it in messages, `what` says what it should be. */
export function readInputFile(path: string, shown: string, what: string): string {
  const refuse = (message: string) =>
    new ScenarioError([{ file: shown, line: 0, column: 0, path: '', message }]);
  let size = 0;
  try {
    size = statSync(path).size;
  } catch {
    // Not there, or not readable: readFileSync below says which.
  }
  if (size > MAX_INPUT_FILE_BYTES)
    throw refuse(`expected a ${what} of at most 1 MiB (got ${size} bytes)`);
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? String(error);
    throw refuse(`expected a readable ${what} (got ${reason})`);
  }
}

export interface YamlFile {
  readonly doc: Document;
  readonly lines: LineCounter;
  /** The document as plain data (never undefined: an empty document is refused). */
  readonly data: unknown;
}

/** Parse YAML text; `expected` says what an empty file should have held. Throws ScenarioError. */
export function parseYamlFile(text: string, file: string, expected: string): YamlFile {
  // From JavaScript, a Buffer or nothing at all: a programming error, named as such.
  if (typeof text !== 'string')
    throw new TypeError(`${file}: expected the text of ${expected} (a string), got ${typeof text}`);
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: true,
    logLevel: 'error',
  });
  if (doc.errors.length > 0) {
    throw new ScenarioError(
      doc.errors.map((e) => {
        const pos = lines.linePos(e.pos[0]);
        return {
          file,
          line: pos.line,
          column: pos.col,
          path: '(yaml)',
          message: yamlMessage(e.message),
        };
      }),
    );
  }
  const unsafe = unsafeKeyProblems(doc, lines, file);
  if (unsafe.length > 0) throw new ScenarioError(unsafe);
  if (doc.contents === null) {
    throw new ScenarioError([
      {
        file,
        line: 1,
        column: 1,
        path: '(top level)',
        message: `expected ${expected} (got an empty file)`,
      },
    ]);
  }
  let data: unknown;
  try {
    data = doc.toJS({ maxAliasCount: 100 });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new ScenarioError([
      { file, line: 1, column: 1, path: '(yaml)', message: yamlMessage(message) },
    ]);
  }
  return { doc, lines, data };
}

function yamlMessage(message: string): string {
  const first = (message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  return `expected valid YAML: ${first.charAt(0).toLowerCase()}${first.slice(1)}`;
}
