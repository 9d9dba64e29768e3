/**
 * The shared words of a stress run, after the protocol's own (shared-executor.ts):
 * ghost holder counts that workers keep around their calls, violation
 * counters, and the start / stop handshake.
 */
import type { Protocol } from '../common/protocol.ts';
import { sharedLayout, type SharedLayout } from './shared-executor.ts';

export interface StressLayout extends SharedLayout {
  /**
   * Ghost holders, packed in one word so that one atomic load is a consistent
   * snapshot of both: threads holding a mediated VM (between create's return
   * and the release call) in the low 16 bits, threads holding an
   * include-guest event in the high 16 bits.
   */
  readonly holders: number;
  /** Times a worker, right after acquiring, saw the other side held. */
  readonly workerViolations: number;
  readonly ready: number;
  readonly go: number;
  readonly stop: number;
}

export function stressLayout(protocol: Protocol): StressLayout {
  const base = sharedLayout(protocol, 5);
  const at = base.negative + 1;
  return {
    ...base,
    holders: at,
    workerViolations: at + 1,
    ready: at + 2,
    go: at + 3,
    stop: at + 4,
  };
}

export const VM_HOLDER = 1;
export const EVENT_HOLDER = 1 << 16;

/** Whether a holders word has both sides held: the invariant broken. */
export function bothHeld(holders: number): boolean {
  return (holders & 0xffff) !== 0 && holders >>> 16 !== 0;
}

/** What a worker does: the operations it picks from. */
export const STRESS_MIXES = ['mixed', 'events', 'vms'] as const;
export type StressMix = (typeof STRESS_MIXES)[number];

export interface WorkerInput {
  variant: string;
  buffer: SharedArrayBuffer;
  seed: number;
  mix: StressMix;
}

/** Per operation: calls that returned 0, calls refused. */
export interface OperationCounts {
  create: number;
  createRefused: number;
  release: number;
  account: number;
  accountRefused: number;
  unaccount: number;
}

/** Every operation's count at zero. */
export function zeroCounts(): OperationCounts {
  return { create: 0, createRefused: 0, release: 0, account: 0, accountRefused: 0, unaccount: 0 };
}

export interface WorkerOutput {
  counts: OperationCounts;
  seconds: number;
}
