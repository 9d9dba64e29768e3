/**
 * Output files (--html, --trace, --json FILE of other commands) are input
 * too: a path that cannot be written is bad input, found before the
 * simulation spends any time, exit 2. What only the write itself can reveal
 * (a full device) is reported the same way when it happens, and a partly
 * written file is removed rather than left behind.
 */
import { accessSync, constants, rmSync, statSync, writeFileSync, type Stats } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { showValue } from '../common/printable.ts';
import { UsageError } from './errors.ts';

/** A file the command reads, and what it is, as a refusal names it ('the input scenario'). */
export interface InputFile {
  readonly path: string;
  readonly is: string;
}

/**
 * Check that `path` can be written: a non-empty name that is not a flag, an
 * existing directory, not itself a directory, writable, and none of
 * `inputs` (a report written over the scenario or cost file it came from
 * would destroy it).
 */
export function checkOutputPath(
  flag: string,
  path: string,
  inputs: readonly InputFile[] = [],
): void {
  if (path.trim() === '') throw new UsageError(`${flag}: expected a file name, got ''`);
  // `--html --json`: commander hands the next word to --html, whatever it is.
  if (path.startsWith('-'))
    throw new UsageError(
      `${flag}: expected a file name, got ${showValue(path)}, a flag (for a file of that name, write ./${path})`,
    );
  const dir = dirname(path);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new UsageError(`${flag}: directory '${dir}' does not exist`);
  }
  if (!dirStat.isDirectory()) throw new UsageError(`${flag}: '${dir}' is not a directory`);
  let existing;
  try {
    existing = statSync(path);
  } catch {
    existing = null;
  }
  if (existing?.isDirectory())
    throw new UsageError(`${flag}: '${path}' is a directory, expected a file name`);
  try {
    accessSync(existing ? path : dir, constants.W_OK);
  } catch {
    throw new UsageError(`${flag}: '${path}' is not writable`);
  }
  if (existing) {
    for (const input of inputs) {
      if (sameFile(input.path, existing))
        throw new UsageError(`${flag}: '${path}' is ${input.is}; refusing to overwrite it`);
    }
  }
}

/**
 * Whether `input` is the file `target` (its stat): the same device and inode,
 * so any spelling of the path, a symbolic link and a hard link are all
 * caught (comparing real paths missed a hard link).
 */
function sameFile(input: string, target: Stats): boolean {
  try {
    const stat = statSync(resolve(input));
    return stat.dev === target.dev && stat.ino === target.ino;
  } catch {
    return false;
  }
}

/** Write an output file; a failure (ENOSPC, EIO...) is bad output, exit 2, with no partial file left. */
export function writeOutputFile(flag: string, path: string, text: string): void {
  try {
    writeFileSync(path, text);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    let isRegular = false;
    try {
      isRegular = statSync(path).isFile();
    } catch {
      // Nothing was created.
    }
    if (isRegular) rmSync(path, { force: true });
    throw new UsageError(`${flag}: cannot write '${path}' (${code})`);
  }
}
