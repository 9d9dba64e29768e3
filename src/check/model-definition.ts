/**
 * A model the explorer checks: threads, each a fixed program of protocol
 * calls, over one protocol's shared cells and mutexes.
 *
 * The protocol (src/perf/, src/kvm/) says what each call does; the model says
 * who calls what, in which order, and which calls make a thread a *holder*
 * of a mediated VM or of an include-guest event (ghost state: the kernel keeps
 * no such record, the checker does, to state the invariant of
 * docs/mediated-vpmu.md section 3.1).
 */
import { StepKind, type Operation, type Protocol } from '../common/protocol.ts';
import type { PropertyName } from './properties.ts';

/** The two sides of the accounting: a VM's mediated PMU, an include-guest event. */
export const enum Side {
  MediatedVm = 0,
  IncludeGuestEvent = 1,
}

/**
 * Who holds what a successful call acquired.
 *  - 'thread': the calling thread (accounting: a VM thread holds its mediated
 *    PMU from create's return until it calls release);
 *  - a number: a model-wide holder slot (VM lifecycle: the *VM* holds its
 *    mediated PMU, created by whichever vCPU came first, released by destroy).
 */
export type Holder = 'thread' | number;

/** Where, inside one call, the ghost state changes. Step indices of the call's operation. */
export interface GhostPoints {
  readonly side: Side;
  readonly holder: Holder;
  /** Executing one of these steps means the acquisition succeeded (a `return 0`). */
  readonly acquiredAt: readonly number[];
  /** Executing one of these steps means it was refused (`return -EBUSY` / `-EOPNOTSUPP`). */
  readonly refusedAt: readonly number[];
  /** Executing one of these steps ends the holding (the release was called). */
  readonly releasedAt: readonly number[];
}

export interface Call {
  /** The protocol operation called. */
  readonly op: Operation;
  /** Only called if this thread still holds what its previous acquisition got ("release if created"). */
  readonly onlyIfHeld?: boolean;
  /**
   * The cell whose being non-zero justifies a refusal of this call: the other
   * side's counter. A refusal is justified only if that cell was non-zero in
   * some state during the call.
   */
  readonly justifiedBy?: number;
  /** A buggy caller's call on purpose (a stray release): its WARN is expected, and required. */
  readonly expectWarn?: boolean;
  /**
   * The whole call is one transition (an NMI handler runs to its end on the
   * CPU it interrupts). It may not take a mutex.
   */
  readonly atomic?: boolean;
  readonly ghost?: GhostPoints;
}

export interface ThreadSpec {
  /** For traces: vm0, event1, vcpu0.1, destroy0, ... */
  readonly name: string;
  /**
   * Threads of one symmetry class run the same program and are
   * interchangeable: the explorer may sort their slots (symmetry reduction).
   * A class's threads must be contiguous in Model.threads.
   */
  readonly symmetryClass: string;
  readonly calls: readonly Call[];
  /** Thread indices that must have finished before this one may start (a join). */
  readonly startsAfter?: readonly number[];
}

export interface Model {
  /** 'accounting' | 'vm-lifecycle' | 'guest-context'. */
  readonly kind: string;
  readonly variant: string;
  /** The parameters, in the order the schedule string prints them. */
  readonly params: Readonly<Record<string, number | boolean>>;
  readonly protocol: Protocol;
  /** Short names for traces, by cell index. */
  readonly cellLabels: readonly string[];
  readonly initialCells: readonly number[];
  /** Counters: never negative, and zero again once every thread has finished. */
  readonly counterCells: readonly number[];
  /** Number of model-wide holder slots (see Holder). */
  readonly holderSlots: number;
  readonly threads: readonly ThreadSpec[];
  /**
   * WARN sites that are ghost assertions rather than kernel WARNs: reaching
   * one breaks the named property (by WARN site index).
   */
  readonly assertions?: Readonly<Record<number, PropertyName>>;
  /**
   * Two sides that may be mirror images (mirror-symmetry.ts): swapping these
   * two cells, the two holder sides and the i-th threads of these two
   * classes. The explorer uses it only where it checks that it is one.
   */
  readonly mirror?: {
    readonly cells: readonly [number, number];
    readonly classes: readonly [string, string];
  };
}

/** A Call's ghost points for an accounting-shaped acquire: every `return 0` succeeds, every `return -E` refuses. */
function acquirePoints(op: Operation, side: Side, holder: Holder): GhostPoints {
  const acquiredAt: number[] = [];
  const refusedAt: number[] = [];
  op.steps.forEach((step, pc) => {
    if (step.kind !== StepKind.Return) return;
    (step.value === 0 ? acquiredAt : refusedAt).push(pc);
  });
  return { side, holder, acquiredAt, refusedAt, releasedAt: [] };
}

/** A release: the holding ends when the call starts. */
export function releasePoints(side: Side, holder: Holder): GhostPoints {
  return { side, holder, acquiredAt: [], refusedAt: [], releasedAt: [0] };
}

/**
 * An acquiring call its thread holds on success: accounting's create, or an
 * event's account. A refusal is justified by `justifiedBy` (the other side's
 * counter) being non-zero during the call.
 */
export function threadAcquire(op: Operation, side: Side, justifiedBy: number): Call {
  return { op, justifiedBy, ghost: acquirePoints(op, side, 'thread') };
}

/** The matching release, called only if the thread holds what its acquisition got. */
export function threadRelease(op: Operation, side: Side): Call {
  return { op, onlyIfHeld: true, ghost: releasePoints(side, 'thread') };
}
