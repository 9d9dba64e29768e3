/**
 * Replay: run one schedule on the concrete engine (no reduction), recording
 * every executed step (shared or local) with memory before and after. The
 * counterexample printed by `vpmu check` is produced by this very function,
 * so `--replay` of its schedule string prints the same trace.
 */
import { ACCOUNTING_MUTEX } from '../perf/mediated-protocol.ts';
import { Engine, type StepObserver } from './engine.ts';
import type { Model } from './model-definition.ts';
import { BadInput } from './model-catalogue.ts';
import { Violation } from './properties.ts';
import { item } from '../common/item.ts';

export interface TraceStep {
  /** 1-based position in the schedule (local steps share their shared step's position; 0 = initial). */
  at: number;
  thread: string;
  operation: string;
  step: string;
  before: string;
  after: string;
}

export interface ReplayResult {
  violation: Violation;
  /** Name of the thread whose step broke the property, or null (deadlock, end of run). */
  thread: string | null;
  trace: TraceStep[];
  /** Memory after the run. */
  final: string;
}

/** The memory as one line: cells, then mutexes with their owner. */
export function formatMemory(engine: Engine, s: Int32Array, o: number): string {
  const model = engine.model;
  const parts = model.cellLabels.map((label, i) => `${label}=${s[o + i]}`);
  model.protocol.mutexes.forEach((name, m) => {
    let owner = '-';
    for (let t = 0; t < engine.threads; t++) {
      if ((engine.heldMutexes(item(s, o + engine.threadBase + t)) & (1 << m)) !== 0)
        owner = item(model.threads, t).name;
    }
    parts.push(`${name === ACCOUNTING_MUTEX ? 'mutex' : name}=${owner}`);
  });
  return parts.join(' ');
}

class TraceRecorder implements StepObserver {
  readonly steps: TraceStep[] = [];
  at = 0;
  private pending: Omit<TraceStep, 'after'> | null = null;

  constructor(private readonly engine: Engine) {}

  before(s: Int32Array, o: number, t: number, callId: number, pc: number): void {
    const op = item(this.engine.callOp, callId);
    this.pending = {
      at: this.at,
      thread: item(this.engine.model.threads, t).name,
      operation: op.name,
      step: item(op.steps, item(this.engine.stepLocalPc, pc)).text,
      before: formatMemory(this.engine, s, o),
    };
  }

  after(s: Int32Array, o: number): void {
    if (this.pending === null) return;
    this.steps.push({ ...this.pending, after: formatMemory(this.engine, s, o) });
    this.pending = null;
  }
}

/**
 * Runs `path` on `model`, checking the properties in `properties` (a mask).
 * With loopStart >= 0, the run must come back to the state it had after
 * path[0 .. loopStart): a cycle, reported as non-termination.
 */
export function replay(
  model: Model,
  properties: number,
  path: readonly number[],
  loopStart = -1,
): ReplayResult {
  const engine = new Engine(model, { fuseMovers: false, symmetry: false, properties });
  const recorder = new TraceRecorder(engine);
  engine.observer = recorder;
  const state = new Int32Array(engine.words);
  let loopState: Int32Array | null = null;
  const result = (violation: Violation, thread: number): ReplayResult => ({
    violation,
    thread: thread >= 0 ? item(model.threads, thread).name : null,
    trace: recorder.steps,
    final: formatMemory(engine, state, 0),
  });

  let v = engine.initial(state, 0);
  if (v !== Violation.None) return result(v, engine.violationThread);
  for (let i = 0; i < path.length; i++) {
    if (i === loopStart) loopState = state.slice();
    const t = item(path, i);
    if (t < 0 || t >= engine.threads) {
      throw new BadInput(
        '--replay',
        `step ${i + 1}: no thread ${t} (the model has ${engine.threads})`,
      );
    }
    if (!engine.enabled(state, 0, t)) {
      throw new BadInput(
        '--replay',
        `step ${i + 1}: thread ${t} (${item(model.threads, t).name}) cannot step there`,
      );
    }
    recorder.at = i + 1;
    v = engine.step(state, 0, t);
    if (v !== Violation.None) {
      if (i !== path.length - 1) {
        throw new BadInput(
          '--replay',
          `the run breaks a property at step ${i + 1}, before its end`,
        );
      }
      return result(v, engine.violationThread);
    }
  }
  if (loopState !== null) {
    const back = loopState.every((x, i) => state[i] === x);
    return result(
      back ? Violation.NonTermination : Violation.None,
      back ? item(path, loopStart) : -1,
    );
  }
  let any = false;
  for (let t = 0; t < engine.threads; t++) any ||= engine.enabled(state, 0, t);
  if (!any) {
    v = engine.checkStuck(state, 0);
    return result(v, v === Violation.Deadlock ? engine.violationThread : -1);
  }
  return result(Violation.None, -1);
}

/** The trace as text: one block per schedule position. */
export function formatTrace(trace: readonly TraceStep[]): string {
  const lines: string[] = [];
  const width = Math.max(20, ...trace.map((s) => s.step.length));
  let at = -1;
  let operation = '';
  for (const s of trace) {
    if (s.at !== at || s.operation !== operation) {
      at = s.at;
      operation = s.operation;
      lines.push(`${at === 0 ? 'start' : `#${at}`}  ${s.thread}  ${s.operation}`);
    }
    const memory = s.before === s.after ? s.after : `${s.before}  ->  ${s.after}`;
    lines.push(`      ${s.step.padEnd(width)}  ${memory}`);
  }
  return lines.join('\n');
}
