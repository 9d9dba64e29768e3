/**
 * The YAML files vpmu reads (scenarios, calibration files) are read and
 * parsed the same way: a file that cannot be read or is not UTF-8
 * (src/common/text-file.ts), YAML that does not parse, a key that names
 * JavaScript's object internals, or an empty document is a ScenarioError with its file:line:column, before any schema sees the data.
 * YAML's warnings are errors-only, so none leaks as '(node:PID) Warning'.
 */
import { readTextFile } from '../common/text-file.ts';
import { MAX_INPUT_FILE_BYTES } from './run-limits.ts';
import { LineCounter, parseDocument, type Document } from 'yaml';
import { ScenarioError, unsafeKeyProblems } from './scenario-errors.ts';

/** The text of `path`; `shown` names it in messages, `what` says what it should be. */
export function readInputFile(path: string, shown: string, what: string): string {
  const file = readTextFile(path, what, MAX_INPUT_FILE_BYTES);
  if ('text' in file) return file.text;
  const { problem: message, line = 0, column = 0 } = file;
  throw new ScenarioError([{ file: shown, line, column, path: line > 0 ? '(text)' : '', message }]);
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
    // The overflow unwinds through several of the parser's frames, each
    // adding an error: one line says it.
    const overflow = doc.errors.findIndex((e) => yamlMessage(e.message) === TOO_DEEP);
    const errors =
      overflow < 0
        ? doc.errors
        : doc.errors.filter((e, i) => i === overflow || yamlMessage(e.message) !== TOO_DEEP);
    throw new ScenarioError(
      errors.map((e) => {
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

const TOO_DEEP =
  'expected valid YAML: nesting too deep for the parser (a scenario is a few levels deep)';

function yamlMessage(message: string): string {
  // The parser recurses per level: thousands of nested [ or { overflow its
  // stack, which is the file's nesting, not a fault of the parser.
  if (/maximum call stack size exceeded/i.test(message)) return TOO_DEEP;
  const first = (message.split('\n')[0] ?? '').replace(/ at line \d+, column \d+:?$/, '');
  return `expected valid YAML: ${first.charAt(0).toLowerCase()}${first.slice(1)}`;
}
