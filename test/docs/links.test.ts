/**
 * The repository is self-contained: no tracked file refers to a file outside
 * it (the team's briefing directory beside the checkout, or a path on the
 * machine the project was developed on), every `docs/<page>.md` any file
 * names exists, and every relative Markdown link in a tracked .md file points
 * at a file that exists, and at a heading that exists when it has an anchor.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, normalize } from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';

const ROOT = normalize(join(dirname(fileURLToPath(import.meta.url)), '..', '..'));

/** Spelled in pieces so that this file does not match itself. */
const OUTSIDE = [
  {
    what: 'the briefing directory beside the checkout',
    re: new RegExp(['\\.\\.', 'shared'].join('/')),
  },
  { what: 'a machine path', re: new RegExp('(?<![\\w.-])' + ['', 'work', ''].join('/')) },
];

function trackedFiles(): string[] {
  const out = execFileSync('git', ['ls-files', '-z'], { cwd: ROOT, encoding: 'utf8' });
  return out.split('\0').filter((f) => f !== '' && existsSync(join(ROOT, f)));
}

/** Text content, or null for a binary file. */
function readText(file: string): string | null {
  const buf = readFileSync(join(ROOT, file));
  return buf.includes(0) ? null : buf.toString('utf8');
}

interface Finding {
  line: number;
  text: string;
}

/** Lines of `text` that refer outside the repository. */
function outsideReferences(text: string): Finding[] {
  const found: Finding[] = [];
  text.split('\n').forEach((line, i) => {
    for (const o of OUTSIDE) {
      if (o.re.test(line)) found.push({ line: i + 1, text: `${o.what}: ${line.trim()}` });
    }
  });
  return found;
}

/** `docs/<name>.md` mentioned anywhere in `text`. */
function docsPagesNamed(text: string): Finding[] {
  const found: Finding[] = [];
  text.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(/(?<![\w./-])docs\/([\w.-]+\.md)\b/g))
      found.push({ line: i + 1, text: m[1]! });
  });
  return found;
}

/** The lines of `text` outside fenced code blocks, each with its 0-based index. */
function proseLines(text: string): [string, number][] {
  const lines: [string, number][] = [];
  let fenced = false;
  text.split('\n').forEach((line, i) => {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    else if (!fenced) lines.push([line, i]);
  });
  return lines;
}

/** Relative Markdown link targets of `text` (inline links and images), outside code. */
function relativeLinks(text: string): Finding[] {
  const found: Finding[] = [];
  proseLines(text).forEach(([line, i]) => {
    const prose = line.replace(/`[^`]*`/g, '');
    for (const m of prose.matchAll(/!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
      const target = m[1]!;
      if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:, ...
      found.push({ line: i + 1, text: target });
    }
  });
  return found;
}

/** Repository paths (src/..., test/..., ...) named in the prose of `text`, outside fenced code. */
function repositoryPathsNamed(text: string): Finding[] {
  const found: Finding[] = [];
  proseLines(text).forEach(([line, i]) => {
    for (const m of line.matchAll(
      /(?<![\w./-])((?:src|test|bench|scripts|examples|scenarios|bin)\/[\w./-]+\.(?:ts|mjs|yaml|pml|md))\b/g,
    ))
      found.push({ line: i + 1, text: m[1]! });
  });
  return found;
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to '-'. */
function headingSlug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, '')
    .replace(/\s/g, '-');
}

function anchorsOf(markdown: string): Set<string> {
  const anchors = new Set<string>();
  const seen = new Map<string, number>();
  let fenced = false;
  for (const line of markdown.split('\n')) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    if (fenced) continue;
    const m = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const slug = headingSlug(m[1]!);
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    anchors.add(n === 0 ? slug : `${slug}-${n}`);
  }
  return anchors;
}

/** Problems with one relative link from `fromFile` (repository-relative), or null. */
function brokenLink(fromFile: string, target: string, root = ROOT): string | null {
  const [path, anchor] = target.split('#', 2) as [string, string | undefined];
  const resolved = path === '' ? fromFile : normalize(join(dirname(fromFile), decodeURI(path)));
  if (resolved.startsWith('..')) return `${target} leaves the repository`;
  const abs = join(root, resolved);
  if (!existsSync(abs)) return `${target}: ${resolved} does not exist`;
  if (anchor && resolved.endsWith('.md')) {
    if (!anchorsOf(readFileSync(abs, 'utf8')).has(anchor))
      return `${target}: ${resolved} has no heading #${anchor}`;
  }
  return null;
}

/** A docs page path spelled in pieces, so that samples of missing pages do not trip the real check. */
const page = (name: string) => ['docs', name].join('/');

describe('the checkers themselves', () => {
  it('find references outside the repository', () => {
    const sample = [
      'see ' + ['..', 'shared', 'API.md'].join('/'),
      'ok',
      ['', 'work', 'main'].join('/'),
    ];
    assert.deepEqual(
      outsideReferences(sample.join('\n')).map((f) => f.line),
      [1, 3],
    );
    assert.deepEqual(outsideReferences('docs/api.md and src/work/x.ts'), []);
  });

  it('find docs pages named in code and prose', () => {
    assert.deepEqual(
      docsPagesNamed(` * (docs/mediated-vpmu.md 3.1), test/${page('x.md')}, [a](docs/api.md)`).map(
        (f) => f.text,
      ),
      ['mediated-vpmu.md', 'api.md'],
    );
  });

  it('find relative links, not URLs or code', () => {
    const md = [
      `[a](${page('x.md')}) [b](https://example.com) ![c](img.png "t")`,
      '`[d](in-code.md)` [e](#anchor)',
      '```',
      '[f](fenced.md)',
      '```',
    ].join('\n');
    assert.deepEqual(
      relativeLinks(md).map((f) => f.text),
      [page('x.md'), 'img.png', '#anchor'],
    );
  });

  it('find repository paths in prose, not in fenced examples', () => {
    const md = [
      '`src/kvm/vm.ts` and test/docs/links.test.ts;',
      '```',
      'scenarios/x.yaml:1:1: ...',
      '```',
    ];
    assert.deepEqual(
      repositoryPathsNamed(md.join('\n')).map((f) => f.text),
      ['src/kvm/vm.ts', 'test/docs/links.test.ts'],
    );
  });

  it('report a missing file, a missing heading, and a link out of the repository', () => {
    assert.match(brokenLink('README.md', page('no-such-page.md'))!, /does not exist/);
    assert.match(brokenLink('README.md', 'docs/api.md#no-such-heading')!, /no heading/);
    assert.match(brokenLink('docs/api.md', '../../elsewhere.md')!, /leaves the repository/);
    assert.equal(brokenLink('docs/api.md', 'x86-pmu.md#1-enumeration'), null);
  });

  it('slug headings as GitHub does', () => {
    assert.equal(headingSlug('Benchmark (`npm run bench`)'), 'benchmark-npm-run-bench');
    assert.equal(
      headingSlug('3.1 The accounting, and its invariant'),
      '31-the-accounting-and-its-invariant',
    );
  });
});

describe('the repository is self-contained', () => {
  const files = trackedFiles().map((f) => ({ file: f, text: readText(f) }));

  it('lists the files it checks', () => {
    assert.ok(files.some((f) => f.file === 'README.md'));
    assert.ok(files.some((f) => f.file === 'src/index.ts'));
  });

  it('no tracked file refers outside the repository', () => {
    const problems = files.flatMap(({ file, text }) =>
      text === null ? [] : outsideReferences(text).map((f) => `${file}:${f.line}: ${f.text}`),
    );
    assert.deepEqual(problems, []);
  });

  it('every docs/<page>.md that a tracked file names exists', () => {
    const problems = files.flatMap(({ file, text }) =>
      text === null
        ? []
        : docsPagesNamed(text)
            .filter((f) => !existsSync(join(ROOT, 'docs', f.text)))
            .map((f) => `${file}:${f.line}: docs/${f.text} does not exist`),
    );
    assert.deepEqual(problems, []);
  });

  it('every source, test or script file that README.md or docs/ names exists', () => {
    const problems = files
      .filter(
        ({ file, text }) => (file === 'README.md' || file.startsWith('docs/')) && text !== null,
      )
      .flatMap(({ file, text }) =>
        repositoryPathsNamed(text!)
          .filter((f) => !existsSync(join(ROOT, f.text)))
          .map((f) => `${file}:${f.line}: ${f.text} does not exist`),
      );
    assert.deepEqual(problems, []);
  });

  it('every relative link in README.md and docs/ (and any tracked .md) resolves', () => {
    const problems = files
      .filter(({ file, text }) => file.endsWith('.md') && text !== null)
      .flatMap(({ file, text }) =>
        relativeLinks(text!).flatMap((f) => {
          const broken = brokenLink(file, f.text);
          return broken ? [`${file}:${f.line}: ${broken}`] : [];
        }),
      );
    assert.deepEqual(problems, []);
  });
});
