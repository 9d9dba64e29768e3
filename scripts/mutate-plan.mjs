/**
 * The pure half of scripts/mutate.mjs: which mutants a source file has, and
 * which of them a seeded, per-directory (stratified) sample runs. No file
 * system access here, so it is tested on its own (test/scripts/mutate-plan).
 */

/** The operators: a pattern and what it becomes (one occurrence per mutant). */
export const OPERATORS = [
  { name: '=== -> !==', re: /===/g, to: '!==' },
  { name: '!== -> ===', re: /!==/g, to: '===' },
  { name: '< -> <=', re: /(?<![<=!])<(?![<=])(?=\s)/g, to: '<=' },
  { name: '<= -> <', re: /(?<!<)<=/g, to: '<' },
  { name: '> -> >=', re: /(?<![>=-])>(?![>=])(?=\s)/g, to: '>=' },
  { name: '>= -> >', re: /(?<!>)>=/g, to: '>' },
  { name: '&& -> ||', re: /&&/g, to: '||' },
  { name: '|| -> &&', re: /\|\|/g, to: '&&' },
  { name: '+ 1 -> - 1', re: /\+ 1\b/g, to: '- 1' },
  { name: '- 1 -> + 1', re: /- 1\b/g, to: '+ 1' },
  { name: 'true -> false', re: /\btrue\b/g, to: 'false' },
  { name: 'false -> true', re: /\bfalse\b/g, to: 'true' },
  { name: 'drop !', re: /(?<=\(|\s)!(?=[a-zA-Z_(])/g, to: '' },
];

/** Lines that are code (not comments, imports, or type-only declarations). */
export function isCodeLine(line) {
  const t = line.trim();
  return !(
    t === '' ||
    t.startsWith('//') ||
    t.startsWith('*') ||
    t.startsWith('/*') ||
    t.startsWith('import ') ||
    t.startsWith('export type') ||
    t.startsWith('type ') ||
    t.startsWith('readonly ') ||
    /^[A-Za-z_]\w*\??: /.test(t) // an interface member
  );
}

/**
 * Every mutant of one source file, in line then operator order: its file, its
 * 0-based line and column, the length of the text replaced, and the operator.
 */
export function mutantsOf(file, text) {
  const out = [];
  text.split('\n').forEach((line, i) => {
    if (!isCodeLine(line)) return;
    // Strings and trailing comments are not mutated.
    const code = line
      .replace(/\/\/.*$/, '')
      .replace(/'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`/g, (s) => ' '.repeat(s.length));
    for (const op of OPERATORS) {
      for (const m of code.matchAll(op.re)) {
        out.push({ file, line: i, column: m.index, length: m[0].length, op });
      }
    }
  });
  return out;
}

/** The source line with the mutant applied. */
export function applyMutant(line, m) {
  return line.slice(0, m.column) + m.op.to + line.slice(m.column + m.length);
}

/** A seeded xorshift32 generator of numbers in [0, 1). */
export function random(seed) {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    return (s >>> 0) / 0x100000000;
  };
}

/**
 * A sample of `size` mutants spread over `dirs`: each directory gets an equal
 * share (the remainder to the first ones; a directory with fewer mutants than
 * its share gives the rest to the others), drawn by a seeded Fisher-Yates
 * shuffle of that directory's mutants. Same seed, same sample, in the same
 * order: the directories take turns, so a run stopped early is still spread
 * over all of them. A size of 0 or at least the total means every mutant.
 */
export function stratifiedSample(mutants, dirs, size, seed) {
  if (size <= 0 || size >= mutants.length) return mutants;
  const rnd = random(seed);
  const strata = dirs.map((d) => {
    const inDir = mutants.filter((m) => m.file === d || m.file.startsWith(`${d}/`));
    for (let i = inDir.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [inDir[i], inDir[j]] = [inDir[j], inDir[i]];
    }
    return inDir;
  });
  const share = strata.map(() => 0);
  let left = size;
  while (left > 0) {
    const open = strata.map((s, i) => i).filter((i) => share[i] < strata[i].length);
    if (open.length === 0) break;
    const each = Math.max(1, Math.floor(left / open.length));
    for (const i of open) {
      if (left === 0) break;
      const take = Math.min(each, strata[i].length - share[i], left);
      share[i] += take;
      left -= take;
    }
  }
  const out = [];
  for (let k = 0; k < Math.max(...share); k++)
    strata.forEach((s, i) => {
      if (k < share[i]) out.push(s[k]);
    });
  return out;
}
