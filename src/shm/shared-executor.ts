/**
 * The third executor of protocol data (src/common/protocol.ts): operations
 * run on real threads over a SharedArrayBuffer. Every shared step is one
 * Atomics operation (sequentially consistent), atomic_inc_not_zero is a
 * compare-and-swap loop as in the kernel, and mutexes are futex-style
 * (futex-mutex.ts).
 */
import { StepKind, type Operation, type Protocol } from '../common/protocol.ts';
import { mutexLock, mutexUnlock } from './futex-mutex.ts';

/** Where things live in the shared Int32Array. */
export interface SharedLayout {
  readonly cells: number;
  readonly mutexes: number;
  /** One WARN_ON_ONCE hit counter per site. */
  readonly warnings: number;
  /** Times a counter was seen going below zero. */
  readonly negative: number;
  readonly words: number;
}

export function sharedLayout(protocol: Protocol, extra: number): SharedLayout {
  const cells = 0;
  const mutexes = cells + protocol.cells.length;
  const warnings = mutexes + protocol.mutexes.length;
  const negative = warnings + protocol.warnSites.length;
  return { cells, mutexes, warnings, negative, words: negative + 1 + extra };
}

/** atomic_inc_not_zero(): the kernel's atomic_add_unless(v, 1, 0), a cmpxchg loop. */
export function atomicIncNotZero(memory: Int32Array, index: number): boolean {
  let old = Atomics.load(memory, index);
  for (;;) {
    if (old === 0) return false;
    const seen = Atomics.compareExchange(memory, index, old, old + 1);
    if (seen === old) return true;
    old = seen;
  }
}

/** Runs one operation to its return on this thread; returns 0 or -errno. */
export function runShared(op: Operation, memory: Int32Array, layout: SharedLayout): number {
  const steps = op.steps;
  let pc = 0;
  for (;;) {
    // Non-null assertion: pc is 0, a jump target (OperationBuilder.build()
    // resolves a label only to a step before the end) or the successor of a
    // step that is not the last (the operation ends in a return or a jump).
    const step = steps[pc]!;
    const k: StepKind = step.kind;
    const cell = layout.cells + step.cell;
    if (k === StepKind.IncNotZero) pc = atomicIncNotZero(memory, cell) ? step.target : pc + 1;
    else if (k === StepKind.JumpIfNonZero)
      pc = Atomics.load(memory, cell) !== 0 ? step.target : pc + 1;
    else if (k === StepKind.JumpIfZero)
      pc = Atomics.load(memory, cell) === 0 ? step.target : pc + 1;
    else if (k === StepKind.Inc) {
      Atomics.add(memory, cell, 1);
      pc++;
    } else if (k === StepKind.Dec) {
      if (Atomics.sub(memory, cell, 1) - 1 < 0) Atomics.add(memory, layout.negative, 1);
      pc++;
    } else if (k === StepKind.DecJumpIfNegative) {
      if (Atomics.sub(memory, cell, 1) - 1 < 0) {
        Atomics.add(memory, layout.negative, 1);
        pc = step.target;
      } else pc++;
    } else if (k === StepKind.Store) {
      Atomics.store(memory, cell, step.value);
      pc++;
    } else if (k === StepKind.Lock) {
      mutexLock(memory, layout.mutexes + step.cell);
      pc++;
    } else if (k === StepKind.Unlock) {
      mutexUnlock(memory, layout.mutexes + step.cell);
      pc++;
    } else if (k === StepKind.WarnOnce) {
      Atomics.add(memory, layout.warnings + step.value, 1);
      pc++;
    } else if (k === StepKind.Return) return step.value;
    else pc = step.target; // Jump
  }
}
