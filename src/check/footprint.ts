/**
 * Static footprints for the partial-order reduction: which shared objects a
 * thread may read or write from where it is to its end, as bit masks.
 *
 * Objects: each cell, each mutex, the two ghost holder counts, each holder
 * slot, and one "join" object per waiting thread (the threads it waits for
 * write it, it reads it: finishing enables it). A step also *reads* the cell
 * that justifies a refusal of its call, because its ghost flag observes that
 * cell in every state of the call (engine.ts): so a write to that cell by
 * another thread never commutes with the observer's steps.
 *
 * Two transitions are independent when neither writes an object the other
 * reads or writes. A thread whose whole remaining future is independent of
 * every other thread's remaining future can run alone: {its next transition}
 * is a persistent set (Godefroid 1996).
 */
import { StepKind } from '../common/protocol.ts';
import { EFFECT_ACQUIRE, EFFECT_CODE, EFFECT_REFUSED, EFFECT_SLOT, type Engine } from './engine.ts';

// Non-null assertions below index tables sized here from the engine's: pcs
// below stepKind.length, call ids below callFirstStep.length, threads below
// `threads`, program slots below threadCalls.length (see Engine).
export class Footprints {
  /** Objects read / written by the steps reachable from global pc, inside its call. */
  private readonly restRead: Int32Array;
  private readonly restWrite: Int32Array;
  /** Objects of every call after call i of a thread, at programStart + i. */
  private readonly laterRead: Int32Array;
  private readonly laterWrite: Int32Array;
  private readonly joinRead: Int32Array;
  private readonly joinWrite: Int32Array;
  /** False when the objects do not fit in 31 bits: then no thread runs alone. */
  readonly usable: boolean;
  /** Scratch: each thread's future footprint in the state being expanded. */
  private readonly reads: Int32Array;
  private readonly writes: Int32Array;

  constructor(private readonly engine: Engine) {
    const model = engine.model;
    const cells = model.protocol.cells.length;
    const mutexBit = (m: number) => 1 << (cells + m);
    const holderBit = (side: number) => 1 << (cells + model.protocol.mutexes.length + side);
    const slotBit = (slot: number) => 1 << (cells + model.protocol.mutexes.length + 2 + slot);
    let joinBits = cells + model.protocol.mutexes.length + 2 + model.holderSlots;
    const T = engine.threads;
    this.reads = new Int32Array(T);
    this.writes = new Int32Array(T);
    this.joinRead = new Int32Array(T);
    this.joinWrite = new Int32Array(T);
    for (let t = 0; t < T; t++) {
      if (engine.joinStart[t] === engine.joinStart[t + 1]) continue;
      const bit = 1 << joinBits++;
      this.joinRead[t] = bit;
      for (let j = engine.joinStart[t]!; j < engine.joinStart[t + 1]!; j++) {
        const joined = engine.joinList[j]!;
        this.joinWrite[joined] = (this.joinWrite[joined] ?? 0) | bit;
      }
    }
    this.usable = joinBits <= 31;

    const steps = engine.stepKind.length;
    const read = new Int32Array(steps);
    const write = new Int32Array(steps);
    const callOfStep = new Int32Array(steps);
    const callCount = engine.callFirstStep.length;
    for (let id = 0; id < callCount; id++) {
      const first = engine.callFirstStep[id]!;
      const n = engine.callOp[id]!.steps.length;
      const j = engine.callJustifiedBy[id]!;
      for (let pc = first; pc < first + n; pc++) {
        callOfStep[pc] = id;
        const k: StepKind = engine.stepKind[pc]!;
        const c = engine.stepCell[pc]!;
        // Each pc belongs to one call: its footprint is built here, then stored.
        let r = 0;
        let w = 0;
        // The ghost flag observes the justifying cell only where it is live.
        if (j >= 0 && engine.flagLive[pc] === 1) r |= 1 << j;
        if (k === StepKind.JumpIfNonZero || k === StepKind.JumpIfZero) r |= 1 << c;
        else if (k === StepKind.Lock || k === StepKind.Unlock) w |= mutexBit(c);
        else if (k <= StepKind.Store) w |= 1 << c;
        const e = engine.stepEffect[pc]!;
        if (e !== 0 && (e & EFFECT_CODE) !== EFFECT_REFUSED) {
          const side = (e >> 4) & 1;
          w |= holderBit(side);
          if ((e & EFFECT_CODE) === EFFECT_ACQUIRE) r |= holderBit(side ^ 1);
          if ((e & EFFECT_SLOT) !== 0) w |= slotBit(e >>> 8);
        }
        read[pc] = r;
        write[pc] = w;
      }
    }
    // Steps reachable from each pc inside its call (a call is a few dozen steps at most).
    this.restRead = new Int32Array(steps);
    this.restWrite = new Int32Array(steps);
    const callRead = new Int32Array(callCount);
    const callWrite = new Int32Array(callCount);
    const seen = new Uint8Array(steps);
    for (let pc = 0; pc < steps; pc++) {
      seen.fill(0);
      const stack = [pc];
      let r = 0;
      let w = 0;
      while (stack.length > 0) {
        const p = stack.pop()!;
        if (seen[p]) continue;
        seen[p] = 1;
        r |= read[p]!;
        w |= write[p]!;
        const k: StepKind = engine.stepKind[p]!;
        if (k === StepKind.Return) continue;
        if (k !== StepKind.Jump) stack.push(p + 1);
        const target = engine.stepTarget[p]!;
        if (k !== StepKind.Store && target >= 0) stack.push(target);
      }
      this.restRead[pc] = r;
      this.restWrite[pc] = w;
      const id = callOfStep[pc]!;
      if (pc === engine.callFirstStep[id]) {
        callRead[id] = r;
        callWrite[id] = w;
      }
    }
    this.laterRead = new Int32Array(engine.threadCalls.length);
    this.laterWrite = new Int32Array(engine.threadCalls.length);
    for (let t = 0; t < T; t++) {
      let r = 0;
      let w = 0;
      const start = engine.programStart[t]!;
      for (let i = engine.programLength[t]! - 1; i >= 0; i--) {
        this.laterRead[start + i] = r;
        this.laterWrite[start + i] = w;
        r |= callRead[engine.threadCalls[start + i]!]!;
        w |= callWrite[engine.threadCalls[start + i]!]!;
      }
    }
  }

  /**
   * A thread that may run alone in the state at `offset` (its next transition
   * is a persistent set), or -1. Only enabled threads are candidates.
   */
  loneThread(state: Int32Array, offset: number, enabledMask: number): number {
    if (!this.usable) return -1;
    const e = this.engine;
    const T = e.threads;
    const base = offset + e.threadBase;
    const reads = this.reads;
    const writes = this.writes;
    // Each unfinished thread's future footprint, once.
    for (let t = 0; t < T; t++) {
      const w = state[base + t]!;
      const call = w >>> 24;
      if (call >= e.programLength[t]!) {
        reads[t] = 0;
        writes[t] = 0;
        continue;
      }
      const at = e.programStart[t]! + call;
      const pc = (w >>> 10) & 0x3fff;
      reads[t] = this.restRead[pc]! | this.laterRead[at]! | this.joinRead[t]!;
      writes[t] = this.restWrite[pc]! | this.laterWrite[at]! | this.joinWrite[t]!;
    }
    for (let t = 0; t < T; t++) {
      if ((enabledMask & (1 << t)) === 0) continue;
      const r = reads[t]!;
      const wr = writes[t]!;
      let alone = true;
      for (let u = 0; u < T; u++) {
        if (u !== t && ((wr & (reads[u]! | writes[u]!)) !== 0 || (r & writes[u]!) !== 0)) {
          alone = false;
          break;
        }
      }
      if (alone) return t;
    }
    return -1;
  }
}
