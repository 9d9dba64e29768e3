/**
 * The transition relation of a model, over states packed in Int32Arrays.
 *
 * A state is W consecutive words of some Int32Array (the search keeps a
 * stack or a queue of them in one big array):
 *
 *   [cells ...][mutex held flags ...][holders per side: VMs, events]
 *   [holder slots ...][one word per thread]
 *
 * A thread word packs: call index (bits 24..30), pc as an index into the
 * engine's flat step table (bits 10..23), the mutexes it holds (bits 2..9),
 * whether it holds what its last acquisition got (bit 1), and one ghost flag
 * (bit 0): for an acquiring call, "the other side's counter was non-zero in
 * some state of this call"; for a stray release, "it warned".
 *
 * A transition is one thread executing one shared step, then every local step
 * after it (WARN, return, goto, the start of its next call) up to its next
 * shared step. With fuseMovers, a transition also takes a mutex_lock() together
 * with the step after it, and a mutex_unlock() together with the step before
 * it (Lipton's reduction: lock is a right mover, unlock a left mover).
 *
 * Nothing here allocates per transition.
 */
import { StepKind, type Operation } from '../common/protocol.ts';
import type { Model } from './model-definition.ts';
import { assertionViolation, PROPERTY_NAMES, VIOLATED_PROPERTY, Violation } from './properties.ts';

export interface EngineOptions {
  /** Lipton reduction of mutex_lock / mutex_unlock (see above). */
  readonly fuseMovers: boolean;
  /** Sort the slots of interchangeable threads (canonicalize()). */
  readonly symmetry: boolean;
  /** Bit mask of the properties to check (properties.ts). */
  readonly properties: number;
}

/** Receives every executed step, for traces. Only replay sets one. */
export interface StepObserver {
  before(state: Int32Array, offset: number, thread: number, callId: number, pc: number): void;
  after(state: Int32Array, offset: number): void;
}

// Enum members as module constants. The loader (esbuild, through tsx) emits an
// imported `const enum` as an ordinary enum object, so `StepKind.Inc` in the
// loop below is a property load on a mutable object at every step; a module
// `const` is folded by V8. Measured with the accounting model (upstream,
// median of 7 runs, two alternating rounds): 4x4x2 with every reduction
// 0.42-0.49 s with these constants, 0.88-0.99 s without; 3x3x2 unreduced
// 2.5-2.6 s against 4.1-4.7 s. The other such copies (search.ts,
// shared-executor.ts) showed no difference and are gone.
const K_INC_NOT_ZERO: number = StepKind.IncNotZero;
const K_JUMP_IF_NON_ZERO: number = StepKind.JumpIfNonZero;
const K_JUMP_IF_ZERO: number = StepKind.JumpIfZero;
const K_INC: number = StepKind.Inc;
const K_DEC: number = StepKind.Dec;
const K_DEC_JUMP_IF_NEGATIVE: number = StepKind.DecJumpIfNegative;
const K_STORE: number = StepKind.Store;
const K_LOCK: number = StepKind.Lock;
const K_UNLOCK: number = StepKind.Unlock;
const K_WARN_ONCE: number = StepKind.WarnOnce;
const K_JUMP: number = StepKind.Jump;
const V_NONE: Violation = Violation.None;
const V_INVARIANT: Violation = Violation.Invariant;
const V_NEGATIVE: Violation = Violation.Negative;
const V_UNEXPECTED_WARN: Violation = Violation.UnexpectedWarn;
const V_MISSING_WARN: Violation = Violation.MissingWarn;
const V_UNJUSTIFIED_REFUSAL: Violation = Violation.UnjustifiedRefusal;
const V_UNLOCK_NOT_OWNER: Violation = Violation.UnlockNotOwner;
const V_LOCK_HELD_AT_RETURN: Violation = Violation.LockHeldAtReturn;
const V_DEADLOCK: Violation = Violation.Deadlock;
const V_UNBALANCED: Violation = Violation.Unbalanced;
const V_DOUBLE_CREATE: Violation = Violation.DoubleCreate;
const V_RELEASE_NOT_CREATED: Violation = Violation.ReleaseNotCreated;

/**
 * A step's ghost effect (Engine.stepEffect): the code in bits 0..2, EFFECT_SLOT
 * when the holder is a model-wide slot (its index in bits 8..), the side in bit 4.
 */
export const EFFECT_CODE = 7;
export const EFFECT_ACQUIRE = 1;
export const EFFECT_REFUSED = 2;
export const EFFECT_RELEASE = 3;
export const EFFECT_SLOT = 8;

const CALL_ONLY_IF_HELD = 1;
const CALL_EXPECT_WARN = 2;
const CALL_ATOMIC = 4;

const PC_SHIFT = 10;
const CALL_SHIFT = 24;

// Non-null assertions (`a[i]!`) in this class read the typed tables the
// constructor sizes from the model, at indices in range by construction: a pc
// (callFirstStep, pc + 1 inside an operation that ends in a return or jump,
// or a target the assembler resolved), a call id, a thread below `threads`, a
// cell or mutex index of the protocol, or an offset inside a state of `words`
// words. noUncheckedIndexedAccess cannot see those bounds, and the hot loop
// should not pay for a check on each.
export class Engine {
  readonly model: Model;
  readonly options: EngineOptions;
  readonly threads: number;
  /** Words per state. */
  readonly words: number;
  readonly mutexBase: number;
  readonly holderBase: number;
  readonly slotBase: number;
  readonly threadBase: number;

  // The flat step table: every call's operation, one after the other.
  readonly stepKind: Int8Array;
  readonly stepCell: Int16Array;
  readonly stepTarget: Int32Array;
  readonly stepEffect: Int32Array;
  /** Index of each step inside its own operation, for traces. */
  readonly stepLocalPc: Int32Array;
  /**
   * 1 where the thread word's flag bit can still matter (flagLiveness()): 0
   * where, in a call whose refusals are checked, the ghost flag is dead. The
   * engine keeps the flag only where it is live, so two states that differ
   * in a dead flag are one state.
   */
  readonly flagLive: Uint8Array;

  // Calls (distinct Call objects).
  readonly callFirstStep: Int32Array;
  readonly callFlags: Uint8Array;
  readonly callJustifiedBy: Int16Array;
  readonly callOp: Operation[] = [];

  // Thread programs: threadCalls[programStart[t] + i] is thread t's i-th call.
  readonly programStart: Int32Array;
  readonly programLength: Int32Array;
  readonly threadCalls: Int32Array;
  /** 1 if thread t is in the same symmetry class as thread t - 1. */
  readonly sameClassAsPrevious: Uint8Array;
  /** Joins: thread t waits for joinList[joinStart[t] .. joinStart[t + 1]). */
  readonly joinStart: Int32Array;
  readonly joinList: Int32Array;
  readonly counterCells: Int32Array;
  /**
   * Whether some call keeps a live ghost flag somewhere. When none does (the
   * refusals property off, or every refusal behind a read of the other
   * counter, as upstream and v6), a write never has another thread's flag to
   * set, and step() skips that pass over the threads.
   */
  readonly anyLiveFlag: boolean;
  /** Whether the model has a backward jump (then a cycle is possible). */
  readonly hasLoops: boolean;
  /** An upper bound of shared steps per run when there is no loop. */
  readonly maxSteps: number;

  /** Which violations count (by Violation code). */
  private readonly selected: Uint8Array;
  /** By WARN site: 0 for a kernel WARN, else the Violation its ghost assertion reports. */
  private readonly assertionAt: Uint8Array;

  /** The thread of the last violation step() or checkStuck() reported. */
  violationThread = -1;
  /** Fingerprint of the last hash() call. */
  hashHi = 0;
  hashLo = 0;
  observer: StepObserver | null = null;

  constructor(model: Model, options: EngineOptions) {
    this.model = model;
    this.options = options;
    const cells = model.protocol.cells.length;
    const mutexes = model.protocol.mutexes.length;
    if (mutexes > 8) throw new RangeError('the engine packs at most 8 mutexes per thread word');
    this.threads = model.threads.length;
    this.mutexBase = cells;
    this.holderBase = cells + mutexes;
    this.slotBase = this.holderBase + 2;
    this.threadBase = this.slotBase + model.holderSlots;
    this.words = this.threadBase + this.threads;

    // Distinct calls, in first-use order.
    const callIds = new Map<object, number>();
    const calls: Model['threads'][number]['calls'][number][] = [];
    for (const thread of model.threads) {
      for (const call of thread.calls) {
        if (!callIds.has(call)) {
          callIds.set(call, calls.length);
          calls.push(call);
        }
      }
    }
    const totalSteps = calls.reduce((n, c) => n + c.op.steps.length, 0);
    if (totalSteps >= 1 << (CALL_SHIFT - PC_SHIFT))
      throw new RangeError('model too large for the thread word');
    this.stepKind = new Int8Array(totalSteps);
    this.stepCell = new Int16Array(totalSteps);
    this.stepTarget = new Int32Array(totalSteps);
    this.stepEffect = new Int32Array(totalSteps);
    this.stepLocalPc = new Int32Array(totalSteps);
    this.flagLive = new Uint8Array(totalSteps).fill(1);
    this.callFirstStep = new Int32Array(calls.length);
    this.callFlags = new Uint8Array(calls.length);
    this.callJustifiedBy = new Int16Array(calls.length);
    let hasLoops = false;
    let anyLiveFlag = false;
    const checkRefusals = ((options.properties >> PROPERTY_NAMES.indexOf('refusals')) & 1) === 1;
    let at = 0;
    calls.forEach((call, id) => {
      this.callOp.push(call.op);
      this.callFirstStep[id] = at;
      this.callFlags[id] =
        (call.onlyIfHeld ? CALL_ONLY_IF_HELD : 0) |
        (call.expectWarn ? CALL_EXPECT_WARN : 0) |
        (call.atomic ? CALL_ATOMIC : 0);
      if (call.atomic && call.op.steps.some((st) => st.kind === StepKind.Lock)) {
        throw new RangeError(`${call.op.name}: an atomic call may not take a mutex`);
      }
      // Without the refusals property the ghost flag is not kept: fewer states.
      this.callJustifiedBy[id] = checkRefusals ? (call.justifiedBy ?? -1) : -1;
      call.op.steps.forEach((step, pc) => {
        this.stepKind[at + pc] = step.kind;
        this.stepCell[at + pc] = step.cell;
        this.stepTarget[at + pc] = step.target >= 0 ? at + step.target : -1;
        this.stepLocalPc[at + pc] = pc;
        if (step.target >= 0 && step.target <= pc) hasLoops = true;
        if (step.kind === StepKind.WarnOnce) this.stepCell[at + pc] = step.value;
        // A Store has no jump target: its value lives in stepTarget.
        if (step.kind === StepKind.Store) this.stepTarget[at + pc] = step.value;
      });
      const g = call.ghost;
      if (g) {
        const holder = g.holder === 'thread' ? 0 : EFFECT_SLOT | (g.holder << 8);
        const mark = (pcs: readonly number[], code: number) => {
          for (const pc of pcs) this.stepEffect[at + pc] = code | holder | (g.side << 4);
        };
        mark(g.acquiredAt, EFFECT_ACQUIRE);
        mark(g.refusedAt, EFFECT_REFUSED);
        mark(g.releasedAt, EFFECT_RELEASE);
      }
      const j = this.callJustifiedBy[id];
      if (j >= 0) {
        const live = flagLiveness(call.op, j, call.ghost?.refusedAt ?? []);
        this.flagLive.set(live, at);
        if (live.includes(1)) anyLiveFlag = true;
      }
      at += call.op.steps.length;
    });
    this.hasLoops = hasLoops;
    this.anyLiveFlag = anyLiveFlag;

    const T = this.threads;
    this.programStart = new Int32Array(T);
    this.programLength = new Int32Array(T);
    this.threadCalls = new Int32Array(model.threads.reduce((n, t) => n + t.calls.length, 0));
    this.sameClassAsPrevious = new Uint8Array(T);
    this.joinStart = new Int32Array(T + 1);
    const joins: number[] = [];
    let maxSteps = 0;
    let k = 0;
    const classes = new Set<string>();
    model.threads.forEach((thread, t) => {
      if (thread.calls.length >= 128) throw new RangeError('at most 127 calls per thread');
      this.programStart[t] = k;
      this.programLength[t] = thread.calls.length;
      for (const call of thread.calls) {
        this.threadCalls[k++] = callIds.get(call)!;
        maxSteps += call.op.steps.length;
      }
      const same = t > 0 && model.threads[t - 1]!.symmetryClass === thread.symmetryClass;
      if (!same && classes.has(thread.symmetryClass)) {
        throw new RangeError(`symmetry class '${thread.symmetryClass}' is not contiguous`);
      }
      classes.add(thread.symmetryClass);
      this.sameClassAsPrevious[t] = same ? 1 : 0;
      this.joinStart[t] = joins.length;
      joins.push(...(thread.startsAfter ?? []));
    });
    this.joinStart[T] = joins.length;
    this.joinList = Int32Array.from(joins);
    this.counterCells = Int32Array.from(model.counterCells);
    this.maxSteps = maxSteps;

    this.assertionAt = new Uint8Array(model.protocol.warnSites.length);
    for (const [site, property] of Object.entries(model.assertions ?? {})) {
      this.assertionAt[Number(site)] = assertionViolation(property);
    }
    this.selected = new Uint8Array(VIOLATED_PROPERTY.length);
    for (let v = 1; v < VIOLATED_PROPERTY.length; v++) {
      this.selected[v] = (options.properties >> PROPERTY_NAMES.indexOf(VIOLATED_PROPERTY[v]!)) & 1;
    }
  }

  /** Whether two WARN sites mean the same: both kernel WARNs, or ghost assertions of one property. */
  sameWarning(site: number, other: number): boolean {
    return this.assertionAt[site] === this.assertionAt[other];
  }

  /** The mutexes a thread word says its thread holds (a bit per mutex). */
  heldMutexes(word: number): number {
    return (word >>> 2) & 0xff;
  }
  isDone(state: Int32Array, offset: number, t: number): boolean {
    return state[offset + this.threadBase + t]! >>> CALL_SHIFT >= this.programLength[t]!;
  }

  /** Writes the initial state at `offset`: every thread at its first call, local steps run. */
  initial(state: Int32Array, offset: number): Violation {
    state.fill(0, offset, offset + this.words);
    this.model.initialCells.forEach((v, i) => (state[offset + i] = v));
    let violation = V_NONE;
    for (let t = 0; t < this.threads; t++) {
      state[offset + this.threadBase + t] = this.startCall(state, offset, t, 0, 0);
      // A thread whose first steps are local runs them now (an exempt thread runs to the end).
      const v = this.runLocals(state, offset, t);
      if (violation === V_NONE) violation = v;
    }
    return violation;
  }

  /** Whether thread t can take a step in the state at `offset`. */
  enabled(state: Int32Array, offset: number, t: number): boolean {
    const word = state[offset + this.threadBase + t]!;
    if (word >>> CALL_SHIFT >= this.programLength[t]!) return false;
    for (let j = this.joinStart[t]!, end = this.joinStart[t + 1]!; j < end; j++) {
      const w = this.joinList[j]!;
      if (state[offset + this.threadBase + w]! >>> CALL_SHIFT < this.programLength[w]!)
        return false;
    }
    const pc = (word >>> PC_SHIFT) & 0x3fff;
    if (this.stepKind[pc] === K_LOCK)
      return state[offset + this.mutexBase + this.stepCell[pc]!] === 0;
    return true;
  }

  /**
   * The check on a state where no thread can step: a deadlock if some thread
   * has not finished, else the end-of-run balance. Call only when no thread is enabled.
   */
  checkStuck(state: Int32Array, offset: number): Violation {
    const sel = this.selected;
    for (let t = 0; t < this.threads; t++) {
      if (!this.isDone(state, offset, t)) {
        this.violationThread = t;
        return sel[V_DEADLOCK] ? V_DEADLOCK : V_NONE;
      }
    }
    if (!sel[V_UNBALANCED]) return V_NONE;
    this.violationThread = -1;
    for (let i = 0; i < this.counterCells.length; i++) {
      if (state[offset + this.counterCells[i]!] !== 0) return V_UNBALANCED;
    }
    for (let i = this.holderBase; i < this.threadBase; i++) {
      if (state[offset + i] !== 0) return V_UNBALANCED;
    }
    for (let t = 0; t < this.threads; t++) {
      if ((state[offset + this.threadBase + t]! & 2) !== 0) return V_UNBALANCED;
    }
    return V_NONE;
  }

  /**
   * Thread t takes one transition on the state at `offset`, in place.
   * Returns the first selected violation the transition makes, or None.
   */
  step(s: Int32Array, o: number, t: number, localsOnly = false): Violation {
    const kind = this.stepKind;
    const cellOf = this.stepCell;
    const target = this.stepTarget;
    const effectOf = this.stepEffect;
    const sel = this.selected;
    const fuse = this.options.fuseMovers;
    const observer = this.observer;
    const mutexBase = o + this.mutexBase;
    const th = o + this.threadBase + t;

    let word = s[th]!;
    let call = word >>> CALL_SHIFT;
    let pc = (word >>> PC_SHIFT) & 0x3fff;
    let mutexes = (word >>> 2) & 0xff;
    let held = (word >>> 1) & 1;
    let flag = word & 1;
    const programStart = this.programStart[t]!;
    const programLength = this.programLength[t]!;
    let callId = this.threadCalls[programStart + call]!;
    let justifiedBy = this.callJustifiedBy[callId]!;
    let atomic = (this.callFlags[callId]! & CALL_ATOMIC) !== 0;
    let v: Violation = V_NONE;
    let shared = 0;
    let afterLock = false;
    /** Whether a cell changed: only then can other threads' ghost flags change. */
    let wrote = false;

    for (;;) {
      const k = kind[pc]!;
      const isShared = k <= K_UNLOCK;
      if (isShared) {
        // A shared step: the first of this transition, or one fused with it.
        if (shared > 0 || localsOnly) {
          if (localsOnly || !(atomic || (fuse && (k === K_UNLOCK || (afterLock && k !== K_LOCK)))))
            break;
        }
        shared++;
        afterLock = false;
      }
      // Shared or local, a step first applies its ghost effect.
      if (observer !== null) observer.before(s, o, t, callId, pc);
      const e = effectOf[pc]!;
      if (e !== 0) {
        const r = this.effect(s, o, e, held, flag);
        held = r & 1;
        if (v === V_NONE) v = r >> 1;
      }
      if (isShared) {
        const c = o + cellOf[pc]!;
        switch (k) {
          case K_INC_NOT_ZERO: {
            const x = s[c]!;
            if (x !== 0) {
              s[c] = x + 1;
              wrote = true;
              pc = target[pc]!;
            } else pc++;
            break;
          }
          case K_JUMP_IF_NON_ZERO:
            pc = s[c] !== 0 ? target[pc]! : pc + 1;
            break;
          case K_JUMP_IF_ZERO:
            pc = s[c] === 0 ? target[pc]! : pc + 1;
            break;
          case K_INC:
            s[c]!++;
            wrote = true;
            pc++;
            break;
          case K_DEC:
            wrote = true;
            if (--s[c]! < 0 && v === V_NONE && sel[V_NEGATIVE]) v = V_NEGATIVE;
            pc++;
            break;
          case K_DEC_JUMP_IF_NEGATIVE:
            wrote = true;
            if (--s[c]! < 0) {
              if (v === V_NONE && sel[V_NEGATIVE]) v = V_NEGATIVE;
              pc = target[pc]!;
            } else pc++;
            break;
          case K_STORE:
            s[c] = target[pc]!;
            wrote = true;
            pc++;
            break;
          case K_LOCK: {
            const m = cellOf[pc]!;
            s[mutexBase + m] = 1;
            mutexes |= 1 << m;
            afterLock = true;
            pc++;
            break;
          }
          case K_UNLOCK: {
            const m = cellOf[pc]!;
            if ((mutexes & (1 << m)) === 0) {
              if (v === V_NONE && sel[V_UNLOCK_NOT_OWNER]) v = V_UNLOCK_NOT_OWNER;
            } else {
              mutexes &= ~(1 << m);
              s[mutexBase + m] = 0;
            }
            pc++;
            break;
          }
        }
        if (justifiedBy >= 0 && s[o + justifiedBy] !== 0) flag = 1;
        if (observer !== null) {
          // Traces show the mutex owner, which lives in the thread word.
          s[th] = (call << CALL_SHIFT) | (pc << PC_SHIFT) | (mutexes << 2) | (held << 1) | flag;
          observer.after(s, o);
        }
        continue;
      }

      // A local step: runs in the same transition.
      if (k === K_JUMP) {
        pc = target[pc]!;
        if (observer !== null) observer.after(s, o);
        continue;
      }
      if (k === K_WARN_ONCE) {
        const asserted = this.assertionAt[cellOf[pc]!]!;
        if (asserted !== 0) {
          if (v === V_NONE && sel[asserted]) v = asserted;
        } else if ((this.callFlags[callId]! & CALL_EXPECT_WARN) !== 0) flag = 1;
        else if (v === V_NONE && sel[V_UNEXPECTED_WARN]) v = V_UNEXPECTED_WARN;
        pc++;
        if (observer !== null) observer.after(s, o);
        continue;
      }
      // Return: the call ends.
      if (mutexes !== 0 && v === V_NONE && sel[V_LOCK_HELD_AT_RETURN]) v = V_LOCK_HELD_AT_RETURN;
      if (
        (this.callFlags[callId]! & CALL_EXPECT_WARN) !== 0 &&
        flag === 0 &&
        v === V_NONE &&
        sel[V_MISSING_WARN]
      ) {
        v = V_MISSING_WARN;
      }
      if (observer !== null) observer.after(s, o);
      word = this.startCall(s, o, t, call + 1, held | (mutexes << 1));
      call = word >>> CALL_SHIFT;
      if (call >= programLength) break;
      pc = (word >>> PC_SHIFT) & 0x3fff;
      flag = word & 1;
      callId = this.threadCalls[programStart + call]!;
      justifiedBy = this.callJustifiedBy[callId]!;
      atomic = (this.callFlags[callId]! & CALL_ATOMIC) !== 0;
      afterLock = false;
      // The next call's shared steps belong to later transitions.
      if (kind[pc]! <= K_UNLOCK) break;
    }
    if (call < programLength)
      word =
        (call << CALL_SHIFT) |
        (pc << PC_SHIFT) |
        (mutexes << 2) |
        (held << 1) |
        (flag & this.flagLive[pc]!);
    else word = (call << CALL_SHIFT) | (mutexes << 2) | (held << 1);
    s[th] = word;

    // Every other thread inside an acquiring call observes this state.
    const threadBase = o + this.threadBase;
    for (let u = 0; wrote && this.anyLiveFlag && u < this.threads; u++) {
      const w = s[threadBase + u]!;
      if ((w & 1) !== 0 || u === t) continue;
      const i = w >>> CALL_SHIFT;
      if (i >= this.programLength[u]!) continue;
      const j = this.callJustifiedBy[this.threadCalls[this.programStart[u]! + i]!]!;
      if (j >= 0 && s[o + j] !== 0 && this.flagLive[(w >>> PC_SHIFT) & 0x3fff] === 1)
        s[threadBase + u] = w | 1;
    }
    if (v !== V_NONE) this.violationThread = t;
    return v;
  }

  /**
   * Applies a ghost effect. Returns (violation << 1) | held.
   */
  private effect(s: Int32Array, o: number, e: number, held: number, flag: number): number {
    const sel = this.selected;
    const code = e & EFFECT_CODE;
    const side = (e >> 4) & 1;
    const holders = o + this.holderBase;
    let v: Violation = V_NONE;
    if (code === EFFECT_REFUSED) {
      if (flag === 0 && sel[V_UNJUSTIFIED_REFUSAL]) v = V_UNJUSTIFIED_REFUSAL;
      return (v << 1) | held;
    }
    const slot = (e & EFFECT_SLOT) !== 0 ? o + this.slotBase + (e >>> 8) : -1;
    if (code === EFFECT_ACQUIRE) {
      if (s[holders + (side ^ 1)]! > 0 && sel[V_INVARIANT]) v = V_INVARIANT;
      if (slot >= 0) {
        if (s[slot] !== 0 && v === V_NONE && sel[V_DOUBLE_CREATE]) v = V_DOUBLE_CREATE;
        s[slot] = 1;
      } else held = 1;
      s[holders + side]!++;
    } else if (slot >= 0) {
      if (s[slot] === 0) {
        if (sel[V_RELEASE_NOT_CREATED]) v = V_RELEASE_NOT_CREATED;
      } else {
        s[slot] = 0;
        s[holders + side]!--;
      }
    } else if (held !== 0) {
      held = 0;
      s[holders + side]!--;
    }
    return (v << 1) | held;
  }

  /**
   * The word of thread t starting its call `call` (or finishing, past the
   * last): calls marked onlyIfHeld are skipped when it holds nothing; the
   * ghost flag starts from the current state. `keep` = held | mutexes << 1.
   */
  private startCall(s: Int32Array, o: number, t: number, call: number, keep: number): number {
    const held = keep & 1;
    const mutexes = keep >> 1;
    const start = this.programStart[t]!;
    const length = this.programLength[t]!;
    while (
      call < length &&
      (this.callFlags[this.threadCalls[start + call]!]! & CALL_ONLY_IF_HELD) !== 0 &&
      held === 0
    )
      call++;
    if (call >= length) return (call << CALL_SHIFT) | (mutexes << 2) | (held << 1);
    const id = this.threadCalls[start + call]!;
    const j = this.callJustifiedBy[id]!;
    const first = this.callFirstStep[id]!;
    const flag = j >= 0 && s[o + j] !== 0 ? this.flagLive[first]! : 0;
    return (call << CALL_SHIFT) | (first << PC_SHIFT) | (mutexes << 2) | (held << 1) | flag;
  }

  /** Runs thread t's local steps up to its next shared step (at the initial state). */
  private runLocals(s: Int32Array, o: number, t: number): Violation {
    const word = s[o + this.threadBase + t]!;
    if (word >>> CALL_SHIFT >= this.programLength[t]!) return V_NONE;
    return this.step(s, o, t, true);
  }

  /** Sorts the slots of each symmetry class (the canonical representative of the state's orbit). */
  canonicalize(s: Int32Array, o: number): void {
    const base = o + this.threadBase;
    const same = this.sameClassAsPrevious;
    for (let t = 1; t < this.threads; t++) {
      if (same[t] === 0) continue;
      const w = s[base + t]!;
      let u = t;
      while (u > 0 && same[u] === 1 && s[base + u - 1]! > w) {
        s[base + u] = s[base + u - 1]!;
        u--;
      }
      s[base + u] = w;
    }
  }

  /** Computes the 64-bit fingerprint of `length` words at `offset` into hashHi, hashLo. */
  hash(s: Int32Array, o: number, length = this.words): void {
    let h1 = 0x9747b28c;
    let h2 = 0x2545f491 ^ length;
    for (let i = 0; i < length; i++) {
      let k = Math.imul(s[o + i]!, 0xcc9e2d51);
      k = (k << 15) | (k >>> 17);
      k = Math.imul(k, 0x1b873593);
      h1 ^= k;
      h1 = (h1 << 13) | (h1 >>> 19);
      h1 = (Math.imul(h1, 5) + 0xe6546b64) | 0;
      h2 = Math.imul(h2 ^ s[o + i]!, 0x27d4eb2d);
      h2 = (h2 ^ (h2 >>> 15)) | 0;
      h2 = (h2 + 0x165667b1) | 0;
    }
    h1 ^= h1 >>> 16;
    h1 = Math.imul(h1, 0x85ebca6b);
    h1 ^= h1 >>> 13;
    h1 = Math.imul(h1, 0xc2b2ae35);
    h1 ^= h1 >>> 16;
    h2 ^= h2 >>> 15;
    h2 = Math.imul(h2, 0x2c1b3c6d);
    h2 ^= h2 >>> 12;
    h2 = Math.imul(h2, 0x297a2d39);
    h2 ^= h2 >>> 15;
    this.hashHi = h1;
    this.hashLo = h2;
  }
}

/**
 * Where a call's ghost flag ("the justifying cell was non-zero in some state
 * of this call") is live: at a refusing return, which reads it, and at every
 * step from which a refusing return is reachable along edges that do not
 * force the flag to 1. An edge forces it when taking it means the justifying
 * cell is non-zero in the state after the step (the branch of
 * `if (atomic_read(&other))` taken; `atomic_inc_not_zero(&other)`
 * succeeding; `atomic_set(&other, v != 0)`), since the engine sets the flag
 * after each of the thread's own shared steps when that cell is non-zero.
 * Along such an edge the flag's earlier value cannot reach the refusal: it is
 * dead, a classic live-variable reduction (bisimilar states merged). In the
 * real accounting every refusal sits behind `if (atomic_read(&other))`, so
 * the flag is dead everywhere and costs no states; a mutant that refuses
 * without looking keeps it.
 */
export function flagLiveness(
  op: Operation,
  justifiedBy: number,
  refusedAt: readonly number[],
): Uint8Array {
  const steps = op.steps;
  const live = new Uint8Array(steps.length);
  for (const pc of refusedAt) live[pc] = 1;
  /** The successors of pc whose edges leave the flag's value as it was. */
  const unforced = (pc: number): number[] => {
    const step = steps[pc]!;
    const mine = step.cell === justifiedBy;
    switch (step.kind) {
      case StepKind.Return:
        return [];
      case StepKind.Jump:
        return [step.target];
      case StepKind.IncNotZero:
      case StepKind.JumpIfNonZero:
        return mine ? [pc + 1] : [pc + 1, step.target];
      case StepKind.JumpIfZero:
        return mine ? [step.target] : [pc + 1, step.target];
      case StepKind.DecJumpIfNegative:
        return [pc + 1, step.target];
      case StepKind.Store:
        return mine && step.value !== 0 ? [] : [pc + 1];
      default:
        return [pc + 1];
    }
  };
  for (let changed = true; changed;) {
    changed = false;
    for (let pc = steps.length - 1; pc >= 0; pc--) {
      if (live[pc] === 1) continue;
      if (unforced(pc).some((q) => live[q] === 1)) {
        live[pc] = 1;
        changed = true;
      }
    }
  }
  return live;
}
