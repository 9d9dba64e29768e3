// Types of mutate-plan.mjs, for the tests that import it.
export interface Operator {
  readonly name: string;
  readonly re: RegExp;
  readonly to: string;
}
export interface Mutant {
  readonly file: string;
  /** 0-based line and column of the replaced text. */
  readonly line: number;
  readonly column: number;
  readonly length: number;
  readonly op: Operator;
}
export declare const OPERATORS: readonly Operator[];
export declare function isCodeLine(line: string): boolean;
export declare function mutantsOf(file: string, text: string): Mutant[];
export declare function applyMutant(line: string, m: Mutant): string;
export declare function random(seed: number): () => number;
export declare function stratifiedSample(
  mutants: readonly Mutant[],
  dirs: readonly string[],
  size: number,
  seed: number,
): Mutant[];
