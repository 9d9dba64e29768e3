/**
 * The files of a job array put together: whether they are the n shards of
 * one job, each once. Shared by the merge of --samples shards
 * (uncertainty-shards.ts) and of --sweep shards (report/sweep-shards.ts).
 */
import { item } from '../common/item.js';

/** How a message names the i-th shard file: its path, or its position. */
export function shardName(names: readonly string[], i: number): string {
  return names[i] ?? `shard file ${i + 1}`;
}

export interface ShardOf {
  shard: { index: number; count: number };
}

/**
 * The position in `files` of shard 1, 2, ..., n, after checking that every
 * file is a shard of the same count and of the same job (`identity` gives a key;
 * null when a file cannot tell, as a shard that was given nothing to run),
 * and that each shard is there exactly once. Throws an Error naming the file
 * (from `names`); `job` is the kind of job ('run', 'sweep') and `differs`
 * what can differ between two of them.
 */
export function shardPositions<T extends ShardOf>(
  files: readonly T[],
  names: readonly string[],
  identity: (file: T) => string | null,
  job: string,
  differs: string,
): number[] {
  // A JavaScript caller may pass anything: say so before reading it as shards.
  const given: unknown = files;
  if (!Array.isArray(given))
    throw new Error(
      `expected a list of shard files (got ${given === null ? 'null' : typeof given})`,
    );
  if (files.length === 0) throw new Error('no shard files');
  files.forEach((f, i) => {
    const shard = (f as Partial<ShardOf> | null)?.shard;
    if (typeof shard?.index !== 'number' || typeof shard.count !== 'number')
      throw new Error(`${shardName(names, i)}: expected a shard read with shardFromText`);
  });
  const name = (i: number) => shardName(names, i);
  const count = item(files, 0).shard.count;
  const reference = files.findIndex((f) => identity(f) !== null);
  const byIndex = new Map<number, number>();
  files.forEach((f, i) => {
    if (f.shard.count !== count)
      throw new Error(
        `${name(i)}: shard ${f.shard.index}/${f.shard.count}, but ${name(0)} is of ${count}`,
      );
    const key = identity(f);
    if (key !== null && key !== identity(item(files, reference)))
      throw new Error(
        `${name(i)}: a shard of another ${job} (${differs} differ from ${name(reference)})`,
      );
    const other = byIndex.get(f.shard.index);
    if (other !== undefined)
      throw new Error(`${name(i)}: shard ${f.shard.index}/${count} again (also ${name(other)})`);
    byIndex.set(f.shard.index, i);
  });
  const ordered = Array.from({ length: count }, (_, k) => byIndex.get(k + 1));
  const missing = ordered.flatMap((i, k) => (i === undefined ? [k + 1] : []));
  if (missing.length > 0)
    throw new Error(
      `missing shard${missing.length > 1 ? 's' : ''} ${missing.map((k) => `${k}/${count}`).join(', ')}`,
    );
  return ordered.filter((i) => i !== undefined);
}
